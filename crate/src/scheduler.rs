//! The scheduler: one pump per worker instance drains due tasks (FIFO per tag, up to each session's
//! concurrency), waits inside its event for its own retries, and records every outcome. It only
//! sequences I/O; every decision is `core`'s.

use crate::core::{self, Error, Input, Task, Transport};
use crate::web::js::{self, core_error, now_ms, random_u64};
use crate::web::store::{SessionRecord, Store};
use crate::web::{launch, messaging, transport, tus};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How long an attempt holds its task. Only one worker instance runs per registration, so a new
/// instance takes every in-flight task back at start; the lease bounds overlapping drains.
const LEASE_MS: u64 = 10 * 60 * 1000;
/// How long the worker waits for an open page's header provider.
const HEADER_WAIT_MS: i32 = 5_000;
/// Tasks read from the due index per round.
const BATCH: u32 = 16;
/// Attempts running at once in one worker, whatever the sessions ask (browsers open about 6
/// connections per host anyway).
const MAX_PARALLEL: u32 = 6;

thread_local! {
    /// The running pump of this worker instance: events that arrive meanwhile wait for it instead of
    /// draining beside it, so one instance never runs two schedulers.
    static PUMP: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
    static AGAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Resolves the pump's current wait early when new work arrives.
    static WAKER: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Runs the scheduler until nothing is due, waiting inside the event for retries of its own attempts
/// that fall due within `budget_ms`; joins the running pump if there is one (and asks it to look again).
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
    if let Some(running) = PUMP.with(|p| p.borrow().clone()) {
        AGAIN.with(|a| a.set(true));
        if let Some(wake) = WAKER.with(|w| w.borrow_mut().take()) {
            let _ = wake.call0(&JsValue::UNDEFINED);
        }
        let _ = wasm_bindgen_futures::JsFuture::from(running).await;
        return Ok(());
    }
    let store = store.clone();
    let promise = wasm_bindgen_futures::future_to_promise(async move {
        let result = run(&store, via, budget_ms, expect_retry).await;
        PUMP.with(|p| *p.borrow_mut() = None);
        result
            .map(|_| JsValue::UNDEFINED)
            .map_err(|e| core_error(&e))
    });
    PUMP.with(|p| *p.borrow_mut() = Some(promise.clone()));
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|e| Error::Storage {
            op: "pump".into(),
            message: format!("{e:?}"),
        })
}

async fn run(
    store: &Store,
    via: Transport,
    budget_ms: u64,
    expect_retry: bool,
) -> Result<(), Error> {
    let deadline = now_ms() + budget_ms;
    // Once this pump made an attempt, it stays for the retries due within its budget, even when a
    // newcomer interrupts its wait (a round that finds nothing due yet must not drop them).
    let mut waiting = expect_retry;
    loop {
        AGAIN.with(|a| a.set(false));
        let attempts = drain(store, via, deadline.saturating_sub(now_ms())).await?;
        waiting |= attempts > 0;
        let wake = store.next_wake().await?;
        // Decided with no await before returning: a caller that joined meanwhile (and set AGAIN)
        // is either seen here or finds no pump running and starts its own.
        let again = AGAIN.with(|a| a.get());
        match wake {
            Some(wake) if waiting && wake + 1000 < deadline => {
                sleep(wake.saturating_sub(now_ms())).await
            }
            _ if again && now_ms() < deadline => {}
            _ => return Ok(()),
        }
    }
}

/// Sends the due tasks of unpaused tags, up to each session's `concurrency` at once per tag, starting
/// each tag's tasks in enqueue order (FIFO per tag), until nothing is due or the budget is spent.
/// Returns how many attempts it made.
async fn drain(store: &Store, via: Transport, budget_ms: u64) -> Result<u32, Error> {
    let deadline = now_ms() + budget_ms;
    let mut attempts = 0;
    let mut sessions: HashMap<String, Option<SessionRecord>> = HashMap::new();
    loop {
        let now = now_ms();
        if now >= deadline || offline() {
            return Ok(attempts);
        }
        // Read past tasks of paused tags (and discretionary ones under Save-Data): they must not stall
        // the others behind them.
        let save_data = save_data();
        let mut limit = BATCH;
        let mut due = loop {
            let due = store.next_due(now, limit).await?;
            let mut eligible = Vec::new();
            for task in &due {
                if !core::discretionary::held_back(task, save_data)
                    && !session(store, &mut sessions, &task.tag)
                        .await?
                        .is_some_and(|s| s.paused)
                {
                    eligible.push(task.clone());
                }
            }
            if !eligible.is_empty() || (due.len() as u32) < limit {
                break eligible;
            }
            limit = limit.saturating_mul(4);
        };
        due.sort_by(|a, b| (&a.tag, a.seq).cmp(&(&b.tag, b.seq)));
        let mut started: HashMap<String, u32> = HashMap::new();
        let batch = js_sys::Array::new();
        for task in due.into_iter().filter(|t| t.is_due(now)) {
            let allowed = session(store, &mut sessions, &task.tag)
                .await?
                .map_or(2, |s| s.options.concurrency)
                .min(MAX_PARALLEL);
            let n = started.entry(task.tag.clone()).or_default();
            if *n >= allowed || batch.length() >= MAX_PARALLEL {
                continue;
            }
            *n += 1;
            let store = store.clone();
            let session = session(&store, &mut sessions, &task.tag).await?;
            batch.push(&wasm_bindgen_futures::future_to_promise(async move {
                attempt(&store, &task, session, via)
                    .await
                    .map(JsValue::from)
                    .map_err(|e| core_error(&e))
            }));
        }
        let results = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::all(&batch))
            .await
            .map_err(|e| Error::Storage {
                op: "attempt".into(),
                message: format!("{e:?}"),
            })?;
        let made = js_sys::Array::from(&results)
            .iter()
            .filter(|r| r.as_bool() == Some(true))
            .count() as u32;
        attempts += made;
        if made == 0 {
            return Ok(attempts);
        }
    }
}

