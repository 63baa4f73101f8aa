//! The per-tag outbox of events and the per-tag session record.

use super::batch::{commit_with, write};
use super::tasks::{tag_range, MAX_KEY};
use super::{commit, delete, key, open_store, Store, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, SessionOptions};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
use serde::{Deserialize, Serialize};
use std::future::IntoFuture;
use wasm_bindgen::JsValue;

/// What a session registered for its tag: options the worker applies, and whether it is paused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    /// The tag.
    pub tag: String,
    /// Validated options of the latest `register`.
    pub options: SessionOptions,
    /// A paused tag queues but sends nothing, across restarts.
    pub paused: bool,
    /// The page that registered the session last: what `launch: 'open'` opens.
    #[serde(default)]
    pub page_url: Option<String>,
    /// The last headers the header provider gave, kept only with `headerFallback: 'last'`.
    #[serde(default)]
    pub last_headers: Option<Vec<(String, String)>>,
    /// The registration scope of the worker the tag's pages last registered it with: only that worker
    /// sends its tasks (`core::scheduler::serves`). `None` in records of older versions: any worker.
    #[serde(default)]
    pub owner: Option<String>,
}

/// Reads the tag's last event sequence number inside `tx` (listeners attached at once: it may be
/// awaited after other requests).
pub(crate) fn event_seq_request(
    tx: &idb::Transaction,
    tag: &str,
) -> Result<impl std::future::Future<Output = Result<Option<JsValue>, idb::Error>>, Error> {
    let meta = open_store(tx, META, "append events")?;
    let seq_key = super::event_seq_key(tag);
    Ok(meta
        .get(Query::Key(seq_key))
        .map_err(|e| storage_error("append events", e))?
        .into_future())
}

impl Store {
    /// Appends events to the tag's outbox inside `tx`, giving each the tag's next sequence number.
    pub(crate) async fn append_events(
        &self,
        tx: &idb::Transaction,
        tag: &str,
        events: Vec<FerryEvent>,
    ) -> Result<Vec<FerryEvent>, Error> {
        if events.is_empty() {
            return Ok(events);
        }
        let last = event_seq_request(tx, tag)?.await;
        self.append_events_after(tx, tag, events, last).await
    }

    /// `append_events` with the tag's event sequence already read (`event_seq_request`, issued with
    /// the transaction's other reads).
    pub(crate) async fn append_events_after(
        &self,
        tx: &idb::Transaction,
        tag: &str,
        mut events: Vec<FerryEvent>,
        last: Result<Option<JsValue>, idb::Error>,
    ) -> Result<Vec<FerryEvent>, Error> {
        if events.is_empty() {
            return Ok(events);
        }
        let meta = open_store(tx, META, "append events")?;
        let outbox = open_store(tx, OUTBOX, "append events")?;
        let seq_key = super::event_seq_key(tag);
        let mut seq = last
            .map_err(|e| storage_error("read event sequence", e))?
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u64;
        // Every write issued before any is awaited (`into_future` attaches its listeners at once):
        // one round trip for the lot.
        let mut pending = Vec::with_capacity(events.len() + 1);
        for ev in events.iter_mut() {
            seq += 1;
            ev.seq = seq;
            let added = outbox
                .add(&js::to_js(ev)?, None)
                .map_err(|e| storage_error("append events", e))?;
            pending.push(added.into_future());
        }
        let seq_put = meta
            .put(&JsValue::from_f64(seq as f64), Some(&seq_key))
            .map_err(|e| storage_error("append events", e))?
            .into_future();
        // An event that ends a task of a session that asks for launch events leaves a mark that its
        // decision is owed (`owe_launches`); the session is read only then.
        let mut marks = Vec::new();
        if events.iter().any(|e| e.kind.launches()) {
            let session = meta
                .get(Query::Key(super::session_key(tag).into()))
                .map_err(|e| storage_error("read session", e))?
                .await
                .map_err(|e| storage_error("read session", e))?;
            if super::session_launches(session.as_ref()) {
                super::batch::owe_launches(&meta, &events, &mut marks)?;
            }
        }
        for added in pending {
            added.await.map_err(|e| storage_error("write event", e))?;
        }
        seq_put
            .await
            .map_err(|e| storage_error("write event sequence", e))?;
        for mark in marks {
            mark.await.map_err(|e| storage_error("write event", e))?;
        }
        Ok(events)
    }

    /// Unacknowledged events of a tag with `seq > after`, in order.
    pub async fn events(&self, tag: &str, after: u64) -> Result<Vec<FerryEvent>, Error> {
        let lower = key(&[tag.into(), JsValue::from_f64(after as f64)]);
        let upper = key(&[tag.into(), JsValue::from_f64(MAX_KEY)]);
        let range = KeyRange::bound(&lower, &upper, Some(true), None)
            .map_err(|e| storage_error("key range", e))?;
        let tx = self.tx(&[OUTBOX], false)?;
        let outbox = open_store(&tx, OUTBOX, "read outbox")?;
        let all = outbox
            .get_all(Some(Query::KeyRange(range)), None)
            .map_err(|e| storage_error("read outbox", e))?
            .await;
        all.map_err(|e| storage_error("read outbox", e))?
            .into_iter()
            .map(js::from_js)
            .collect()
    }

