//! A task's creation: what validation hands over ([`NewTask`]) and the fresh `Queued` task made of it.

use crate::core::retry::RetryPolicy;
use crate::core::task::{BodyMeta, Request, State, Task};

/// Everything needed to create a task; the result of validation plus identity and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// Unique id.
    pub id: String,
    /// Session / outbox tag.
    pub tag: String,
    /// Per-tag enqueue order.
    pub seq: u64,
    /// The validated request.
    pub request: Request,
    /// The stored body's metadata.
    pub body: BodyMeta,
    /// Idempotency key sent on every attempt.
    pub idempotency_key: String,
    /// Enqueue time.
    pub now_ms: u64,
    /// Optional hard deadline.
    pub expires_at: Option<u64>,
    /// Optional earliest start.
    pub earliest_begin: Option<u64>,
    /// The effective retry policy.
    pub retry: RetryPolicy,
}

/// A fresh `Queued` task, due at `max(now, earliest_begin)`.
pub fn new_task(n: NewTask) -> Task {
    let due = n.earliest_begin.map_or(n.now_ms, |b| b.max(n.now_ms));
    Task {
        id: n.id,
        tag: n.tag,
        seq: n.seq,
        request: n.request,
        body: n.body,
        idempotency_key: n.idempotency_key,
        state: State::Queued,
        attempt: 0,
        next_attempt_at: Some(due),
        lease_until: None,
        timeout_at: None,
        created_at: n.now_ms,
        expires_at: n.expires_at,
        earliest_begin: n.earliest_begin,
        last_error: None,
        last_status: None,
        transport: None,
        retry: n.retry,
        bytes_confirmed: 0,
        discretionary: false,
        lease_no: 0,
        holder: None,
        app_data: None,
        announced: true,
    }
}
