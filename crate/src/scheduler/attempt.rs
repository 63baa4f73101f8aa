//! Attempts: starting them (in one transaction; those whose headers are asked first are in
//! `asking.rs`), carrying one out, and recording outcomes: those of attempts that end together are
//! written in one transaction, which also leases the next attempts from what the last look read.

use super::*;
use crate::web::store::Early;
use std::rc::Rc;

/// Whether the last look left due tasks the settle path may start.
pub(super) fn ahead_left() -> bool {
    AHEAD.with(|a| a.borrow().as_ref().is_some_and(|a| !a.due.is_empty()))
}

/// The next attempts to lease in the settle transaction of the attempts `ending`: `core` plans over
/// what the last look left, counting what runs here (less those ending) and what ran elsewhere. The
/// chosen tasks hold their slots (`STARTED`) until their lease answers.
fn next_from_ahead(ending: &[String]) -> Option<LeaseAsk> {
    ENDING.with(|e| {
        let mut e = e.borrow_mut();
        for id in ending {
            e.insert(id.clone(), ());
        }
    });
    let env = env();
    let started: Vec<Task> = STARTED.with(|s| s.borrow().values().cloned().collect());
    let skip: Vec<String> = SKIP
        .with(|s| s.borrow().keys().cloned().collect::<Vec<_>>())
        .into_iter()
        .chain(started.iter().map(|t| t.id.clone()))
        .collect();
    let chosen = AHEAD.with(|a| {
        let mut a = a.borrow_mut();
        let ahead = a.as_mut()?;
        if env.now_ms >= ahead.deadline || ahead.due.is_empty() {
            return None;
        }
        let in_flight: Vec<Task> = ahead
            .others
            .iter()
            .cloned()
            .chain(started.iter().filter(|t| !ending.contains(&t.id)).map(|t| {
                let mut t = t.clone();
                t.state = core::State::InFlight;
                t
            }))
            .collect();
        let here = (started.len() - ending.len().min(started.len())) as u32;
        // What the pages said since the look counts (a page that can start a Background Fetch).
        ahead.sessions = with_pages(std::mem::take(&mut ahead.sessions));
        let (origin, outages) = (origin(), outages());
        let heard = decide::Heard {
            origin: &origin,
            outages: &outages,
        };
        let plan = decide::plan(
            &env,
            &ahead.due,
            &in_flight,
            &ahead.sessions,
            &skip,
            here,
            &heard,
        );
        offer(&plan, &ahead.due);
        keep_hearing(&plan, &ahead.due);
        let chosen = plan.chosen(&ahead.due);
        ahead.due.retain(|t| !plan.start.contains(&t.id));
        Some((chosen, ahead.via))
    })?;
    let (chosen, via) = chosen;
    if chosen.is_empty() {
        return None;
    }
    STARTED.with(|s| {
        let mut s = s.borrow_mut();
        for t in &chosen {
            s.insert(t.id.clone(), t.clone());
        }
    });
    let mut tags: Vec<String> = Vec::new();
    for t in &chosen {
        if !tags.contains(&t.tag) {
            tags.push(t.tag.clone());
        }
    }
    Some(LeaseAsk {
        ids: chosen.into_iter().map(|t| t.id).collect(),
        tags,
        transport: via,
        holder: Some(instance_id()),
        env,
    })
}

/// Leases the chosen tasks in ONE transaction, then starts each leased attempt on its own (no page
/// to ask headers of: nothing is needed before the lease).
pub(super) async fn start_leased(store: &Store, tasks: Vec<Task>, via: Transport) {
    if tasks.is_empty() {
        return;
    }
    let began = now_ms();
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let mut tags: Vec<String> = Vec::new();
    for t in &tasks {
        if !tags.contains(&t.tag) {
            tags.push(t.tag.clone());
        }
    }
    STARTED.with(|s| {
        let mut s = s.borrow_mut();
        for t in tasks {
            s.insert(t.id.clone(), t);
        }
    });
    // The attempts start once their lease is decided, while its transaction commits (as in
    // `settle_together`).
    let void = Rc::new(Cell::new(false));
    let early: Early = {
        let (store, ids, void) = (store.clone(), ids.clone(), void.clone());
        Box::new(move |leased| spawn_leased(&store, ids, leased, began, Some(void)))
    };
    let ask = LeaseAsk {
        ids: ids.clone(),
        tags,
        transport: via,
        holder: Some(instance_id()),
        env: env(),
    };
    let done = store.settle_many(Vec::new(), Some(ask), Some(early)).await;
    if done.committed {
        messaging::broadcast(&done.started);
    } else {
        web_sys::console::warn_1(&"ferry: a lease did not commit".into());
        void_leases(&void, &ids, began);
    }
}

