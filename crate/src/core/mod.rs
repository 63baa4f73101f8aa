//! The pure-Rust core of Ferry: every decision, none of the I/O.
//!
//! The web layer persists tasks in IndexedDB and executes fetches; everything it must *decide* —
//! whether input is acceptable, what a response means, when to try again, which events a page sees —
//! lives here, so it can be tested natively and exhaustively. Nothing in `core` reads a clock or a
//! random source: time arrives as `now_ms: u64` and randomness as a `u64` argument, which keeps every
//! function deterministic and replayable.

pub mod cors;
pub mod discretionary;
pub mod error;
pub mod event;
pub mod retry;
pub mod rng;
pub mod s3;
pub mod scheduler;
pub mod state;
pub mod task;
pub mod tus;
pub mod validate;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;

pub use error::{Error, Result};
pub use event::{
    ack_runs, events_for, excerpt, note_said, progress_event, queued_event, EventKind, FerryEvent,
    ProgressThrottle, ResponseInfo, BODY_EXCERPT_MAX,
};
pub use retry::{
    backoff_ms, classify, describe, parse_retry_after, redirect_followed, redirected, Class,
    Outcome, RetryPolicy,
};
pub use rng::Rng;
pub use state::{apply, check_invariants, new_task, record_upload_url, Effect, Input, NewTask};
pub use task::{BodyMeta, Credentials, Method, Protocol, Request, State, Task, Transport};
pub use validate::{
    validate_provided_headers, validate_retry, validate_session_options, validate_tag,
    validate_upload, BodyInput, HeaderFallback, Launch, Limits, RetryInput, SessionOptions,
    SessionOptionsInput, UploadInput, ValidUpload,
};
