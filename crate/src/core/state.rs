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

use crate::core::error::{Error, Result};
use crate::core::retry::{
    backoff_ms, classify, describe, parse_retry_after, Class, Outcome, RetryPolicy,
};
use crate::core::task::{BodyMeta, Request, State, Task, Transport};

/// Something that happened to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The scheduler takes a due `Queued` task: it becomes `InFlight`, `attempt` grows by one and the
    /// lease runs until `now + lease_ms`.
    Lease {
        /// How long the attempt may run before recovery assumes the worker died.
        lease_ms: u64,
        /// The mechanism that will carry the attempt.
        transport: Transport,
    },
    /// How the `InFlight` attempt ended.
    Outcome(Outcome),
    /// The server confirmed more bytes (resumable protocols, `InFlight` only). Growth restarts the
    /// attempt budget (the running attempt becomes attempt 1); a report that does not grow is ignored.
    Progress {
        /// Total bytes the server now holds.
        bytes_confirmed: u64,
    },
    /// Recovery at worker start: the `InFlight` lease ran out (`lease_until <= now`), so the worker
    /// that held it is gone. Requeues due now, or fails the task if that was its last attempt.
    LeaseExpired,
    /// Recovery at worker start when the lease holder is known to be gone whatever its lease said: a
    /// browser runs one instance of a service worker at a time, so an `InFlight` task found by a new
    /// instance was held by a dead one. Requeues due now, or fails the task if that was its last attempt.
    Abandoned,
    /// The `InFlight` attempt never reached the network (a Background Fetch the browser refused to
    /// start): the task is queued again, due now, and the attempt is not counted. No event.
    Release,
    /// The lease holder is still working: the lease now runs until `until` (`InFlight` only).
    Renew {
        /// The new end of the lease (ms since epoch).
        until: u64,
    },
    /// The page cancelled the task.
    Cancel,
    /// Explicit expiry check by a sweeper: at or past the deadline the task expires; before it,
    /// nothing changes (`Ok` with no effects), so a sweeper can offer every live task safely.
    Expire,
}

impl Input {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Lease { .. } => "lease",
            Input::Outcome(_) => "outcome",
            Input::Progress { .. } => "progress",
            Input::LeaseExpired => "leaseExpired",
            Input::Abandoned => "abandoned",
            Input::Release => "release",
            Input::Renew { .. } => "renew",
            Input::Cancel => "cancel",
            Input::Expire => "expire",
        }
    }
}

/// What the web layer must do after persisting the new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start the attempt now.
    Send,
    /// The task is queued again; wake the scheduler at `at`.
    RetryAt {
        /// When the next attempt is due (ms since epoch).
        at: u64,
        /// `at - now`, for the page's "retrying in …".
        delay_ms: u64,
        /// Why the attempt failed (`"503 Service Unavailable"`, `"network error: …"`).
        reason: String,
    },
    /// The server accepted the upload.
    Completed {
        /// The final HTTP status.
        status: u16,
    },
    /// Ferry gave up on the task.
    Failed {
        /// Why, including the attempt count and the last status where relevant.
        reason: String,
    },
    /// The task was cancelled; abort any running fetch.
    Cancelled,
    /// The task outlived its deadline.
    Expired,
    /// The body is no longer needed: delete the stored blob. Comes with every terminal transition.
    DeleteBlob,
}

/// Everything needed to create a task; the result of validation plus identity and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Unique id.
    pub id: String,
    /// Session / outbox tag.
    pub tag: String,
    /// Per-tag enqueue order.
    pub seq: u64,
    /// The validated request.
    pub request: Request,
    /// The stored body's metadata.
    pub body: BodyMeta,
    /// Idempotency key sent on every attempt.
    pub idempotency_key: String,
    /// Enqueue time.
    pub now_ms: u64,
    /// Optional hard deadline.
    pub expires_at: Option<u64>,
    /// Optional earliest start.
    pub earliest_begin: Option<u64>,
    /// The effective retry policy.
    pub retry: RetryPolicy,
}