/// What was leased in a transaction that did not commit: the attempts that began are stopped, the
/// rest never begin, and the tasks are offered again later (`SKIP`).
fn void_leases(void: &Cell<bool>, ids: &[String], began: u64) {
    void.set(true);
    for id in ids {
        transport::abort(id);
        STARTED.with(|s| s.borrow_mut().remove(id));
        SKIP.with(|s| s.borrow_mut().insert(id.clone(), began));
    }
}

/// Starts each leased attempt on its own; a task not leased (paused meanwhile, its tag full) gives
/// its slot back and is offered again when the plan says so. `void`: the leases were handed over
/// before their transaction committed, and it did not (an attempt not begun yet does not begin).
fn spawn_leased(
    store: &Store,
    ids: Vec<String>,
    leased: Vec<Option<crate::web::store::Leased>>,
    began: u64,
    void: Option<Rc<Cell<bool>>>,
) {
    for (id, leased) in ids.into_iter().zip(leased) {
        let Some(leased) = leased else {
            STARTED.with(|s| s.borrow_mut().remove(&id));
            // Taken meanwhile (a page's Background Fetch, another instance, a pause, or it ended):
            // the pump looks again, so that what now holds the task is what it waits for
            // (`stays_for_a_start`) and the free slot goes to the next task (while attempts run,
            // only a look, not a wake, starts what their ends did not).
            again();
            wake();
            continue;
        };
        let store = store.clone();
        let void = void.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if void.is_some_and(|v| v.get()) {
                STARTED.with(|s| s.borrow_mut().remove(&id));
                return;
            }
            if let Err(e) = run_leased(&store, leased, Ok(Vec::new())).await {
                web_sys::console::warn_1(&format!("ferry: attempt of {id}: {e}").into());
                SKIP.with(|s| s.borrow_mut().insert(id.clone(), began));
            }
            ended(&id);
        });
    }
}

/// An attempt's end frees its slot. One whose settle planned what follows it was not counted by a
/// look made since (`ending`); one that ended without a settle (an error before its outcome was
/// recorded) planned nothing in its place, and a look made meanwhile counted it: its end calls for a
/// look while due tasks wait, rather than for the next attempt's settle.
pub(super) fn ended(id: &str) {
    STARTED.with(|s| s.borrow_mut().remove(id));
    let settled = ENDING.with(|e| e.borrow_mut().remove(id)).is_some();
    if !settled && ahead_left() {
        again();
    }
    wake();
}

/// Whether the attempt of `id` is ending: its settle has planned the attempts that follow it (they
/// hold the slots now), and only its transaction's commit is left.
pub(super) fn ending(id: &str) -> bool {
    ENDING.with(|e| e.borrow().contains_key(id))
}

