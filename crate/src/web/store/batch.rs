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
    tags: Vec<(String, Option<Read>, Vec<FerryEvent>)>,
}

impl Outbox {
    /// Issues the sequence read of `tag` if this outbox has not yet (a read issued late costs a round
    /// trip of its own, so callers name the tags they know up front).
    pub(super) fn read(&mut self, tx: &idb::Transaction, tag: &str) -> Result<(), Error> {
        if self.tags.iter().any(|(t, ..)| t == tag) {
            return Ok(());
        }
        let meta = open_store(tx, META, "append events")?;
        let seq = pending(
            meta.get(Query::Key(super::event_seq_key(tag))),
            "append events",
        )?;
        self.tags.push((tag.to_string(), Some(seq), Vec::new()));
        Ok(())
    }

    /// Queues `events` of `tag` (after those queued before); `read` first.
    pub(super) fn push(
        &mut self,
        tx: &idb::Transaction,
        tag: &str,
        events: Vec<FerryEvent>,
    ) -> Result<Span, Error> {
        self.read(tx, tag)?;
        let slot = self
            .tags
            .iter()
            .position(|(t, ..)| t == tag)
            .expect("read above");
        let list = &mut self.tags[slot].2;
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
        for (tag, seq, mut events) in self.tags {
            let last = match seq {
                Some(read) => read.await,
                None => Ok(None),
            };
            let mut seq = last
                .map_err(|e| storage_error("read event sequence", e))?
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0) as u64;
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
            }
            out.push(events);
        }
        Ok(out)
    }
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
