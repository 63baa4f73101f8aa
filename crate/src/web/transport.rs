//! One attempt of a task over `fetch`, with the stored Blob as the body: the browser streams it from
//! disk; its bytes never enter wasm memory or an ArrayBuffer.

use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::web::js;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Response headers worth keeping in a `completed` event (the body excerpt is bounded separately).
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "location",
    "etag",
    "last-modified",
    "x-request-id",
    "retry-after",
];

thread_local! {
    /// Abort handles of the attempts running in this worker, by task id (`cancel` aborts them).
    static RUNNING: RefCell<HashMap<String, web_sys::AbortController>> = RefCell::new(HashMap::new());
}

/// Registers the abort handle of a running attempt (so `cancel` can stop it); `untrack` when done.
pub fn track(task_id: &str, controller: web_sys::AbortController) {
    RUNNING.with(|r| r.borrow_mut().insert(task_id.to_string(), controller));
}

/// Forgets the abort handle of a finished attempt.
pub fn untrack(task_id: &str) {
    RUNNING.with(|r| r.borrow_mut().remove(task_id));
}

/// Aborts the running attempt of a task, if this worker has one. Returns whether it did.
pub fn abort(task_id: &str) -> bool {
    RUNNING
        .with(|r| r.borrow_mut().remove(task_id))
        .map(|c| c.abort())
        .is_some()
}

/// Sends one attempt and reports its outcome; never panics on odd responses.
pub async fn send(
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
) -> (Outcome, Option<ResponseInfo>) {
    match try_send(task, blob, extra).await {
        Ok(r) => r,
        Err(e) => (Outcome::NetworkError(describe(&e)), None),
    }
}

async fn try_send(
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
) -> Result<(Outcome, Option<ResponseInfo>), JsValue> {
    let controller = web_sys::AbortController::new()?;
    let request = request(task, blob, Some(&controller.signal()), extra)?;
    RUNNING.with(|r| r.borrow_mut().insert(task.id.clone(), controller));
    let fetched = JsFuture::from(fetch(&request)).await;
    let response = match fetched {
        Ok(r) => r.dyn_into::<web_sys::Response>()?,
        Err(e) => {
            RUNNING.with(|r| r.borrow_mut().remove(&task.id));
            return Ok((Outcome::NetworkError(describe(&e)), None));
        }
    };
    let (outcome, info) = read_response(&response).await;
    RUNNING.with(|r| r.borrow_mut().remove(&task.id));
    Ok((outcome, Some(info)))
}

/// The request of one attempt: the task's headers, its `Idempotency-Key`, and the Blob as the body
/// (or inside a FormData for multipart), so the browser streams it from disk.
/// `extra` (fresh headers from a header provider) replaces task headers of the same name.
pub fn request(
    task: &Task,
    blob: &web_sys::Blob,
    signal: Option<&web_sys::AbortSignal>,
    extra: &[(String, String)],
) -> Result<web_sys::Request, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &task.request.headers {
        headers.append(name, value)?;
    }
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    headers.set("Idempotency-Key", &task.idempotency_key)?;
    let init = web_sys::RequestInit::new();
    init.set_method(task.request.method.as_str());
    match &task.request.protocol {
        Protocol::Http => {
            if !task
                .request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                && !task.body.mime.is_empty()
            {
                headers.set("Content-Type", &task.body.mime)?;
            }
            init.set_body(blob);
        }
        Protocol::Multipart {
            field,
            filename,
            fields,
        } => {
            // FormData keeps a reference to the Blob: still streamed from disk, never copied.
            let form = web_sys::FormData::new()?;
            for (k, v) in fields {
                form.append_with_str(k, v)?;
            }
            form.append_with_blob_and_filename(field, blob, filename)?;
            init.set_body(&form);
        }
        Protocol::Tus { .. } => {
            return Err(js::error(
                "FerryInvalidProtocol",
                "tus uploads are not available in this version yet",
            ))
        }
    }
    init.set_headers(&headers);
    if let Some(signal) = signal {
        init.set_signal(Some(signal));
    }
    web_sys::Request::new_with_str_and_init(&task.request.url, &init)
}

/// What a response says, for the state machine and the `completed` event.
pub async fn read_response(response: &web_sys::Response) -> (Outcome, ResponseInfo) {
    let status = response.status();
    let kept: Vec<(String, String)> = KEPT_HEADERS
        .iter()
        .filter_map(|h| {
            response
                .headers()
                .get(h)
                .ok()
                .flatten()
                .map(|v| (h.to_string(), v))
        })
        .collect();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = match response.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    (
        Outcome::Response {
            status,
            retry_after,
        },
        ResponseInfo {
            status,
            headers: kept,
            body: core::excerpt(&body),
        },
    )
}

/// `fetch` on whatever global this runs in (worker or window).
pub fn fetch(request: &web_sys::Request) -> js_sys::Promise {
    let global = js::global();
    let f: js_sys::Function = js::get(&global, "fetch").unchecked_into();
    f.call1(&global, request)
        .map(|p| p.unchecked_into())
        .unwrap_or_else(|e| js_sys::Promise::reject(&e))
}

/// A JS error as `Name: message`.
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .unwrap_or_else(|| format!("{e:?}"))
}
