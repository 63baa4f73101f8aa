//! The task state machine: the only place a task's state changes.
//!
//! `apply` is a pure function from (task, input, time, randomness) to (task, effects). The web layer
//! persists the returned task and then carries out the effects, so every decision — retry or give up,
//! how long to wait, when a task has outlived its welcome — is made here and can be tested without a
//! browser.
//!
//! Rules, in the order they are checked:
//! 1. Terminal states never change. Any input on a terminal task is an [`Error::IllegalTransition`],
//!    except `Cancel`, which returns the task unchanged with no effects (so cancelling a finished
//!    task simply resolves `false`).
//! 2. Expiry wins: a live task at or past its [`Task::deadline`] becomes `Expired` whatever the input
//!    (even an input that would otherwise be illegal, so a stale scheduler cannot keep it alive).
//!    The one exception is a 2xx `Outcome` for the in-flight attempt: the server has already applied
//!    the upload, so reporting it as expired would be a lie that invites a duplicate re-upload.
//! 3. Otherwise the input must fit the state (see [`Input`]); anything else is `IllegalTransition`.
//!
//! [`Error::IllegalTransition`]: crate::core::error::Error::IllegalTransition

use crate::core::error::Result;
use crate::core::retry::{classify, Class};
use crate::core::task::{State, Task};
use illegal::require;
use transitions::{
    complete, expire, lease, lease_expired, outcome, progress, retry_or_fail, settle,
};

mod effect;
mod illegal;
mod input;
mod new_task;
mod transitions;

pub use effect::Effect;
pub(crate) use illegal::illegal;
pub use input::Input;
pub use new_task::{new_task, NewTask};

/// Applies `input` to `task` at `now_ms`; `rand` feeds the backoff jitter.
///
/// Returns the new task (to persist) and the effects (to carry out after persisting), or
/// [`Error::IllegalTransition`] when the input does not fit the task's state; the module docs give
/// the precedence of the rules.
///
/// [`Error::IllegalTransition`]: crate::core::error::Error::IllegalTransition
pub fn apply(task: &Task, input: Input, now_ms: u64, rand: u64) -> Result<(Task, Vec<Effect>)> {
    // An attempt whose `started` was not told yet (a Background Fetch the page has not confirmed)
    // tells it with its end, first; a release (the browser refused it) or a cancel tells none.
    let untold = task.state == State::InFlight
        && !task.announced
        && !matches!(input, Input::Release | Input::Cancel);
    let (mut next, mut effects) = transition(task, input, now_ms, rand)?;
    if next.state != State::InFlight {
        if untold {
            effects.insert(0, Effect::Send);
        }
        next.announced = true;
    }
    Ok((next, effects))
}

/// A Background Fetch the browser began (the page that started it says so): its attempt's `started`
/// is told now. Anything else (another lease, a finished attempt, one told already) changes nothing.
pub fn announce(task: &Task, lease_no: u64) -> (Task, Vec<Effect>) {
    if task.state != State::InFlight || task.announced || task.lease_no != lease_no {
        return (task.clone(), Vec::new());
    }
    let mut t = task.clone();
    t.announced = true;
    (t, vec![Effect::Send])
}

fn transition(task: &Task, input: Input, now_ms: u64, rand: u64) -> Result<(Task, Vec<Effect>)> {
    if task.state.is_terminal() {
        return match input {
            Input::Cancel => Ok((task.clone(), Vec::new())),
            _ => Err(illegal(
                task,
                input.name(),
                "the task is finished and never changes again",
            )),
        };
    }
    if task.is_expired_at(now_ms) {
        if let (State::InFlight, Input::Outcome(o)) = (task.state, &input) {
            if let (Class::Success, Some(status)) = (classify(o), o.status()) {
                return Ok(complete(task, status));
            }
        }
        return Ok(expire(task, &input));
    }
    match input {
        Input::Lease {
            lease_ms,
            transport,
        } => lease(task, &input, lease_ms, transport, now_ms),
        Input::Outcome(ref o) => {
            require(
                task,
                input.name(),
                State::InFlight,
                "only the running attempt has an outcome",
            )?;
            Ok(outcome(task, o, now_ms, rand))
        }
        Input::Progress { bytes_confirmed } => {
            require(
                task,
                input.name(),
                State::InFlight,
                "progress is only reported while an attempt runs",
            )?;
            Ok((progress(task, bytes_confirmed), Vec::new()))
        }
        Input::LeaseExpired => lease_expired(task, &input, now_ms),
        Input::Abandoned => {
            require(
                task,
                input.name(),
                State::InFlight,
                "only a running attempt can be abandoned",
            )?;
            Ok(retry_or_fail(
                task,
                "cut off before the server answered (the worker stopped, or the browser closed): the server may hold the upload".into(),
                None,
                now_ms,
                0,
            ))
        }
        Input::Release => {
            require(
                task,
                input.name(),
                State::InFlight,
                "only a running attempt can be released",
            )?;
            let mut t = task.clone();
            t.state = State::Queued;
            t.attempt = t.attempt.saturating_sub(1);
            t.next_attempt_at = Some(now_ms);
            t.lease_until = None;
            t.timeout_at = None;
            t.holder = None;
            Ok((t, Vec::new()))
        }
        Input::Renew { until } => {
            require(
                task,
                input.name(),
                State::InFlight,
                "only a running attempt holds a lease",
            )?;
            let mut t = task.clone();
            t.lease_until = Some(until);
            Ok((t, Vec::new()))
        }
        Input::Cancel => Ok((
            settle(task, State::Cancelled),
            vec![Effect::Cancelled, Effect::DeleteBlob],
        )),
        // Not yet at the deadline: the check passes and nothing changes.
        Input::Expire => Ok((task.clone(), Vec::new())),
    }
}

/// Records the tus upload resource created by the in-flight attempt, so later attempts resume it
/// instead of creating a new upload. Only valid for an `InFlight` tus task.
pub fn record_upload_url(task: &Task, url: &str) -> Result<Task> {
    use crate::core::task::Protocol;
    const INPUT: &str = "recordUploadUrl";
    require(
        task,
        INPUT,
        State::InFlight,
        "the upload URL is learned by a running attempt",
    )?;
    let mut t = task.clone();
    match &mut t.request.protocol {
        Protocol::Tus { upload_url, .. } => *upload_url = Some(url.to_string()),
        _ => return Err(illegal(task, INPUT, "only tus uploads have an upload URL")),
    }
    Ok(t)
}

/// The invariants every stored task satisfies; tests check them after every transition.
///
/// `next_attempt_at` is `Some` iff `Queued` (the scheduler's index relies on it), `lease_until` is
/// `Some` iff `InFlight` (`timeout_at` only then), a running attempt has been counted and has a
/// transport, and confirmed bytes never exceed the body.
pub fn check_invariants(task: &Task) -> bool {
    let queued = task.state == State::Queued;
    let in_flight = task.state == State::InFlight;
    task.next_attempt_at.is_some() == queued
        && task.lease_until.is_some() == in_flight
        && (in_flight || task.timeout_at.is_none())
        && (!in_flight || (task.attempt >= 1 && task.transport.is_some()))
        && task.bytes_confirmed <= task.body.size
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_cases;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_outcomes;
