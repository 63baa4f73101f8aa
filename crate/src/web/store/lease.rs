//! The lease transaction and the scheduler's reads: what `core::scheduler` needs, read in as few
//! transactions as the guarantees allow.

use super::outbox::SessionRecord;
use super::tasks::{state_range, MAX_KEY};
use super::{commit, open_store, session_key, task_of, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::scheduler::{self, Env, SessionView};
use crate::core::{self, Error, FerryEvent, State, Task, Transport};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
use std::future::IntoFuture;
use wasm_bindgen::{JsCast, JsValue};

/// A leased attempt: the task as leased, its `started` events, and the Blob to send.
pub struct Leased {
    /// The task, `InFlight` under its new lease.
    pub task: Task,
    /// Its `started` event, already in the outbox.
    pub events: Vec<FerryEvent>,
    /// The stored payload (`None`: it is missing from the store).
    pub blob: Option<web_sys::Blob>,
    /// The task's session as the lease saw it (defaults for a tag no page registered).
    pub session: SessionView,
}

impl Store {
    /// Leases a task for an attempt in ONE transaction that re-reads everything the decision rests on:
    /// the task, its session (a `pause()` that committed before is seen), the tag's in-flight count
    /// (any transport, any worker instance) and the Blob. `None`: not now, the task is unchanged.
    pub async fn lease(
        &self,
        id: &str,
        transport: Transport,
        holder: Option<&str>,
        env: Env,
    ) -> Result<Option<Leased>, Error> {
        let mut leased = self
            .lease_many(&[id.to_string()], transport, holder, env)
            .await?;
        Ok(leased.pop().flatten())
    }

    /// `lease` of several tasks, in order, in ONE transaction: each is gated as if the ones before it
    /// had started (they count against their tag's concurrency). One answer per id.
    pub async fn lease_many(
        &self,
        ids: &[String],
        transport: Transport,
        holder: Option<&str>,
        env: Env,
    ) -> Result<Vec<Option<Leased>>, Error> {
        let tx = self.tx_relaxed(&[TASKS, BLOBS, OUTBOX, META])?;
        let out = self.lease_in(&tx, ids, transport, holder, env).await?;
        commit(tx, "lease").await?;
        Ok(out)
    }

    /// `lease_many` inside `tx` (a read-write transaction over every store), not committed.
    pub(super) async fn lease_in(
        &self,
        tx: &idb::Transaction,
        ids: &[String],
        transport: Transport,
        holder: Option<&str>,
        env: Env,
    ) -> Result<Vec<Option<Leased>>, Error> {
        let tasks = open_store(tx, TASKS, "lease")?;
        let blobs = open_store(tx, BLOBS, "lease")?;
        let meta = open_store(tx, META, "lease")?;
        let failed = |e: idb::Error| storage_error("lease", e);
        // Reads issued together (listeners attached at once by `into_future`): the tasks, their Blobs
        // and what is in flight; then, once the tags are known, their sessions and event sequences.
        let mut reads = Vec::with_capacity(ids.len());
        for id in ids {
            let task = tasks.get(Query::Key(id.as_str().into())).map_err(failed)?;
            let blob = blobs.get(Query::Key(id.as_str().into())).map_err(failed)?;
            reads.push((task.into_future(), blob.into_future()));
        }
        let in_flight = in_flight_request(&tasks)?.into_future();
        let mut found = Vec::with_capacity(ids.len());
        for (task, blob) in reads {
            let task = task.await.map_err(failed)?.map(task_of).transpose()?;
            // A queued task without its Blob cannot be sent; the attempt says so (and the retry
            // policy ends it) instead of the task being offered again and again.
            let blob = blob
                .await
                .map_err(failed)?
                .and_then(|b| b.dyn_into::<web_sys::Blob>().ok());
            found.push(task.map(|t| (t, blob)));
        }
        let in_flight = in_flight
            .await
            .map_err(failed)?
            .into_iter()
            .map(task_of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut tags: Vec<String> = Vec::new();
        for (t, _) in found.iter().flatten() {
            if !tags.contains(&t.tag) {
                tags.push(t.tag.clone());
            }
        }
        let mut per_tag = Vec::with_capacity(tags.len());
        for tag in &tags {
            let session = meta
                .get(Query::Key(session_key(tag).into()))
                .map_err(failed)?
                .into_future();
            per_tag.push((session, super::outbox::event_seq_request(tx, tag)?));
        }
        // (tag, view, tasks of the tag in flight, event sequence read)
        let mut views = Vec::with_capacity(tags.len());
        for (tag, (session, seq)) in tags.into_iter().zip(per_tag) {
            let view = session
                .await
                .map_err(failed)?
                .map(js::from_js::<SessionRecord>)
                .transpose()?
                .map(|s| SessionView::of(&s.options, s.paused))
                .unwrap_or_default();
            let busy = in_flight.iter().filter(|t| t.tag == tag).count() as u32;
            views.push((tag, view, busy, Some(seq.await)));
        }
        let mut out = Vec::with_capacity(found.len());
        let mut writes = Vec::new();
        let mut events: Vec<Vec<FerryEvent>> = vec![Vec::new(); views.len()];
        for entry in found {
            let Some((task, blob)) = entry else {
                out.push(None);
                continue;
            };
            let Some(slot) = views.iter().position(|(tag, ..)| *tag == task.tag) else {
                out.push(None);
                continue;
            };
            let (_, view, busy, _) = &views[slot];
            // Not now, or not any more (cancelled, sent, leased elsewhere since it was chosen): this
            // task is left as it is, and the others of the batch go on.
            let Ok(Some((next, effects))) =
                scheduler::lease(&task, view, *busy, &env, transport, holder)
            else {
                out.push(None);
                continue;
            };
            views[slot].2 += 1;
            writes.push(
                tasks
                    .put(&js::to_js(&next)?, None)
                    .map_err(failed)?
                    .into_future(),
            );
            events[slot].extend(core::events_for(&next, &effects, None));
            out.push(Some(Leased {
                task: next,
                events: Vec::new(),
                blob,
                session: views[slot].1,
            }));
        }
        let mut appended = Vec::with_capacity(views.len());
        for (slot, evs) in events.into_iter().enumerate() {
            let tag = views[slot].0.clone();
            let seq = views[slot].3.take().unwrap_or(Ok(None));
            appended.push(self.append_events_after(tx, &tag, evs, seq).await?);
        }
        for w in writes {
            w.await.map_err(|e| storage_error("write task", e))?;
        }
        // Each lease's `started` event back to it.
        for leased in out.iter_mut().flatten() {
            for evs in &appended {
                leased
                    .events
                    .extend(evs.iter().filter(|e| e.task_id == leased.task.id).cloned());
            }
        }
        Ok(out)
    }

    /// Every in-flight task (any lease), through the `by_lease` index.
    pub async fn in_flight(&self) -> Result<Vec<Task>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        in_flight_in(&open_store(&tx, TASKS, "in flight")?).await
    }

    /// The first queued task due after `now` (when the scheduler looks next), skipping none: a task
    /// due by `now` is `next_due`'s.
    pub async fn next_later(&self, now_ms: u64) -> Result<Option<Task>, Error> {
        let lower = super::key(&[
            State::Queued.as_str().into(),
            JsValue::from_f64(now_ms as f64),
        ]);
        let upper = super::key(&[State::Queued.as_str().into(), JsValue::from_f64(MAX_KEY)]);
        let range = KeyRange::bound(&lower, &upper, Some(true), None)
            .map_err(|e| storage_error("key range", e))?;
        let tx = self.tx(&[TASKS], false)?;
        let index = open_store(&tx, TASKS, "next later")?
            .index("by_due")
            .map_err(|e| storage_error("next later", e))?;
        let first = index
            .get_all(Some(Query::KeyRange(range)), Some(1))
            .map_err(|e| storage_error("next later", e))?
            .await
            .map_err(|e| storage_error("next later", e))?;
        first.into_iter().next().map(task_of).transpose()
    }

    /// What the scheduler reads for one look, in ONE read transaction whose four requests are issued
    /// together (one round trip): the tasks in flight, the first `limit` due by `now_ms`, the first
    /// due after it, and every session record.
    pub async fn snapshot(&self, now_ms: u64, limit: u32) -> Result<Snapshot, Error> {
        let tx = self.tx(&[TASKS, META], false)?;
        let tasks = open_store(&tx, TASKS, "look")?;
        let meta = open_store(&tx, META, "look")?;
        let failed = |e: idb::Error| storage_error("look", e);
        let due_index = tasks.index("by_due").map_err(failed)?;
        let in_flight = in_flight_request(&tasks)?.into_future();
        let due = due_index
            .get_all(
                Some(Query::KeyRange(state_range(State::Queued, now_ms)?)),
                // IndexedDB reads a count of 0 as "no limit".
                Some(limit.max(1)),
            )
            .map_err(failed)?
            .into_future();
        let lower = super::key(&[
            State::Queued.as_str().into(),
            JsValue::from_f64(now_ms as f64),
        ]);
        let upper = super::key(&[State::Queued.as_str().into(), JsValue::from_f64(MAX_KEY)]);
        let later_range = KeyRange::bound(&lower, &upper, Some(true), None).map_err(failed)?;
        let later = due_index
            .get_all(Some(Query::KeyRange(later_range)), Some(1))
            .map_err(failed)?
            .into_future();
        let prefix = session_key("");
        let sessions_range = KeyRange::bound(
            &JsValue::from_str(&prefix),
            &JsValue::from_str(&format!("{prefix}\u{ffff}")),
            None,
            None,
        )
        .map_err(failed)?;
        let sessions = meta
            .get_all(Some(Query::KeyRange(sessions_range)), None)
            .map_err(failed)?
            .into_future();
        let tasks_of = |v: Vec<JsValue>| v.into_iter().map(task_of).collect::<Result<Vec<_>, _>>();
        let in_flight = tasks_of(in_flight.await.map_err(failed)?)?;
        let mut due = tasks_of(due.await.map_err(failed)?)?;
        if limit == 0 {
            due.clear();
        }
        let later = tasks_of(later.await.map_err(failed)?)?.into_iter().next();
        let sessions = sessions
            .await
            .map_err(failed)?
            .into_iter()
            .map(js::from_js::<SessionRecord>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|s| (s.tag.clone(), s))
            .collect();
        Ok(Snapshot {
            in_flight,
            due,
            later,
            sessions,
        })
    }

    /// Changes a tag's session record in ONE transaction (read and write together: a `pause` racing a
    /// `clear` never writes dropped headers back). `None` from `change` leaves it as it is.
    pub async fn update_session(
        &self,
        tag: &str,
        change: impl FnOnce(Option<SessionRecord>) -> Option<SessionRecord>,
    ) -> Result<(), Error> {
        let tx = self.tx(&[META], true)?;
        let meta = open_store(&tx, META, "write session")?;
        let k = session_key(tag);
        let current = get(&meta, &k, "read session")
            .await?
            .map(js::from_js::<SessionRecord>)
            .transpose()?;
        if let Some(next) = change(current) {
            meta.put(&js::to_js(&next)?, Some(&JsValue::from_str(&k)))
                .map_err(|e| storage_error("write session", e))?
                .await
                .map_err(|e| storage_error("write session", e))?;
        }
        commit(tx, "write session").await
    }
}

pub(super) async fn get(
    store: &idb::ObjectStore,
    key: &str,
    op: &str,
) -> Result<Option<JsValue>, Error> {
    store
        .get(Query::Key(key.into()))
        .map_err(|e| storage_error(op, e))?
        .await
        .map_err(|e| storage_error(op, e))
}

/// The request behind `in_flight_in`, issued and not yet awaited (to share a round trip).
pub(super) fn in_flight_request(
    tasks: &idb::ObjectStore,
) -> Result<idb::request::GetAllStoreRequest, Error> {
    let range = state_range(State::InFlight, MAX_KEY as u64)?;
    tasks
        .index("by_lease")
        .map_err(|e| storage_error("in flight", e))?
        .get_all(Some(Query::KeyRange(range)), None)
        .map_err(|e| storage_error("in flight", e))
}

pub(super) async fn in_flight_in(tasks: &idb::ObjectStore) -> Result<Vec<Task>, Error> {
    let range = state_range(State::InFlight, MAX_KEY as u64)?;
    let all = tasks
        .index("by_lease")
        .map_err(|e| storage_error("in flight", e))?
        .get_all(Some(Query::KeyRange(range)), None)
        .map_err(|e| storage_error("in flight", e))?
        .await
        .map_err(|e| storage_error("in flight", e))?;
    all.into_iter().map(task_of).collect()
}

/// One look's reads (`Store::snapshot`).
pub struct Snapshot {
    /// Tasks in flight, whoever holds them.
    pub in_flight: Vec<Task>,
    /// Queued tasks due by now, in due order (at most the limit asked).
    pub due: Vec<Task>,
    /// The first queued task due after now.
    pub later: Option<Task>,
    /// Every session record, by tag.
    pub sessions: std::collections::BTreeMap<String, SessionRecord>,
}
