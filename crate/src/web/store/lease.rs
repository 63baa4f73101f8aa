//! The lease transaction (and the reads around it: in flight, next due later, session records): what
//! `core::scheduler` needs, read in as few transactions as the guarantees allow. A look's reads are in
//! `look.rs`.

use super::batch::{pending, write, Once, Outbox, Pending, Read, Span};
use super::outbox::SessionRecord;
use super::settle::LeaseAsk;
use super::tasks::{state_range, up_to, MAX_KEY};
use super::SessionChange;
use super::{commit, open_store, session_key, task_of, Store, BLOBS, META, TASKS};
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
        self.lease_ask(LeaseAsk {
            ids: ids.to_vec(),
            tags: Vec::new(),
            transport,
            holder: holder.map(str::to_string),
            env,
        })
        .await
    }

    /// `lease_many` as asked (the tags named up front save a round trip).
    pub async fn lease_ask(&self, ask: LeaseAsk) -> Result<Vec<Option<Leased>>, Error> {
        Ok(self.settle_many_tx(Vec::new(), Some(ask), None).await?.1)
    }
}

/// A lease's reads inside a read-write transaction over every store, issued and not yet awaited:
/// the tasks, their Blobs, what is in flight, and the sessions of the tags named.
pub(super) struct LeaseReads {
    ids: Vec<String>,
    reads: Vec<(Read, Read)>,
    /// Every task record in flight (any lease), as stored.
    in_flight: Once<Vec<JsValue>>,
    /// The tags whose sessions the lease gates on (read into the outbox with their sequences).
    sessions: Vec<String>,
}

impl LeaseReads {
    /// Issues the reads of a lease of `ids`; `tags`: theirs, as far as the caller knows (a tag not
    /// named is read when found, a round trip later). Each tag's event sequence is read into `outbox`.
    pub(super) fn issue(
        tx: &idb::Transaction,
        ids: &[String],
        tags: &[String],
        outbox: &mut Outbox,
    ) -> Result<Self, Error> {
        let tasks = open_store(tx, TASKS, "lease")?;
        let blobs = open_store(tx, BLOBS, "lease")?;
        let mut reads = Vec::with_capacity(ids.len());
        for id in ids {
            reads.push((
                pending(tasks.get(Query::Key(id.as_str().into())), "lease")?,
                pending(blobs.get(Query::Key(id.as_str().into())), "lease")?,
            ));
        }
        let in_flight = Once::Issued(Box::pin(in_flight_request(&tasks)?.into_future()));
        let mut sessions = Vec::with_capacity(tags.len());
        for tag in tags {
            read_session(tx, &mut sessions, tag, outbox)?;
        }
        Ok(LeaseReads {
            ids: ids.to_vec(),
            reads,
            in_flight,
            sessions,
        })
    }

    /// Every task record in flight (any lease) as this transaction read it, as stored.
    pub(super) async fn in_flight(&mut self) -> Result<&[JsValue], Error> {
        let all = self.in_flight.get().await;
        all.map(Vec::as_slice)
            .map_err(|e| storage_error("in flight", e))
    }

