//! The worker's `beforeSend` (an `installFerry` option), carried out: kept from the worker's start,
//! called before each attempt with the task, its answer read and handed to `core` to check.

use crate::core::scheduler::{self as decide, BeforeSend};
use crate::core::{Error, Protocol, Task};
use crate::web::js;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

thread_local! {
    static HOOK: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Keeps `installFerry`'s `beforeSend` option (a function, or nothing).
pub fn install(options: &JsValue) -> Result<(), Error> {
    if !(options.is_undefined() || options.is_null() || options.is_object()) {
        return Err(Error::options(
            "installFerry(self, options)",
            "options must be an object, such as { beforeSend }",
        ));
    }
    let hook = js::get(options, "beforeSend");
    let hook = if hook.is_undefined() || hook.is_null() {
        None
    } else {
        Some(hook.dyn_into::<js_sys::Function>().map_err(|_| {
            Error::options(
                "beforeSend",
                "must be a function (task) => ({ url, headers }) (or a Promise of it, or of nothing)",
            )
        })?)
    };
    HOOK.with(|h| *h.borrow_mut() = hook);
    Ok(())
}

/// Whether the worker prepares each request itself.
pub fn installed() -> bool {
    HOOK.with(|h| h.borrow().is_some())
}

/// What an attempt of `task` sends, given the page's headers (`extra`; `Err`: why nothing is sent):
/// the headers with `beforeSend`'s added, and the URL it gave, if any. Without a `beforeSend`, `extra`
/// as it is.
pub async fn prepare(
    task: &Task,
    extra: Result<Vec<(String, String)>, String>,
) -> (Result<Vec<(String, String)>, String>, Option<String>) {
    let Some(hook) = HOOK.with(|h| h.borrow().clone()) else {
        return (extra, None);
    };
    let Ok(page) = extra else {
        return (extra, None);
    };
    // An S3 multipart upload asks it for each of its requests instead (`prepare_step`).
    if matches!(task.request.protocol, Protocol::S3Multipart { .. }) {
        return (Ok(page), None);
    }
    // A `cancel()` or `clear()` while it runs finds this handle (`transport::abort`): then nothing
    // is sent, whatever it answers. The send registers its own handle once it starts.
    let stop = web_sys::AbortController::new().ok();
    if let Some(stop) = &stop {
        crate::web::transport::track(&task.id, stop.clone());
    }
    let answer = ask(&hook, task, None).await;
    match &stop {
        Some(stop) if stop.signal().aborted() => {
            return (
                Err("the attempt was stopped while beforeSend ran".into()),
                None,
            )
        }
        Some(_) => crate::web::transport::untrack(&task.id),
        None => {}
    }
    match decide::before_send(task, answer) {
        Ok(prepared) => (
            Ok(decide::merge_headers(page, prepared.headers)),
            prepared.url,
        ),
        Err(why) => (Err(why), None),
    }
}

/// What `beforeSend` gives for a tus upload's termination (outside any attempt): asked with the task
/// alone, as for an attempt of it, so that its headers (a token) go with the `DELETE` too.
pub async fn given(task: &Task) -> Result<decide::Prepared, String> {
    match HOOK.with(|h| h.borrow().clone()) {
        Some(hook) => decide::before_send(task, ask(&hook, task, None).await),
        None => Ok(decide::Prepared::default()),
    }
}

/// What one request of an S3 multipart upload sends: `beforeSend(task, step)`, asked with the request's
/// step (`{ step: 'create' }`, `{ step: 'part', uploadId, partNumber }`, `{ step: 'complete', uploadId }`
/// or `{ step: 'abort', uploadId }`). Without a `beforeSend`, nothing is added. `Err(why)`: nothing is sent.
pub async fn prepare_step(task: &Task, step: &JsValue) -> Result<decide::Prepared, String> {
    match HOOK.with(|h| h.borrow().clone()) {
        Some(hook) => decide::before_send(task, ask(&hook, task, Some(step)).await),
        None => Ok(decide::Prepared::default()),
    }
}

/// Calls `hook` with the task (and the request's step, for S3 multipart) and waits for its answer, at
/// most `BEFORE_SEND_WAIT_MS`.
async fn ask(hook: &js_sys::Function, task: &Task, step: Option<&JsValue>) -> BeforeSend {
    let arg = match js::to_js(task) {
        Ok(v) => v,
        Err(e) => return BeforeSend::Failed(e.to_string()),
    };
    let called = match step {
        Some(step) => hook.call2(&JsValue::UNDEFINED, &arg, step),
        None => hook.call1(&JsValue::UNDEFINED, &arg),
    };
    let called = match called {
        Ok(v) => v,
        Err(e) => return BeforeSend::Failed(crate::web::transport::describe(&e)),
    };
    let (reply, replied) = js::reply();
    let reply = Rc::new(RefCell::new(Some(reply)));
    let late = reply.clone();
    let _timer =
        gloo_timers::callback::Timeout::new(decide::BEFORE_SEND_WAIT_MS as u32, move || {
            if let Some(r) = late.borrow_mut().take() {
                r.send(BeforeSend::Late);
            }
        });
    let answer = js_sys::Promise::resolve(&called);
    wasm_bindgen_futures::spawn_local(async move {
        let got = match wasm_bindgen_futures::JsFuture::from(answer).await {
            Ok(v) => read(&v),
            Err(e) => BeforeSend::Failed(crate::web::transport::describe(&e)),
        };
        if let Some(r) = reply.borrow_mut().take() {
            r.send(got);
        }
    });
    replied.wait().await.unwrap_or(BeforeSend::Late)
}

/// `beforeSend`'s resolved value: nothing, or `{ url, headers }` (a URL as a string or a `URL`,
/// resolved against the worker's location; headers as a plain object, a `Headers` or pairs).
fn read(v: &JsValue) -> BeforeSend {
    if v.is_undefined() || v.is_null() {
        return BeforeSend::Nothing;
    }
    if !v.is_object() {
        return BeforeSend::Failed(format!(
            "resolved with {}; resolve with {{ url, headers }} or nothing",
            js::js_string(v)
        ));
    }
    let raw = js::get(v, "url");
    let url = if raw.is_undefined() || raw.is_null() {
        None
    } else {
        let Some(given) = raw
            .as_string()
            .or_else(|| raw.dyn_ref::<web_sys::Url>().map(|u| u.href()))
        else {
            return BeforeSend::Failed(format!(
                "gave url {}; give a string or a URL",
                js::js_string(&raw)
            ));
        };
        let base = js::get(&js::get(&js::global(), "location"), "href")
            .as_string()
            .unwrap_or_default();
        let resolved = web_sys::Url::new_with_base(&given, &base)
            .ok()
            .map(|u| u.href());
        Some((given, resolved))
    };
    let headers = js::get(v, "headers");
    let headers = if headers.is_undefined() || headers.is_null() {
        Vec::new()
    } else {
        match crate::web::request::header_pairs(&headers) {
            Ok(h) => h,
            Err(e) => return BeforeSend::Failed(e.to_string()),
        }
    };
    BeforeSend::Gave { url, headers }
}
