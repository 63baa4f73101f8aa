//! Outcomes of attempts that end together, written in one transaction that may go on to lease the
//! next attempts.

use super::batch::{commit_with, pending, span, write, Outbox};
use super::lease::LeaseReads;
use super::{open_store, task_of, Leased, Store, BLOBS, META, OUTBOX, TASKS};
use crate::core::{self, Error, FerryEvent, Input, ResponseInfo, Task};
use crate::web::js::{self, storage_error};
use idb::Query;

impl Store {
    /// `settle` of several attempts' inputs in ONE transaction (attempts that end together share a
    /// commit). Each gets its own answer: an input refused for its task (another lease, cancelled,
    /// gone) changes nothing and says why, while the others apply; a storage failure fails them all.
    /// With `then`, the same transaction goes on to lease those tasks (`lease_many`), seeing the slots
    /// these outcomes freed: an attempt that ends and the next that starts cost one commit.
    ///
    /// With `early`, the leases are handed to it as soon as they are decided, before the commit, so
    /// their attempts start while it runs: the transaction holds the store until it ends, so no other
    /// lease (of any worker instance), `pause()` or `cancel()` can come between the decision and the
    /// commit. A transaction that then fails to commit says so (`committed: false`): what `early` started
    /// must be stopped, the store never leased it.
    pub async fn settle_many(
        &self,
        items: Vec<Settle>,
        then: Option<LeaseAsk>,
        early: Option<Early>,
    ) -> SettledMany {
        let n = items.len();
        let asked = then.as_ref().map_or(0, |a| a.ids.len());
        match self.settle_many_tx(items, then, early).await {
            Ok((settled, leased, started)) => SettledMany {
                settled,
                leased,
                started,
                committed: true,
            },
            Err(e) => SettledMany {
                settled: (0..n).map(|_| Err(e.clone())).collect(),
                leased: (0..asked).map(|_| None).collect(),
                started: Vec::new(),
                committed: false,
            },
        }
    }

    pub(super) async fn settle_many_tx(
        &self,
        items: Vec<Settle>,
        then: Option<LeaseAsk>,
        early: Option<Early>,
    ) -> Result<(Vec<Settled>, Vec<Option<Leased>>, Vec<FerryEvent>), Error> {
        let tx = self.tx_relaxed(&[TASKS, BLOBS, OUTBOX, META])?;
        // A transaction left with an error before its commit must not commit by itself (IndexedDB
        // commits once no request is pending): the writes issued so far would land without the rest,
        // a task done without its `completed` event say. So it is aborted.
        let raw: web_sys::IdbTransaction = tx.into();
        let done = settle_in(
            self,
            idb::Transaction::from(raw.clone()),
            items,
            then,
            early,
        )
        .await;
        if done.is_err() {
            let _ = raw.abort();
        }
        done
    }
}

