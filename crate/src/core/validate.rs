//! Validation of everything a page passes in, before anything is written.
//!
//! A mistake found at enqueue time is a thrown error the developer sees next to the call that caused
//! it; the same mistake found by the service worker hours later is a failed upload nobody is watching.
//! So every rule Ferry (or fetch) will apply later is checked here first. Inputs arrive from JS:
//! numbers are `f64` (possibly NaN, infinite, fractional or negative) and anything may be missing.

mod numbers;
mod options;
mod protocol;
mod request;

pub use options::{
    validate_retry, validate_session_options, HeaderFallback, Launch, RetryInput, SessionOptions,
    SessionOptionsInput,
};

use crate::core::error::{Error, Result};
use crate::core::retry::RetryPolicy;
use crate::core::task::{BodyMeta, Request};

/// Bodies at least this large are checked against `navigator.storage.estimate()` before they are
/// stored (a refusal then costs no copy of the Blob); smaller ones are simply written (a write over
/// the quota aborts its transaction, leaves nothing behind and is reported as `FerryQuotaExceeded` all
/// the same), which spares them an estimate call and lets `upload()` calls made together share one
/// transaction (a hundred photos of a few MiB each).
pub const QUOTA_ESTIMATE_MIN_BYTES: u64 = 16 << 20;

/// Whether an upload of `size` bytes is checked against the storage estimate first.
pub fn wants_quota_estimate(size: u64) -> bool {
    size >= QUOTA_ESTIMATE_MIN_BYTES
}

/// Limits that depend on the environment rather than on one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes (default [`MAX_BODY_BYTES`]: no limit of Ferry's own, the
    /// storage quota is what bounds a body).
    pub max_body_bytes: u64,
    /// Storage still free (`quota - usage` from `navigator.storage.estimate()`), if known.
    pub quota_available: Option<u64>,
    /// The worker has a `beforeSend` (which signs each request of an S3 multipart upload).
    pub before_send: bool,
}

/// The default [`Limits::max_body_bytes`]: the largest size a JS number holds exactly
/// (`Number.MAX_SAFE_INTEGER`), far past any Blob a browser stores.
pub const MAX_BODY_BYTES: u64 = (1 << 53) - 1;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: MAX_BODY_BYTES,
            quota_available: None,
            before_send: false,
        }
    }
}

/// The body as seen from JS.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyInput {
    /// Something that is not a Blob; `js_type` names it for the message (`"string"`, `"ArrayBuffer"`).
    NotABlob {
        /// `typeof` or the constructor name of the value passed.
        js_type: String,
    },
    /// A Blob or File.
    Blob {
        /// `blob.size`.
        size: f64,
        /// `blob.type` (may be empty).
        mime: String,
        /// `file.name` when it is a File.
        name: Option<String>,
    },
}

/// An upload request as passed by a page, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadInput {
    /// The URL as the page wrote it (for messages).
    pub raw_url: String,
    /// The URL resolved by the browser against the page's base; `None` if the browser could not parse it.
    pub resolved_url: Option<String>,
    /// HTTP method; `POST` when missing; case-insensitive.
    pub method: Option<String>,
    /// Request headers in the order given.
    pub headers: Vec<(String, String)>,
    /// `"http"` (default), `"multipart"` or `"tus"`.
    pub protocol: Option<String>,
    /// Multipart: the file part's field name (default `"file"`).
    pub field: Option<String>,
    /// Multipart: the file name (default: the File's name, else `"blob"`).
    pub filename: Option<String>,
    /// Multipart: extra text fields.
    pub fields: Vec<(String, String)>,
    /// tus: bytes per PATCH (default 5 MiB).
    pub chunk_size: Option<f64>,
    /// tus: `Upload-Metadata` pairs.
    pub metadata: Vec<(String, String)>,
    /// The body.
    pub body: BodyInput,
    /// Absolute deadline, ms since the epoch.
    pub expires_at: Option<f64>,
    /// Do not start before this time, ms since the epoch.
    pub earliest_begin: Option<f64>,
    /// Per-upload overrides of the session's retry policy.
    pub retry: Option<RetryInput>,
    /// A deferrable upload (`discretionary: true`): batched and held back under Save-Data.
    pub discretionary: Option<bool>,
    /// The app's own data for the task (`appData`), stored with it.
    pub app_data: Option<String>,
    /// fetch's `credentials` for every request of the upload (default `"same-origin"`).
    pub credentials: Option<String>,
}

/// A validated upload, ready to become a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpload {
    /// The request to make.
    pub request: Request,
    /// The body's metadata.
    pub body: BodyMeta,
    /// Deadline, if any.
    pub expires_at: Option<u64>,
    /// Earliest start, if any.
    pub earliest_begin: Option<u64>,
    /// The effective retry policy (session policy with per-upload overrides).
    pub retry: RetryPolicy,
    /// Deferrable: see [`crate::core::discretionary`].
    pub discretionary: bool,
    /// The app's own data, as given.
    pub app_data: Option<String>,
}

/// Most bytes (UTF-8) of an upload's `appData`: it is kept with the task and read by every look at it.
pub const APP_DATA_MAX_BYTES: usize = 8192;

/// Longest tag accepted.
pub const TAG_MAX_LEN: usize = 64;

