//! One attempt of a task over `fetch`, with the stored Blob as the body: the browser streams it from
//! disk; its bytes never enter wasm memory or an ArrayBuffer.

use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::web::js;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// How many bytes of response headers (names and values) a `completed` event keeps: every header the
/// browser lets the worker read (the CORS-safelisted ones and those the server exposes), up to this.
const KEPT_HEADER_BYTES: usize = 8 * 1024;

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

/// Sends one attempt and reports its outcome; never panics on odd responses. An attempt that has
/// no answer (and body excerpt) within `timeout_ms` is aborted and reported as `Timeout`.
pub async fn send(
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
    timeout_ms: u64,
) -> (Outcome, Option<ResponseInfo>) {
    let Ok(controller) = web_sys::AbortController::new() else {
        return (
            Outcome::NetworkError("AbortController is missing".into()),
            None,
        );
    };
    track(&task.id, controller.clone());
    let deadline = Deadline::new(&controller, timeout_ms);
    let built = request(task, blob, Some(&controller.signal()), extra);
    // What the body made the Content-Type (a Blob's type, multipart's), for a network error's reason.
    let content_type = built
        .as_ref()
        .ok()
        .and_then(|r| r.headers().get("content-type").ok().flatten());
    let result = async {
        let request = built?;
        let response = JsFuture::from(fetch(&request))
            .await?
            .dyn_into::<web_sys::Response>()?;
        if response.type_() == web_sys::ResponseType::Opaqueredirect {
            let method = task.request.method.as_str();
            return Ok((core::redirected(method, &task.request.url), None));
        }
        let (outcome, info) = read_response(&response).await;
        Ok::<_, JsValue>((outcome, Some(info)))
    }
    .await;
    untrack(&task.id);
    match result {
        // An answer counts even if the time ran out while its body was read.
        Ok(r) => r,
        Err(_) if deadline.passed() => (Outcome::Timeout, None),
        Err(e) => {
            let (url, method) = (&task.request.url, task.request.method.as_str());
            let sent = core::cors::own_headers_to_allow(content_type.as_deref());
            let why = network_error(task, url, method, extra, sent, &e).await;
            (Outcome::NetworkError(why), None)
        }
    }
}

/// Aborts a request when its time is up; dropping it cancels the timer.
pub struct Deadline {
    passed: std::rc::Rc<std::cell::Cell<bool>>,
    _timer: gloo_timers::callback::Timeout,
}

impl Deadline {
    /// Aborts `controller` after `ms`.
    pub fn new(controller: &web_sys::AbortController, ms: u64) -> Deadline {
        let passed = std::rc::Rc::new(std::cell::Cell::new(false));
        let (flag, controller) = (passed.clone(), controller.clone());
        let timer =
            gloo_timers::callback::Timeout::new(ms.min(i32::MAX as u64) as u32, move || {
                flag.set(true);
                controller.abort();
            });
        Deadline {
            passed,
            _timer: timer,
        }
    }

    /// Whether the time ran out (and the request was aborted for it).
    pub fn passed(&self) -> bool {
        self.passed.get()
    }
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
    let parts = parts(task, extra)?;
    let headers = web_sys::Headers::new()?;
    for (name, value) in &parts.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(task.request.method.as_str());
    // A redirect is the attempt's answer (`core::redirected`), not followed.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    credentials(&init, task);
    match &parts.form {
        None => init.set_body(blob),
        Some(form) => {
            // FormData keeps a reference to the Blob: still streamed from disk, never copied.
            let data = web_sys::FormData::new()?;
            for (k, v) in &form.fields {
                data.append_with_str(k, v)?;
            }
            data.append_with_blob_and_filename(&form.field, blob, &form.filename)?;
            init.set_body(&data);
        }
    }
    init.set_headers(&headers);
    if let Some(signal) = signal {
        init.set_signal(Some(signal));
    }
    web_sys::Request::new_with_str_and_init(&task.request.url, &init)
}

