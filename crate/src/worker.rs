//! Entry points the service-worker glue calls: `worker_start` once per worker instance, then
//! `worker_event` for every event. The scheduler here only sequences I/O; every decision is `core`'s.

use crate::core::{self, Error, Input, Transport};
use crate::scheduler::{pump, pump_expecting};
use crate::web::js::{self, core_error, now_ms, random_u64};
use crate::web::store::Store;
use crate::web::{bgfetch, externs, launch, messaging};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One sync event may live about 3 minutes: stop taking new work well before.
const SYNC_BUDGET_MS: u64 = 150_000;
/// Other events (message, activate, online) drain what is due without waiting for later retries.
const EVENT_BUDGET_MS: u64 = 60_000;

thread_local! {
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
}

/// This worker instance's store, opened once (and again after a newer schema closed it).
pub(crate) async fn store() -> Result<Store, Error> {
    if let Some(s) = STORE
        .with(|s| s.borrow().clone())
        .filter(|s| !s.is_closed())
    {
        return Ok(s);
    }
    let s = Store::open().await?;
    STORE.with(|slot| *slot.borrow_mut() = Some(s.clone()));
    Ok(s)
}

/// Called by the glue once the wasm is loaded. It assumes nothing about other instances (during an
/// update the old version may still be uploading): what it finds in flight, the pump's recovery
/// decides on (`core::scheduler::recover`). It answers other instances' "who is alive?", tells open
/// pages where each tag's events end, drains what is due (Firefox starts a worker on a page's message
/// only; a plain start must not leave due work waiting for the next event), then sweeps finished
/// tasks past retention.
#[wasm_bindgen]
pub async fn worker_start(_scope: JsValue, options: JsValue) -> Result<(), JsValue> {
    console_error_panic_hook::set_once();
    crate::scheduler::before_send::install(&options).map_err(|e| core_error(&e))?;
    messaging::answer_alive(crate::scheduler::instance_id());
    crate::scheduler::watch_updates();
    let store = store().await.map_err(|e| core_error(&e))?;
    // An instance stopped between recording events and posting them (the commit and the post are
    // apart) left open pages without them: every start tells the pages where each tag's events end.
    let told = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(tails) = told.event_tails().await {
            messaging::tell_tails(&tails);
        }
        // Likewise a launch decision (a notification) it owed for a task that ended. (Through a
        // `dyn` future: its code is its own, not inlined into this start.)
        let owed: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> =
            Box::pin(launch::owed(&told));
        owed.await;
    });
    wasm_bindgen_futures::spawn_local(async move {
        let _ = pump(&store, Transport::Fallback, EVENT_BUDGET_MS).await;
        // Finished tasks past their retention leave with their unacknowledged events: housekeeping,
        // done after what is due was sent (a woken worker's first upload does not wait for it).
        let _ = store.sweep(now_ms()).await;
    });
    Ok(())
}

/// Handles one service-worker event (the glue passes its type and the event).
#[wasm_bindgen]
pub async fn worker_event(kind: String, event: JsValue) -> Result<(), JsValue> {
    let store = store().await.map_err(|e| core_error(&e))?;
    let result = match kind.as_str() {
        // Activation must not wait for uploads (pages stay uncontrolled until it ends): pump beside it.
        "activate" => {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = pump(&store, Transport::Fallback, EVENT_BUDGET_MS).await;
            });
            Ok(())
        }
        "online" => pump(&store, Transport::Fallback, EVENT_BUDGET_MS).await,
        "message" => on_message(&store, &js::get(&event, "data")).await,
        "sync" => return sync_event(&store, event.unchecked_ref()).await,
        "backgroundfetchsuccess" | "backgroundfetchfail" => {
            on_bgfetch_done(&store, event.unchecked_ref()).await
        }
        "notificationclick" => {
            let notification = js::get(&event, "notification");
            let data = js::get(&notification, "data");
            let tag = js::get(&data, "ferryTag").as_string();
            let task_id = js::get(&data, "taskId").as_string();
            match (tag, task_id) {
                (Some(tag), Some(task_id)) => {
                    let _ = js_sys::Reflect::get(&notification, &"close".into())
                        .ok()
                        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
                        .map(|f| f.call0(&notification));
                    launch::open_page(&store, &tag, &task_id).await;
                    Ok(())
                }
                // Not one of Ferry's notifications.
                _ => Ok(()),
            }
        }
        "backgroundfetchclick" => {
            let id = event
                .unchecked_ref::<externs::BackgroundFetchEvent>()
                .registration()
                .id();
            if let Some(task) = store.get(&id).await.map_err(|e| core_error(&e))? {
                launch::open_page(&store, &task.tag, &task.id).await;
            }
            Ok(())
        }
        "backgroundfetchabort" => {
            let id = event
                .unchecked_ref::<externs::BackgroundFetchEvent>()
                .registration()
                .id();
            cancel(&store, &id).await
        }
        _ => Ok(()),
    };
    result.map_err(|e| core_error(&e))
}

