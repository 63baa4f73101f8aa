//! The effects of a transition: what the web layer must do once it has persisted the new task.

/// What the web layer must do after persisting the new task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start the attempt now.
    Send,
    /// The task is queued again; wake the scheduler at `at`.
    RetryAt {
        /// When the next attempt is due (ms since epoch).
        at: u64,
        /// `at - now`, for the page's "retrying in …".
        delay_ms: u64,
        /// Why the attempt failed (`"503 Service Unavailable"`, `"network error: …"`).
        reason: String,
    },
    /// The server accepted the upload.
    Completed {
        /// The final HTTP status.
        status: u16,
    },
    /// Ferry gave up on the task.
    Failed {
        /// Why, including the attempt count and the last status where relevant.
        reason: String,
    },
    /// The task was cancelled; abort any running fetch.
    Cancelled,
    /// The task outlived its deadline.
    Expired,
    /// The body is no longer needed: delete the stored blob. Comes with every terminal transition.
    DeleteBlob,
}
