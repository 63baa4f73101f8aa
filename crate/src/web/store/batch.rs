//! A read-write transaction in few round trips: every read is issued before any is awaited, then
//! every write, then the commit (IndexedDB runs a transaction's requests in the order they were
//! made). Each request is awaited, failed or not: one failure aborts the transaction and fails the
//! rest, whose answers must find their listeners.

use super::{commit, open_store, META, OUTBOX};
use crate::core::{Error, FerryEvent};
use crate::web::js::{self, storage_error};
use idb::Query;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use wasm_bindgen::JsValue;

/// A request issued with its listeners attached (`into_future`), awaited later.
pub(super) type Pending<T> = Pin<Box<dyn Future<Output = Result<T, idb::Error>>>>;

/// A read of one record, issued.
pub(super) type Read = Pending<Option<JsValue>>;

/// Issues a request now and keeps it to await later.
pub(super) fn pending<R, T>(request: Result<R, idb::Error>, op: &str) -> Result<Pending<T>, Error>
where
    R: IntoFuture<Output = Result<T, idb::Error>>,
    R::IntoFuture: 'static,
{
    let request = request.map_err(|e| storage_error(op, e))?;
    Ok(Box::pin(request.into_future()))
}

/// Issues a write now and keeps it to await with the commit (`commit_with`).
pub(super) fn write<R, T>(request: Result<R, idb::Error>, op: &str) -> Result<Pending<()>, Error>
where
    R: IntoFuture<Output = Result<T, idb::Error>>,
    R::IntoFuture: 'static,
{
    let request = request.map_err(|e| storage_error(op, e))?.into_future();
    Ok(Box::pin(async move { request.await.map(|_| ()) }))
}

/// Where one push of events landed: `(tag slot, from, to)` in `Outbox::write`'s answer.
pub(super) type Span = (usize, usize, usize);

/// Events to append to the outbox in one transaction, per tag, each tag's sequence number read with
/// the transaction's other reads.
#[derive(Default)]
pub(super) struct Outbox {
    tags: Vec<TagEvents>,
}

/// One tag's part of an `Outbox`: its last sequence number and session record (read with the
/// transaction's other reads) and the events to append.
struct TagEvents {
    tag: String,
    seq: Read,
    session: Once<Option<JsValue>>,
    events: Vec<FerryEvent>,
}

/// A read answered once and asked for more than once in a transaction (a tag's session record: the
/// lease gates on it, the outbox reads whether it asks for launch events; what is in flight: the
/// lease counts it, the settle finds its tasks in it).
pub(super) enum Once<T> {
    Issued(Pending<T>),
    Read(T),
}

impl<T> Once<T> {
    /// The answer, awaited the first time.
    pub(super) async fn get(&mut self) -> Result<&T, idb::Error> {
        if let Once::Issued(read) = self {
            *self = Once::Read(read.await?);
        }
        match self {
            Once::Read(v) => Ok(v),
            Once::Issued(_) => unreachable!("read above"),
        }
    }
}

impl Outbox {
    /// Issues the sequence read of `tag` if this outbox has not yet (a read issued late costs a round
    /// trip of its own, so callers name the tags they know up front).
    pub(super) fn read(&mut self, tx: &idb::Transaction, tag: &str) -> Result<(), Error> {
        if self.tags.iter().any(|t| t.tag == tag) {
            return Ok(());
        }
        let meta = open_store(tx, META, "append events")?;
        let seq = pending(
            meta.get(Query::Key(super::event_seq_key(tag))),
            "append events",
        )?;
        // Whether its session asks for launch events: an event that ends a task then leaves a mark
        // that a launch decision is owed (`launch_due_key`), written with it.
        let session = pending(
            meta.get(Query::Key(super::session_key(tag).into())),
            "append events",
        )?;
        self.tags.push(TagEvents {
            tag: tag.to_string(),
            seq,
            session: Once::Issued(session),
            events: Vec::new(),
        });
        Ok(())
    }

    /// Where `tag` is in `tags` (its reads issued first, if they were not).
    fn slot(&mut self, tx: &idb::Transaction, tag: &str) -> Result<usize, Error> {
        self.read(tx, tag)?;
        Ok(self
            .tags
            .iter()
            .position(|t| t.tag == tag)
            .expect("read above"))
    }

