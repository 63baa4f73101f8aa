//! The page's calls, answered in the service worker. The page entry is plain JavaScript that asks the
//! worker (a message with a reply port): the page downloads none of the engine, and every decision,
//! validation and write happens here, in one place. A call is `{ op, tag, ... }`; it resolves with
//! what the page's method resolves with, or rejects with the typed error the page rethrows.
#![cfg(target_arch = "wasm32")]

use crate::core::{self, Error, SessionOptions};
use crate::web::js::{self, core_error, now_ms};
use crate::web::store::{SessionRecord, Store};
use crate::web::{bgfetch, messaging, request, s3, transport, tus};
use wasm_bindgen::prelude::*;

mod acks;
mod background_fetch;
mod upload;

/// Answers one call of a page (the glue passes the message's data and replies with the result).
#[wasm_bindgen]
pub async fn worker_call(call: JsValue) -> Result<JsValue, JsValue> {
    console_error_panic_hook::set_once();
    let store = crate::worker::store().await.map_err(|e| core_error(&e))?;
    answer(&store, &call).await.map_err(|e| match e {
        Failed::Core(e) => core_error(&e),
        Failed::Js(v) => v,
    })
}

/// Why a call failed: a core error, or a JS error made already (one that carries an `index`).
pub(crate) enum Failed {
    Core(Error),
    Js(JsValue),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Core(e)
    }
}

async fn answer(store: &Store, call: &JsValue) -> Result<JsValue, Failed> {
    let op = js::get(call, "op").as_string().unwrap_or_default();
    let tag = tag_of(call)?;
    Ok(match op.as_str() {
        "register" => register(store, &tag, call).await?,
        "upload" => upload::upload(store, &tag, call).await?,
        "bgfetchNext" => background_fetch::next(store, &tag, call).await?,
        "bgfetchRefused" => background_fetch::refused(store, &tag, call).await?,
        "bgfetchStarted" => background_fetch::started(store, call).await?,
        "bgfetchProgress" => background_fetch::progress(store, call).await?,
        "bgfetchDone" => background_fetch::done(store, call).await?,
        "list" => {
            let out = js_sys::Array::new();
            for t in &store.list(&tag).await? {
                out.push(&js::to_js(t)?);
            }
            out.into()
        }
        "get" => match js::get(call, "id").as_string() {
            Some(id) => match own(&tag, store.get(&id).await?) {
                Some(t) => js::to_js(&t)?,
                None => JsValue::NULL,
            },
            None => JsValue::NULL,
        },
        "cancel" => cancel(store, &tag, call).await?,
        "clear" => {
            let live: Vec<core::Task> = store
                .list(&tag)
                .await?
                .into_iter()
                .filter(|t| !t.state.is_terminal())
                .collect();
            let n = store.clear(&tag).await?;
            for t in live {
                if t.state == core::State::InFlight {
                    stop_attempt(store, &t).await;
                } else {
                    end_at_server(store, &t).await;
                }
            }
            JsValue::from(n)
        }
        "pause" | "resume" => {
            set_paused(store, &tag, op == "pause", call).await?;
            if op == "resume" {
                // A pump running here looks again at once (as after an upload call).
                crate::scheduler::news();
            }
            JsValue::UNDEFINED
        }
        "ack" => {
            let seq = js::get(call, "seq").as_f64().unwrap_or(f64::NAN);
            if !(seq.is_finite() && seq >= 0.0 && seq.fract() == 0.0) {
                return Err(Error::options(
                    "seq",
                    "pass the seq of a delivered event (a whole number)",
                )
                .into());
            }
            store.ack(&tag, seq as u64).await?;
            JsValue::UNDEFINED
        }
        "ackEach" => {
            let seqs: Vec<u64> = js::from_js(js::get(call, "seqs"))?;
            acks::ack_each(store, &tag, seqs).await?;
            JsValue::UNDEFINED
        }
        "events" => {
            let after = js::get(call, "after").as_f64().unwrap_or(0.0) as u64;
            crate::web::launch::dismiss(&tag);
            js::to_js(&store.events(&tag, after).await?)?
        }
        other => {
            return Err(Error::options(
                "call",
                format!(
                    "this service worker does not know {:?}: is it running the same Ferry version as the page?",
                    js::js_string(&JsValue::from_str(other))
                ),
            )
            .into())
        }
    })
}

fn tag_of(call: &JsValue) -> Result<String, Error> {
    let tag = js::get(call, "tag");
    let tag = tag.as_string().ok_or_else(|| Error::InvalidTag {
        tag: js::js_string(&tag),
        reason: "the tag must be a string".into(),
    })?;
    core::validate_tag(&tag)?;
    Ok(tag)
}

