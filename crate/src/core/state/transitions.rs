//! The transitions `apply` dispatches to for a live task: lease, an attempt's outcome, retry or give
//! up, progress, a lost lease, and the terminal ones (done, expired) with the `settle` they share.

use super::illegal::{illegal, require};
use super::{Effect, Input};
use crate::core::error::Result;
use crate::core::retry::{backoff_ms, classify, describe, parse_retry_after, Class, Outcome};
use crate::core::task::{State, Task, Transport};

pub(super) fn lease(
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
    // Only a page can start a Background Fetch, and the browser may refuse it: its `started` waits
    // until the page says it began (`announce`) or its outcome comes.
    t.announced = transport != Transport::BackgroundFetch;
    let effects = if t.announced {
        vec![Effect::Send]
    } else {
        Vec::new()
    };
    Ok((t, effects))
}

pub(super) fn outcome(task: &Task, o: &Outcome, now_ms: u64, rand: u64) -> (Task, Vec<Effect>) {
    let (status, retry_after) = (o.status(), o.retry_after());
    let reason = describe(o);
    match classify(o) {
        Class::Success => complete(task, status.unwrap_or(200)),
        Class::Final => {
            let mut t = settle(task, State::Failed);
            t.last_status = status;
            t.last_error = Some(reason.clone());
            // A status is the server's refusal; other final outcomes say their own why.
            let why = match status {
                Some(_) => format!(
                    "{reason} on attempt {}; the server refused the upload, so retrying cannot help",
                    t.attempt
                ),
                None => format!("{reason} (attempt {}); retrying cannot help", t.attempt),
            };
            (t, vec![Effect::Failed { reason: why }, Effect::DeleteBlob])
        }
        Class::Retryable => {
            let server_wait = retry_after
                .and_then(|v| parse_retry_after(v, now_ms))
                .unwrap_or(0);
            let delay = backoff_ms(&task.retry, task.attempt, rand).max(server_wait);
            let (t, mut effects) = retry_or_fail(task, reason, status, now_ms, delay);
            if let (Outcome::NetworkError(why), Some(Effect::Failed { reason })) =
                (o, effects.first_mut())
            {
                reason.push_str(if crate::core::cors::server_answered(why) {
                    ANSWERED_EARLY
                } else {
                    NO_ANSWER
                });
            }
            (t, effects)
        }
    }
}

/// What a final failure after network errors adds: a server that answers early (a `413` for a body
/// over its limit, a `401`) and closes the connection before reading the body reaches Firefox's `fetch`
/// as a network error, every attempt alike, and the reason should point there as well as at an outage.
const NO_ANSWER: &str = "; no answer reached the browser: the server was unreachable, or it answered \
    (a 413 or 401, say) before reading the body and closed the connection, which Firefox reports as a \
    network error (see the README, Troubleshooting)";
/// The same, when the server answered Ferry's probe (it is up, as the reason says).
const ANSWERED_EARLY: &str = "; no answer reached the browser, which also happens when a server \
    answers (a 413 or 401, say) before reading the body and closes the connection: Firefox reports that \
    as a network error (see the README, Troubleshooting)";

/// Queues the task again after `delay` ms, or fails it when the attempt budget is spent.
/// The delay is capped at the deadline: waiting longer is pointless, the task expires there anyway.
pub(super) fn retry_or_fail(
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
        let plural = if t.attempt == 1 { "" } else { "s" };
        let why = format!(
            "gave up after {} attempt{plural}; last: {reason}",
            t.attempt
        );
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
pub(super) fn progress(task: &Task, bytes_confirmed: u64) -> Task {
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
pub(super) fn lease_expired(
    task: &Task,
    input: &Input,
    now_ms: u64,
) -> Result<(Task, Vec<Effect>)> {
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

pub(super) fn complete(task: &Task, status: u16) -> (Task, Vec<Effect>) {
    let mut t = settle(task, State::Done);
    t.last_status = Some(status);
    (t, vec![Effect::Completed { status }, Effect::DeleteBlob])
}

pub(super) fn expire(task: &Task, input: &Input) -> (Task, Vec<Effect>) {
    let mut t = settle(task, State::Expired);
    if let Input::Outcome(o) = input {
        // Keep what the last attempt said; it is often why the task ran out of time.
        t.last_error = Some(describe(o));
        t.last_status = o.status();
    }
    (t, vec![Effect::Expired, Effect::DeleteBlob])
}

/// A copy of `task` in terminal `state`, with scheduling fields cleared.
/// Credentials at rest live only as long as the task needs them: a finished task drops its
/// request headers (an `Authorization` given at enqueue, say).
pub(super) fn settle(task: &Task, state: State) -> Task {
    let mut t = task.clone();
    t.state = state;
    t.next_attempt_at = None;
    t.lease_until = None;
    t.timeout_at = None;
    t.holder = None;
    t.request.headers.clear();
    t
}
