//! The task record: one durable upload.
//!
//! A `Task` is written to IndexedDB as a plain JS object (via serde), so its field names are part of
//! the storage format: they are camelCase, and renaming one is a migration. The scheduler indexes
//! tasks by `(state, nextAttemptAt)`, which is why `next_attempt_at` is set exactly when the task is
//! `Queued` (see [`crate::core::state::check_invariants`]).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::core::retry::RetryPolicy;

/// One upload and everything needed to carry it to completion across service-worker restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Unique id (also the key of the stored blob).
    pub id: String,
    /// The session / outbox this task belongs to.
    pub tag: String,
    /// Per-tag enqueue order; the scheduler starts tasks of one tag in this order (FIFO per tag).
    pub seq: u64,
    /// What to send and where.
    pub request: Request,
    /// Facts about the stored body (the bytes live in a separate blob store).
    pub body: BodyMeta,
    /// Sent as `Idempotency-Key` on every attempt, so a server can de-duplicate retries.
    pub idempotency_key: String,
    /// Where the task is in its life.
    pub state: State,
    /// Attempts started so far (reset only when server-confirmed progress grows).
    pub attempt: u32,
    /// When the task may next be leased; `Some` iff `state == Queued`.
    pub next_attempt_at: Option<u64>,
    /// When the current attempt's lease runs out; `Some` iff `state == InFlight`.
    pub lease_until: Option<u64>,
    /// When the current attempt times out, for an attempt the browser carries (a Background Fetch:
    /// no worker timer outlives the worker); only while `InFlight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_at: Option<u64>,
    /// When the task was enqueued (ms since the Unix epoch).
    pub created_at: u64,
    /// Hard deadline given by the page; past it the task expires.
    pub expires_at: Option<u64>,
    /// The task must not start before this time.
    pub earliest_begin: Option<u64>,
    /// Human-readable description of the latest failed attempt.
    pub last_error: Option<String>,
    /// HTTP status of the latest attempt, if it got a response.
    pub last_status: Option<u16>,
    /// How the latest attempt was (or is being) carried out.
    pub transport: Option<Transport>,
    /// Retry policy fixed at enqueue time.
    pub retry: RetryPolicy,
    /// Bytes the server has confirmed (the tus offset); only ever grows.
    pub bytes_confirmed: u64,
    /// A deferrable upload (iOS `isDiscretionary`): sent in batches, held back while the user asks
    /// to save data.
    #[serde(default)]
    pub discretionary: bool,
    /// Numbers the task's leases: each lease takes the next one, and an outcome carries the number of
    /// the lease it belongs to, so an outcome of an attempt that is no longer current changes nothing.
    #[serde(default)]
    pub lease_no: u64,
    /// Which worker instance holds the current lease (`None` for a Background Fetch: the browser does).
    #[serde(default)]
    pub holder: Option<String>,
    /// The app's own data for this task (`upload`'s `appData`, iOS's `taskDescription`): stored with
    /// it in the same transaction, shown by `list()`, `get()` and `beforeSend`, never sent.
    #[serde(default)]
    pub app_data: Option<String>,
    /// Whether the running attempt's `started` was told. A Background Fetch's is told once the page
    /// says the browser began it (`state::announce`), or with its outcome: one the browser refuses
    /// is no attempt, and must not leave a `started` behind it.
    #[serde(default = "told")]
    pub announced: bool,
}

/// Records written before `announced` existed told `started` at the lease.
fn told() -> bool {
    true
}

impl Task {
    /// The moment the task expires: the earlier of `expires_at` and `created_at + max_retention_ms`.
    ///
    /// The retention bound exists so that a task nobody set a deadline for still cannot hold a blob
    /// in the user's storage forever.
    pub fn deadline(&self) -> u64 {
        let retention_end = self.retention_end();
        match self.expires_at {
            Some(e) => e.min(retention_end),
            None => retention_end,
        }
    }

    /// The moment the task's retention ends (`created_at + max_retention_ms`): a finished task and its
    /// unacknowledged events are kept until then, whatever its `expires_at`.
    pub fn retention_end(&self) -> u64 {
        self.created_at.saturating_add(self.retry.max_retention_ms)
    }

    /// Whether the task is past its [`deadline`](Task::deadline) at `now_ms`.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.deadline() <= now_ms
    }

    /// Whether the scheduler may lease the task at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.state == State::Queued
            && self.next_attempt_at.is_some_and(|t| t <= now_ms)
            && self.earliest_begin.is_none_or(|t| t <= now_ms)
    }
}

/// Lifecycle of a task. The last four are terminal: once there, a task never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// Waiting for its next attempt.
    Queued,
    /// An attempt is running under a lease.
    InFlight,
    /// The server accepted the upload.
    Done,
    /// Gave up: a final response or the attempt budget ran out.
    Failed,
    /// Cancelled by the page.
    Cancelled,
    /// Its deadline passed first.
    Expired,
}

