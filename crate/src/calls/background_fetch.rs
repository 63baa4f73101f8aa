//! Background Fetch through the page: only a page may start one (from a worker it is refused), so the
//! worker leases the task for it and answers the page with what to start; the page tells back if the
//! browser refused, and relays the fetch's progress while it is open.

use super::upload::Committed;
use crate::core::scheduler::{Env, SessionView};
use crate::core::{self, Error, SessionOptions, Transport};
use crate::web::js::{self, now_ms};
use crate::web::store::Store;
use crate::web::{messaging, transport};
use litemap::LiteMap;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// Progress throttles of the Background Fetches pages relay, by task id.
    static THROTTLES: RefCell<LiteMap<String, core::ProgressThrottle>> =
        const { RefCell::new(LiteMap::new()) };
}

/// Whether the calling page can start a Background Fetch (`backgroundFetch: true`: the API is there
/// and granted) and its session allows one.
pub(super) fn page_can_start(call: &JsValue, options: &SessionOptions) -> bool {
    js::get(call, "backgroundFetch").as_bool() == Some(true) && options.background_fetch
}

/// Leases the first due task of a commit (of the size the session asks) for a Background Fetch when the page can start one
/// (`backgroundFetch: true`: granted there) and `core::scheduler::background_fetch_fits` says so;
/// answers `{ taskId, leaseNo, url, method, headers, form, body, title, uploadTotal, size, startBy,
/// timeoutAt }`.
pub(super) async fn lease(
    store: &Store,
    done: &Committed,
    options: &SessionOptions,
    call: &JsValue,
) -> Result<Option<JsValue>, Error> {
    if !page_can_start(call, options) || done.paused || done.background_fetch_busy {
        return Ok(None);
    }
    let now = now_ms();
    // The first due task whose body the session lets a Background Fetch carry (`minBytes`).
    let big_enough = |t: &&core::Task| t.body.size >= options.background_fetch_min_bytes;
    let Some(task) = done.tasks.iter().filter(big_enough).find(|t| t.is_due(now)) else {
        return Ok(None);
    };
    // The options of the calling page's session; a pause is re-checked by the lease transaction.
    let view = SessionView {
        before_send: crate::scheduler::before_send::installed(),
        ..SessionView::of(options, false)
    };
    let origin = js::get(call, "origin").as_string().unwrap_or_default();
    if !core::scheduler::background_fetch_fits(task, &view, &[], &origin) {
        return Ok(None);
    }
    let in_flight = store.in_flight().await?;
    if !core::scheduler::background_fetch_fits(task, &view, &in_flight, &origin) {
        return Ok(None);
    }
    // The lease holds the task back as the worker's own would: offline (`navigator.onLine` false),
    // nothing starts; the page's sync (or its `online` wake) sends it once the network is back.
    let env = Env {
        now_ms: now,
        ..crate::scheduler::env()
    };
    let Some(leased) = store
        .lease(&task.id, Transport::BackgroundFetch, None, env)
        .await?
    else {
        return Ok(None);
    };
    messaging::broadcast(&leased.events);
    let task = &leased.task;
    // The Blob read back from IndexedDB, not the page's: Chromium's Background Fetch sends an empty
    // body for a File picked through <input type=file>, while the stored copy streams in full.
    let parts = match (&leased.blob, transport::parts(task, &[])) {
        (Some(blob), Ok(parts)) => (blob.clone(), parts),
        _ => {
            release(store, &task.id, task.lease_no).await?;
            return Ok(None);
        }
    };
    let (blob, parts) = parts;
    let start = js_sys::Object::new();
    js::set(&start, "taskId", &JsValue::from_str(&task.id));
    js::set(&start, "leaseNo", &JsValue::from_f64(task.lease_no as f64));
    js::set(&start, "url", &JsValue::from_str(&task.request.url));
    js::set(
        &start,
        "method",
        &JsValue::from_str(task.request.method.as_str()),
    );
    js::set(&start, "headers", &js::to_js(&parts.headers)?);
    js::set(
        &start,
        "credentials",
        &JsValue::from_str(task.request.credentials.as_str()),
    );
    js::set(&start, "form", &js::to_js(&parts.form)?);
    js::set(&start, "body", &blob);
    let title = task.body.name.clone().unwrap_or_else(|| "Upload".into());
    js::set(&start, "title", &JsValue::from_str(&title));
    if parts.form.is_none() {
        // Exact for a plain body; a multipart body is larger than the Blob, so it is left unset there.
        js::set(
            &start,
            "uploadTotal",
            &JsValue::from_f64(task.body.size as f64),
        );
    }
    js::set(&start, "size", &JsValue::from_f64(task.body.size as f64));
    if let Some(at) = task.lease_until {
        // Past this, the worker takes the task back (`core::scheduler::recover`): a page that was
        // away until then (frozen, in the back/forward cache) must not start it after all.
        js::set(&start, "startBy", &JsValue::from_f64(at as f64));
    }
    if let Some(at) = task.timeout_at {
        // No worker timer outlives the worker: the page wakes it when the attempt times out.
        js::set(&start, "timeoutAt", &JsValue::from_f64(at as f64));
    }
    Ok(Some(start.into()))
}

