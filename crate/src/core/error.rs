//! Ferry's single error type.
//!
//! Every error reaches a web developer as a JS `Error` whose `name` is stable (`FerryInvalidUrl`, …) so
//! code can branch on it, and whose message says both what went wrong and what to do about it: the
//! person reading it is usually looking at a console, not at Ferry's source.

use crate::core::task::State;

/// Shorthand for results whose error is [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in Ferry, with enough context to act on.
///
/// `reason` fields are whole clauses written for a person ("is set by the browser; remove it");
/// the `Display` output of each variant is a complete sentence built around them.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The tag (the name of an upload session / outbox) breaks the naming rule.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The tag as given.
        tag: String,
        /// What is wrong and the rule to follow.
        reason: String,
    },
    /// The URL cannot be uploaded to.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given (or as resolved, when resolution succeeded).
        url: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The HTTP method cannot be used for an upload.
    #[error("invalid method {method:?}: {reason}")]
    InvalidMethod {
        /// The method as given.
        method: String,
        /// What is wrong and which methods work.
        reason: String,
    },
    /// A request header is malformed, forbidden, duplicated or owned by Ferry.
    #[error("header {name:?} {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong and what to do, phrased to follow the name.
        reason: String,
    },
    /// The body is not something Ferry can store (not a Blob, a size that is no byte count).
    #[error("invalid body: {reason}")]
    InvalidBody {
        /// What is wrong and what to pass instead.
        reason: String,
    },
    /// The body is larger than the configured limit.
    #[error(
        "body is {size} bytes but the limit is {max} bytes per upload; send it in several parts (e.g. `blob.slice(start, end)` per upload)"
    )]
    BodyTooLarge {
        /// Body size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// Storing the body would exceed the origin's storage quota.
    #[error(
        "body needs {size} bytes, more than the origin's storage quota leaves (the browser \
         estimates {available} bytes free); free space (finish or cancel other uploads, clear() what \
         is no longer needed); in Firefox, navigator.storage.persist() also raises the quota"
    )]
    QuotaExceeded {
        /// Body size in bytes.
        size: u64,
        /// Bytes still available (quota minus usage).
        available: u64,
    },
    /// The browser refused to store the body although its quota estimate left room: the device's disk
    /// holds less than the quota the browser grants (named `FerryQuotaExceeded` too).
    #[error(
        "storing the body ({size} bytes) was refused: the browser's storage is full, though its \
         quota estimate left room (the device's free disk space can be less than the quota); free \
         space on the device, or in this origin (finish or cancel other uploads, clear() what is no \
         longer needed)"
    )]
    StorageFull {
        /// Body size in bytes.
        size: u64,
    },
    /// A numeric or enumerated option is out of range or contradicts another.
    #[error("invalid option {option}: {reason}")]
    InvalidOptions {
        /// The option's JS name (`retry.maxAttempts`, `expiresAt`, …).
        option: String,
        /// What is wrong and the accepted range.
        reason: String,
    },
    /// The upload protocol is unknown or its settings are inconsistent.
    #[error("invalid protocol {protocol:?}: {reason}")]
    InvalidProtocol {
        /// The protocol named (`http`, `multipart`, `tus`, or whatever was given).
        protocol: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A task with this id already exists.
    #[error("task {id:?} already exists; use a fresh id, or look the existing task up instead of enqueuing it again")]
    DuplicateTask {
        /// The clashing id.
        id: String,
    },
    /// No task has this id.
    #[error("no task {id:?} in this session; it may belong to another tag, or have ended and its retention passed (its outcome was told in the tag's events, which `register` replays until acknowledged)")]
    UnknownTask {
        /// The id looked up.
        id: String,
    },
    /// The session or store was closed before the call.
    #[error("{what} is closed; open a new session before calling it again")]
    Closed {
        /// What was closed (`session "photos"`, `store`, …).
        what: String,
    },
    /// The state machine refused an input; a bug in the caller, never the user's fault.
    #[error("task {task_id} (attempt {attempt}) cannot take {input} while {state}: {reason}")]
    IllegalTransition {
        /// The task's id.
        task_id: String,
        /// Its state when the input arrived.
        state: State,
        /// Attempts started so far.
        attempt: u32,
        /// The input's name (`lease`, `outcome`, …).
        input: String,
        /// Why the input does not apply.
        reason: String,
    },
    /// IndexedDB (or another store) failed.
    #[error("storage failed during {op}: {message}; if this repeats, the origin may be out of space or in private mode")]
    Storage {
        /// The operation (`put task`, `read blob`, …).
        op: String,
        /// The underlying error's message.
        message: String,
    },
}

