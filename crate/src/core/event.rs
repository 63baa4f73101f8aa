//! Events: what pages learn about their uploads.
//!
//! Each tag has an outbox of events that pages replay, because the page that enqueued an upload may
//! be long gone when it finishes. The core decides *which* events a transition produces; the store
//! assigns each one a per-tag `seq` so pages can resume from the last one they saw.

mod runs;
mod said;
mod throttle;

pub use runs::ack_runs;
pub use throttle::ProgressThrottle;

use serde::{Deserialize, Serialize};

use crate::core::state::Effect;
use crate::core::task::{Protocol, Task, Transport};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The task was accepted and stored.
    Queued,
    /// An attempt began.
    Started,
    /// Bytes were sent (throttled).
    Progress,
    /// An attempt failed and another is scheduled.
    Retrying,
    /// The server accepted the upload.
    Completed,
    /// Ferry gave up.
    Failed,
    /// The page cancelled the task.
    Cancelled,
    /// The task ran out of time.
    Expired,
}

impl EventKind {
    /// Whether the event tells how a task ended in a way a session's launch events speak of
    /// (`completed`, `failed`, `expired`; a page's own `cancel()` needs no telling).
    pub fn launches(self) -> bool {
        matches!(
            self,
            EventKind::Completed | EventKind::Failed | EventKind::Expired
        )
    }
}

/// The part of the server's response a page gets to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseInfo {
    /// HTTP status.
    pub status: u16,
    /// Response headers; serialized as a JSON object (`{"etag": "…"}`) because that is what a page
    /// wants to index into. Repeated names are joined with `", "`, as `Headers.get` does.
    #[serde(with = "headers_as_map")]
    pub headers: Vec<(String, String)>,
    /// The start of the body, at most [`BODY_EXCERPT_MAX`] bytes (see [`excerpt`]); events live in
    /// IndexedDB, so an unbounded body would let one chatty server fill the user's storage.
    pub body: String,
}

/// One entry of a tag's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FerryEvent {
    /// What happened.
    pub kind: EventKind,
    /// The task it happened to.
    pub task_id: String,
    /// The task's tag (the outbox it goes to).
    pub tag: String,
    /// Per-tag event sequence number, assigned by the store (0 until then).
    pub seq: u64,
    /// The attempt number, where one applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Bytes sent so far (progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    /// Total bytes to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<u64>,
    /// How long until the next attempt (retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Why (retrying, failed, expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The mechanism carrying the attempt (started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// The server's response (completed, and failed when there was one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseInfo>,
}

impl FerryEvent {
    /// An event of `kind` for `task` with every optional field empty and `seq` 0.
    pub fn new(kind: EventKind, task: &Task) -> Self {
        FerryEvent {
            kind,
            task_id: task.id.clone(),
            tag: task.tag.clone(),
            seq: 0,
            attempt: None,
            bytes_sent: None,
            bytes_total: None,
            delay_ms: None,
            reason: None,
            transport: None,
            response: None,
        }
    }
}

/// The event announcing a freshly stored task.
pub fn queued_event(task: &Task) -> FerryEvent {
    FerryEvent {
        bytes_total: Some(task.body.size),
        ..FerryEvent::new(EventKind::Queued, task)
    }
}

/// A progress event (pair it with a [`ProgressThrottle`] so the outbox is not flooded).
pub fn progress_event(task: &Task, bytes_sent: u64) -> FerryEvent {
    FerryEvent {
        attempt: Some(task.attempt),
        bytes_sent: Some(bytes_sent),
        bytes_total: Some(task.body.size),
        ..FerryEvent::new(EventKind::Progress, task)
    }
}

