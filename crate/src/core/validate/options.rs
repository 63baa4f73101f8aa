//! Session options and retry overrides.

use serde::{Deserialize, Serialize};

use super::numbers::{int_in, js, positive_ms, whole, MAX_SAFE_INTEGER};
use crate::core::error::{Error, Result};
use crate::core::retry::RetryPolicy;

/// Most attempts a policy may allow; beyond this, bound the task by time (`maxRetentionMs`) instead.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10_000;
/// Longest retention accepted (365 days): a stored body should not outlive a year of the user's disk.
pub const MAX_RETENTION_LIMIT_MS: u64 = 365 * 24 * 60 * 60 * 1000;
/// Highest session concurrency; browsers cap connections per host at about 6, and uploads compete
/// with the page's own traffic.
pub const MAX_CONCURRENCY: u32 = 16;

/// Retry settings as passed from JS; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryInput {
    /// Attempts before giving up.
    pub max_attempts: Option<f64>,
    /// First backoff ceiling in ms.
    pub base_ms: Option<f64>,
    /// Largest backoff ceiling in ms.
    pub cap_ms: Option<f64>,
    /// How long a task may live, in ms.
    pub max_retention_ms: Option<f64>,
}

/// Applies `input` over `base`, rejecting NaN, infinities, negatives, zero, fractional attempt counts
/// and a base delay above the cap.
pub fn validate_retry(input: &RetryInput, base: &RetryPolicy) -> Result<RetryPolicy> {
    let max_attempts = match input.max_attempts {
        Some(v) => int_in("retry.maxAttempts", v, 1, MAX_ATTEMPTS_LIMIT)?,
        None => base.max_attempts,
    };
    let ms =
        |name: &str, v: Option<f64>, default: u64| v.map_or(Ok(default), |v| positive_ms(name, v));
    let base_ms = ms("retry.baseMs", input.base_ms, base.base_ms)?;
    let cap_ms = ms("retry.capMs", input.cap_ms, base.cap_ms)?;
    let max_retention_ms = ms(
        "retry.maxRetentionMs",
        input.max_retention_ms,
        base.max_retention_ms,
    )?;
    if base_ms > cap_ms {
        return Err(Error::options(
            "retry.baseMs",
            format!("{base_ms} is above retry.capMs {cap_ms}; the first delay cannot exceed the largest one, so lower baseMs or raise capMs"),
        ));
    }
    if max_retention_ms > MAX_RETENTION_LIMIT_MS {
        return Err(Error::options(
            "retry.maxRetentionMs",
            format!("{max_retention_ms} is more than 365 days ({MAX_RETENTION_LIMIT_MS} ms); pass a shorter retention"),
        ));
    }
    Ok(RetryPolicy {
        max_attempts,
        base_ms,
        cap_ms,
        max_retention_ms,
    })
}

/// Session options as passed from JS; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionOptionsInput {
    /// Uploads of this session running at once.
    pub concurrency: Option<f64>,
    /// What to do when uploads finish with no page open: `"none"`, `"notify"` or `"open"`.
    pub launch: Option<String>,
    /// Session-wide retry policy overrides.
    pub retry: Option<RetryInput>,
    /// `"auto"` (events are dropped once delivered) or `"manual"` (pages acknowledge them).
    pub ack: Option<String>,
    /// Whether a page may hand tasks to the browser's Background Fetch (default true where granted).
    pub background_fetch: Option<bool>,
    /// Only bodies of at least this many bytes go by Background Fetch (`backgroundFetch: { minBytes }`,
    /// which the page entry passes as `backgroundFetch: true` and this).
    pub background_fetch_min_bytes: Option<f64>,
    /// Whether the page gave a header provider (a function the worker asks at send time).
    pub header_provider: Option<bool>,
    /// Without an open page to ask: `"wait"` (default) or `"last"` (reuse the last headers given,
    /// which are then kept in IndexedDB: the caller's opt-in to storing them).
    pub header_fallback: Option<String>,
    /// Discretionary uploads become due at the next multiple of this many milliseconds (default one
    /// minute; 0 sends them as soon as they are due).
    pub batch_window_ms: Option<f64>,
    /// How long one request of an attempt may take before it counts as a (retryable) timeout, in ms.
    pub attempt_timeout_ms: Option<f64>,
}

/// What the worker does when a session has a header provider but no page is open to ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderFallback {
    /// Leave the task queued until a page of the tag can answer.
    #[default]
    Wait,
    /// Send with the last headers a page gave (stored for that purpose).
    Last,
}

/// What to do when a session's uploads finish and no page of the origin is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Launch {
    /// Nothing; the outbox waits for the next page.
    #[default]
    None,
    /// Show a notification.
    Notify,
    /// Open a window of the app.
    Open,
}

