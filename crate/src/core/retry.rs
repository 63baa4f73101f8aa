//! What a response means, and when to try again.
//!
//! Classification is deliberately conservative: only outcomes that say "the same request may work
//! later" are retried, because retrying a request the server rejected on its merits wastes the user's
//! battery and data for a result that cannot change. Delays use exponential backoff with *full
//! jitter* (uniform in `[0, ceiling]`), which spreads out many clients that failed together.

mod http_date;

use serde::{Deserialize, Serialize};

/// How often and for how long Ferry keeps trying a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts allowed before giving up (at least 1).
    pub max_attempts: u32,
    /// Backoff ceiling for the first retry, in ms; doubles per attempt.
    pub base_ms: u64,
    /// Upper bound for the backoff ceiling, in ms.
    pub cap_ms: u64,
    /// A task expires this long after it was created, whatever else happens.
    pub max_retention_ms: u64,
}

/// Seven days, the default retention.
pub const DEFAULT_MAX_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1000;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_ms: 1000,
            cap_ms: 300_000,
            max_retention_ms: DEFAULT_MAX_RETENTION_MS,
        }
    }
}

/// How one attempt ended, as reported by the web layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered.
    Response {
        /// HTTP status code.
        status: u16,
        /// The raw `Retry-After` header, if present.
        retry_after: Option<String>,
    },
    /// One request of a multi-request upload answered (an S3 step: `step` names it): the status
    /// decides as a `Response`'s does, and the reason names the request.
    StepResponse {
        /// The request, e.g. `"UploadPart 2"`.
        step: String,
        /// HTTP status code.
        status: u16,
        /// The raw `Retry-After` header, if present.
        retry_after: Option<String>,
    },
    /// fetch rejected (offline, DNS, CORS, connection reset, …); the message is the browser's.
    NetworkError(String),
    /// The server answered, and its answer asks for another attempt (an S3 error it says to retry, a tus
    /// offset or lock conflict, a tus upload URL to ask again); the message says why. Retryable.
    Again(String),
    /// The attempt took longer than Ferry allows.
    Timeout,
    /// The endpoint answered in a way that can never work (e.g. it does not speak the protocol);
    /// the message says why. Final.
    Refused(String),
    /// The attempt ended before anything was sent: the page's header provider failed (threw,
    /// rejected, or gave headers that cannot be sent); the message says why. Retryable: the page
    /// may answer next time.
    NotSent(String),
}

impl Outcome {
    /// The HTTP status that decides the outcome, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Response { status, .. } | Outcome::StepResponse { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The raw `Retry-After` of such an answer.
    pub fn retry_after(&self) -> Option<&str> {
        match self {
            Outcome::Response { retry_after, .. } | Outcome::StepResponse { retry_after, .. } => {
                retry_after.as_deref()
            }
            _ => None,
        }
    }
}

/// What an [`Outcome`] means for the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The server accepted the upload.
    Success,
    /// The same request may succeed later.
    Retryable,
    /// Retrying cannot help.
    Final,
}

/// Classifies an attempt's outcome.
///
/// * network errors and timeouts are transient by nature → `Retryable`;
/// * 408, 425, 429 and 500/502/503/504 mean "not now" (timeout, too early, rate-limited, server or
///   gateway trouble) → `Retryable`;
/// * 2xx → `Success`;
/// * every other status → `Final`: other 4xx are the server rejecting *this* request, which a retry
///   repeats verbatim; 501/505/5xx-others say the server cannot ever handle it; 1xx never reach a fetch
///   caller and 3xx only do when redirects are manual, so both mean something is misconfigured and
///   retrying would loop. Anything outside 100..=599 is not HTTP and is treated the same way.
pub fn classify(o: &Outcome) -> Class {
    match o {
        Outcome::NetworkError(_) | Outcome::Again(_) | Outcome::Timeout | Outcome::NotSent(_) => {
            Class::Retryable
        }
        Outcome::Refused(_) => Class::Final,
        Outcome::Response { status, .. } | Outcome::StepResponse { status, .. } => match status {
            200..=299 => Class::Success,
            408 | 425 | 429 | 500 | 502 | 503 | 504 => Class::Retryable,
            _ => Class::Final,
        },
    }
}

