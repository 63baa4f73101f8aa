//! Entry points the service-worker glue calls: `worker_start` once per worker instance, then
//! `worker_event` for every event. The scheduler here only sequences I/O; every decision is `core`'s.

use crate::core::{self, Error, Input, Task, Transport};
use crate::web::js::{self, core_error, now_ms, random_u64};
use crate::web::store::Store;
use crate::web::{externs, messaging, transport};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How long an attempt holds its task. Only one worker instance runs per registration, so a new
/// instance takes every in-flight task back at start; the lease bounds overlapping drains.
const LEASE_MS: u64 = 10 * 60 * 1000;
/// One sync event may live about 3 minutes: stop taking new work well before.
const SYNC_BUDGET_MS: u64 = 150_000;
/// Other events (message, activate, online) drain what is due without waiting for later retries.
const EVENT_BUDGET_MS: u64 = 60_000;
/// Tasks read from the due index per round.
const BATCH: u32 = 16;

thread_local! {
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
}

async fn store() -> Result<Store, Error> {
    if let Some(s) = STORE.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let s = Store::open().await?;
    STORE.with(|slot| *slot.borrow_mut() = Some(s.clone()));
    Ok(s)
}

/// Called by the glue once the wasm is loaded: takes back the tasks a dead worker left in flight.
#[wasm_bindgen]
pub async fn worker_start(_scope: JsValue, _options: JsValue) -> Result<(), JsValue> {
    console_error_panic_hook::set_once();
    let store = store().await.map_err(|e| core_error(&e))?;
    recover(&store).await.map_err(|e| core_error(&e))
}

/// Every in-flight task belonged to a previous instance of this worker, whose fetches died with it.
async fn recover(store: &Store) -> Result<(), Error> {
    let now = now_ms();
    for task in store.in_flight().await? {
        let at = now.max(task.lease_until.unwrap_or(now));
        match store.transition(&task.id, Input::LeaseExpired, at, 0, None).await {
            Ok((_, events)) => messaging::broadcast(&events),
            Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Handles one service-worker event (the glue passes its type and the event).
#[wasm_bindgen]
pub async fn worker_event(kind: String, event: JsValue) -> Result<(), JsValue> {
    let store = store().await.map_err(|e| core_error(&e))?;
    let result = match kind.as_str() {
        // Activation must not wait for uploads (pages stay uncontrolled until it ends): drain beside it.
        "activate" => {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = drain(&store, Transport::Fallback, EVENT_BUDGET_MS).await;
            });
            Ok(())
        }
        "online" => drain(&store, Transport::Fallback, EVENT_BUDGET_MS).await.map(|_| ()),
        "message" => on_message(&store, &js::get(&event, "data")).await,
        "sync" => on_sync(&store, event.unchecked_ref()).await,
        _ => Ok(()),
    };
    result.map_err(|e| core_error(&e))
}

async fn on_message(store: &Store, data: &JsValue) -> Result<(), Error> {
    match js::get(data, "ferry").as_string().as_deref() {
        Some("wake") => drain(store, Transport::Fallback, EVENT_BUDGET_MS).await.map(|_| ()),
        Some("cancel") => {
            if let Some(id) = js::get(data, "id").as_string() {
                transport::abort(&id);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A `sync` event: drain; a retry of this event's own attempts that falls due within its budget is
/// waited for in the event. Work left for later (future retries, `earliestBegin`, offline) makes the
/// event fail unless it is the last chance, so the browser fires it again with its own backoff.
async fn on_sync(store: &Store, event: &externs::SyncEvent) -> Result<(), Error> {
    if !event.tag().starts_with("ferry") {
        return Ok(());
    }
    let deadline = now_ms() + SYNC_BUDGET_MS;
    loop {
        let attempts = drain(store, Transport::BackgroundSync, deadline.saturating_sub(now_ms())).await?;
        let Some(wake) = store.next_wake().await? else { return Ok(()) };
        if attempts == 0 || wake + 1000 >= deadline {
            if event.last_chance() {
                return Ok(());
            }
            return Err(Error::Storage { op: "sync".into(), message: format!("work left for later (next at {wake})") });
        }
        sleep(wake.saturating_sub(now_ms())).await;
    }
}

/// Sends every due task of unpaused tags, one at a time, in due order (FIFO per tag), until nothing
/// is due or the budget is spent. Returns how many attempts it made.
async fn drain(store: &Store, via: Transport, budget_ms: u64) -> Result<u32, Error> {
    let deadline = now_ms() + budget_ms;
    let mut attempts = 0;
    let mut paused: HashMap<String, bool> = HashMap::new();
    loop {
        let now = now_ms();
        if now >= deadline || offline() {
            return Ok(attempts);
        }
        let mut due = store.next_due(now, BATCH).await?;
        due.sort_by(|a, b| (a.next_attempt_at, &a.tag, a.seq).cmp(&(b.next_attempt_at, &b.tag, b.seq)));
        let mut progressed = false;
        for task in due {
            if !task.is_due(now_ms()) || is_paused(store, &mut paused, &task.tag).await? {
                continue;
            }
            if attempt(store, &task, via).await? {
                attempts += 1;
                progressed = true;
            }
            if now_ms() >= deadline {
                break;
            }
        }
        if !progressed {
            return Ok(attempts);
        }
    }
}

/// One attempt: lease, send the stored Blob, record the outcome. `false` if another drain had it.
async fn attempt(store: &Store, task: &Task, via: Transport) -> Result<bool, Error> {
    let lease = Input::Lease { lease_ms: LEASE_MS, transport: via };
    let leased = match store.transition(&task.id, lease, now_ms(), 0, None).await {
        Ok((t, events)) => {
            messaging::broadcast(&events);
            t
        }
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => return Ok(false),
        Err(e) => return Err(e),
    };
    let (outcome, response) = match store.blob(&leased.id).await? {
        Some(blob) => transport::send(&leased, &blob).await,
        None => (core::Outcome::NetworkError("the stored payload is missing".into()), None),
    };
    match store.transition(&leased.id, Input::Outcome(outcome), now_ms(), random_u64(), response).await {
        Ok((_, events)) => messaging::broadcast(&events),
        // Cancelled or cleared while it was sending: the page already recorded that.
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(true)
}

async fn is_paused(store: &Store, cache: &mut HashMap<String, bool>, tag: &str) -> Result<bool, Error> {
    if let Some(p) = cache.get(tag) {
        return Ok(*p);
    }
    let p = store.session(tag).await?.is_some_and(|s| s.paused);
    cache.insert(tag.to_string(), p);
    Ok(p)
}

/// `navigator.onLine === false`: attempts would only burn retries.
fn offline() -> bool {
    let nav = js::get(&js::global(), "navigator");
    js::get(&nav, "onLine").as_bool() == Some(false)
}

async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js::global();
        let set_timeout: js_sys::Function = js::get(&global, "setTimeout").unchecked_into();
        let _ = set_timeout.call2(&global, &resolve, &JsValue::from_f64(ms as f64));
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
