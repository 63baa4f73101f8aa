//! The pump: one per worker instance. It reads what `core::scheduler` needs, asks it what to do, and
//! carries that out: leases and starts attempts (each runs on its own, so one that hangs holds back
//! nothing but its own slot), renews their leases, records their outcomes, and sleeps until an attempt
//! ends, the next task is due, or new work arrives. Every decision is `core`'s.

use crate::core::scheduler::{self as decide, Env, HeaderPlan, Plan, SessionView};
use crate::core::{self, Error, Input, Task, Transport};
use crate::web::js::{self, core_error, now_ms, random_u64};
use crate::web::store::{LeaseAsk, Settle, Store};
use crate::web::{launch, messaging, s3, transport, tus};
use litemap::LiteMap;
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

mod asking;
mod attempt;
pub mod before_send;
mod heard;
mod lifetime;
mod look;
mod recover;

use asking::start_asking;
pub(crate) use asking::termination_headers;
use attempt::{ahead_left, start_leased};
pub(crate) use heard::heard_page;
use heard::{heard_outcome, keep_hearing, offer, origin, outages, with_pages};
pub(crate) use lifetime::wake_for_new_page;
pub(crate) use lifetime::watch_updates;
use lifetime::{ask_wake, held, tell_pages_when, update_waiting};
use look::look;

/// Tasks read from the due index per round.
const BATCH: u32 = 32;