/// A one-line human description of an outcome: `"503 Service Unavailable"`, `"network error: …"`.
pub fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Response { status, .. } => status_text(*status),
        Outcome::StepResponse { step, status, .. } => {
            format!("{step} answered {}", status_text(*status))
        }
        Outcome::NetworkError(msg) if msg.is_empty() => "network error".to_string(),
        Outcome::NetworkError(msg) => format!("network error: {msg}"),
        Outcome::Timeout => "timeout".to_string(),
        Outcome::Again(msg) | Outcome::Refused(msg) | Outcome::NotSent(msg) => msg.clone(),
    }
}

/// `"503 Service Unavailable"`, or `"HTTP 599"` for a status without a standard phrase.
fn status_text(status: u16) -> String {
    match reason_phrase(status) {
        "" => format!("HTTP {status}"),
        phrase => format!("{status} {phrase}"),
    }
}

/// A request answered with a redirect, which Ferry does not follow (its requests say `redirect:
/// 'manual'`): a `POST` redirected with 301, 302 or 303 (any method with 303) goes on as a `GET` without
/// its body, and reporting the target's answer would call an upload complete whose bytes never arrived.
/// Sending it again cannot help: the task fails, saying which URL to give instead.
pub fn redirected(method: &str, url: &str) -> Outcome {
    let url = without_query(url);
    Outcome::Refused(format!(
        "the server answered {method} {url} with a redirect, which uploads do not follow (a POST \
         redirected with 301, 302 or 303 would go on as a GET without its body); give the URL the \
         upload ends at"
    ))
}

/// A Background Fetch the browser carried on through a redirect (Chromium follows them whatever the
/// request says) to `to`, which answered `status`. Ferry cannot tell which redirect it was: after a 307
/// or 308 the body went on and may have arrived there, after a 301, 302 or 303 a GET went without it.
/// Not retried (the same redirect would come back); the reason says both and what to change.
pub fn redirect_followed(method: &str, url: &str, to: &str, status: u16) -> Outcome {
    let (url, to) = (without_query(url), without_query(to));
    Outcome::Refused(format!(
        "the browser's Background Fetch followed a redirect of {method} {url} to {to}, which answered \
         {}; uploads do not follow redirects: after a 307 or 308 the body may have arrived there, after \
         a 301, 302 or 303 it went on as a GET without its body; give the URL the upload ends at",
        status_text(status)
    ))
}

/// A URL as a reason names it: without its query and fragment. A presigned URL's query holds its
/// signature, a credential that a reason (kept in the task and in the outbox) must not repeat.
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The standard reason phrase for common statuses (empty when unknown); fetch often hides the
/// server's own phrase (HTTP/2 has none), so Ferry supplies one for messages.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Parses a `Retry-After` value into a delay in ms from `now_ms`.
///
/// Accepts delta-seconds (`"120"`) and HTTP-dates in all three forms RFC 9110 requires recipients to
/// read (IMF-fixdate, obsolete RFC 850, asctime). A date in the past means "now" (`Some(0)`);
/// anything unparsable is `None`, so the caller falls back to its own backoff instead of trusting noise.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than fail: the server clearly meant "much later".
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(secs.saturating_mul(1000));
    }
    let at_ms = http_date::parse_http_date_ms(v)?;
    Some(if at_ms <= 0 {
        0
    } else {
        (at_ms as u64).saturating_sub(now_ms)
    })
}

/// Full-jitter backoff for the retry after attempt number `attempt` (1-based; 0 is treated as 1).
///
/// Returns a value uniform in `[0, min(cap_ms, base_ms * 2^(attempt-1))]`, computed without overflow
/// for any attempt (the doubling saturates at the cap). `rand` is any uniformly random `u64`.
pub fn backoff_ms(policy: &RetryPolicy, attempt: u32, rand: u64) -> u64 {
    let exp = attempt.max(1) - 1;
    let ceiling = 1u64
        .checked_shl(exp)
        .filter(|_| exp < 64)
        .and_then(|factor| policy.base_ms.checked_mul(factor))
        .map_or(policy.cap_ms, |d| d.min(policy.cap_ms));
    // Multiply-high maps rand onto [0, ceiling] evenly, and cannot overflow even for ceiling == u64::MAX.
    ((u128::from(rand) * (u128::from(ceiling) + 1)) >> 64) as u64
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
