//! A server that is down: while attempts to an origin end in network errors (connection refused or
//! reset, no answer at all), the other queued uploads to it would each spend an attempt in
//! milliseconds, and a queue of hundreds would use up `maxAttempts` in a short outage. After such an
//! error the origin is held for a while (none of its uploads starts) that grows as the failed
//! upload's own backoff ceiling does (`retry.baseMs` doubled per error in a row, at most
//! `retry.capMs` and `OUTAGE_CAP_MS`), then one upload at a time asks (a probe) until the server
//! answers anything at all. A timeout changes nothing here: a server that never answers holds back no
//! other upload.

use super::Env;
use crate::core::retry::Outcome;
use crate::core::task::Task;
use litemap::LiteMap;

/// The longest hold: once the server is back, the next upload to it starts within this.
pub const OUTAGE_CAP_MS: u64 = 15_000;

/// What a worker instance heard of an origin whose attempts end in network errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outage {
    /// Network errors in a row (no answer of the server since the first).
    pub failures: u32,
    /// No upload to the origin starts before this (ms); after it, one at a time.
    pub until: u64,
}

/// The outages heard, by origin (`origin_of`).
pub type Outages = LiteMap<String, Outage>;

/// An attempt of `task` ended with `outcome` at `env.now_ms`: its origin's outage as it stands after
/// it. A network error adds one to it, unless the browser says it is offline (`env.online` false: the
/// error says nothing of the server, and the plan holds everything until the network is back) or the
/// server answered Ferry's probe after it (`cors::server_answered`: it is up); any answer of the
/// server ends it; a timeout, a request not sent (a header provider failed) or anything
/// else leaves it as it was.
pub fn outage_after(outages: &mut Outages, task: &Task, outcome: &Outcome, env: &Env) {
    let (origin, now_ms) = (origin_of(&task.request.url), env.now_ms);
    match outcome {
        Outcome::NetworkError(_) if !env.online => {}
        // The server answered Ferry's probe after the error (a CORS refusal, a connection cut
        // mid-request): it is up, and its other uploads (to endpoints set up right) go on.
        Outcome::NetworkError(why) if crate::core::cors::server_answered(why) => {
            outages.remove(origin);
        }
        Outcome::NetworkError(_) => {
            let o = outages.entry(origin.to_string()).or_default();
            o.failures = o.failures.saturating_add(1);
            let hold = task
                .retry
                .base_ms
                .saturating_mul(1u64 << (o.failures - 1).min(20))
                .min(task.retry.cap_ms)
                .min(OUTAGE_CAP_MS);
            o.until = o.until.max(now_ms.saturating_add(hold));
        }
        Outcome::Response { .. } | Outcome::StepResponse { .. } | Outcome::Again(_) => {
            outages.remove(origin);
        }
        _ => {}
    }
}

/// `scheme://host[:port]` of an absolute URL (stored URLs are resolved and checked http(s)).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// Whether the outage of `task`'s origin holds it back now: before the hold ends (`Some(until)`:
/// look again then), or after it while another upload to the origin asks (`probing`: one is in
/// flight or chosen already; `Some(0)`: its end wakes the worker).
pub fn outage_hold(task: &Task, outages: &Outages, now_ms: u64, probing: bool) -> Option<u64> {
    let o = outages.get(origin_of(&task.request.url))?;
    if now_ms < o.until {
        Some(o.until)
    } else if probing {
        Some(0)
    } else {
        None
    }
}
