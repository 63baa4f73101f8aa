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
    /// The body is not something Ferry can store (not a Blob, empty, bad size).
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
         estimates {available} bytes free); free space (finish or cancel other uploads) or call \
         navigator.storage.persist() to ask for more"
    )]
    QuotaExceeded {
        /// Body size in bytes.
        size: u64,
        /// Bytes still available (quota minus usage).
        available: u64,
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
            Error::QuotaExceeded { .. } => "FerryQuotaExceeded",
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
}
