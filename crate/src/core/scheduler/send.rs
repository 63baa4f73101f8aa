//! How an attempt is sent: which transport may carry it (Background Fetch or the worker's fetch),
//! with which headers, and how long each of its requests may take.

use super::{SessionView, TIMEOUT_BASE_MS, TIMEOUT_MIN_BYTES_PER_SEC};
use crate::core::task::{Protocol, State, Task, Transport};
use crate::core::validate::HeaderFallback;

/// Whether a Background Fetch may carry `task` now (decided by a page of `page_origin`, the only place
/// one can start): the session allows it for a body of its size, its headers are not asked fresh at each send (of a page or
/// of the worker's `beforeSend`: the browser sends a Background Fetch as it was started), it is one
/// request (not tus) to the page's own origin, and no other Background Fetch of the origin is in flight
/// (Chromium runs them one at a time per origin: a second would only wait, and hold back everything
/// queued behind it). Cross-origin uploads (an S3 presigned URL, say) go through the worker's fetch:
/// Chromium's Background Fetch failed such a request (`fetch-error`) whose CORS allowed every header,
/// while the worker's fetch of the same request succeeded, and each such failure would cost an attempt.
pub fn background_fetch_fits(
    task: &Task,
    session: &SessionView,
    in_flight: &[Task],
    page_origin: &str,
) -> bool {
    session.background_fetch
        // (An empty body has nothing for the browser to carry.)
        && task.body.size > 0
        && task.body.size >= session.background_fetch_min_bytes
        && !session.header_provider
        && !session.before_send
        && !matches!(
            task.request.protocol,
            Protocol::Tus { .. } | Protocol::S3Multipart { .. }
        )
        && same_origin(&task.request.url, page_origin)
        && background_fetch_free(in_flight)
}

/// How long a page that said it can start a Background Fetch counts as open: its tag's large bodies
/// wait for it that long (`waits_for_page`). Such a page wakes the worker every `KEEPALIVE_MS` (5 s)
/// while its tag's attempts run, so a page that stays open stays heard.
pub const PAGE_HEARD_MS: u64 = 12_000;

/// Whether a queued, due `task` waits for an open page of its tag to start it as a Background Fetch
/// (the worker cannot start one) instead of going by the worker's fetch: its session hands only bodies
/// of at least `minBytes` to Background Fetch (so the ones it does are the large ones, which must
/// outlive the browser and the worker's event limits), this one is one, and a page of the tag that
/// can start one was heard lately (`background_fetch_page_until`). It also waits for the origin's
/// Background Fetch in flight to end. Once no such page is heard, it goes by the worker's fetch.
/// `origin`: the worker's own (its pages').
pub fn waits_for_page(task: &Task, session: &SessionView, now_ms: u64, origin: &str) -> bool {
    session.background_fetch_min_bytes > 0
        && now_ms < session.background_fetch_page_until
        && background_fetch_fits(task, session, &[], origin)
}

/// Whether no Background Fetch of the origin is in flight, whatever its tag (`in_flight`: every task in
/// flight). Checked again by the lease itself, inside its transaction: pages of many tags uploading at
/// once each found none in flight before any was leased, and Chromium refused the fetches past its
/// limit ("too many active fetches"), each then sent another way under a second `started` event.
pub fn background_fetch_free(in_flight: &[Task]) -> bool {
    !in_flight
        .iter()
        .any(|t| t.state == State::InFlight && t.transport == Some(Transport::BackgroundFetch))
}

/// Whether the browser's Background Fetch of a task may be aborted now: only once its whole body is
/// known to be sent (`uploaded`: the most a page saw sent, if one did). The whole is the task's own
/// size (a multipart body is larger, so past the size only its closing boundary is left), never the
/// registration's `uploadTotal`: Chromium keeps that modulo 2^32 (a 4.6 GiB body's reads 614 MiB).
/// Not while it may be sending the body: Chromium 156 with a persistent profile crashes, every tab
/// with it, when such a fetch is aborted (a page's own abort too), and an abort does not stop a body
/// under way anyway; the worker cannot tell (its view of the fetch says 0 bytes sent throughout).
/// Such a fetch is left to end on its own: its outcome, of an attempt no longer current, changes
/// nothing.
pub fn background_fetch_abortable(task: &Task, uploaded: Option<u64>) -> bool {
    let whole = match task.request.protocol {
        Protocol::Multipart { .. } => task.body.size.saturating_add(1),
        _ => task.body.size,
    };
    uploaded.is_some_and(|u| u >= whole)
}

/// Whether an absolute, normalised URL (`scheme://host[:port]/...`) is of `origin` (`scheme://host[:port]`).
fn same_origin(url: &str, origin: &str) -> bool {
    !origin.is_empty()
        && url
            .strip_prefix(origin)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

/// How long the worker waits for an open page to answer for headers.
pub const HEADER_WAIT_MS: u64 = 5_000;
/// How long a page waits for its header provider: less than the worker waits, so that a provider
/// that never settles is answered as a failure (seen), not as a page that is not there.
pub const PROVIDER_WAIT_MS: u64 = 4_000;

/// How long one request of an attempt may take: the session's fixed timeout, or a base plus the time
/// to send `bytes` at the slowest rate Ferry waits for.
pub fn attempt_timeout_ms(session: &SessionView, bytes: u64) -> u64 {
    session.attempt_timeout_ms.unwrap_or_else(|| {
        TIMEOUT_BASE_MS.saturating_add(bytes.saturating_mul(1000) / TIMEOUT_MIN_BYTES_PER_SEC)
    })
}

/// What to send with an attempt of a session with a header provider, given the page's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderPlan {
    /// Send with these headers (possibly none).
    Send(Vec<(String, String)>),
    /// Send with these and keep them for the next send without a page (`headerFallback: 'last'`).
    SendAndKeep(Vec<(String, String)>),
    /// Leave the task queued until a page of the tag can answer.
    Wait,
    /// A page answered, but its provider failed: the attempt ends unsent, as a retryable outcome
    /// that says why (a provider that keeps failing is seen, not waited on in silence).
    Refuse(String),
}

/// Decides the headers of an attempt from the session and what a page answered (`None`: no answer;
/// `Some(Err(why))`: the page's provider failed).
pub fn headers(
    session: &SessionView,
    answer: Option<std::result::Result<Vec<(String, String)>, String>>,
    last: Option<Vec<(String, String)>>,
) -> HeaderPlan {
    if !session.header_provider {
        return HeaderPlan::Send(Vec::new());
    }
    let answer = match answer {
        Some(Err(why)) => {
            return HeaderPlan::Refuse(format!("the page's headerProvider failed: {why}"))
        }
        Some(Ok(h)) => Some(h),
        None => None,
    };
    match (answer, session.header_fallback) {
        (Some(h), HeaderFallback::Last) => HeaderPlan::SendAndKeep(h),
        (Some(h), HeaderFallback::Wait) => HeaderPlan::Send(h),
        (None, HeaderFallback::Last) => match last {
            Some(h) => HeaderPlan::Send(h),
            None => HeaderPlan::Wait,
        },
        (None, HeaderFallback::Wait) => HeaderPlan::Wait,
    }
}