/// The rest of an attempt once leased (its `started` event told by the caller): send with a timeout
/// while renewing the lease, then record the outcome for this lease only (with the outcomes of
/// attempts that end meanwhile, in one transaction, which tells their events).
/// `extra`: the headers the page's provider gave, or why it failed (then nothing is sent).
pub(super) async fn run_leased(
    store: &Store,
    leased: crate::web::store::Leased,
    extra: Result<Vec<(String, String)>, String>,
) -> Result<(), Error> {
    let view = leased.session;
    let mut task = leased.task;
    let lease_no = task.lease_no;
    RUNNING.with(|r| r.borrow_mut().insert(task.id.clone(), lease_no));
    let renewal = renew_while_running(store, &task.id, lease_no);
    // The worker's `beforeSend` may give this attempt a fresh URL and headers (asked while the lease
    // is held and renewed: it counts as part of the attempt).
    let (extra, url) = super::before_send::prepare(&task, extra).await;
    if let Some(url) = url {
        task.request.url = url;
    }
    let timeout = decide::attempt_timeout_ms(&view, task.body.size);
    let (outcome, response) = match (&extra, &leased.blob, &task.request.protocol) {
        (Err(why), _, _) => (core::Outcome::NotSent(why.clone()), None),
        (_, None, _) => (
            core::Outcome::NetworkError("the stored payload is missing".into()),
            None,
        ),
        (Ok(extra), Some(blob), core::Protocol::Tus { .. }) => {
            tus::send(store, &task, blob, extra, &view).await
        }
        (Ok(extra), Some(blob), core::Protocol::S3Multipart { .. }) => {
            s3::send(store, &task, blob, extra, &view).await
        }
        (Ok(extra), Some(blob), _) => transport::send(&task, blob, extra, timeout).await,
    };
    drop(renewal);
    if let (Ok(_), Some(_)) = (&extra, &leased.blob) {
        // An answer, or none: whether the server is down is what the next plans go by.
        heard_outcome(&task, &outcome);
    }
    let settled = settle_together(
        store,
        Settle {
            id: task.id.clone(),
            tag: task.tag.clone(),
            lease_no,
            input: Input::Outcome(outcome),
            now_ms: now_ms(),
            rand: random_u64(),
            response,
        },
    )
    .await;
    // Only now: until the outcome is written, a look must see this attempt as running.
    RUNNING.with(|r| r.borrow_mut().remove(&task.id));
    match settled {
        // (Its events were told with the others of its transaction.)
        Ok((settled, events)) => {
            // An S3 multipart upload that failed for good leaves no parts in the bucket.
            if settled.state == core::State::Failed {
                s3::abort(&settled).await;
            }
            // (A session with `launch: 'none'` needs no look at its record.)
            launch::task_events_of(store, &events, view.launches).await;
            Ok(())
        }
        // Cancelled, cleared, or taken back meanwhile: this attempt's outcome changes nothing.
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

thread_local! {
    /// Outcomes waiting for the next settle transaction, each with where its answer goes.
    static SETTLING: RefCell<Vec<(Settle, Answer)>> = const { RefCell::new(Vec::new()) };
    /// A settle transaction is running: outcomes that arrive meanwhile go into the next one.
    static FLUSHING: Cell<bool> = const { Cell::new(false) };
    /// Attempts whose settle has planned the attempts that follow them (`ending`).
    static ENDING: RefCell<LiteMap<String, ()>> = const { RefCell::new(LiteMap::new()) };
}

type Settled = Result<(Task, Vec<core::FerryEvent>), Error>;
type Answer = crate::web::js::Reply<Settled>;

/// Records an attempt's outcome. Outcomes of attempts that end while a settle transaction runs are
/// written together in the next one: four lanes ending close together cost one commit, not four.
async fn settle_together(store: &Store, item: Settle) -> Settled {
    let (answer, answered) = crate::web::js::reply();
    SETTLING.with(|q| q.borrow_mut().push((item, answer)));
    if !FLUSHING.with(|f| f.replace(true)) {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let batch = SETTLING.with(|q| std::mem::take(&mut *q.borrow_mut()));
                if batch.is_empty() {
                    break;
                }
                let (items, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let ending: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
                let then = next_from_ahead(&ending);
                let began = now_ms();
                let next_ids = then.as_ref().map(|t| t.ids.clone()).unwrap_or_default();
                // The next attempts start once their lease is decided, while the transaction
                // commits: a lane waits for the store's answer, not for its disk.
                let void = Rc::new(Cell::new(false));
                let early: Early = {
                    let (store, ids, void) = (store.clone(), next_ids.clone(), void.clone());
                    Box::new(move |leased| spawn_leased(&store, ids, leased, began, Some(void)))
                };
                let done = store.settle_many(items, then, Some(early)).await;
                if !done.committed {
                    void_leases(&void, &next_ids, began);
                }
                // What the transaction wrote, told in one message per tag: the outcomes' events
                // and the next attempts' `started`.
                let told: Vec<core::FerryEvent> = done
                    .settled
                    .iter()
                    .flat_map(|r| r.iter().flat_map(|(_, evs)| evs.iter().cloned()))
                    .chain(done.started)
                    .collect();
                messaging::broadcast(&told);
                // Their outcomes are written: their slots are free for the next batch's lease now,
                // not only once each attempt's own continuation runs.
                STARTED.with(|s| {
                    let mut s = s.borrow_mut();
                    for id in &ending {
                        s.remove(id);
                    }
                });
                for (answer, result) in answers.into_iter().zip(done.settled) {
                    answer.send(result);
                }
            }
            FLUSHING.with(|f| f.set(false));
        });
    }
    answered.wait().await.unwrap_or_else(|| {
        Err(Error::Storage {
            op: "settle".into(),
            message: "no answer from the settle transaction".into(),
        })
    })
}

/// Renews the attempt's lease every `RENEW_EVERY_MS` while the returned timer lives; a renewal that
/// finds the lease gone (cancelled, cleared) aborts the attempt's fetch.
fn renew_while_running(store: &Store, id: &str, lease_no: u64) -> gloo_timers::callback::Interval {
    let (store, id) = (store.clone(), id.to_string());
    gloo_timers::callback::Interval::new(decide::RENEW_EVERY_MS as u32, move || {
        let (store, id) = (store.clone(), id.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let until = now_ms() + decide::LEASE_MS;
            let renewed = store
                .settle(&id, lease_no, Input::Renew { until }, now_ms(), 0, None)
                .await;
            if let Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) = renewed {
                transport::abort(&id);
            }
        });
    })
}