/// One attempt: lease, send the stored Blob, record the outcome. `false` if another drain had it, or
/// if its session's header provider could not be asked and the session waits for a page.
async fn attempt(
    store: &Store,
    task: &Task,
    session: Option<SessionRecord>,
    via: Transport,
) -> Result<bool, Error> {
    let Some(extra) = headers_for(store, task, session).await? else {
        return Ok(false);
    };
    let lease = Input::Lease {
        lease_ms: LEASE_MS,
        transport: via,
    };
    let leased = match store.transition(&task.id, lease, now_ms(), 0, None).await {
        Ok((t, events)) => {
            messaging::broadcast(&events);
            t
        }
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let (outcome, response) = match store.blob(&leased.id).await? {
        Some(blob) if matches!(leased.request.protocol, core::Protocol::Tus { .. }) => {
            tus::send(store, &leased, &blob, &extra).await
        }
        Some(blob) => transport::send(&leased, &blob, &extra).await,
        None => (
            core::Outcome::NetworkError("the stored payload is missing".into()),
            None,
        ),
    };
    match store
        .transition(
            &leased.id,
            Input::Outcome(outcome),
            now_ms(),
            random_u64(),
            response,
        )
        .await
    {
        Ok((_, events)) => {
            messaging::broadcast(&events);
            launch::task_events(store, &events).await;
        }
        // Cancelled or cleared while it was sending: the page already recorded that.
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(true)
}

/// Headers to add to this attempt: the session's header provider, asked through an open page of the
/// tag; without one, the last headers given (`headerFallback: 'last'`) or `None` (wait for a page).
async fn headers_for(
    store: &Store,
    task: &Task,
    session: Option<SessionRecord>,
) -> Result<Option<Vec<(String, String)>>, Error> {
    let Some(session) = session.filter(|s| s.options.header_provider) else {
        return Ok(Some(Vec::new()));
    };
    let question = messaging::message("headers?", Some(&task.tag), Some(&task.id));
    js::set(&question, "taskId", &JsValue::from_str(&task.id));
    let reply = messaging::ask(&task.tag, &question, HEADER_WAIT_MS).await;
    let given = reply
        .as_ref()
        .and_then(|r| js::from_js::<Vec<(String, String)>>(js::get(r, "headers")).ok());
    match (given, session.options.header_fallback) {
        (Some(headers), core::HeaderFallback::Last) => {
            // The caller opted in to keeping them: the next send without a page uses them.
            store.keep_headers(&task.tag, &task.id, &headers).await?;
            Ok(Some(headers))
        }
        (Some(headers), core::HeaderFallback::Wait) => Ok(Some(headers)),
        (None, core::HeaderFallback::Last) => Ok(session.last_headers),
        (None, core::HeaderFallback::Wait) => Ok(None),
    }
}

/// A tag's session record, read once per drain.
async fn session(
    store: &Store,
    cache: &mut HashMap<String, Option<SessionRecord>>,
    tag: &str,
) -> Result<Option<SessionRecord>, Error> {
    if let Some(s) = cache.get(tag) {
        return Ok(s.clone());
    }
    let s = store.session(tag).await?;
    cache.insert(tag.to_string(), s.clone());
    Ok(s)
}

/// `navigator.connection.saveData`: the user asked to save data (discretionary uploads wait).
fn save_data() -> bool {
    let nav = js::get(&js::global(), "navigator");
    js::get(&js::get(&nav, "connection"), "saveData").as_bool() == Some(true)
}

/// `navigator.onLine === false`: attempts would only burn retries.
fn offline() -> bool {
    let nav = js::get(&js::global(), "navigator");
    js::get(&nav, "onLine").as_bool() == Some(false)
}

/// Waits `ms`, or less if `pump` is called meanwhile.
async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        WAKER.with(|w| *w.borrow_mut() = Some(resolve.clone()));
        let global = js::global();
        let set_timeout: js_sys::Function = js::get(&global, "setTimeout").unchecked_into();
        let _ = set_timeout.call2(&global, &resolve, &JsValue::from_f64(ms as f64));
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    WAKER.with(|w| *w.borrow_mut() = None);
}
