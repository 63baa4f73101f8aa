//! Tasks and their Blobs: enqueue, transitions, and the scheduler's indexed queries.

use super::{commit, delete, dom_of, key, open_store, task_of, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, Input, ResponseInfo, State, Task};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
use std::future::IntoFuture;
use wasm_bindgen::{JsCast, JsValue};

/// The largest integer IndexedDB range bounds may use without losing precision.
pub(crate) const MAX_KEY: f64 = 9_007_199_254_740_991.0;

impl Store {
    /// Writes the tasks and their Blobs (all of one tag) in ONE transaction, allocating each task's
    /// per-tag sequence and appending its `queued` event. Nothing is visible before the commit; on any
    /// failure nothing is. The same transaction reads what the caller decides next with: whether the
    /// tag is paused and whether a Background Fetch is in flight (no further reads per upload).
    pub async fn enqueue_all(&self, batch: &[(Task, web_sys::Blob)]) -> Result<Enqueued, Error> {
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
        let tx = self.tx(&[TASKS, BLOBS, OUTBOX, META], true)?;
        let tasks = open_store(&tx, TASKS, "enqueue")?;
        let blobs = open_store(&tx, BLOBS, "enqueue")?;
        let outbox = open_store(&tx, OUTBOX, "enqueue")?;
        let meta = open_store(&tx, META, "enqueue")?;

        // IndexedDB runs a transaction's requests in the order they were made, so each phase issues
        // all its requests before awaiting any: the whole enqueue costs two round trips and the commit.
        // Phase 1: what the writes depend on, and what the caller decides next with.
        let task_seq_key = JsValue::from_str(&format!("taskseq:{tag}"));
        let event_seq_key = JsValue::from_str(&format!("eventseq:{tag}"));
        let session_key = JsValue::from_str(&super::session_key(&tag));
        // `into_future` at once: it attaches the request's listeners, so a result that arrives before
        // its turn to be awaited is kept, not missed.
        let read = |k: &JsValue| {
            meta.get(Query::Key(k.clone()))
                .map(IntoFuture::into_future)
                .map_err(failed("enqueue"))
        };
        let (task_seq, event_seq, session) = (read(&task_seq_key)?, read(&event_seq_key)?, read(&session_key)?);
        let in_flight = super::lease::in_flight_request(&tasks)?.into_future();
        let number = |v: Option<JsValue>| v.and_then(|v| v.as_f64()).unwrap_or(0.0) as u64;
        let mut seq = number(task_seq.await.map_err(failed("read task sequence"))?);
        let mut event_seq = number(event_seq.await.map_err(failed("read event sequence"))?);
        let paused = session
            .await
            .map_err(failed("read session"))?
            .map(js::from_js::<super::SessionRecord>)
            .transpose()?
            .is_some_and(|s| s.paused);
        let background_fetch_busy = in_flight
            .await
            .map_err(failed("in flight"))?
            .into_iter()
            .map(task_of)
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .any(|t| t.transport == Some(core::Transport::BackgroundFetch));

        // Phase 2: every write.
        let mut written = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut pending = Vec::with_capacity(batch.len());
        let mut pending_events = Vec::with_capacity(batch.len());
        for (task, blob) in batch {
            seq += 1;
            let mut task = task.clone();
            task.seq = seq;
            let added = tasks
                .add(&js::to_js(&task)?, None)
                .map_err(failed("enqueue"))?
                .into_future();
            let put = blobs
                .put(blob, Some(&JsValue::from_str(&task.id)))
                .map_err(failed("enqueue"))?
                .into_future();
            pending.push((task.id.clone(), added, put));
            let mut queued = core::queued_event(&task);
            event_seq += 1;
            queued.seq = event_seq;
            let event = outbox.add(&js::to_js(&queued)?, None);
            pending_events.push(event.map_err(failed("enqueue"))?.into_future());
            events.push(queued);
            written.push(task);
        }
        let seq_put = meta
            .put(&JsValue::from_f64(seq as f64), Some(&task_seq_key))
            .map_err(failed("enqueue"))?
            .into_future();
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
        keep(seq_put.await.map(|_| ()).map_err(failed("write task sequence")));
        keep(event_seq_put.await.map(|_| ()).map_err(failed("write event sequence")));
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
        let done = self.enqueue_all(&[(task.clone(), blob.clone())]).await?;
        let task = done.tasks.into_iter().next().ok_or_else(|| Error::UnknownTask {
            id: task.id.clone(),
        })?;
        Ok((task, done.events))
    }

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
        self.apply_with(id, |t| core::apply(t, input, now_ms, rand), response, false)
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
            |t| core::scheduler::settle(t, lease_no, input, now_ms, rand),
            response,
            true,
        )
        .await
    }

    /// `settle` of several attempts' inputs in ONE transaction (attempts that end together share a
    /// commit). Each gets its own answer: an input refused for its task (another lease, cancelled,
    /// gone) changes nothing and says why, while the others apply; a storage failure fails them all.
    /// With `then`, the same transaction goes on to lease those tasks (`lease_many`), seeing the slots
    /// these outcomes freed: an attempt that ends and the next that starts cost one commit.
    pub async fn settle_many(
        &self,
        items: Vec<Settle>,
        then: Option<LeaseAsk>,
    ) -> (Vec<Settled>, Vec<Option<super::Leased>>) {
        let n = items.len();
        let asked = then.as_ref().map_or(0, |a| a.ids.len());
        match self.settle_many_tx(items, then).await {
            Ok(done) => done,
            Err(e) => (
                (0..n).map(|_| Err(e.clone())).collect(),
                (0..asked).map(|_| None).collect(),
            ),
        }
    }

    async fn settle_many_tx(
        &self,
        items: Vec<Settle>,
        then: Option<LeaseAsk>,
    ) -> Result<(Vec<Settled>, Vec<Option<super::Leased>>), Error> {
        let tx = self.tx_relaxed(&[TASKS, BLOBS, OUTBOX, META])?;
        let tasks = open_store(&tx, TASKS, "settle")?;
        let blobs = open_store(&tx, BLOBS, "settle")?;
        let failed = |e: idb::Error| storage_error("settle", e);
        // Every read issued before any is awaited (listeners attached at once by `into_future`).
        let mut reads = Vec::with_capacity(items.len());
        for item in &items {
            reads.push(
                tasks
                    .get(Query::Key(item.id.as_str().into()))
                    .map_err(failed)?
                    .into_future(),
            );
        }
        let mut results = Vec::with_capacity(items.len());
        let mut writes = Vec::new();
        let mut deletes = Vec::new();
        let mut events: Vec<(String, Vec<FerryEvent>)> = Vec::new();
        let mut event_at = Vec::with_capacity(items.len());
        for (item, read) in items.into_iter().zip(reads) {
            let Some(current) = read.await.map_err(failed)? else {
                results.push(Err(Error::UnknownTask { id: item.id }));
                event_at.push(None);
                continue;
            };
            let current = task_of(current)?;
            let decided =
                core::scheduler::settle(&current, item.lease_no, item.input, item.now_ms, item.rand);
            let (next, effects) = match decided {
                Ok(d) => d,
                Err(e) => {
                    results.push(Err(e));
                    event_at.push(None);
                    continue;
                }
            };
            if next == current && effects.is_empty() {
                results.push(Ok((next, Vec::new())));
                event_at.push(None);
                continue;
            }
            writes.push(tasks.put(&js::to_js(&next)?, None).map_err(failed)?.into_future());
            if effects.iter().any(|e| matches!(e, core::Effect::DeleteBlob)) {
                let request = blobs.delete(Query::Key(item.id.as_str().into())).map_err(failed)?;
                deletes.push(request.into_future());
            }
            let evs = core::events_for(&next, &effects, item.response);
            let slot = match events.iter().position(|(tag, _)| *tag == next.tag) {
                Some(i) => i,
                None => {
                    events.push((next.tag.clone(), Vec::new()));
                    events.len() - 1
                }
            };
            let from = events[slot].1.len();
            events[slot].1.extend(evs);
            event_at.push(Some((slot, from, events[slot].1.len())));
            results.push(Ok((next, Vec::new())));
        }
        let mut appended = Vec::with_capacity(events.len());
        for (tag, evs) in events {
            appended.push(self.append_events(&tx, &tag, evs).await?);
        }
        for w in writes {
            w.await.map_err(failed)?;
        }
        for d in deletes {
            d.await.map_err(failed)?;
        }
        let leased = match then {
            Some(ask) => {
                let holder = ask.holder.as_deref();
                self.lease_in(&tx, &ask.ids, ask.transport, holder, ask.env)
                    .await?
            }
            None => Vec::new(),
        };
        commit(tx, "settle").await?;
        for (result, at) in results.iter_mut().zip(event_at) {
            if let (Ok((_, evs)), Some((slot, from, to))) = (result, at) {
                *evs = appended[slot][from..to].to_vec();
            }
        }
        Ok((results, leased))
    }

    async fn apply_with(
        &self,
        id: &str,
        decide: impl FnOnce(&Task) -> Result<(Task, Vec<core::Effect>), Error>,
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
        let (next, effects) = decide(&current)?;
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
        change: impl FnOnce(&Task) -> Result<(Task, Vec<FerryEvent>), Error>,
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
                .map(task_of)
            {
                let task = task?;
                if !task.is_expired_at(now_ms) {
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
        // Headers kept for `headerFallback: 'last'` (a token) go too; the session record stays (its
        // options and pause flag are not the user's data, and the session stays usable), and so do
        // the tag's sequence counters, so seq never goes back for pages still listening.
        super::outbox::set_headers(&meta, tag, None).await?;
        commit(tx, "clear").await?;
        Ok(ids.len() as u32)
    }
}

/// All keys `[tag, n]` for any sequence number n.
pub(crate) fn tag_range(tag: &str) -> Result<KeyRange, Error> {
    let lower = key(&[tag.into(), JsValue::from_f64(0.0)]);
    let upper = key(&[tag.into(), JsValue::from_f64(MAX_KEY)]);
    KeyRange::bound(&lower, &upper, None, None).map_err(|e| storage_error("key range", e))
}

/// All keys `[state, t]` with t <= `upto`.
pub(crate) fn state_range(state: State, upto: u64) -> Result<KeyRange, Error> {
    let lower = key(&[state.as_str().into(), JsValue::from_f64(0.0)]);
    let upper = key(&[state.as_str().into(), JsValue::from_f64(upto as f64)]);
    KeyRange::bound(&lower, &upper, None, None).map_err(|e| storage_error("key range", e))
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

/// One attempt's input for `Store::settle_many`.
pub struct Settle {
    /// The task.
    pub id: String,
    /// The lease the input belongs to.
    pub lease_no: u64,
    /// What happened.
    pub input: Input,
    /// When.
    pub now_ms: u64,
    /// Randomness for retry jitter.
    pub rand: u64,
    /// What the server answered, for the event.
    pub response: Option<ResponseInfo>,
}

/// What `Store::settle_many` answers per outcome.
pub type Settled = Result<(Task, Vec<FerryEvent>), Error>;

/// Tasks to lease in a settle transaction, after its outcomes (`Store::settle_many`).
pub struct LeaseAsk {
    /// The tasks, in order.
    pub ids: Vec<String>,
    /// The transport that will carry them.
    pub transport: core::Transport,
    /// The worker instance that will.
    pub holder: Option<String>,
    /// The world as it is now.
    pub env: core::scheduler::Env,
}