/// The body of `Store::settle_many_tx`, in `tx`; also answers the leases' `started` events.
async fn settle_in(
    store: &Store,
    tx: idb::Transaction,
    items: Vec<Settle>,
    then: Option<LeaseAsk>,
    early: Option<Early>,
) -> Result<(Vec<Settled>, Vec<Option<Leased>>, Vec<FerryEvent>), Error> {
    let tasks = open_store(&tx, TASKS, "settle")?;
    let blobs = open_store(&tx, BLOBS, "settle")?;
    // Round trip one: every read, of the outcomes' tasks and of the lease, issued together.
    let mut outbox = Outbox::default();
    for item in &items {
        outbox.read(&tx, &item.tag)?;
    }
    let mut lease = match &then {
        Some(ask) => Some(LeaseReads::issue(&tx, &ask.ids, &ask.tags, &mut outbox)?),
        None => None,
    };
    let currents = current_records(&tasks, &items, lease.as_mut()).await?;
    let mut results = Vec::with_capacity(items.len());
    let mut writes = Vec::new();
    let mut changed = Vec::with_capacity(items.len());
    let mut spans = Vec::with_capacity(items.len());
    for (item, current) in items.into_iter().zip(currents) {
        let Some(current) = current else {
            results.push(Err(Error::UnknownTask { id: item.id }));
            spans.push(None);
            continue;
        };
        // A record this version cannot read fails its own outcome, not the others'.
        let current = match task_of(current) {
            Ok(t) => t,
            Err(e) => {
                results.push(Err(e));
                spans.push(None);
                continue;
            }
        };
        let decided =
            core::scheduler::settle(&current, item.lease_no, item.input, item.now_ms, item.rand);
        let (mut next, effects) = match decided {
            Ok(d) => d,
            Err(e) => {
                results.push(Err(e));
                spans.push(None);
                continue;
            }
        };
        core::note_said(&mut next, &effects, item.response.as_ref());
        if next == current && effects.is_empty() {
            results.push(Ok((next, Vec::new())));
            spans.push(None);
            continue;
        }
        // Round trip two: the writes (issued, awaited with the commit).
        writes.push(write(tasks.put(&js::to_js(&next)?, None), "settle")?);
        if effects
            .iter()
            .any(|e| matches!(e, core::Effect::DeleteBlob))
        {
            writes.push(write(
                blobs.delete(Query::Key(item.id.as_str().into())),
                "settle",
            )?);
        }
        let evs = core::events_for(&next, &effects, item.response);
        spans.push(Some(outbox.push(&tx, &next.tag, evs)?));
        changed.push(next.clone());
        results.push(Ok((next, Vec::new())));
    }
    let mut expired = Vec::new();
    let leased = match (then, lease) {
        (Some(ask), Some(reads)) => {
            let holder = ask.holder.as_deref();
            reads
                .decide(
                    &tx,
                    &changed,
                    ask.transport,
                    holder,
                    ask.env,
                    &mut outbox,
                    &mut writes,
                    &mut expired,
                )
                .await?
        }
        _ => Vec::new(),
    };
    let written = outbox.write(&tx, &mut writes).await?;
    let mut leased: Vec<Option<Leased>> = leased
        .into_iter()
        .map(|l| {
            l.map(|(mut leased, at)| {
                leased.events = span(&written, at);
                leased
            })
        })
        .collect();
    let started: Vec<FerryEvent> = leased
        .iter()
        .flatten()
        .flat_map(|l| l.events.iter().cloned())
        .collect();
    if let Some(early) = early {
        early(std::mem::take(&mut leased));
    }
    commit_with(tx, writes, "settle").await?;
    // Tasks the lease found past their time were recorded `expired` instead: their pages hear it
    // now (no attempt follows that would carry the events).
    for at in expired {
        let ended = span(&written, at);
        crate::web::messaging::broadcast(&ended);
        // An end like any other: a notification where the session asks for one and no page is open.
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            crate::web::launch::task_events(&store, &ended).await;
        });
    }
    for (result, at) in results.iter_mut().zip(spans) {
        if let (Ok((_, evs)), Some(at)) = (result, at) {
            *evs = span(&written, at);
        }
    }
    Ok((results, leased, started))
}

/// The stored records of the outcomes' tasks (`None`: gone). With a lease in the same transaction, its
/// read of every task in flight has them (a task settles from `InFlight`): only those not found there
/// (cancelled, ended) are read one by one, a round trip later. Without, each is read.
async fn current_records(
    tasks: &idb::ObjectStore,
    items: &[Settle],
    lease: Option<&mut LeaseReads>,
) -> Result<Vec<Option<wasm_bindgen::JsValue>>, Error> {
    let failed = |e: idb::Error| storage_error("settle", e);
    let in_flight = match lease {
        Some(lease) => lease.in_flight().await?,
        None => &[],
    };
    let found: Vec<Option<wasm_bindgen::JsValue>> = items
        .iter()
        .map(|item| {
            in_flight
                .iter()
                .find(|t| js::get(t, "id").as_string().as_deref() == Some(item.id.as_str()))
                .cloned()
        })
        .collect();
    let mut reads = Vec::with_capacity(items.len());
    for (item, found) in items.iter().zip(&found) {
        reads.push(match found {
            Some(_) => None,
            None => Some(pending(
                tasks.get(Query::Key(item.id.as_str().into())),
                "settle",
            )?),
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for (found, read) in found.into_iter().zip(reads) {
        out.push(match (found, read) {
            (Some(record), _) => Some(record),
            (None, Some(read)) => read.await.map_err(failed)?,
            (None, None) => None,
        });
    }
    Ok(out)
}

/// One attempt's input for `Store::settle_many`.
pub struct Settle {
    /// The task.
    pub id: String,
    /// Its tag (its event sequence is read with the task).
    pub tag: String,
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

/// Takes the leases of a settle transaction once decided, before the commit (`Store::settle_many`).
pub type Early = Box<dyn FnOnce(Vec<Option<Leased>>)>;

/// What `Store::settle_many` answers.
pub struct SettledMany {
    /// One answer per outcome, in order.
    pub settled: Vec<Settled>,
    /// One per task asked to lease (empty when handed to `early`).
    pub leased: Vec<Option<Leased>>,
    /// The `started` events of the leases, in the outbox (told by the caller).
    pub started: Vec<FerryEvent>,
    /// Whether the transaction committed (else nothing it decided holds, leases handed early included).
    pub committed: bool,
}

/// Tasks to lease in a settle transaction, after its outcomes (`Store::settle_many`).
pub struct LeaseAsk {
    /// The tasks, in order.
    pub ids: Vec<String>,
    /// Their tags, as far as known (their sessions are read with the tasks; others a round trip later).
    pub tags: Vec<String>,
    /// The transport that will carry them.
    pub transport: core::Transport,
    /// The worker instance that will.
    pub holder: Option<String>,
    /// The world as it is now.
    pub env: core::scheduler::Env,
}
