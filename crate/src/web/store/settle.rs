//! Outcomes of attempts that end together, written in one transaction that may go on to lease the
//! next attempts.

use super::{commit, open_store, task_of, Leased, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, Input, ResponseInfo, Task};
use crate::web::js::{self, storage_error};
use idb::Query;
use std::future::IntoFuture;

impl Store {
    /// `settle` of several attempts' inputs in ONE transaction (attempts that end together share a
    /// commit). Each gets its own answer: an input refused for its task (another lease, cancelled,
    /// gone) changes nothing and says why, while the others apply; a storage failure fails them all.
    /// With `then`, the same transaction goes on to lease those tasks (`lease_many`), seeing the slots
    /// these outcomes freed: an attempt that ends and the next that starts cost one commit.
    pub async fn settle_many(
        &self,
        items: Vec<Settle>,
        then: Option<LeaseAsk>,
    ) -> (Vec<Settled>, Vec<Option<Leased>>) {
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
    ) -> Result<(Vec<Settled>, Vec<Option<Leased>>), Error> {
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
            let decided = core::scheduler::settle(
                &current,
                item.lease_no,
                item.input,
                item.now_ms,
                item.rand,
            );
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
            writes.push(
                tasks
                    .put(&js::to_js(&next)?, None)
                    .map_err(failed)?
                    .into_future(),
            );
            if effects
                .iter()
                .any(|e| matches!(e, core::Effect::DeleteBlob))
            {
                let request = blobs
                    .delete(Query::Key(item.id.as_str().into()))
                    .map_err(failed)?;
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
