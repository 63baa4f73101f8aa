//! One look's reads: what the scheduler needs to plan, in one read transaction.

use super::lease::in_flight_request;
use super::outbox::SessionRecord;
use super::tasks::{state_range, up_to, MAX_KEY};
use super::{open_store, session_key, task_of, Store, META, TASKS};
use crate::core::{self, Error, State, Task};
use crate::web::js::{self, storage_error};
use idb::{KeyRange, Query};
use std::future::IntoFuture;
use wasm_bindgen::JsValue;

impl Store {
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
        let lower = up_to(State::Queued.as_str(), now_ms as f64);
        let upper = up_to(State::Queued.as_str(), MAX_KEY);
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
        // A record this version cannot read (a newer version's) is left where it is: one such
        // record must not stop the queue.
        let readable = |v: Vec<JsValue>| v.into_iter().filter_map(|t| task_of(t).ok()).collect();
        let in_flight = readable(in_flight.await.map_err(failed)?);
        let due_records = due.await.map_err(failed)?;
        let due_read = due_records.len() as u32;
        let mut due: Vec<Task> = readable(due_records);
        if limit == 0 {
            due.clear();
        }
        let later = readable(later.await.map_err(failed)?).into_iter().next();
        let sessions = sessions.await.map_err(failed)?.into_iter().filter_map(|v| {
            match js::from_js::<SessionRecord>(v.clone()) {
                Ok(s) => Some(s),
                // A session record this version cannot read: its pause and options are unknown, so
                // its tasks are held (as if paused) rather than sent under defaults.
                Err(_) => js::get(&v, "tag").as_string().map(|tag| SessionRecord {
                    tag,
                    options: core::SessionOptions::default(),
                    paused: true,
                    page_url: None,
                    last_headers: None,
                    owner: None,
                }),
            }
        });
        // Inserted one by one (they come in key order, so each lands at the end): a `collect` would
        // bring a sort into the wasm for this one map.
        let mut by_tag = litemap::LiteMap::new();
        for s in sessions {
            by_tag.insert(s.tag.clone(), s);
        }
        Ok(Snapshot {
            in_flight,
            due,
            due_read: if limit == 0 { 0 } else { due_read },
            later,
            sessions: by_tag,
        })
    }

    /// The queued tasks of each tag due by `now_ms`, in due order, at most the count asked of it, in ONE
    /// read transaction (a request per tag, issued together): a look's read past its window
    /// (`core::scheduler::Plan::tag_reads`). Answers, per tag, how many records it found (records
    /// this version cannot read are counted, not returned) and the tasks.
    pub async fn due_of_tags(
        &self,
        now_ms: u64,
        tags: &[(String, u32)],
    ) -> Result<Vec<(u32, Vec<Task>)>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        let index = open_store(&tx, TASKS, "look")?
            .index("by_tag_due")
            .map_err(|e| storage_error("look", e))?;
        let failed = |e: idb::Error| storage_error("look", e);
        let mut reads = Vec::with_capacity(tags.len());
        for (tag, limit) in tags {
            let from = super::key(&[tag.as_str().into(), JsValue::from_f64(0.0)]);
            let range =
                KeyRange::bound(&from, &up_to(tag, now_ms as f64), None, None).map_err(failed)?;
            reads.push(
                index
                    .get_all(Some(Query::KeyRange(range)), Some((*limit).max(1)))
                    .map_err(failed)?
                    .into_future(),
            );
        }
        let mut out = Vec::with_capacity(reads.len());
        for read in reads {
            let records = read.await.map_err(failed)?;
            let found = records.len() as u32;
            out.push((
                found,
                records
                    .into_iter()
                    .filter_map(|t| task_of(t).ok())
                    .collect(),
            ));
        }
        Ok(out)
    }

    /// The first queued task of each of `tags` due after `now_ms`, in ONE read transaction (a request
    /// per tag, issued together): when the first due after now of all (`Snapshot::later`) is held (a
    /// paused tag's, another worker's), the next due time of the others is not behind it.
    pub async fn later_of_tags(&self, now_ms: u64, tags: &[&str]) -> Result<Vec<Task>, Error> {
        let tx = self.tx(&[TASKS], false)?;
        let failed = |e: idb::Error| storage_error("look", e);
        let index = open_store(&tx, TASKS, "look")?
            .index("by_tag_due")
            .map_err(failed)?;
        let mut reads = Vec::with_capacity(tags.len());
        for tag in tags {
            let (lower, upper) = (up_to(tag, now_ms as f64), up_to(tag, MAX_KEY));
            let range = KeyRange::bound(&lower, &upper, Some(true), None).map_err(failed)?;
            reads.push(
                index
                    .get_all(Some(Query::KeyRange(range)), Some(1))
                    .map_err(failed)?
                    .into_future(),
            );
        }
        let mut out = Vec::with_capacity(reads.len());
        for read in reads {
            out.extend(
                read.await
                    .map_err(failed)?
                    .into_iter()
                    .filter_map(|t| task_of(t).ok()),
            );
        }
        Ok(out)
    }
}

/// One look's reads (`Store::snapshot`).
pub struct Snapshot {
    /// Tasks in flight, whoever holds them.
    pub in_flight: Vec<Task>,
    /// Queued tasks due by now, in due order (at most the limit asked).
    pub due: Vec<Task>,
    /// How many due records were read (`due` leaves out those this version cannot read): fewer
    /// than the limit means there are no more.
    pub due_read: u32,
    /// The first queued task due after now.
    pub later: Option<Task>,
    /// Every session record, by tag.
    pub sessions: litemap::LiteMap<String, SessionRecord>,
}
