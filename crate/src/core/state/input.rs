//! The inputs of the state machine: everything that can happen to a task, and which state each fits.

use crate::core::retry::Outcome;
use crate::core::task::Transport;

/// Something that happened to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The scheduler takes a due `Queued` task: it becomes `InFlight`, `attempt` grows by one and the
    /// lease runs until `now + lease_ms`.
    Lease {
        /// How long the attempt may run before recovery assumes the worker died.
        lease_ms: u64,
        /// The mechanism that will carry the attempt.
        transport: Transport,
    },
    /// How the `InFlight` attempt ended.
    Outcome(Outcome),
    /// The server confirmed more bytes (resumable protocols, `InFlight` only). Growth restarts the
    /// attempt budget (the running attempt becomes attempt 1); a report that does not grow is ignored.
    Progress {
        /// Total bytes the server now holds.
        bytes_confirmed: u64,
    },
    /// Recovery at worker start: the `InFlight` lease ran out (`lease_until <= now`), so the worker
    /// that held it is gone. Requeues due now, or fails the task if that was its last attempt.
    LeaseExpired,
    /// Recovery at worker start when the lease holder is known to be gone whatever its lease said: a
    /// browser runs one instance of a service worker at a time, so an `InFlight` task found by a new
    /// instance was held by a dead one. Requeues due now, or fails the task if that was its last attempt.
    Abandoned,
    /// The `InFlight` attempt never reached the network (a Background Fetch the browser refused to
    /// start): the task is queued again, due now, and the attempt is not counted. No event.
    Release,
    /// The lease holder is still working: the lease now runs until `until` (`InFlight` only).
    Renew {
        /// The new end of the lease (ms since epoch).
        until: u64,
    },
    /// The page cancelled the task.
    Cancel,
    /// Explicit expiry check by a sweeper: at or past the deadline the task expires; before it,
    /// nothing changes (`Ok` with no effects), so a sweeper can offer every live task safely.
    Expire,
}

impl Input {
    /// Short name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Lease { .. } => "lease",
            Input::Outcome(_) => "outcome",
            Input::Progress { .. } => "progress",
            Input::LeaseExpired => "leaseExpired",
            Input::Abandoned => "abandoned",
            Input::Release => "release",
            Input::Renew { .. } => "renew",
            Input::Cancel => "cancel",
            Input::Expire => "expire",
        }
    }
}