/// A fresh `Queued` task, due at `max(now, earliest_begin)`.
pub fn new_task(n: NewTask) -> Task {
    let due = n.earliest_begin.map_or(n.now_ms, |b| b.max(n.now_ms));
    Task {
        id: n.id,
        tag: n.tag,
        seq: n.seq,
        request: n.request,
        body: n.body,
        idempotency_key: n.idempotency_key,
        state: State::Queued,
        attempt: 0,
        next_attempt_at: Some(due),
        lease_until: None,
        timeout_at: None,
        created_at: n.now_ms,
        expires_at: n.expires_at,
        earliest_begin: n.earliest_begin,
        last_error: None,
        last_status: None,
        transport: None,
        retry: n.retry,
        bytes_confirmed: 0,
        discretionary: false,
        lease_no: 0,
        holder: None,
        app_data: None,
    }
}

/// Applies `input` to `task` at `now_ms`; `rand` feeds the backoff jitter.
///
/// Returns the new task (to persist) and the effects (to carry out after persisting), or
/// [`Error::IllegalTransition`] when the input does not fit the task's state; the module docs give
/// the precedence of the rules.
pub fn apply(task: &Task, input: Input, now_ms: u64, rand: u64) -> Result<(Task, Vec<Effect>)> {
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
        if let (State::InFlight, Input::Outcome(o @ Outcome::Response { status, .. })) =
            (task.state, &input)
        {
            if classify(o) == Class::Success {
                return Ok(complete(task, *status));
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
                "the worker running it stopped".into(),
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

fn lease(
    task: &Task,
    input: &Input,
    lease_ms: u64,
    transport: Transport,
    now_ms: u64,
) -> Result<(Task, Vec<Effect>)> {
    require(
        task,
        input.name(),
        State::Queued,
        "only a queued task can be leased",
    )?;
    if !task.is_due(now_ms) {
        let due = task
            .next_attempt_at
            .unwrap_or(0)
            .max(task.earliest_begin.unwrap_or(0));
        return Err(illegal(
            task,
            input.name(),
            &format!("it is not due until {due} (now {now_ms})"),
        ));
    }
    let mut t = task.clone();
    t.state = State::InFlight;
    t.attempt = t.attempt.saturating_add(1);
    t.next_attempt_at = None;
    t.lease_until = Some(now_ms.saturating_add(lease_ms));
    t.transport = Some(transport);
    t.lease_no = t.lease_no.saturating_add(1);
    t.holder = None;
    Ok((t, vec![Effect::Send]))
}

fn outcome(task: &Task, o: &Outcome, now_ms: u64, rand: u64) -> (Task, Vec<Effect>) {
    let (status, retry_after) = match o {
        Outcome::Response {
            status,
            retry_after,
        } => (Some(*status), retry_after.as_deref()),
        _ => (None, None),
    };
    let reason = describe(o);
    match classify(o) {
        Class::Success => complete(task, status.unwrap_or(200)),
        Class::Final => {
            let mut t = settle(task, State::Failed);
            t.last_status = status;
            t.last_error = Some(reason.clone());
            let why = format!(
                "{reason} on attempt {}; the server refused the upload, so retrying cannot help",
                t.attempt
            );
            (t, vec![Effect::Failed { reason: why }, Effect::DeleteBlob])
        }
        Class::Retryable => {
            let server_wait = retry_after
                .and_then(|v| parse_retry_after(v, now_ms))
                .unwrap_or(0);
            let delay = backoff_ms(&task.retry, task.attempt, rand).max(server_wait);
            retry_or_fail(task, reason, status, now_ms, delay)
        }
    }
}

/// Queues the task again after `delay` ms, or fails it when the attempt budget is spent.
/// The delay is capped at the deadline: waiting longer is pointless, the task expires there anyway.
fn retry_or_fail(
    task: &Task,
    reason: String,
    status: Option<u16>,
    now_ms: u64,
    delay: u64,
) -> (Task, Vec<Effect>) {
    if task.attempt >= task.retry.max_attempts {
        let mut t = settle(task, State::Failed);
        t.last_status = status;
        t.last_error = Some(reason.clone());
        let why = format!("gave up after {} attempts; last: {reason}", t.attempt);
        return (t, vec![Effect::Failed { reason: why }, Effect::DeleteBlob]);
    }
    let at = now_ms.saturating_add(delay).min(task.deadline());
    let mut t = task.clone();
    t.state = State::Queued;
    t.next_attempt_at = Some(at);
    t.lease_until = None;
    t.timeout_at = None;
    t.holder = None;
    t.last_status = status;
    t.last_error = Some(reason.clone());
    (
        t,
        vec![Effect::RetryAt {
            at,
            delay_ms: at - now_ms,
            reason,
        }],
    )
}

/// Server-confirmed bytes only grow; growth restarts the attempt budget, because an upload that
/// keeps making progress is not failing — it is just long. The running attempt becomes attempt 1
/// of the fresh budget (not 0), so an `InFlight` task always counts the attempt it is running.
fn progress(task: &Task, bytes_confirmed: u64) -> Task {
    let mut t = task.clone();
    let bytes = bytes_confirmed.min(t.body.size);
    if bytes > t.bytes_confirmed {
        t.bytes_confirmed = bytes;
        t.attempt = 1;
    }
    t
}

/// The worker holding the lease died mid-attempt. The attempt counts (it was started, and a body that
/// reliably kills the worker must not loop forever), but it is retried at once: the failure was
/// ours, not the server's, so there is nothing to back off from.
fn lease_expired(task: &Task, input: &Input, now_ms: u64) -> Result<(Task, Vec<Effect>)> {
    require(
        task,
        input.name(),
        State::InFlight,
        "only a running attempt holds a lease",
    )?;
    let until = task.lease_until.unwrap_or(0);
    if until > now_ms {
        return Err(illegal(
            task,
            input.name(),
            &format!("the lease runs until {until} (now {now_ms})"),
        ));
    }
    Ok(retry_or_fail(task, "lease expired".into(), None, now_ms, 0))
}

fn complete(task: &Task, status: u16) -> (Task, Vec<Effect>) {
    let mut t = settle(task, State::Done);
    t.last_status = Some(status);
    (t, vec![Effect::Completed { status }, Effect::DeleteBlob])
}

fn expire(task: &Task, input: &Input) -> (Task, Vec<Effect>) {
    let mut t = settle(task, State::Expired);
    if let Input::Outcome(o) = input {
        // Keep what the last attempt said; it is often why the task ran out of time.
        t.last_error = Some(describe(o));
        t.last_status = match o {
            Outcome::Response { status, .. } => Some(*status),
            _ => None,
        };
    }
    (t, vec![Effect::Expired, Effect::DeleteBlob])
}

/// A copy of `task` in terminal `state`, with scheduling fields cleared.
/// Credentials at rest live only as long as the task needs them: a finished task drops its
/// request headers (an `Authorization` given at enqueue, say).
fn settle(task: &Task, state: State) -> Task {
    let mut t = task.clone();
    t.state = state;
    t.next_attempt_at = None;
    t.lease_until = None;
    t.timeout_at = None;
    t.holder = None;
    t.request.headers.clear();
    t
}

fn require(task: &Task, input: &str, state: State, why: &str) -> Result<()> {
    if task.state == state {
        Ok(())
    } else {
        Err(illegal(task, input, why))
    }
}

pub(crate) fn illegal(task: &Task, input: &str, reason: &str) -> Error {
    Error::IllegalTransition {
        task_id: task.id.clone(),
        state: task.state,
        attempt: task.attempt,
        input: input.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_cases;