impl Error {
    /// The stable JS error name (`FerryInvalidTag`, …); pages match on it, so it never changes.
    pub fn name(&self) -> &'static str {
        match self {
            Error::InvalidTag { .. } => "FerryInvalidTag",
            Error::InvalidUrl { .. } => "FerryInvalidUrl",
            Error::InvalidMethod { .. } => "FerryInvalidMethod",
            Error::InvalidHeader { .. } => "FerryInvalidHeader",
            Error::InvalidBody { .. } => "FerryInvalidBody",
            Error::BodyTooLarge { .. } => "FerryBodyTooLarge",
            Error::QuotaExceeded { .. } | Error::StorageFull { .. } => "FerryQuotaExceeded",
            Error::InvalidOptions { .. } => "FerryInvalidOptions",
            Error::InvalidProtocol { .. } => "FerryInvalidProtocol",
            Error::DuplicateTask { .. } => "FerryDuplicateTask",
            Error::UnknownTask { .. } => "FerryUnknownTask",
            Error::Closed { .. } => "FerryClosed",
            Error::IllegalTransition { .. } => "FerryIllegalTransition",
            Error::Storage { .. } => "FerryStorage",
        }
    }

    /// Builds an [`Error::InvalidOptions`]; keeps call sites in validation short.
    pub fn options(option: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOptions {
            option: option.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::InvalidHeader`]; `reason` must read well after the quoted name.
    pub fn header(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidHeader {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// What a write of `size` bytes that the browser refused as over its quota is: said with the
    /// browser's estimate of the free space (`available`, read after the refusal) when that estimate
    /// agrees, else as storage that is full although the estimate left room (a disk smaller than the
    /// quota), never as "needs N bytes, more than the M free" with M past N.
    pub fn quota_refused(size: u64, available: Option<u64>) -> Self {
        match available {
            Some(available) if available < size => Error::QuotaExceeded { size, available },
            _ => Error::StorageFull { size },
        }
    }

    /// Builds an [`Error::InvalidProtocol`].
    pub fn protocol(protocol: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidProtocol {
            protocol: protocol.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_prefixed() {
        let all = [
            (
                Error::InvalidTag {
                    tag: "".into(),
                    reason: "".into(),
                },
                "FerryInvalidTag",
            ),
            (
                Error::InvalidUrl {
                    url: "".into(),
                    reason: "".into(),
                },
                "FerryInvalidUrl",
            ),
            (
                Error::InvalidMethod {
                    method: "".into(),
                    reason: "".into(),
                },
                "FerryInvalidMethod",
            ),
            (Error::header("", ""), "FerryInvalidHeader"),
            (Error::InvalidBody { reason: "".into() }, "FerryInvalidBody"),
            (Error::BodyTooLarge { size: 2, max: 1 }, "FerryBodyTooLarge"),
            (
                Error::QuotaExceeded {
                    size: 2,
                    available: 1,
                },
                "FerryQuotaExceeded",
            ),
            (Error::StorageFull { size: 2 }, "FerryQuotaExceeded"),
            (Error::options("", ""), "FerryInvalidOptions"),
            (Error::protocol("", ""), "FerryInvalidProtocol"),
            (Error::DuplicateTask { id: "".into() }, "FerryDuplicateTask"),
            (Error::UnknownTask { id: "".into() }, "FerryUnknownTask"),
            (Error::Closed { what: "".into() }, "FerryClosed"),
            (
                Error::IllegalTransition {
                    task_id: "".into(),
                    state: State::Done,
                    attempt: 0,
                    input: "".into(),
                    reason: "".into(),
                },
                "FerryIllegalTransition",
            ),
            (
                Error::Storage {
                    op: "".into(),
                    message: "".into(),
                },
                "FerryStorage",
            ),
        ];
        for (err, name) in all {
            assert_eq!(err.name(), name);
        }
    }

    #[test]
    fn header_message_says_what_to_do() {
        let e = Error::header("content-length", "is set by the browser; remove it");
        assert_eq!(
            e.to_string(),
            "header \"content-length\" is set by the browser; remove it"
        );
    }

    #[test]
    fn illegal_transition_message_carries_task_attempt_and_state() {
        let e = Error::IllegalTransition {
            task_id: "t1".into(),
            state: State::Done,
            attempt: 3,
            input: "lease".into(),
            reason: "the task is finished".into(),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("t1") && msg.contains("attempt 3") && msg.contains("done"),
            "{msg}"
        );
    }

    #[test]
    fn a_refused_write_never_says_more_is_free_than_it_needs() {
        assert_eq!(
            Error::quota_refused(10, Some(5)),
            Error::QuotaExceeded {
                size: 10,
                available: 5
            }
        );
        // Chromium on a disk smaller than its quota: the estimate left room, the write was refused.
        for estimate in [Some(10), Some(3_221_225_472), None] {
            let e = Error::quota_refused(10, estimate);
            assert_eq!(e, Error::StorageFull { size: 10 }, "{estimate:?}");
            assert_eq!(e.name(), "FerryQuotaExceeded");
            assert!(e.to_string().contains("free space on the device"), "{e}");
        }
    }
}
