//! The lease transaction and the scheduler's reads: what `core::scheduler` needs, read in as few
//! transactions as the guarantees allow.

use super::outbox::SessionRecord;
use super::tasks::{state_range, MAX_KEY};
use super::{commit, open_store, session_key, task_of, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::scheduler::{self, Env, SessionView};
use crate::core::{self, Error, FerryEvent, State, Task, Transport};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
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
        let tx = self.tx_relaxed(&[TASKS, BLOBS, OUTBOX, META])?;
        let tasks = open_store(&tx, TASKS, "lease")?;
        let Some(task) = get(&tasks, id, "lease").await?.map(task_of).transpose()? else {
            return Ok(None);
        };
        let meta = open_store(&tx, META, "lease")?;
        let session = get(&meta, &session_key(&task.tag), "lease")
            .await?
            .map(js::from_js::<SessionRecord>)
            .transpose()?;
        let view = session
            .map(|s| SessionView::of(&s.options, s.paused))
            .unwrap_or_default();
        let busy = in_flight_in(&tasks)
            .await?
            .iter()
            .filter(|t| t.tag == task.tag)
            .count() as u32;
        let blobs = open_store(&tx, BLOBS, "lease")?;
        // A queued task without its Blob cannot be sent; the attempt says so (and the retry policy
        // ends it) instead of the task being offered again and again.
        let blob = get(&blobs, id, "lease")
            .await?
            .and_then(|b| b.dyn_into::<web_sys::Blob>().ok());
        let Some((next, effects)) = scheduler::lease(&task, &view, busy, &env, transport, holder)?
        else {
            return Ok(None);
        };
        tasks
            .put(&js::to_js(&next)?, None)
            .map_err(|e| storage_error("lease", e))?
            .await
            .map_err(|e| storage_error("write task", e))?;
        let events = self
            .append_events(&tx, &next.tag, core::events_for(&next, &effects, None))
            .await?;
        commit(tx, "lease").await?;
        Ok(Some(Leased {
            task: next,
            events,
            blob,
            session: view,
        }))
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

pub(super) async fn get(store: &idb::ObjectStore, key: &str, op: &str) -> Result<Option<JsValue>, Error> {
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