    /// Every tag's last event sequence number (its tail), read in one transaction.
    pub async fn event_tails(&self) -> Result<Vec<(String, u64)>, Error> {
        // Every key starting "eventseq:" sorts below "eventseq;" (';' follows ':').
        let prefix = super::EVENT_SEQ_PREFIX;
        let upper = format!("{};", &prefix[..prefix.len() - 1]);
        let range = KeyRange::bound(&prefix.into(), &upper.into(), None, Some(true))
            .map_err(|e| storage_error("key range", e))?;
        let tx = self.tx(&[META], false)?;
        let meta = open_store(&tx, META, "read event tails")?;
        let failed = |e| storage_error("read event tails", e);
        let keys = meta
            .get_all_keys(Some(Query::KeyRange(range.clone())), None)
            .map_err(failed)?
            .into_future();
        let seqs = meta
            .get_all(Some(Query::KeyRange(range)), None)
            .map_err(failed)?
            .into_future();
        let (keys, seqs) = (keys.await.map_err(failed)?, seqs.await.map_err(failed)?);
        Ok(keys
            .iter()
            .zip(seqs.iter())
            .filter_map(|(k, s)| {
                let tag = k.as_string()?.strip_prefix(prefix)?.to_string();
                Some((tag, s.as_f64()? as u64))
            })
            .collect())
    }