/// `{ op: 'bgfetchNext', tag, taskId, options, origin, backgroundFetch }`: a page of the tag took up
/// the worker's offer of a large task that waits for a page's Background Fetch
/// (`core::scheduler::waits_for_page`). Leased for it as an upload call's first task would be;
/// answers what to start, or `null` (another page took it, or it no longer fits).
pub(super) async fn next(store: &Store, tag: &str, call: &JsValue) -> Result<JsValue, Error> {
    let options = super::options_of(call)?;
    if page_can_start(call, &options) {
        crate::scheduler::heard_page(tag, true);
    }
    let id = js::get(call, "taskId").as_string().unwrap_or_default();
    let Some(task) = store.get(&id).await?.filter(|t| t.tag == tag) else {
        return Ok(JsValue::NULL);
    };
    let offered = Committed {
        tasks: vec![task],
        ..Committed::default()
    };
    Ok(lease(store, &offered, &options, call)
        .await?
        .unwrap_or(JsValue::NULL))
}

/// `{ op: 'bgfetchRefused', taskId, leaseNo }`: the browser did not start the fetch. It was not an
/// attempt: the lease is released and the worker sends the task (the tag's large bodies no longer
/// wait for this page).
pub(super) async fn refused(store: &Store, tag: &str, call: &JsValue) -> Result<JsValue, Error> {
    crate::scheduler::heard_page(tag, false);
    let (id, lease_no) = lease_of(call);
    release(store, &id, lease_no).await?;
    Ok(JsValue::UNDEFINED)
}

async fn release(store: &Store, id: &str, lease_no: u64) -> Result<(), Error> {
    let (_, events) = store
        .settle(id, lease_no, core::Input::Release, now_ms(), 0, None)
        .await?;
    messaging::broadcast(&events);
    Ok(())
}

/// `{ op: 'bgfetchStarted', taskId, leaseNo }`: the browser began the fetch; the attempt's `started`
/// is told now, and the lease runs for a day (`core::scheduler::announce`; it waited, since the
/// browser may refuse to begin it).
pub(super) async fn started(store: &Store, call: &JsValue) -> Result<JsValue, Error> {
    let (id, lease_no) = lease_of(call);
    let (_, events) = store
        .modify(
            &id,
            Box::new(move |t| {
                let (next, effects) = core::scheduler::announce(t, lease_no);
                let events = core::events_for(&next, &effects, None);
                Ok((next, events))
            }),
        )
        .await?;
    messaging::broadcast(&events);
    Ok(JsValue::UNDEFINED)
}

