//! Background Fetch as a transport: a page hands a leased task to the browser, which sends it even
//! after every tab closed and across browser restarts; the worker maps the outcome events onto the
//! same state machine. Background Fetch never retries an upload itself: a retryable outcome goes back
//! to Ferry's queue like any other attempt.

use crate::core::{self, Outcome, ResponseInfo, Task};
use crate::web::externs::{
    BackgroundFetchEvent, BackgroundFetchManager, BackgroundFetchRegistration,
};
use crate::web::store::Store;
use crate::web::{js, messaging, transport};
use std::cell::RefCell;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Starts the browser-owned fetch of a task (id = task id). Only possible from a page.
pub async fn start(
    manager: &BackgroundFetchManager,
    task: &Task,
    blob: &web_sys::Blob,
) -> Result<BackgroundFetchRegistration, JsValue> {
    let request = transport::request(task, blob, None, &[])?;
    let options = js_sys::Object::new();
    let title = task.body.name.clone().unwrap_or_else(|| "Upload".into());
    js::set(&options, "title", &JsValue::from_str(&title));
    if matches!(task.request.protocol, crate::core::Protocol::Http) {
        // Exact for a plain body; a multipart body is larger than the Blob, so it is left unset there.
        js::set(
            &options,
            "uploadTotal",
            &JsValue::from_f64(task.body.size as f64),
        );
    }
    let registration =
        JsFuture::from(manager.fetch(&task.id, &js_sys::Array::of1(&request), &options)?).await?;
    Ok(registration.unchecked_into())
}

/// While the page that started it is open, the fetch's upload progress becomes the task's `progress`
/// events (throttled, monotonic), persisted and broadcast like any other event. The worker cannot see
/// this progress: only a page holds the registration's `progress` events.
pub fn relay_progress(store: &Store, task: &Task, registration: BackgroundFetchRegistration) {
    let throttle = RefCell::new(core::ProgressThrottle::with_defaults(task.body.size));
    let (store, id) = (store.clone(), task.id.clone());
    let watched: BackgroundFetchRegistration = JsValue::from(&registration).unchecked_into();
    let on_progress = Closure::<dyn FnMut()>::new(move || {
        // Chromium reports coarsely: often one report at the total as soon as the body is in the
        // socket buffers, well before the server answers (the success repeats the total then).
        let Some(bytes) = throttle
            .borrow_mut()
            .offer(watched.uploaded() as u64, js::now_ms())
        else {
            return;
        };
        let (store, id) = (store.clone(), id.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let result = store
                .modify(&id, |t| {
                    let running = t.state == core::State::InFlight
                        && t.transport == Some(core::Transport::BackgroundFetch);
                    Ok((
                        t.clone(),
                        if running {
                            vec![core::progress_event(t, bytes)]
                        } else {
                            Vec::new()
                        },
                    ))
                })
                .await;
            if let Ok((_, events)) = result {
                messaging::broadcast(&events);
            }
        });
    });
    let _ = registration
        .add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
    // Lives as long as the registration object (the page); one per Background Fetch started.
    on_progress.forget();
}

/// The outcome a `backgroundfetchsuccess` / `backgroundfetchfail` event reports for its task.
pub async fn outcome(event: &BackgroundFetchEvent) -> (String, Outcome, Option<ResponseInfo>) {
    let registration = event.registration();
    let id = registration.id();
    let response = async {
        let records = JsFuture::from(registration.match_all()).await.ok()?;
        let first = js_sys::Array::from(&records).get(0);
        let ready: js_sys::Promise = js::get(&first, "responseReady").dyn_into().ok()?;
        JsFuture::from(ready)
            .await
            .ok()?
            .dyn_into::<web_sys::Response>()
            .ok()
    }
    .await;
    match response {
        Some(r) => {
            let (outcome, info) = transport::read_response(&r).await;
            (id, outcome, Some(info))
        }
        None => (
            id,
            Outcome::NetworkError(format!(
                "background fetch failed: {}",
                registration.failure_reason()
            )),
            None,
        ),
    }
}

/// Whether the browser still owns a fetch for this task (it survives worker restarts).
pub async fn alive(registration: &web_sys::ServiceWorkerRegistration, id: &str) -> bool {
    let Some(manager) = manager_of(registration) else {
        return false;
    };
    match manager.get(id) {
        Ok(p) => JsFuture::from(p)
            .await
            .map(|r| !r.is_undefined() && !r.is_null())
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Aborts the browser-owned fetch of a task, if there is one.
pub async fn abort(registration: &web_sys::ServiceWorkerRegistration, id: &str) {
    let Some(manager) = manager_of(registration) else {
        return;
    };
    let Ok(found) = manager.get(id) else { return };
    if let Ok(reg) = JsFuture::from(found).await {
        if let Some(reg) = reg
            .dyn_ref::<crate::web::externs::BackgroundFetchRegistration>()
            .filter(|_| reg.is_object())
        {
            let _ = JsFuture::from(reg.abort()).await;
        }
    }
}

fn manager_of(registration: &web_sys::ServiceWorkerRegistration) -> Option<BackgroundFetchManager> {
    let has =
        js_sys::Reflect::has(registration, &JsValue::from_str("backgroundFetch")).unwrap_or(false);
    has.then(|| {
        registration
            .unchecked_ref::<crate::web::externs::BackgroundFetchHost>()
            .background_fetch()
    })
    .flatten()
}
