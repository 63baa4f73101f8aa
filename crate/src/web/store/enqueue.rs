//! Enqueue: tasks and their Blobs committed in one strict transaction, with what the caller decides next
//! with (pause, a Background Fetch in flight) read in the same one.

use super::{commit, dom_of, open_store, task_of, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, Task};
use crate::web::js::{self, storage_error};
use idb::Query;
use std::future::IntoFuture;
use wasm_bindgen::{JsCast, JsValue};

impl Store {
    /// Writes the tasks and their Blobs (all of one tag) in ONE transaction, appending each task's
    /// `queued` event, whose per-tag sequence number is also the task's (its enqueue order). Nothing is
    /// visible before the commit; on any failure nothing is. The same transaction reads what the caller
    /// decides next with: whether the tag is paused and, when the caller could start a Background Fetch
    /// (`background_fetch`), whether one is in flight (no further reads per upload). Each request in a
    /// transaction costs (about 0.1 to 0.3 ms in Chromium), so it makes only these.
    pub async fn enqueue_all(
        &self,
        batch: &[(Task, web_sys::Blob)],
        background_fetch: bool,
    ) -> Result<Enqueued, Error> {
        let Some((first, _)) = batch.first() else {
            return Ok(Enqueued::default());
        };
        let tag = first.tag.clone();
        if let Some((t, _)) = batch.iter().find(|(t, _)| t.tag != tag) {
            return Err(Error::InvalidTag {
                tag: t.tag.clone(),
                reason: "one enqueue holds tasks of one tag".into(),
            });
        }
        let total: u64 = batch.iter().map(|(t, _)| t.body.size).sum();
        let failed = |what: &'static str| move |e: idb::Error| storage_error(what, e);
        // A write refused as it is made. Firefox refuses the first write after a transaction that went
        // over the quota this way ("InvalidStateError: A mutation operation was attempted on a
        // database that did not allow mutations"): the storage is full for now, said as such.
        let refused = |e: idb::Error| {
            let js = match &e {
                idb::Error::AddFailed(v) | idb::Error::UpdateFailed(v) => Some(v.clone()),
                _ => None,
            };
            match js.and_then(|v| v.dyn_into::<web_sys::DomException>().ok()) {
                Some(d) if d.name() == "InvalidStateError" => Error::QuotaExceeded {
                    size: total,
                    available: 0,
                },
                _ => storage_error("enqueue", e),
            }
        };
        let tx = self.tx(&[TASKS, BLOBS, OUTBOX, META], true)?;
        let tasks = open_store(&tx, TASKS, "enqueue")?;
        let blobs = open_store(&tx, BLOBS, "enqueue")?;
        let outbox = open_store(&tx, OUTBOX, "enqueue")?;
        let meta = open_store(&tx, META, "enqueue")?;

        // IndexedDB runs a transaction's requests in the order they were made, so each phase issues
        // all its requests before awaiting any: the whole enqueue costs two round trips and the commit.
        // Phase 1: what the writes depend on, and what the caller decides next with.
        let event_seq_key = super::event_seq_key(&tag);
        let session_key = JsValue::from_str(&super::session_key(&tag));
        // `into_future` at once: it attaches the request's listeners, so a result that arrives before
        // its turn to be awaited is kept, not missed.
        let read = |k: &JsValue| {
            meta.get(Query::Key(k.clone()))
                .map(IntoFuture::into_future)
                .map_err(failed("enqueue"))
        };
        let (event_seq, session) = (read(&event_seq_key)?, read(&session_key)?);
        let in_flight = match background_fetch {
            true => Some(super::lease::in_flight_request(&tasks)?.into_future()),
            false => None,
        };
        let number = |v: Option<JsValue>| v.and_then(|v| v.as_f64()).unwrap_or(0.0) as u64;
        let mut event_seq = number(event_seq.await.map_err(failed("read event sequence"))?);
        let paused = session
            .await
            .map_err(failed("read session"))?
            .map(js::from_js::<super::SessionRecord>)
            .transpose()?
            .is_some_and(|s| s.paused);
        let background_fetch_busy = match in_flight {
            Some(in_flight) => in_flight
                .await
                .map_err(failed("in flight"))?
                .into_iter()
                // (A record this version cannot read, a newer version's, does not fail the upload.)
                .filter_map(|t| task_of(t).ok())
                .any(|t| t.transport == Some(core::Transport::BackgroundFetch)),
            None => false,
        };

        // Phase 2: every write.
        let mut written = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut pending = Vec::with_capacity(batch.len());
        let mut pending_events = Vec::with_capacity(batch.len());
        for (task, blob) in batch {
            event_seq += 1;
            let mut task = task.clone();
            task.seq = event_seq;
            let added = tasks
                .add(&js::to_js(&task)?, None)
                .map_err(refused)?
                .into_future();
            let put = blobs
                .put(blob, Some(&JsValue::from_str(&task.id)))
                .map_err(refused)?
                .into_future();
            pending.push((task.id.clone(), added, put));
            let mut queued = core::queued_event(&task);
            queued.seq = event_seq;
            let event = outbox.add(&js::to_js(&queued)?, None);
            pending_events.push(event.map_err(refused)?.into_future());
            events.push(queued);
            written.push(task);
        }
        let event_seq_put = meta
            .put(&JsValue::from_f64(event_seq as f64), Some(&event_seq_key))
            .map_err(failed("enqueue"))?
            .into_future();
        let quota = |e: idb::Error| match dom_of(&e) {
            Some((name, _)) if name == "QuotaExceededError" => Error::QuotaExceeded {
                size: total,
                available: 0,
            },
            _ => storage_error("write blob", e),
        };
        // Every request is awaited, failed or not: one failure aborts the transaction and fails the
        // rest, whose answers must still find their listeners (a dropped one would throw).
        let mut first_error = None;
        let mut keep = |r: Result<(), Error>| {
            if let (Err(e), None) = (r, &first_error) {
                first_error = Some(e);
            }
        };
        for (id, added, put) in pending {
            keep(added.await.map(|_| ()).map_err(|e| match dom_of(&e) {
                Some((name, _)) if name == "ConstraintError" => Error::DuplicateTask { id },
                _ => storage_error("write task", e),
            }));
            keep(put.await.map(|_| ()).map_err(quota));
        }
        for added in pending_events {
            keep(added.await.map(|_| ()).map_err(failed("write event")));
        }
        keep(
            event_seq_put
                .await
                .map(|_| ())
                .map_err(failed("write event sequence")),
        );
        if let Some(e) = first_error {
            return Err(e);
        }
        commit(tx, "enqueue").await.map_err(|e| match e {
            Error::QuotaExceeded { .. } => Error::QuotaExceeded {
                size: total,
                available: 0,
            },
            other => other,
        })?;
        Ok(Enqueued {
            tasks: written,
            events,
            paused,
            background_fetch_busy,
        })
    }

    /// `enqueue_all` of one task: the task as stored and its `queued` event.
    pub async fn enqueue(
        &self,
        task: &Task,
        blob: &web_sys::Blob,
    ) -> Result<(Task, Vec<FerryEvent>), Error> {
        let done = self
            .enqueue_all(&[(task.clone(), blob.clone())], false)
            .await?;
        let task = done
            .tasks
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownTask {
                id: task.id.clone(),
            })?;
        Ok((task, done.events))
    }
}

/// What one `enqueue` committed, and what its transaction saw.
#[derive(Default, Debug)]
pub struct Enqueued {
    /// The tasks as stored (with their sequence numbers), in the order given.
    pub tasks: Vec<Task>,
    /// Their `queued` events (with their outbox sequence numbers).
    pub events: Vec<FerryEvent>,
    /// The tag is paused: nothing is to be started or woken for it.
    pub paused: bool,
    /// A Background Fetch of the origin is in flight (a second one would only wait behind it).
    pub background_fetch_busy: bool,
}