    /// `tag`'s session record as the transaction read it (`read` first, else it is issued now: a
    /// round trip of its own).
    pub(super) async fn session(
        &mut self,
        tx: &idb::Transaction,
        tag: &str,
    ) -> Result<Option<JsValue>, Error> {
        let slot = self.slot(tx, tag)?;
        self.tags[slot]
            .session
            .get()
            .await
            .cloned()
            .map_err(|e| storage_error("read session", e))
    }

    /// Queues `events` of `tag` (after those queued before); `read` first.
    pub(super) fn push(
        &mut self,
        tx: &idb::Transaction,
        tag: &str,
        events: Vec<FerryEvent>,
    ) -> Result<Span, Error> {
        let slot = self.slot(tx, tag)?;
        let list = &mut self.tags[slot].events;
        let from = list.len();
        list.extend(events);
        Ok((slot, from, list.len()))
    }

    /// Numbers the queued events after each tag's last sequence number and issues their writes (and
    /// each tag's new sequence number) into `writes`. Answers the events as numbered, by tag slot.
    pub(super) async fn write(
        self,
        tx: &idb::Transaction,
        writes: &mut Vec<Pending<()>>,
    ) -> Result<Vec<Vec<FerryEvent>>, Error> {
        let meta = open_store(tx, META, "append events")?;
        let outbox = open_store(tx, OUTBOX, "append events")?;
        let mut out = Vec::with_capacity(self.tags.len());
        for TagEvents {
            tag,
            seq,
            mut session,
            mut events,
        } in self.tags
        {
            let mut seq = seq
                .await
                .map_err(|e| storage_error("read event sequence", e))?
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0) as u64;
            let session = session
                .get()
                .await
                .map_err(|e| storage_error("read session", e))?
                .clone();
            if !events.is_empty() {
                for ev in events.iter_mut() {
                    seq += 1;
                    ev.seq = seq;
                    writes.push(write(outbox.add(&js::to_js(ev)?, None), "append events")?);
                }
                writes.push(write(
                    meta.put(
                        &JsValue::from_f64(seq as f64),
                        Some(&super::event_seq_key(&tag)),
                    ),
                    "append events",
                )?);
                if super::session_launches(session.as_ref()) {
                    owe_launches(&meta, &events, writes)?;
                }
            }
            out.push(events);
        }
        Ok(out)
    }
}

/// Issues, into `writes`, the marks that a launch decision is owed for each of `events` (numbered)
/// that ends a task: written with the events, so a worker stopped before it decided (the decision
/// pings pages, then shows a notification) leaves them for the next instance (`Store::launches_owed`).
pub(super) fn owe_launches(
    meta: &idb::ObjectStore,
    events: &[FerryEvent],
    writes: &mut Vec<Pending<()>>,
) -> Result<(), Error> {
    for ev in events.iter().filter(|e| e.kind.launches()) {
        writes.push(write(
            meta.put(
                &JsValue::from_str(&ev.task_id),
                Some(&super::launch_due_key(&ev.tag, ev.seq)),
            ),
            "append events",
        )?);
    }
    Ok(())
}

/// The events of one push, as numbered by `Outbox::write`.
pub(super) fn span(written: &[Vec<FerryEvent>], (slot, from, to): Span) -> Vec<FerryEvent> {
    written[slot][from..to].to_vec()
}

/// Awaits every write issued (failed or not: a failure aborts the transaction and fails the rest,
/// whose answers must still find their listeners), then commits. The commit is asked for only after
/// the last write answered: a request that fails once `commit()` was called no longer aborts the
/// transaction, and the writes before it would commit without it.
pub(super) async fn commit_with(
    tx: idb::Transaction,
    writes: Vec<Pending<()>>,
    op: &str,
) -> Result<(), Error> {
    let mut first = None;
    for w in writes {
        if let (Err(e), None) = (w.await, &first) {
            first = Some(storage_error(op, e));
        }
    }
    if let Some(e) = first {
        return Err(e);
    }
    commit(tx, op).await
}