/// `Ferry.register`: validates the options and records the session (its pause kept), in one
/// transaction with reading the record (a `clear()` elsewhere cannot slip between). Resolves with the
/// validated options, which the page passes back with each upload (its own retry policy and window).
async fn register(store: &Store, tag: &str, call: &JsValue) -> Result<JsValue, Error> {
    let options = js::get(call, "options");
    let options = core::validate_session_options(&request::session_options(&options)?)?;
    let page_url = js::get(call, "pageUrl").as_string();
    store
        .update_session(
            tag,
            Box::new(|previous| {
                let paused = previous.as_ref().is_some_and(|s| s.paused);
                // Headers are kept only while the session opts in to it.
                let last_headers = previous
                    .and_then(|s| s.last_headers)
                    .filter(|_| options.header_fallback == core::HeaderFallback::Last);
                Some(SessionRecord {
                    tag: tag.to_string(),
                    options,
                    paused,
                    page_url,
                    last_headers,
                    owner: Some(crate::scheduler::scope()),
                })
            }),
        )
        .await?;
    let answer = js_sys::Object::new();
    js::set(&answer, "options", &js::to_js(&options)?);
    js::set(
        &answer,
        "manualAck",
        &JsValue::from_bool(options.manual_ack),
    );
    if let Some(at) = crate::scheduler::wake_for_new_page(store, tag).await {
        js::set(&answer, "wakeAt", &JsValue::from_f64(at as f64));
    }
    Ok(answer.into())
}

/// The session options a page passed back (those `register` answered it with).
pub(crate) fn options_of(call: &JsValue) -> Result<SessionOptions, Error> {
    js::from_js(js::get(call, "options"))
}

/// Cancels a task: `true` if it was still pending, `false` if it had already ended.
async fn cancel(store: &Store, tag: &str, call: &JsValue) -> Result<JsValue, Error> {
    let id = js::get(call, "id").as_string().unwrap_or_default();
    let Some(task) = own(tag, store.get(&id).await?) else {
        return Err(Error::UnknownTask { id });
    };
    if task.state.is_terminal() {
        return Ok(JsValue::FALSE);
    }
    // The task as cancelled: an upload its attempt created meanwhile is in it, and is ended too,
    // with the headers the task was queued with (the cancelled record has dropped them).
    let (mut cancelled, events) = store
        .transition(&id, core::Input::Cancel, now_ms(), 0, None)
        .await?;
    messaging::broadcast(&events);
    cancelled.request.headers = task.request.headers;
    stop_attempt(store, &cancelled).await;
    Ok(JsValue::TRUE)
}

/// Stops a task's running attempt wherever it runs: this worker's fetch, the browser's Background
/// Fetch, a tus or S3 multipart upload at its server.
async fn stop_attempt(store: &Store, task: &core::Task) {
    transport::abort(&task.id);
    bgfetch::abort(&crate::scheduler::registration(), task).await;
    end_at_server(store, task).await;
}

/// Ends what a resumable upload keeps at its server (a tus upload, an S3 multipart upload's parts).
/// A tus `DELETE` carries what an attempt of the task would: its headers, the page's provider's and
/// `beforeSend`'s (an S3 abort is signed by `beforeSend` for its own step).
pub(crate) async fn end_at_server(store: &Store, task: &core::Task) {
    if tus::upload_url(task).is_some() {
        let extra = crate::scheduler::termination_headers(store, task).await;
        tus::terminate(task, &extra).await;
    }
    s3::abort(task).await;
}

/// Pauses or resumes the tag in one transaction with reading its record (a `clear()` racing it never
/// gets dropped headers written back).
async fn set_paused(store: &Store, tag: &str, paused: bool, call: &JsValue) -> Result<(), Error> {
    let page_url = js::get(call, "pageUrl").as_string();
    let options = options_of(call)?;
    let tag_owned = tag.to_string();
    store
        .update_session(
            tag,
            Box::new(move |previous| {
                Some(SessionRecord {
                    tag: tag_owned,
                    options,
                    paused,
                    page_url,
                    last_headers: previous.and_then(|s| s.last_headers),
                    owner: Some(crate::scheduler::scope()),
                })
            }),
        )
        .await
}

/// A task only belongs to the session of its tag.
fn own(tag: &str, task: Option<core::Task>) -> Option<core::Task> {
    task.filter(|t| t.tag == tag)
}