impl State {
    /// Every state, for the tests that walk them all.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub(crate) const ALL: [State; 6] = [
        State::Queued,
        State::InFlight,
        State::Done,
        State::Failed,
        State::Cancelled,
        State::Expired,
    ];

    /// Whether the state is final (Done, Failed, Cancelled, Expired).
    pub fn is_terminal(self) -> bool {
        !matches!(self, State::Queued | State::InFlight)
    }

    /// The serialized name (`"queued"`, `"inFlight"`, …), as stored and as pages see it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::InFlight => "inFlight",
            State::Done => "done",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The browser mechanism that carries an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Transport {
    /// Background Fetch API: survives closing every tab.
    BackgroundFetch,
    /// A plain fetch from a Background Sync event.
    BackgroundSync,
    /// A plain fetch while the service worker happens to be alive.
    Fallback,
}

/// The HTTP request to make for each attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Absolute URL, already resolved against the enqueuing page.
    pub url: String,
    /// HTTP method.
    pub method: Method,
    /// Extra headers (validated; names lower-cased).
    pub headers: Vec<(String, String)>,
    /// How the body is framed on the wire.
    pub protocol: Protocol,
    /// Whether each request carries the browser's cookies (fetch's `credentials`). A record written
    /// before it existed reads as the default.
    #[serde(default)]
    pub credentials: Credentials,
}

/// fetch's `credentials`: whether a request carries the browser's cookies and HTTP authentication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credentials {
    /// Never.
    Omit,
    /// Only to the worker's own origin (fetch's default).
    #[default]
    SameOrigin,
    /// Also to other origins (whose CORS answers must then allow credentials for this origin).
    Include,
}

impl Credentials {
    /// The value as fetch takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Credentials::Omit => "omit",
            Credentials::SameOrigin => "same-origin",
            Credentials::Include => "include",
        }
    }
}

/// Methods that can carry an upload body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// How the body goes over the wire.
///
/// Stored as `{ kind, ...fields }`. It is read through [`ProtocolRecord`] rather than serde's own
/// internally tagged enum support, which first buffers the whole record into serde's generic `Content`
/// and brought about 6 KB (gzip) of code into the wasm for this one type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", try_from = "ProtocolRecord")]
pub enum Protocol {
    /// The blob is the request body, as is.
    Http,
    /// The blob is one part of a `multipart/form-data` body.
    #[serde(rename_all = "camelCase")]
    Multipart {
        /// Form field name of the file part.
        field: String,
        /// File name in the part's `Content-Disposition`.
        filename: String,
        /// Extra text fields, sent before the file.
        fields: Vec<(String, String)>,
    },
    /// tus 1.0 resumable upload (creation + PATCH chunks).
    #[serde(rename_all = "camelCase")]
    Tus {
        /// Bytes per PATCH request.
        chunk_size: u64,
        /// `Upload-Metadata` pairs (values get base64-encoded on the wire).
        metadata: Vec<(String, String)>,
        /// The upload resource once created; `None` until the creation POST succeeds.
        upload_url: Option<String>,
    },
    /// S3 multipart upload, each request presigned by the worker's `beforeSend` (see [`crate::core::s3`]).
    #[serde(rename = "s3-multipart", rename_all = "camelCase")]
    S3Multipart {
        /// Bytes per part (every part but the last).
        chunk_size: u64,
        /// The upload once created (`CreateMultipartUpload`); `None` until then.
        upload_id: Option<String>,
        /// The `ETag`s of the parts the bucket confirmed, in part order (part 1 first).
        etags: Vec<String>,
    },
}

impl Protocol {
    /// The protocol's name as pages spell it (`"http"`, `"multipart"`, `"tus"`, `"s3-multipart"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Multipart { .. } => "multipart",
            Protocol::Tus { .. } => "tus",
            Protocol::S3Multipart { .. } => "s3-multipart",
        }
    }
}

/// A stored [`Protocol`] field by field: what its `kind` needs must be there, the rest is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtocolRecord {
    kind: String,
    field: Option<String>,
    filename: Option<String>,
    fields: Option<Vec<(String, String)>>,
    chunk_size: Option<u64>,
    metadata: Option<Vec<(String, String)>>,
    upload_url: Option<String>,
    upload_id: Option<String>,
    etags: Option<Vec<String>>,
}

impl TryFrom<ProtocolRecord> for Protocol {
    type Error = String;

    fn try_from(r: ProtocolRecord) -> Result<Self, String> {
        fn need<T>(v: Option<T>, name: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("missing field `{name}`"))
        }
        Ok(match r.kind.as_str() {
            "http" => Protocol::Http,
            "multipart" => Protocol::Multipart {
                field: need(r.field, "field")?,
                filename: need(r.filename, "filename")?,
                fields: need(r.fields, "fields")?,
            },
            "tus" => Protocol::Tus {
                chunk_size: need(r.chunk_size, "chunkSize")?,
                metadata: need(r.metadata, "metadata")?,
                upload_url: r.upload_url,
            },
            "s3-multipart" => Protocol::S3Multipart {
                chunk_size: need(r.chunk_size, "chunkSize")?,
                upload_id: r.upload_id,
                etags: need(r.etags, "etags")?,
            },
            other => {
                return Err(format!(
                    "unknown protocol kind `{other}`, expected `http`, `multipart`, `tus` or `s3-multipart`"
                ))
            }
        })
    }
}

/// What Ferry knows about the stored body without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyMeta {
    /// Size in bytes.
    pub size: u64,
    /// MIME type from the Blob (may be empty).
    pub mime: String,
    /// File name, when the Blob was a File.
    pub name: Option<String>,
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