    /// Gates each task with `core::scheduler::lease` against what the reads found, counting the
    /// tag's tasks in flight (whatever the transport and holder) as `changed` left them (tasks this
    /// transaction already moved on), and those leased before it in the batch. Each lease's task
    /// write goes into `writes`, its `started` event into `outbox`. A task whose time ran out is
    /// written `expired` instead; its events' span goes into `expired`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decide(
        mut self,
        tx: &idb::Transaction,
        changed: &[Task],
        transport: Transport,
        holder: Option<&str>,
        env: Env,
        outbox: &mut Outbox,
        writes: &mut Vec<Pending<()>>,
        expired: &mut Vec<Span>,
    ) -> Result<Vec<Option<(Leased, Span)>>, Error> {
        let tasks = open_store(tx, TASKS, "lease")?;
        let failed = |e: idb::Error| storage_error("lease", e);
        let in_flight = self.in_flight().await?.to_vec();
        let LeaseReads {
            ids,
            reads,
            mut sessions,
            ..
        } = self;
        let mut found = Vec::with_capacity(reads.len());
        for (id, (task, blob)) in ids.iter().zip(reads) {
            // A record this version cannot read (written by a newer one, say) is not leased here.
            let task = task.await.map_err(failed)?.and_then(|t| task_of(t).ok());
            // A queued task without its Blob cannot be sent; the attempt says so (and the retry
            // policy ends it) instead of the task being offered again and again.
            let blob = blob
                .await
                .map_err(failed)?
                .and_then(|b| b.dyn_into::<web_sys::Blob>().ok());
            // A task this transaction already changed is not leased on a read from before.
            let moved_on = changed.iter().any(|c| &c.id == id);
            found.push(task.filter(|_| !moved_on).map(|t| (t, blob)));
        }
        let in_flight: Vec<Task> = in_flight
            .into_iter()
            // (One this version cannot read is not counted: the queue goes on.)
            .filter_map(|t| task_of(t).ok())
            .map(|t| changed.iter().find(|c| c.id == t.id).cloned().unwrap_or(t))
            .filter(|t| t.state == State::InFlight)
            .collect();
        for (t, _) in found.iter().flatten() {
            read_session(tx, &mut sessions, &t.tag, outbox)?;
        }
        // One Background Fetch of the origin at a time, counted here where no other lease can come
        // between (`core::scheduler::background_fetch_free`).
        let mut background_fetch_free = scheduler::background_fetch_free(&in_flight);
        // (tag, view, tasks of the tag in flight)
        let mut views = Vec::with_capacity(sessions.len());
        for tag in sessions {
            let view = match outbox.session(tx, &tag).await? {
                None => SessionView::default(),
                Some(record) => match js::from_js::<SessionRecord>(record) {
                    Ok(s) => SessionView::of(&s.options, s.paused),
                    // A session record this version cannot read: its pause and concurrency are
                    // unknown, so none of its tasks is leased here.
                    Err(_) => continue,
                },
            };
            let busy = in_flight.iter().filter(|t| t.tag == tag).count() as u32;
            views.push((tag, view, busy));
        }
        let mut out = Vec::with_capacity(found.len());
        for entry in found {
            let Some((task, blob)) = entry else {
                out.push(None);
                continue;
            };
            let Some(slot) = views.iter().position(|(tag, ..)| *tag == task.tag) else {
                out.push(None);
                continue;
            };
            let (_, view, busy) = &views[slot];
            if transport == Transport::BackgroundFetch && !background_fetch_free {
                out.push(None);
                continue;
            }
            // Not now, or not any more (cancelled, sent, leased elsewhere since it was chosen): this
            // task is left as it is, and the others of the batch go on.
            let Ok(Some((next, effects))) =
                scheduler::lease(&task, view, *busy, &env, transport, holder)
            else {
                out.push(None);
                continue;
            };
            writes.push(write(tasks.put(&js::to_js(&next)?, None), "lease")?);
            let span = outbox.push(tx, &next.tag, core::events_for(&next, &effects, None))?;
            if next.state != State::InFlight {
                // Its time ran out before this attempt (`expired`): recorded, its Blob deleted, and
                // nothing is sent.
                if effects
                    .iter()
                    .any(|e| matches!(e, core::Effect::DeleteBlob))
                {
                    let blobs = open_store(tx, BLOBS, "lease")?;
                    writes.push(write(
                        blobs.delete(Query::Key(task.id.as_str().into())),
                        "lease",
                    )?);
                }
                expired.push(span);
                out.push(None);
                continue;
            }
            views[slot].2 += 1;
            if transport == Transport::BackgroundFetch {
                background_fetch_free = false;
            }
            out.push(Some((
                Leased {
                    task: next,
                    events: Vec::new(),
                    blob,
                    session: views[slot].1,
                },
                span,
            )));
        }
        Ok(out)
    }
}

/// Names `tag` among the sessions the lease gates on, its session record and event sequence read
/// into `outbox` (once per transaction, shared with the events' writes).
fn read_session(
    tx: &idb::Transaction,
    sessions: &mut Vec<String>,
    tag: &str,
    outbox: &mut Outbox,
) -> Result<(), Error> {
    if !sessions.iter().any(|t| t == tag) {
        sessions.push(tag.to_string());
    }
    outbox.read(tx, tag)
}

impl Store {
    /// Every in-flight task (any lease), through the `by_lease` index.
    pub async fn in_flight(&self) -> Result<Vec<Task>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        in_flight_in(&open_store(&tx, TASKS, "in flight")?).await
    }

    /// The first queued task due after `now` (when the scheduler looks next), skipping none: a task
    /// due by `now` is `next_due`'s.
    pub async fn next_later(&self, now_ms: u64) -> Result<Option<Task>, Error> {
        let lower = up_to(State::Queued.as_str(), now_ms as f64);
        let upper = up_to(State::Queued.as_str(), MAX_KEY);
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
    pub async fn update_session(&self, tag: &str, change: SessionChange<'_>) -> Result<(), Error> {
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
    // (One this version cannot read is left out, like in a look.)
    Ok(all.into_iter().filter_map(|t| task_of(t).ok()).collect())
}