/// The events a transition produces, given the task *after* it and the effects it returned.
///
/// `response` is attached to `Completed` and `Failed` (a 4xx body often says why), and the reason of a
/// `retrying` or `failed` event quotes what a refusal said (`said`). When a task
/// completes without one, a bare `ResponseInfo` carrying the status is synthesised so pages can always
/// read `event.response.status`. `DeleteBlob` is housekeeping and produces no event. `seq` is 0.
///
/// A successful single-request upload also reports `progress` at the total just before `completed`:
/// every byte was sent once the server answered success. That final report is the only one a
/// worker `fetch` can give (fetch has no upload progress) and it ends every upload's progress at the
/// total (a Background Fetch relayed by its page may have reported the total already); tus reports
/// its own after each chunk, so it gets none here.
pub fn events_for(
    task_after: &Task,
    effects: &[Effect],
    response: Option<ResponseInfo>,
) -> Vec<FerryEvent> {
    let t = task_after;
    let single_request = !matches!(
        t.request.protocol,
        Protocol::Tus { .. } | Protocol::S3Multipart { .. }
    );
    let mut events = Vec::with_capacity(effects.len() + 1);
    for effect in effects {
        if matches!(effect, Effect::Completed { .. }) && single_request {
            events.push(progress_event(t, t.body.size));
        }
        events.extend(event_for(t, effect, &response));
    }
    events
}

/// `task` after an outcome whose effects retry or fail it: its `last_error` quotes what the server's
/// refusal said, as the event's reason does (`said`), so `get(id).lastError` tells as much.
pub fn note_said(task: &mut Task, effects: &[Effect], response: Option<&ResponseInfo>) {
    let told = effects
        .iter()
        .any(|e| matches!(e, Effect::RetryAt { .. } | Effect::Failed { .. }));
    if let (true, Some(last)) = (told, &task.last_error) {
        task.last_error = Some(said::with_said(last, response));
    }
}

/// The event of one effect, if it makes one.
fn event_for(t: &Task, effect: &Effect, response: &Option<ResponseInfo>) -> Option<FerryEvent> {
    let base = |kind| FerryEvent::new(kind, t);
    Some(match effect {
        Effect::Send => FerryEvent {
            attempt: Some(t.attempt),
            transport: t.transport,
            bytes_total: Some(t.body.size),
            ..base(EventKind::Started)
        },
        Effect::RetryAt {
            delay_ms, reason, ..
        } => FerryEvent {
            attempt: Some(t.attempt),
            delay_ms: Some(*delay_ms),
            reason: Some(said::with_said(reason, response.as_ref())),
            ..base(EventKind::Retrying)
        },
        Effect::Completed { status } => FerryEvent {
            attempt: Some(t.attempt),
            response: Some(response.clone().unwrap_or_else(|| ResponseInfo {
                status: *status,
                headers: Vec::new(),
                body: String::new(),
            })),
            ..base(EventKind::Completed)
        },
        Effect::Failed { reason } => FerryEvent {
            attempt: Some(t.attempt),
            reason: Some(said::with_said(reason, response.as_ref())),
            response: response.clone(),
            ..base(EventKind::Failed)
        },
        Effect::Cancelled => base(EventKind::Cancelled),
        Effect::Expired => FerryEvent {
            reason: Some(match &t.last_error {
                Some(last) => format!("deadline passed; last error: {last}"),
                None => "deadline passed".to_string(),
            }),
            ..base(EventKind::Expired)
        },
        Effect::DeleteBlob => return None,
    })
}

/// Upper bound, in bytes, of a response body kept in an event.
pub const BODY_EXCERPT_MAX: usize = 4096;

/// The first [`BODY_EXCERPT_MAX`] bytes of `body`, cut back to a char boundary so it stays valid UTF-8.
pub fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT_MAX {
        return body.to_string();
    }
    let mut end = BODY_EXCERPT_MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_string()
}

/// Serde helper: `Vec<(name, value)>` as a JSON object, sorted by name for stable output.
mod headers_as_map {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map: BTreeMap<&str, String> = BTreeMap::new();
        for (name, value) in headers {
            map.entry(name.as_str())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        map.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        Ok(BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