/// Checks a tag: 1..=64 characters of `[A-Za-z0-9._-]`, starting with a letter or digit.
///
/// Tags name IndexedDB keys, BroadcastChannels and Background Sync registrations, so they are kept
/// to a charset that is safe in all of them and readable in devtools.
/// Validates the headers a session's header provider returned at send time: the same rules as the
/// headers given to `upload` (forbidden names, Ferry's own, CR/LF/NUL, duplicates).
pub fn validate_provided_headers(
    headers: &[(String, String)],
    protocol: &crate::core::task::Protocol,
) -> Result<Vec<(String, String)>> {
    request::validate_headers(headers, protocol)
}

/// Validates a URL given at send time (the worker's `beforeSend`), as resolved against the worker's
/// location: the same rules as the URL given to `upload`.
pub fn validate_provided_url(raw: &str, resolved: Option<&str>) -> Result<String> {
    request::validate_url(raw, resolved)
}

/// Validates a session tag.
pub fn validate_tag(tag: &str) -> Result<()> {
    const RULE: &str = "use 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit";
    let bad = |what: &str| {
        Err(Error::InvalidTag {
            tag: tag.to_string(),
            reason: format!("{what}; {RULE}"),
        })
    };
    if tag.is_empty() {
        return bad("it is empty");
    }
    if tag.chars().count() > TAG_MAX_LEN {
        return bad(&format!("it is {} characters long", tag.chars().count()));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!("it contains {c:?}"));
    }
    if !tag.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it starts with a punctuation character");
    }
    Ok(())
}

/// Validates an upload and fills in defaults; `now_ms` is the enqueue time.
///
/// Checks run in a fixed order — URL, method, protocol, headers, credentials, body, retry, times, app data — so that the first
/// error reported for a given input is always the same.
pub fn validate_upload(
    input: &UploadInput,
    session_retry: &RetryPolicy,
    limits: &Limits,
    now_ms: u64,
) -> Result<ValidUpload> {
    let url = request::validate_url(&input.raw_url, input.resolved_url.as_deref())?;
    let method = request::validate_method(input.method.as_deref())?;
    let protocol = protocol::validate_protocol(input, method, limits.before_send)?;
    let headers = request::validate_headers(&input.headers, &protocol)?;
    let credentials = request::validate_credentials(input.credentials.as_deref())?;
    let body = validate_body(&input.body, limits)?;
    let protocol = protocol::fit_parts(protocol, input.chunk_size.is_some(), body.size)?;
    let retry = match &input.retry {
        Some(r) => validate_retry(r, session_retry)?,
        None => *session_retry,
    };
    let (expires_at, earliest_begin) = validate_times(input, &retry, now_ms)?;
    let app_data = validate_app_data(input.app_data.as_deref())?;
    Ok(ValidUpload {
        request: Request {
            url,
            method,
            headers,
            protocol,
            credentials,
        },
        body,
        expires_at,
        earliest_begin,
        retry,
        discretionary: input.discretionary.unwrap_or(false),
        app_data,
    })
}

fn validate_app_data(data: Option<&str>) -> Result<Option<String>> {
    match data {
        Some(d) if d.len() > APP_DATA_MAX_BYTES => Err(Error::options(
            "appData",
            format!(
                "is {} bytes (UTF-8), more than {APP_DATA_MAX_BYTES}; keep an id of your own data here, not the data",
                d.len()
            ),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

fn validate_body(body: &BodyInput, limits: &Limits) -> Result<BodyMeta> {
    let (size, mime, name) = match body {
        BodyInput::NotABlob { js_type } => {
            return Err(Error::InvalidBody {
                reason: format!(
                    "pass a Blob or File, got {js_type}; wrap other data first, e.g. new Blob([data], {{ type }})"
                ),
            })
        }
        BodyInput::Blob { size, mime, name } => (*size, mime, name),
    };
    let size = numbers::whole(size).ok_or_else(|| Error::InvalidBody {
        reason: format!("its size {size} is not a whole number of bytes; pass a real Blob or File"),
    })?;
    if size > limits.max_body_bytes {
        return Err(Error::BodyTooLarge {
            size,
            max: limits.max_body_bytes,
        });
    }
    if let Some(available) = limits.quota_available {
        if available < size {
            return Err(Error::QuotaExceeded { size, available });
        }
    }
    Ok(BodyMeta {
        size,
        mime: mime.clone(),
        name: name.clone(),
    })
}

fn validate_times(
    input: &UploadInput,
    retry: &RetryPolicy,
    now_ms: u64,
) -> Result<(Option<u64>, Option<u64>)> {
    let earliest_begin = input
        .earliest_begin
        .map(|v| numbers::time("earliestBegin", v))
        .transpose()?;
    let expires_at = input
        .expires_at
        .map(|v| numbers::time("expiresAt", v))
        .transpose()?;
    if let Some(e) = expires_at {
        if e <= now_ms {
            return Err(Error::options(
                "expiresAt",
                format!("{e} is not in the future (now is {now_ms}); pass a later time such as Date.now() + 3600000"),
            ));
        }
    }
    if let (Some(e), Some(b)) = (expires_at, earliest_begin) {
        if e <= b {
            return Err(Error::options(
                "expiresAt",
                format!("{e} is not after earliestBegin {b}, so the upload could never run; move one of them"),
            ));
        }
    }
    let retention_end = now_ms.saturating_add(retry.max_retention_ms);
    if let Some(b) = earliest_begin {
        if b >= retention_end {
            return Err(Error::options(
                "earliestBegin",
                format!(
                    "{b} is at or after the retention end {retention_end} (now + retry.maxRetentionMs), \
                     so the upload would expire before it starts; begin earlier or raise retry.maxRetentionMs"
                ),
            ));
        }
    }
    Ok((expires_at, earliest_begin))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_options;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_protocol;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_request;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_s3;