/// What one request of a plain or multipart task carries besides its Blob: the headers it is sent
/// with (the task's, then `extra`, then its `Idempotency-Key` and, for a plain body, its type) and,
/// for multipart, the form around the Blob. A page builds its Background Fetch request from these.
#[derive(serde::Serialize)]
pub struct Parts {
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The form around the Blob (multipart), or `None`: the Blob is the body.
    pub form: Option<Form>,
}

/// A multipart form: its text fields, then the Blob as `field` named `filename`.
#[derive(serde::Serialize)]
pub struct Form {
    /// Text fields, in order, before the file.
    pub fields: Vec<(String, String)>,
    /// The file's field name.
    pub field: String,
    /// The file's name in the form.
    pub filename: String,
}

/// The `Parts` of a task's request (`extra`: a header provider's headers).
pub fn parts(task: &Task, extra: &[(String, String)]) -> Result<Parts, JsValue> {
    // The task's own headers were checked to have distinct names; what follows replaces any of them.
    let mut headers = task.request.headers.clone();
    let set = |headers: &mut Vec<(String, String)>, name: &str, value: &str| {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value.to_string()));
    };
    for (name, value) in extra {
        set(&mut headers, name, value);
    }
    set(&mut headers, "Idempotency-Key", &task.idempotency_key);
    let form = match &task.request.protocol {
        Protocol::Http => {
            if !task
                .request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                && !task.body.mime.is_empty()
            {
                set(&mut headers, "Content-Type", &task.body.mime);
            }
            None
        }
        Protocol::Multipart {
            field,
            filename,
            fields,
        } => Some(Form {
            fields: fields.clone(),
            field: field.clone(),
            filename: filename.clone(),
        }),
        Protocol::Tus { .. } | Protocol::S3Multipart { .. } => {
            return Err(js::error(
                "FerryInvalidProtocol",
                "a resumable upload is carried by its own transport",
            ))
        }
    };
    Ok(Parts { headers, form })
}

/// What a response says, for the state machine and the `completed` event.
pub async fn read_response(response: &web_sys::Response) -> (Outcome, ResponseInfo) {
    read_response_after(response, false).await
}

/// `read_response`, the body's leading whitespace not counted in its excerpt (S3 keeps a long
/// CompleteMultipartUpload's connection open with spaces before its answer).
pub async fn read_response_after(
    response: &web_sys::Response,
    skip_space: bool,
) -> (Outcome, ResponseInfo) {
    let status = response.status();
    let mut kept: Vec<(String, String)> = Vec::new();
    let mut bytes = 0;
    // `Headers` iterates lower-case names in order, a repeated header's values joined.
    {
        for entry in js_sys::Array::from(response.headers().as_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string())
            else {
                continue;
            };
            bytes += name.len() + value.len();
            if bytes > KEPT_HEADER_BYTES {
                break;
            }
            kept.push((name, value));
        }
    }
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = read_excerpt(response, skip_space).await;
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

/// The start of a response body, reading no more than the excerpt keeps (a server that answers with
/// gigabytes, or never ends its body, costs nothing beyond that); the rest is cancelled.
async fn read_excerpt(response: &web_sys::Response, mut skip_space: bool) -> String {
    let Some(body) = response.body() else {
        return String::new();
    };
    let reader = js::get(&body, "getReader");
    let Ok(reader) = reader
        .dyn_into::<js_sys::Function>()
        .and_then(|f| f.call0(&body))
    else {
        return String::new();
    };
    let read: js_sys::Function = js::get(&reader, "read").unchecked_into();
    let mut bytes: Vec<u8> = Vec::new();
    while bytes.len() <= core::BODY_EXCERPT_MAX {
        let Ok(next) = read.call0(&reader).map(js_sys::Promise::from) else {
            break;
        };
        let Ok(chunk) = JsFuture::from(next).await else {
            break;
        };
        if js::get(&chunk, "done").as_bool() == Some(true) {
            break;
        }
        let mut value = js_sys::Uint8Array::new(&js::get(&chunk, "value"));
        if skip_space {
            let space = (0..value.length())
                .find(|&i| !value.get_index(i).is_ascii_whitespace())
                .unwrap_or(value.length());
            value = value.subarray(space, value.length());
            skip_space = value.length() == 0;
        }
        let room = core::BODY_EXCERPT_MAX + 1 - bytes.len();
        let take = (value.length() as usize).min(room);
        let start = bytes.len();
        bytes.resize(start + take, 0);
        value.subarray(0, take as u32).copy_to(&mut bytes[start..]);
    }
    if let Ok(cancel) = js::get(&reader, "cancel").dyn_into::<js_sys::Function>() {
        let _ = cancel.call0(&reader);
    }
    core::excerpt(&String::from_utf8_lossy(&bytes))
}