thread_local! {
    /// The running pump of this worker instance: events that arrive meanwhile join it instead of
    /// draining beside it, so one instance never runs two schedulers.
    static PUMP: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    /// The running pump's state (`core`'s): its budget, and whether news came since its turn began.
    static STATE: RefCell<Option<decide::Pump>> = const { RefCell::new(None) };
    /// Resolves the pump's current wait early (new work, or an attempt ended).
    static WAKER: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
    /// A wake that came while the pump was not waiting (it was looking): its next wait ends at once.
    static WOKEN: Cell<bool> = const { Cell::new(false) };
    /// Attempts this instance runs: task id -> lease number.
    static RUNNING: RefCell<LiteMap<String, u64>> = const { RefCell::new(LiteMap::new()) };
    /// Attempt futures spawned and not yet ended (leased or not), with the task as the plan saw it:
    /// until its lease commits, the store still shows it queued, and the next look must neither offer
    /// it again nor count its slot as free.
    static STARTED: RefCell<LiteMap<String, Task>> = const { RefCell::new(LiteMap::new()) };
    /// Tasks this pump run could not start (no page gave headers, the lease was refused): not
    /// offered again until the next run, so a refusal never spins.
    /// (Each with the time its attempt began: news that arrives after that, a page's message say,
    /// may change the answer, so the task is offered again.)
    static SKIP: RefCell<LiteMap<String, u64>> = const { RefCell::new(LiteMap::new()) };
    /// When an event last brought news to the running pump (it joined it).
    static NEWS: Cell<u64> = const { Cell::new(0) };
    /// This worker instance's name as a lease holder.
    static INSTANCE: String = js::uuid();
    /// What the running pump's last look saw, for starting the next attempts as others end without
    /// another look (`next_from_ahead`); `None` when no pump runs or headers are asked per attempt.
    static AHEAD: RefCell<Option<Ahead>> = const { RefCell::new(None) };
    /// The wake last asked of the pages of running attempts' tags (`decide::keepalive_at`).
    static KEEPALIVE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The running pump's last look, kept for starting attempts in the settle transaction.
struct Ahead {
    via: Transport,
    deadline: u64,
    /// Due tasks not started yet, in the order the look read them.
    due: Vec<Task>,
    sessions: LiteMap<String, SessionView>,
    /// Tasks in flight elsewhere (other instances, Background Fetch) when the look read them.
    others: Vec<Task>,
}

/// This worker instance's name as a lease holder.
pub(crate) fn instance_id() -> String {
    INSTANCE.with(|i| i.clone())
}

/// Runs the scheduler until nothing is due and no attempt of this instance runs, waiting inside the
/// event for retries of its own attempts due within `budget_ms`; joins the running pump if there is
/// one (and asks it to look again). The event waits for it at most `decide::event_hold_ms`.
pub(crate) async fn pump(store: &Store, via: Transport, budget_ms: u64) -> Result<(), Error> {
    pump_expecting(store, via, budget_ms, false).await
}

/// `pump`, told that an attempt made elsewhere (a Background Fetch) may have queued a retry to wait for.
pub(crate) async fn pump_expecting(
    store: &Store,
    via: Transport,
    budget_ms: u64,
    expect_retry: bool,
) -> Result<(), Error> {
    let hold = decide::event_hold_ms(via);
    if let Some(running) = PUMP.with(|p| p.borrow().clone()) {
        with_state(|p| p.join(now_ms(), budget_ms));
        NEWS.with(|n| n.set(now_ms()));
        wake();
        let _ = held(running, hold).await;
        return Ok(());
    }
    let store = store.clone();
    let promise = wasm_bindgen_futures::future_to_promise(async move {
        let result = run(&store, via, budget_ms, expect_retry).await;
        AHEAD.with(|a| *a.borrow_mut() = None);
        KEEPALIVE.with(|k| k.set(None));
        STATE.with(|s| *s.borrow_mut() = None);
        PUMP.with(|p| *p.borrow_mut() = None);
        result
            .map(|_| JsValue::UNDEFINED)
            .map_err(|e| core_error(&e))
    });
    PUMP.with(|p| *p.borrow_mut() = Some(promise.clone()));
    held(promise, hold)
        .await
        .map(|_| ())
        .map_err(|e| Error::Storage {
            op: "pump".into(),
            message: format!("{e:?}"),
        })
}

/// Tells the running pump, if any, that there is news (work stored, a page's message): it looks
/// again. An upload call tells it itself, so work stored while a pump runs never waits for a page's
/// wake that may not come (a page closed or frozen right after the call).
pub(crate) fn news() {
    if PUMP.with(|p| p.borrow().is_some()) {
        again();
        NEWS.with(|n| n.set(now_ms()));
        wake();
    }
}

/// News for the running pump, if any: its next turn looks again (`decide::Pump::hear`).
fn again() {
    with_state(|p| p.hear());
}

/// Runs `f` on the running pump's state, if a pump runs.
fn with_state(f: impl FnOnce(&mut decide::Pump)) {
    STATE.with(|s| {
        if let Some(p) = s.borrow_mut().as_mut() {
            f(p)
        }
    })
}

/// Whether an attempt of this worker instance runs now.
pub(crate) fn running_here() -> bool {
    active() > 0
}

/// Whether work is left for later (a `sync` event then rejects so the browser fires it again).
pub(crate) async fn work_left(store: &Store) -> Result<bool, Error> {
    Ok(look(store).await?.0.work_left)
}

async fn run(
    store: &Store,
    via: Transport,
    budget_ms: u64,
    expect_retry: bool,
) -> Result<(), Error> {
    STATE.with(|s| *s.borrow_mut() = Some(decide::Pump::start(now_ms(), budget_ms, expect_retry)));
    SKIP.with(|s| s.borrow_mut().clear());
    loop {
        let looks = STATE.with(|s| {
            s.borrow_mut()
                .as_mut()
                .map_or(decide::Looks::No, |p| p.begins(now_ms(), active()))
        });
        let deadline = STATE.with(|s| s.borrow().as_ref().map_or(0, |p| p.deadline()));
        let (plan, sessions, queued, others) = if looks == decide::Looks::No {
            (Plan::default(), LiteMap::new(), Vec::new(), Vec::new())
        } else {
            look(store).await?
        };
        // Past its budget, a last look only tells the pages (below, as the pump ends).
        let starts = looks == decide::Looks::Start;
        // Background Fetches whose timeout a look must catch: their pages hear when, too.
        let carried: Vec<Task> = others
            .iter()
            .filter(|t| t.timeout_at.is_some())
            .cloned()
            .collect();
        let chosen = if starts {
            offer(&plan, &queued);
            keep_hearing(&plan, &queued);
            plan.chosen(&queued)
        } else {
            Vec::new()
        };
        let asks = sessions.values().any(|v| v.header_provider);
        let now = now_ms();
        AHEAD.with(|a| {
            *a.borrow_mut() = (!asks && starts).then(|| Ahead {
                via,
                deadline,
                // (Another worker's tags are not this one's to start: not kept ahead. Nor is an
                // attempt spawned before this look whose lease had not committed when it read the
                // store: it may have ended by the time a lane frees, and a lane handed a task that
                // is no longer queued starts nothing.)
                due: queued
                    .iter()
                    .filter(|t| {
                        t.is_due(now)
                            && !plan.start.contains(&t.id)
                            && !STARTED.with(|s| s.borrow().contains_key(&t.id))
                            && decide::serves_task(&sessions, t)
                    })
                    .cloned()
                    .collect(),
                sessions: sessions.clone(),
                others: others.clone(),
            })
        });
        if asks {
            // Headers are asked per attempt, before its lease.
            start_asking(store, chosen, via);
        } else {
            start_leased(store, chosen, via).await;
        }
        let now = now_ms();
        let running = active();
        // An attempt that ended while this look read the store (its wake found no one waiting) may
        // have freed a slot the look did not see. (While attempts run, the wait below takes it.)
        let woken = running == 0 && WOKEN.with(|w| w.replace(false));
        let asked = KEEPALIVE.with(|k| k.get());
        // Decided with no await before returning: an event that joined meanwhile (news) is either
        // seen here or finds no pump running and starts its own.
        let turn = STATE.with(|s| {
            let mut s = s.borrow_mut();
            let p = s
                .as_mut()
                .expect("the pump's state lives as long as it runs");
            let here = decide::Here {
                running,
                asked,
                woken,
            };
            p.turn(now, &plan, &others, here, update_waiting)
        });
        match turn {
            decide::Turn::Wait { ask, until } => {
                if let Some(at) = ask {
                    KEEPALIVE.with(|k| k.set(Some(at)));
                    // The pages of the attempts' tags, and of the tags whose due work waits (for a
                    // lane, an outage's probe): should the browser stop the worker mid-attempt, they
                    // wake it for that work too.
                    let mut asked: Vec<Task> =
                        STARTED.with(|s| s.borrow().values().cloned().collect());
                    asked.extend(queued.iter().filter(|t| t.is_due(now)).cloned());
                    tell_pages_when(asked.iter(), at);
                }
                // An attempt ending wakes this; so does new work, and a page's wake. Past the
                // budget (until an event joins and moves it on), only the attempts' own timeouts end
                // them: the pump goes on until they record their outcome (the events waiting for it
                // let go at their hold, and later events keep the worker).
                sleep(until.saturating_sub(now)).await;
                // While attempts end and the next ones start from the last look (in their settle
                // transaction), there is nothing to look at: new work, a due time reached or the
                // look's tasks used up calls for the next look.
                while STATE.with(|s| {
                    s.borrow()
                        .as_ref()
                        .is_some_and(|p| p.waits_on(now_ms(), until, active(), ahead_left()))
                }) {
                    sleep(until.saturating_sub(now_ms())).await;
                }
            }
            decide::Turn::Retry { at } => sleep(at.saturating_sub(now)).await,
            decide::Turn::Again => {}
            decide::Turn::End { tell } => {
                if let Some(at) = tell {
                    tell_pages_when(queued.iter().chain(&carried), at);
                }
                return Ok(());
            }
        }
    }
}

fn active() -> u32 {
    STARTED.with(|s| s.borrow().len() as u32)
}

pub(crate) fn env() -> Env {
    let nav = js::get(&js::global(), "navigator");
    Env {
        now_ms: now_ms(),
        // `navigator.onLine === false`: attempts would only burn retries.
        online: js::get(&nav, "onLine").as_bool() != Some(false),
        // `navigator.connection.saveData`: discretionary uploads wait.
        save_data: js::get(&js::get(&nav, "connection"), "saveData").as_bool() == Some(true),
    }
}

/// This worker's registration scope: whose tags it serves (`core::scheduler::serves`).
pub(crate) fn scope() -> String {
    registration().scope()
}

/// This worker's registration (`self.registration`).
pub(crate) fn registration() -> web_sys::ServiceWorkerRegistration {
    js::get(&js::global(), "registration").unchecked_into()
}

/// Ends the pump's current wait early, or its next one if it is not waiting now (an attempt that ends
/// while the pump reads the store must not leave it asleep).
fn wake() {
    match WAKER.with(|w| w.borrow_mut().take()) {
        Some(wake) => {
            let _ = wake.call0(&JsValue::UNDEFINED);
        }
        None => WOKEN.with(|w| w.set(true)),
    }
}

/// Waits `ms`, or less if `wake` is called meanwhile (or was, since the last wait).
async fn sleep(ms: u64) {
    if WOKEN.with(|w| w.replace(false)) {
        return;
    }
    let (tx, rx) = futures_channel();
    WAKER.with(|w| *w.borrow_mut() = Some(tx.clone()));
    let _timer = gloo_timers::callback::Timeout::new(ms.min(i32::MAX as u64) as u32, move || {
        let _ = tx.call0(&JsValue::UNDEFINED);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(rx).await;
    WAKER.with(|w| *w.borrow_mut() = None);
}

/// A promise and the function that resolves it.
fn futures_channel() -> (js_sys::Function, js_sys::Promise) {
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
    (resolve.expect("the executor runs at once"), promise)
}
