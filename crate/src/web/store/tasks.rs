//! Tasks and their Blobs: enqueue, transitions, and the scheduler's indexed queries.

use super::{commit, delete, key, open_store, task_of, Change, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, Input, ResponseInfo, State, Task};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
use std::future::IntoFuture;
use wasm_bindgen::{JsCast, JsValue};

/// The largest integer IndexedDB range bounds may use without losing precision.
pub(crate) const MAX_KEY: f64 = 9_007_199_254_740_991.0;

/// What `apply_with` decides for a task: the new record and its effects. Boxed (as `Change`): one
/// copy of the transaction's code, not one per caller.
type Decide<'a> = Box<dyn FnOnce(&Task) -> Result<(Task, Vec<core::Effect>), Error> + 'a>;

impl Store {
    /// One task by id.
    pub async fn get(&self, id: &str) -> Result<Option<Task>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        let store = open_store(&tx, TASKS, "get task")?;
        let v = store
            .get(Query::Key(id.into()))
            .map_err(|e| storage_error("get task", e))?
            .await;
        v.map_err(|e| storage_error("get task", e))?
            .map(task_of)
            .transpose()
    }

    /// The stored Blob of a task (absent once the task finished).
    pub async fn blob(&self, id: &str) -> Result<Option<web_sys::Blob>, Error> {
        let tx = self.tx(&[BLOBS], false)?;
        let store = open_store(&tx, BLOBS, "read blob")?;
        let v = store
            .get(Query::Key(id.into()))
            .map_err(|e| storage_error("read blob", e))?
            .await;
        Ok(v.map_err(|e| storage_error("read blob", e))?
            .and_then(|b| b.dyn_into::<web_sys::Blob>().ok()))
    }

    /// A tag's tasks in enqueue order (through the `by_tag_seq` index).
    pub async fn list(&self, tag: &str) -> Result<Vec<Task>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        let index = tx
            .object_store(TASKS)
            .and_then(|s| s.index("by_tag_seq"))
            .map_err(|e| storage_error("list tasks", e))?;
        let range = tag_range(tag)?;
        let all = index
            .get_all(Some(Query::KeyRange(range)), None)
            .map_err(|e| storage_error("list tasks", e))?
            .await;
        all.map_err(|e| storage_error("list tasks", e))?
            .into_iter()
            .map(task_of)
            .collect()
    }

    /// Queued tasks whose next attempt is due by `now`, oldest due first, at most `limit`: one range
    /// read on the `by_due` index, never a scan of every task.
    pub async fn next_due(&self, now_ms: u64, limit: u32) -> Result<Vec<Task>, Error> {
        if limit == 0 {
            // IndexedDB reads a count of 0 as "no limit".
            return Ok(Vec::new());
        }
        let range = state_range(State::Queued, now_ms)?;
        let tx = self.tx(&[TASKS], false)?;
        let index = tx
            .object_store(TASKS)
            .and_then(|s| s.index("by_due"))
            .map_err(|e| storage_error("next due", e))?;
        let all = index
            .get_all(Some(Query::KeyRange(range)), Some(limit))
            .map_err(|e| storage_error("next due", e))?
            .await;
        all.map_err(|e| storage_error("next due", e))?
            .into_iter()
            .map(task_of)
            .collect()
    }

    /// The earliest `nextAttemptAt` of any queued task (when the scheduler should look again).
    pub async fn next_wake(&self) -> Result<Option<u64>, Error> {
        let range = state_range(State::Queued, MAX_KEY as u64)?;
        let tx = self.tx(&[TASKS], false)?;
        let index = tx
            .object_store(TASKS)
            .and_then(|s| s.index("by_due"))
            .map_err(|e| storage_error("next wake", e))?;
        let first = index
            .get_all(Some(Query::KeyRange(range)), Some(1))
            .map_err(|e| storage_error("next wake", e))?
            .await;
        let first = first
            .map_err(|e| storage_error("next wake", e))?
            .into_iter()
            .next()
            .map(task_of)
            .transpose()?;
        Ok(first.and_then(|t| t.next_attempt_at))
    }

    /// Applies one input to a task in ONE transaction: the new record, the Blob's deletion when the task
    /// ended, and its events in the outbox are committed together or not at all.
    pub async fn transition(
        &self,
        id: &str,
        input: Input,
        now_ms: u64,
        rand: u64,
        response: Option<ResponseInfo>,
    ) -> Result<(Task, Vec<FerryEvent>), Error> {
        self.apply_with(
            id,
            Box::new(move |t| core::apply(t, input, now_ms, rand)),
            response,
            false,
        )
        .await
    }

    /// `transition` for an input that belongs to an attempt (an outcome, progress, renewal, release):
    /// applied only while `lease_no` is the task's current lease (`core::scheduler::settle`).
    /// Relaxed durability, like the lease: it is lost only if the operating system goes down before
    /// the disk has it (a browser killed loses nothing), and then the task is sent again under its
    /// Idempotency-Key; attempts do not queue behind each other's disk flushes.
    pub async fn settle(
        &self,
        id: &str,
        lease_no: u64,
        input: Input,
        now_ms: u64,
        rand: u64,
        response: Option<ResponseInfo>,
    ) -> Result<(Task, Vec<FerryEvent>), Error> {
        self.apply_with(
            id,
            Box::new(move |t| core::scheduler::settle(t, lease_no, input, now_ms, rand)),
            response,
            true,
        )
        .await
    }

    async fn apply_with(
        &self,
        id: &str,
        decide: Decide<'_>,
        response: Option<ResponseInfo>,
        relaxed: bool,
    ) -> Result<(Task, Vec<FerryEvent>), Error> {
        let stores = [TASKS, BLOBS, OUTBOX, META];
        let tx = if relaxed {
            self.tx_relaxed(&stores)?
        } else {
            self.tx(&stores, true)?
        };
        let tasks = open_store(&tx, TASKS, "transition")?;
        let current = tasks
            .get(Query::Key(id.into()))
            .map_err(|e| storage_error("transition", e))?
            .await;
        let Some(current) = current.map_err(|e| storage_error("read task", e))? else {
            return Err(Error::UnknownTask { id: id.to_string() });
        };
        let current = task_of(current)?;
        let (mut next, effects) = decide(&current)?;
        core::note_said(&mut next, &effects, response.as_ref());
        if next == current && effects.is_empty() {
            return Ok((next, Vec::new()));
        }
        // Issued together, awaited after the events are written: one round trip.
        let written = tasks
            .put(&js::to_js(&next)?, None)
            .map_err(|e| storage_error("transition", e))?
            .into_future();
        let deleted = if effects
            .iter()
            .any(|e| matches!(e, core::Effect::DeleteBlob))
        {
            let blobs = open_store(&tx, BLOBS, "transition")?;
            let request = blobs
                .delete(Query::Key(id.into()))
                .map_err(|e| storage_error("delete blob", e))?;
            Some(request.into_future())
        } else {
            None
        };
        let events = self
            .append_events(&tx, &next.tag, core::events_for(&next, &effects, response))
            .await?;
        written.await.map_err(|e| storage_error("write task", e))?;
        if let Some(deleted) = deleted {
            deleted.await.map_err(|e| storage_error("delete blob", e))?;
        }
        commit(tx, "transition").await?;
        Ok((next, events))
    }

    /// Changes a task in ONE transaction with the events the change produces (no Blob deletion: for
    /// records that do not end a task, such as a tus upload URL or confirmed progress).
    pub async fn modify(
        &self,
        id: &str,
        change: Change<'_>,
    ) -> Result<(Task, Vec<FerryEvent>), Error> {
        let tx = self.tx(&[TASKS, OUTBOX, META], true)?;
        let tasks = open_store(&tx, TASKS, "modify")?;
        let current = tasks
            .get(Query::Key(id.into()))
            .map_err(|e| storage_error("modify", e))?
            .await;
        let Some(current) = current.map_err(|e| storage_error("read task", e))? else {
            return Err(Error::UnknownTask { id: id.to_string() });
        };
        let (next, events) = change(&task_of(current)?)?;
        tasks
            .put(&js::to_js(&next)?, None)
            .map_err(|e| storage_error("modify", e))?
            .await
            .map_err(|e| storage_error("write task", e))?;
        let events = self.append_events(&tx, &next.tag, events).await?;
        commit(tx, "modify").await?;
        Ok((next, events))
    }

    /// Retention: finished tasks whose retention ended leave with their events (acknowledged or not)
    /// and any Blob. Returns how many tasks were removed. Reads only finished tasks, by `by_state`.
    pub async fn sweep(&self, now_ms: u64) -> Result<u32, Error> {
        let mut removed = 0;
        for state in [State::Done, State::Failed, State::Cancelled, State::Expired] {
            let range = state_range(state, now_ms)?;
            let tx = self.tx(&[TASKS, BLOBS, OUTBOX], true)?;
            let tasks = open_store(&tx, TASKS, "sweep")?;
            let blobs = open_store(&tx, BLOBS, "sweep")?;
            let by_task = tx
                .object_store(OUTBOX)
                .and_then(|s| s.index("by_task"))
                .map_err(|e| storage_error("sweep", e))?;
            let outbox = open_store(&tx, OUTBOX, "sweep")?;
            let old = tasks
                .index("by_state")
                .and_then(|i| i.get_all(Some(Query::KeyRange(range)), None))
                .map_err(|e| storage_error("sweep", e))?
                .await;
            for task in old
                .map_err(|e| storage_error("sweep", e))?
                .into_iter()
                // A record this version cannot read is left to the version that wrote it.
                .filter_map(|t| task_of(t).ok())
            {
                if task.retention_end() > now_ms {
                    continue;
                }
                let id = JsValue::from_str(&task.id);
                let keys = by_task
                    .get_all_keys(Some(Query::Key(id.clone())), None)
                    .map_err(|e| storage_error("sweep", e))?
                    .await;
                for key in keys.map_err(|e| storage_error("sweep", e))? {
                    delete(&outbox, Query::Key(key), "sweep").await?;
                }
                delete(&blobs, Query::Key(id.clone()), "sweep").await?;
                delete(&tasks, Query::Key(id), "sweep").await?;
                removed += 1;
            }
            commit(tx, "sweep").await?;
        }
        Ok(removed)
    }

    /// Removes every task, Blob and outbox event of a tag (logout leaves nothing behind); returns how
    /// many tasks were removed. Counters stay, so sequence numbers never repeat for the tag.
    pub async fn clear(&self, tag: &str) -> Result<u32, Error> {
        let tx = self.tx(&[TASKS, BLOBS, OUTBOX, META], true)?;
        let tasks = open_store(&tx, TASKS, "clear")?;
        let blobs = open_store(&tx, BLOBS, "clear")?;
        let outbox = open_store(&tx, OUTBOX, "clear")?;
        let meta = open_store(&tx, META, "clear")?;
        let index = tasks
            .index("by_tag_seq")
            .map_err(|e| storage_error("clear", e))?;
        let ids = index
            .get_all(Some(Query::KeyRange(tag_range(tag)?)), None)
            .map_err(|e| storage_error("clear", e))?
            .await;
        let ids: Vec<Task> = ids
            .map_err(|e| storage_error("clear", e))?
            .into_iter()
            .map(task_of)
            .collect::<Result<_, _>>()?;
        for t in &ids {
            let id = JsValue::from_str(&t.id);
            delete(&tasks, Query::Key(id.clone()), "delete task").await?;
            delete(&blobs, Query::Key(id), "delete blob").await?;
        }
        delete(&outbox, Query::KeyRange(tag_range(tag)?), "clear outbox").await?;
        // Launch decisions owed for its tasks go with them (nothing of them is left to tell).
        let marks = super::outbox::launch_due_range(Some(tag))?;
        delete(&meta, Query::KeyRange(marks), "clear launch marks").await?;
        // Headers kept for `headerFallback: 'last'` (a token) go too; the session record stays (its
        // options and pause flag are not the user's data, and the session stays usable), and so do
        // the tag's sequence counters, so seq never goes back for pages still listening.
        super::outbox::set_headers(&meta, tag, None).await?;
        commit(tx, "clear").await?;
        Ok(ids.len() as u32)
    }
}

/// The last key `[first, t, seq]` of time `t` (any seq), past `[first, t]` too: an inclusive upper
/// bound at `t` of the due indexes and the others alike.
pub(crate) fn up_to(first: &str, t: f64) -> JsValue {
    key(&[
        first.into(),
        JsValue::from_f64(t),
        JsValue::from_f64(MAX_KEY),
    ])
}

/// All keys `[tag, n]` for any sequence number n.
pub(crate) fn tag_range(tag: &str) -> Result<KeyRange, Error> {
    let lower = key(&[tag.into(), JsValue::from_f64(0.0)]);
    let upper = key(&[tag.into(), JsValue::from_f64(MAX_KEY)]);
    KeyRange::bound(&lower, &upper, None, None).map_err(|e| storage_error("key range", e))
}

/// All keys `[state, t]` and `[state, t, seq]` (the due index) with t <= `upto`.
pub(crate) fn state_range(state: State, upto: u64) -> Result<KeyRange, Error> {
    let lower = key(&[state.as_str().into(), JsValue::from_f64(0.0)]);
    let upper = up_to(state.as_str(), upto as f64);
    KeyRange::bound(&lower, &upper, None, None).map_err(|e| storage_error("key range", e))
}