/// Validated session options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOptions {
    /// Uploads running at once (1..=16, default 2).
    pub concurrency: u32,
    /// Launch behaviour.
    pub launch: Launch,
    /// Default retry policy of the session's uploads.
    pub retry: RetryPolicy,
    /// Whether pages must acknowledge events explicitly.
    pub manual_ack: bool,
    /// Whether a page may hand tasks to the browser's Background Fetch.
    #[serde(default = "yes")]
    pub background_fetch: bool,
    /// The smallest body a Background Fetch carries (0: any).
    #[serde(default)]
    pub background_fetch_min_bytes: u64,
    /// Whether the worker asks an open page for headers at send time.
    #[serde(default)]
    pub header_provider: bool,
    /// What to do when it cannot ask.
    #[serde(default)]
    pub header_fallback: HeaderFallback,
    /// The batch window of discretionary uploads, in milliseconds.
    #[serde(default = "default_batch_window")]
    pub batch_window_ms: u64,
    /// A fixed bound for one request of an attempt, in ms; `None` scales it with the bytes sent
    /// (see [`crate::core::scheduler::attempt_timeout_ms`]).
    #[serde(default)]
    pub attempt_timeout_ms: Option<u64>,
}

/// Default batch window of discretionary uploads: one minute.
pub const DEFAULT_BATCH_WINDOW_MS: u64 = 60_000;
/// Shortest attempt timeout a session may ask for (below it, a healthy server looks hung).
pub const MIN_ATTEMPT_TIMEOUT_MS: u32 = 100;
/// Longest attempt timeout a session may ask for: a day.
pub const MAX_ATTEMPT_TIMEOUT_MS: u32 = 86_400_000;
/// Longest batch window: a day.
pub const MAX_BATCH_WINDOW_MS: u64 = 86_400_000;

fn default_batch_window() -> u64 {
    DEFAULT_BATCH_WINDOW_MS
}

fn yes() -> bool {
    true
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            concurrency: 2,
            launch: Launch::None,
            retry: RetryPolicy::default(),
            manual_ack: false,
            background_fetch: true,
            background_fetch_min_bytes: 0,
            header_provider: false,
            header_fallback: HeaderFallback::Wait,
            batch_window_ms: DEFAULT_BATCH_WINDOW_MS,
            attempt_timeout_ms: None,
        }
    }
}

/// Validates session options, filling in defaults.
pub fn validate_session_options(input: &SessionOptionsInput) -> Result<SessionOptions> {
    let defaults = SessionOptions::default();
    let concurrency = match input.concurrency {
        Some(v) => int_in("concurrency", v, 1, MAX_CONCURRENCY)?,
        None => defaults.concurrency,
    };
    let launch = match input.launch.as_deref() {
        None | Some("none") => Launch::None,
        Some("notify") => Launch::Notify,
        Some("open") => Launch::Open,
        Some(other) => {
            return Err(Error::options(
                "launch",
                format!("{other:?} is not one of \"none\", \"notify\", \"open\"; pass one of them"),
            ))
        }
    };
    let manual_ack = match input.ack.as_deref() {
        None | Some("auto") => false,
        Some("manual") => true,
        Some(other) => {
            return Err(Error::options(
                "ack",
                format!("{other:?} is not \"auto\" or \"manual\"; pass one of them"),
            ))
        }
    };
    let batch_window_ms = match input.batch_window_ms {
        Some(v) => u64::from(int_in("batchWindowMs", v, 0, MAX_BATCH_WINDOW_MS as u32)?),
        None => DEFAULT_BATCH_WINDOW_MS,
    };
    let attempt_timeout_ms = match input.attempt_timeout_ms {
        Some(v) => Some(u64::from(int_in(
            "attemptTimeoutMs",
            v,
            MIN_ATTEMPT_TIMEOUT_MS,
            MAX_ATTEMPT_TIMEOUT_MS,
        )?)),
        None => None,
    };
    let header_fallback = match input.header_fallback.as_deref() {
        None | Some("wait") => HeaderFallback::Wait,
        Some("last") => HeaderFallback::Last,
        Some(other) => {
            return Err(Error::options(
                "headerFallback",
                format!("{other:?} is not \"wait\" or \"last\"; pass one of them"),
            ))
        }
    };
    if input.header_fallback.is_some() && input.header_provider != Some(true) {
        return Err(Error::options(
            "headerFallback",
            "only means something with a headerProvider; pass both or neither",
        ));
    }
    let background_fetch_min_bytes = match input.background_fetch_min_bytes {
        Some(v) => whole(v).ok_or_else(|| {
            Error::options(
                "backgroundFetch.minBytes",
                format!(
                    "{} is not a whole number of bytes from 0 to {}; pass one",
                    js(v),
                    MAX_SAFE_INTEGER
                ),
            )
        })?,
        None => 0,
    };
    let retry = match &input.retry {
        Some(r) => validate_retry(r, &defaults.retry)?,
        None => defaults.retry,
    };
    Ok(SessionOptions {
        concurrency,
        launch,
        retry,
        manual_ack,
        background_fetch: input.background_fetch.unwrap_or(defaults.background_fetch),
        background_fetch_min_bytes,
        header_provider: input.header_provider.unwrap_or(false),
        header_fallback,
        batch_window_ms,
        attempt_timeout_ms,
    })
}