/// The task's `credentials` on a request's init; fetch's default (`same-origin`) is left to fetch.
pub fn credentials(init: &web_sys::RequestInit, task: &Task) {
    let c = task.request.credentials;
    if c != core::Credentials::SameOrigin {
        js::set(init, "credentials", &JsValue::from_str(c.as_str()));
    }
}

/// `fetch` on whatever global this runs in (worker or window).
pub fn fetch(request: &web_sys::Request) -> js_sys::Promise {
    let global = js::global();
    let f: js_sys::Function = js::get(&global, "fetch").unchecked_into();
    f.call1(&global, request)
        .map(|p| p.unchecked_into())
        .unwrap_or_else(|e| js_sys::Promise::reject(&e))
}

/// Why a `fetch` failed, for the task's `lastError` and the `retrying`/`failed` reason. `fetch`
/// rejects alike for a server it cannot reach and for one on another origin whose CORS policy refuses
/// the request (a setup mistake that retries cannot mend): for a cross-origin URL a `no-cors` HEAD,
/// which needs no preflight, tells the two apart, and the reason then names what the server must allow.
/// `extra` and `fixed`: the headers the request carried besides the task's own.
pub async fn network_error(
    task: &Task,
    url: &str,
    method: &str,
    extra: &[(String, String)],
    fixed: &[&str],
    e: &JsValue,
) -> String {
    let plain = describe(e);
    let type_error = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.name()));
    if type_error.as_deref() != Some("TypeError") {
        return plain;
    }
    let here = js::get(&js::get(&js::global(), "location"), "origin").as_string();
    let Ok(there) = web_sys::Url::new(url).map(|u| u.origin()) else {
        return plain;
    };
    if here.as_deref() == Some(there.as_str()) || !answers(url).await {
        return plain;
    }
    let given = task
        .request
        .headers
        .iter()
        .chain(extra)
        .map(|(n, _)| n.as_str());
    // Each name once, in the order sent (no sort: this message is the only user of one here).
    let mut names: Vec<String> = Vec::new();
    for name in given.chain(fixed.iter().copied()) {
        let name = name.to_ascii_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    core::cors::refused_reason(
        &plain,
        &there,
        &here.unwrap_or_default(),
        method,
        url,
        &names,
        task.request.credentials,
    )
}

/// Whether `url` answers a `no-cors` HEAD within a few seconds (its answer stays unreadable).
async fn answers(url: &str) -> bool {
    let Ok(controller) = web_sys::AbortController::new() else {
        return false;
    };
    let _deadline = Deadline::new(&controller, 5_000);
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    js::set(&init, "mode", &JsValue::from_str("no-cors"));
    js::set(&init, "cache", &JsValue::from_str("no-store"));
    init.set_signal(Some(&controller.signal()));
    let Ok(request) = web_sys::Request::new_with_str_and_init(url, &init) else {
        return false;
    };
    JsFuture::from(fetch(&request)).await.is_ok()
}

/// A JS error as `Name: message`; anything else thrown as `String()` writes it.
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .unwrap_or_else(|| crate::web::js::js_string(e))
}