/// A browser-owned fetch ended: its event tells the outcome (`settle_background_fetch`). This may run in a
/// worker instance started for the event, long after the one that saw it begin.
async fn on_bgfetch_done(
    store: &Store,
    event: &externs::BackgroundFetchEvent,
) -> Result<(), Error> {
    let (id, outcome, response) = bgfetch::outcome(event).await;
    settle_background_fetch(store, &id, None, outcome, response).await?;
    pump_expecting(store, Transport::Fallback, EVENT_BUDGET_MS, true).await
}

/// Applies a browser-owned fetch's outcome to the task's Background Fetch lease (`lease_no`: the one
/// the page that tells it started; none: the current one), once: its event and the page that started
/// it both tell it, and whichever comes second, like a task that moved on (cancelled, another lease,
/// another transport), changes nothing. A retry goes to the queue.
pub(crate) async fn settle_background_fetch(
    store: &Store,
    id: &str,
    lease_no: Option<u64>,
    outcome: core::Outcome,
    response: Option<core::ResponseInfo>,
) -> Result<(), Error> {
    let Some(task) = store.get(id).await? else {
        return Ok(());
    };
    if task.transport != Some(Transport::BackgroundFetch)
        || lease_no.is_some_and(|n| n != task.lease_no)
    {
        return Ok(());
    }
    let input = Input::Outcome(outcome);
    let result = store
        .settle(id, task.lease_no, input, now_ms(), random_u64(), response)
        .await;
    record(store, result).await
}

/// The browser aborted a Background Fetch: the user (or a `cancel()`) stopped it and the task is
/// cancelled, unless it already moved on (Ferry aborts a fetch it timed out, after queueing the retry).
async fn cancel(store: &Store, id: &str) -> Result<(), Error> {
    let Some(task) = store.get(id).await? else {
        return Ok(());
    };
    let Some(input) = crate::core::scheduler::background_fetch_aborted(&task) else {
        return Ok(());
    };
    let result = store
        .settle(id, task.lease_no, input, now_ms(), 0, None)
        .await;
    record(store, result).await
}

/// Broadcasts a transition's events (and any launch they call for); a task that is gone or already
/// moved on (cancelled, cleared, another lease) is not an error here.
async fn record(
    store: &Store,
    result: Result<(core::Task, Vec<core::FerryEvent>), Error>,
) -> Result<(), Error> {
    match result {
        Ok((_, events)) => {
            messaging::broadcast(&events);
            launch::task_events(store, &events).await;
            Ok(())
        }
        Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn on_message(store: &Store, data: &JsValue) -> Result<(), Error> {
    match js::get(data, "ferry").as_string().as_deref() {
        Some("wake") => {
            // A page that can start a Background Fetch says so with its wakes.
            if let (Some(tag), Some(true)) = (
                js::get(data, "tag").as_string(),
                js::get(data, "backgroundFetch").as_bool(),
            ) {
                crate::scheduler::heard_page(&tag, true);
            }
            pump(store, Transport::Fallback, EVENT_BUDGET_MS).await
        }
        _ => Ok(()),
    }
}

/// A `sync` event: it rejects (not a failure) when the browser must fire it again (`on_sync`).
async fn sync_event(store: &Store, event: &externs::SyncEvent) -> Result<(), JsValue> {
    match on_sync(store, event).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(js::error(
            "FerrySyncAgain",
            "work is left for later (a retry not due yet, no network, or an upload still running): \
             the browser fires this sync again",
        )),
        Err(e) => Err(core_error(&e)),
    }
}

/// A `sync` event keeps the pump's work inside its lifetime; work left for later (future retries,
/// `earliestBegin`, offline, an attempt still running when the event let go) makes it fail unless it
/// is the last chance, so the browser fires it again. Answers whether it may resolve.
async fn on_sync(store: &Store, event: &externs::SyncEvent) -> Result<bool, Error> {
    if !event.tag().starts_with("ferry") {
        return Ok(true);
    }
    pump(store, Transport::BackgroundSync, SYNC_BUDGET_MS).await?;
    let left = crate::scheduler::work_left(store).await?;
    let plan = crate::core::scheduler::Plan {
        work_left: left,
        ..Default::default()
    };
    let running = crate::scheduler::running_here();
    Ok(crate::core::scheduler::sync_resolves(
        &plan,
        running,
        event.last_chance(),
    ))
}