    /// The events whose launch decision is owed (`owe_launches`) and still in the outbox, in one
    /// read-only transaction. A mark whose event a page acknowledged meanwhile is dropped: a page
    /// heard how the task ended, so there is nothing to tell.
    pub async fn launches_owed(&self) -> Result<Vec<FerryEvent>, Error> {
        let range = launch_due_range(None)?;
        let (marks, events) = {
            let tx = self.tx(&[META, OUTBOX], false)?;
            let meta = open_store(&tx, META, "read launch marks")?;
            let outbox = open_store(&tx, OUTBOX, "read launch marks")?;
            let failed = |e| storage_error("read launch marks", e);
            let keys = meta
                .get_all_keys(Some(Query::KeyRange(range)), None)
                .map_err(failed)?
                .await
                .map_err(failed)?;
            let marks: Vec<(String, u64)> = keys
                .iter()
                .filter_map(|k| {
                    let k = js_sys::Array::from(k);
                    Some((k.get(1).as_string()?, k.get(2).as_f64()? as u64))
                })
                .collect();
            let reads = marks
                .iter()
                .map(|(tag, seq)| {
                    let k = key(&[tag.as_str().into(), JsValue::from_f64(*seq as f64)]);
                    outbox.get(Query::Key(k)).map(IntoFuture::into_future)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            let mut events = Vec::with_capacity(reads.len());
            for read in reads {
                events.push(read.await.map_err(failed)?);
            }
            (marks, events)
        };
        let mut owed = Vec::new();
        let mut gone = Vec::new();
        for (mark, event) in marks.into_iter().zip(events) {
            match event.map(js::from_js) {
                Some(Ok(ev)) => owed.push(ev),
                // A record this version cannot read (a newer one's) keeps its mark for that version.
                Some(Err(_)) => {}
                None => gone.push(mark),
            }
        }
        if !gone.is_empty() {
            self.launches_decided(&gone).await?;
        }
        Ok(owed)
    }

    /// Drops the marks of these events (tag, seq): their launch decisions were made.
    pub async fn launches_decided(&self, events: &[(String, u64)]) -> Result<(), Error> {
        let tx = self.tx_relaxed(&[META])?;
        let meta = open_store(&tx, META, "launch decided")?;
        let mut deletes = Vec::with_capacity(events.len());
        for (tag, seq) in events {
            let k = super::launch_due_key(tag, *seq);
            deletes.push(write(meta.delete(Query::Key(k)), "launch decided")?);
        }
        commit_with(tx, deletes, "launch decided").await
    }

    /// Drops the tag's events with `seq <= upto`: a page has handled them. Relaxed durability, as every
    /// acknowledgement: one lost in a crash only delivers its events again, which pages tell apart by
    /// `seq`; it never holds back the transactions that store and send uploads.
    pub async fn ack(&self, tag: &str, upto: u64) -> Result<(), Error> {
        let lower = key(&[tag.into(), JsValue::from_f64(0.0)]);
        let upper = key(&[tag.into(), JsValue::from_f64(upto as f64)]);
        let range = KeyRange::bound(&lower, &upper, None, None)
            .map_err(|e| storage_error("key range", e))?;
        let tx = self.tx_relaxed(&[OUTBOX])?;
        let outbox = open_store(&tx, OUTBOX, "ack")?;
        delete(&outbox, Query::KeyRange(range), "ack").await?;
        commit(tx, "ack").await
    }

    /// Drops exactly these events (tag, seq) — a page's listeners heard them — in one transaction,
    /// every delete issued at once: one per run of consecutive seqs (`core::ack_runs`).
    pub async fn ack_each(&self, events: &[(String, u64)]) -> Result<(), Error> {
        let tx = self.tx_relaxed(&[OUTBOX])?;
        let outbox = open_store(&tx, OUTBOX, "ack")?;
        let runs = core::ack_runs(events);
        let mut deletes = Vec::with_capacity(runs.len());
        for (tag, first, last) in runs {
            let at = |seq: u64| key(&[tag.as_str().into(), JsValue::from_f64(seq as f64)]);
            let query = match first == last {
                true => Query::Key(at(first)),
                false => Query::KeyRange(
                    KeyRange::bound(&at(first), &at(last), None, None)
                        .map_err(|e| storage_error("key range", e))?,
                ),
            };
            deletes.push(write(outbox.delete(query), "ack")?);
        }
        commit_with(tx, deletes, "ack").await
    }

    /// How many events a tag has waiting (for tests and diagnostics).
    pub async fn outbox_len(&self, tag: &str) -> Result<u32, Error> {
        let tx = self.tx(&[OUTBOX], false)?;
        let outbox = open_store(&tx, OUTBOX, "count outbox")?;
        let n = outbox
            .count(Some(Query::KeyRange(tag_range(tag)?)))
            .map_err(|e| storage_error("count outbox", e))?
            .await;
        n.map_err(|e| storage_error("count outbox", e))
    }

    /// The session record of a tag, if a page ever registered it.
    pub async fn session(&self, tag: &str) -> Result<Option<SessionRecord>, Error> {
        let tx = self.tx(&[META], false)?;
        let meta = open_store(&tx, META, "read session")?;
        let v = meta
            .get(Query::Key(super::session_key(tag).into()))
            .map_err(|e| storage_error("read session", e))?
            .await;
        v.map_err(|e| storage_error("read session", e))?
            .map(js::from_js)
            .transpose()
    }

    /// Keeps `headers` as the tag's last given headers (`headerFallback: 'last'`), given for task
    /// `task_id`, in one transaction with checking that the task is still there: headers asked for a
    /// task that a `clear()` (a logout) removed meanwhile are not written back.
    pub async fn keep_headers(
        &self,
        tag: &str,
        task_id: &str,
        headers: &[(String, String)],
    ) -> Result<(), Error> {
        let tx = self.tx(&[META, TASKS], true)?;
        let meta = open_store(&tx, META, "keep headers")?;
        let tasks = open_store(&tx, TASKS, "keep headers")?;
        let task = tasks
            .get(Query::Key(task_id.into()))
            .map_err(|e| storage_error("keep headers", e))?
            .await
            .map_err(|e| storage_error("keep headers", e))?;
        if task.is_some() {
            set_headers(&meta, tag, Some(headers.to_vec())).await?;
        }
        commit(tx, "keep headers").await
    }

    /// Writes a tag's session record.
    pub async fn put_session(&self, record: &SessionRecord) -> Result<(), Error> {
        let record = record.clone();
        self.update_session(&record.tag.clone(), Box::new(move |_| Some(record)))
            .await
    }
}

/// Sets (or with `None` drops) the headers kept in a tag's session record, if it has one, inside
/// `meta`'s transaction.
pub(super) async fn set_headers(
    meta: &idb::ObjectStore,
    tag: &str,
    headers: Option<Vec<(String, String)>>,
) -> Result<(), Error> {
    let k = JsValue::from_str(&super::session_key(tag));
    let v = meta
        .get(Query::Key(k.clone()))
        .map_err(|e| storage_error("keep headers", e))?
        .await
        .map_err(|e| storage_error("keep headers", e))?;
    if let Some(v) = v {
        let record = SessionRecord {
            last_headers: headers,
            ..js::from_js(v)?
        };
        meta.put(&js::to_js(&record)?, Some(&k))
            .map_err(|e| storage_error("keep headers", e))?
            .await
            .map_err(|e| storage_error("keep headers", e))?;
    }
    Ok(())
}

/// Every launch mark (`launch_due_key`), or with `tag` that tag's.
pub(super) fn launch_due_range(tag: Option<&str>) -> Result<KeyRange, Error> {
    let first: JsValue = super::LAUNCH_DUE.into();
    // An array sorts after every string and number: `[.., []]` is above each key of the range.
    let above: JsValue = js_sys::Array::new().into();
    let (lower, upper) = match tag {
        Some(tag) => (
            key(&[first.clone(), tag.into()]),
            key(&[first, tag.into(), above]),
        ),
        None => (key(std::slice::from_ref(&first)), key(&[first, above])),
    };
    KeyRange::bound(&lower, &upper, None, None).map_err(|e| storage_error("key range", e))
}