/// `{ op: 'bgfetchProgress', taskId, uploaded, size }`: while the page that started it is open, the
/// fetch's upload progress becomes the task's `progress` events (throttled, monotonic), persisted and
/// broadcast like any other. Only a page holds the registration's `progress` events.
pub(super) async fn progress(store: &Store, call: &JsValue) -> Result<JsValue, Error> {
    let (id, _) = lease_of(call);
    let uploaded = js::get(call, "uploaded").as_f64().unwrap_or(0.0) as u64;
    let size = js::get(call, "size").as_f64().unwrap_or(0.0) as u64;
    crate::web::bgfetch::note_sent(&id, uploaded);
    // Chromium reports coarsely: often one report at the total as soon as the body is in the
    // socket buffers, well before the server answers: the total is left to the success.
    let offered = THROTTLES.with(|t| {
        t.borrow_mut()
            .entry(id.clone())
            .or_insert_with(|| core::ProgressThrottle::with_defaults(size))
            .offer_handed_over(uploaded, now_ms())
    });
    let Some(bytes) = offered else {
        return Ok(JsValue::UNDEFINED);
    };
    let (task, events) = store
        .modify(
            &id,
            Box::new(|t| {
                let running = t.state == core::State::InFlight
                    && t.transport == Some(Transport::BackgroundFetch);
                Ok((
                    t.clone(),
                    if running {
                        vec![core::progress_event(t, bytes)]
                    } else {
                        Vec::new()
                    },
                ))
            }),
        )
        .await?;
    if task.state != core::State::InFlight {
        THROTTLES.with(|t| t.borrow_mut().remove(&id));
    }
    messaging::broadcast(&events);
    Ok(JsValue::UNDEFINED)
}

/// `{ op: 'bgfetchDone', taskId, leaseNo, method, url, failureReason, answer }`: the page that started
/// the fetch read its answer when the fetch ended (`answer`: `{ status, statusText, headers, body,
/// redirected, url }`, the body's start; status 0 when the browser reached no server) and tells it as
/// the fetch's event does. Chromium dispatches that event once: a worker stopped while it handles it
/// (or killed with the browser) loses it for good, and the task would go again, body and all, once
/// its lease ran out. Applied once to the lease the page started (`worker::settle_background_fetch`).
pub(super) async fn done(store: &Store, call: &JsValue) -> Result<JsValue, Error> {
    let (id, lease_no) = lease_of(call);
    let reported = js::get(call, "answer");
    let answer = match js::get(&reported, "status").as_f64() {
        Some(s) if s != 0.0 => match answer_of(&reported) {
            Some(a) => Some(a),
            // Not a response this worker can stand for: the event tells it.
            None => return Ok(JsValue::UNDEFINED),
        },
        Some(_) => None,
        None => return Ok(JsValue::UNDEFINED),
    };
    let text = |k: &str| js::get(call, k).as_string().unwrap_or_default();
    let asked = (text("method"), text("url"));
    let (outcome, info) =
        crate::web::bgfetch::outcome_of(answer, &asked, &text("failureReason")).await;
    crate::worker::settle_background_fetch(store, &id, Some(lease_no), outcome, info).await?;
    Ok(JsValue::UNDEFINED)
}

/// The response a page read, made again from its parts (status, status text, headers, body's start).
fn answer_of(reported: &JsValue) -> Option<crate::web::bgfetch::Answer> {
    let text = |k: &str| js::get(reported, k).as_string().unwrap_or_default();
    let headers = web_sys::Headers::new().ok()?;
    for pair in js_sys::Array::from(&js::get(reported, "headers")).iter() {
        let pair = js_sys::Array::from(&pair);
        if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            headers.append(&name, &value).ok()?;
        }
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(js::get(reported, "status").as_f64()? as u16);
    init.set_status_text(&text("statusText"));
    init.set_headers(&headers);
    let body = text("body");
    let response = web_sys::Response::new_with_opt_str_and_init(
        Some(&body).filter(|b| !b.is_empty()).map(|b| b.as_str()),
        &init,
    )
    .ok()?;
    Some(crate::web::bgfetch::Answer {
        response,
        redirected: js::get(reported, "redirected").as_bool() == Some(true),
        url: text("url"),
    })
}

fn lease_of(call: &JsValue) -> (String, u64) {
    (
        js::get(call, "taskId").as_string().unwrap_or_default(),
        js::get(call, "leaseNo").as_f64().unwrap_or(0.0) as u64,
    )
}
