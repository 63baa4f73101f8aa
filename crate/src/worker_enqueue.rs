//! `enqueue(request, { tag })` from the service worker: a request the app's own fetch failed to deliver
//! (a Workbox `fetchDidFail`) becomes a task of the session `tag`, validated exactly like a page's
//! `upload`, so the pages of that tag hear how it ended. The body arrives as a Blob (the glue calls
//! `request.blob()`), which goes into IndexedDB with the task in one transaction: its bytes never pass
//! through wasm memory.
#![cfg(target_arch = "wasm32")]

use crate::core::{self, Error, Transport};
use crate::web::js::{self, core_error, now_ms};
use crate::web::store::SessionRecord;
use crate::web::{externs, messaging, request};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// How long the pump kicked after an enqueue may keep draining (the worker's event budget).
const PUMP_BUDGET_MS: u64 = 60_000;

thread_local! {}

/// Stores `blob` as a task of `tag` sent like `request` (`{ url, method, headers, idempotencyKey?, retry?,
/// expiresAt?, earliestBegin?, discretionary?, appData? }`), announces `queued` to the tag's pages and starts
/// sending; resolves with the task id once the task and its Blob are committed.
#[wasm_bindgen]
pub async fn worker_enqueue(
    tag: JsValue,
    request: JsValue,
    blob: web_sys::Blob,
) -> Result<JsValue, JsValue> {
    console_error_panic_hook::set_once();
    enqueue(tag, request, blob)
        .await
        .map(|id| JsValue::from_str(&id))
        .map_err(|e| core_error(&e))
}

async fn enqueue(tag: JsValue, req: JsValue, blob: web_sys::Blob) -> Result<String, Error> {
    let tag = tag.as_string().ok_or_else(|| Error::InvalidTag {
        tag: js::js_string(&tag),
        reason: "the tag must be a string; pass enqueue(request, { tag: 'photos' })".into(),
    })?;
    core::validate_tag(&tag)?;
    let input = request::upload_input(blob.as_ref(), &req)?;
    let store = crate::worker::store().await?;
    // The tag's session options (retry policy, batch window) apply once a page registered it.
    let options = match store.session(&tag).await? {
        Some(s) => s.options,
        None => {
            // The tag becomes this worker's (until a page registers it), so that another Ferry
            // worker of the origin, with its own `beforeSend`, does not send it.
            let owned = tag.clone();
            store
                .update_session(
                    &tag,
                    Box::new(move |previous| {
                        previous.is_none().then(|| SessionRecord {
                            tag: owned,
                            options: core::SessionOptions::default(),
                            paused: false,
                            page_url: None,
                            last_headers: None,
                            owner: Some(crate::scheduler::scope()),
                        })
                    }),
                )
                .await?;
            core::SessionOptions::default()
        }
    };
    let limits = core::Limits {
        quota_available: request::quota_available().await,
        before_send: crate::scheduler::before_send::installed(),
        ..core::Limits::default()
    };
    let valid = core::validate_upload(&input, &options.retry, &limits, now_ms())?;
    let mut task = request::new_task(&tag, None, valid, options.batch_window_ms);
    // The app's own attempt may have reached the server: Ferry's attempts carry the same key, so a
    // server that honours it applies the upload once.
    if let Some(key) = idempotency_key(&req)? {
        task.idempotency_key = key;
    }
    // (A worker cannot start a Background Fetch: what is in flight is not asked.)
    let done = match store.enqueue_all(&[(task, blob)], false).await {
        // The write itself hit the quota (the estimate is coarse): say how much is free now.
        Err(Error::QuotaExceeded { size, .. }) => {
            return Err(Error::quota_refused(size, request::quota_available().await))
        }
        other => other?,
    };
    messaging::broadcast(&done.events);
    let id = done
        .tasks
        .into_iter()
        .next()
        .map(|t| t.id)
        .unwrap_or_default();
    if done.paused {
        // `resume()` wakes the worker for a paused tag.
        return Ok(id);
    }
    // Send now from this worker, and ask for a sync where Background Sync exists, so the work is
    // carried by an event of its own even if this worker is stopped once the failed fetch is answered.
    let registration: web_sys::ServiceWorkerRegistration =
        js::get(&js::global(), "registration").unchecked_into();
    externs::register_sync(&registration, "ferry").await;
    wasm_bindgen_futures::spawn_local(async move {
        let _ = crate::scheduler::pump(&store, Transport::Fallback, PUMP_BUDGET_MS).await;
    });
    Ok(id)
}

/// The `Idempotency-Key` the app's request carried, if any: visible ASCII, 1 to 255 characters.
fn idempotency_key(req: &JsValue) -> Result<Option<String>, Error> {
    let v = js::get(req, "idempotencyKey");
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_string() {
        Some(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key))
        }
        _ => Err(Error::header(
            "idempotency-key",
            "must be 1 to 255 visible ASCII characters to be reused for Ferry's attempts; fix or remove it",
        )),
    }
}
