//! Live delivery: events go to every open page of their tag over `BroadcastChannel("ferry:<tag>")`;
//! pages of other tags do not listen to that channel. Pages wake the worker with a message.

use crate::core::FerryEvent;
use crate::web::js;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// The channel name of a tag.
pub fn channel_name(tag: &str) -> String {
    format!("ferry:{tag}")
}

thread_local! {
    /// One sending channel per tag, kept open: a burst of uploads does not open and close a channel
    /// for each event.
    static SENDERS: RefCell<litemap::LiteMap<String, web_sys::BroadcastChannel>> =
        const { RefCell::new(litemap::LiteMap::new()) };
}

/// Posts events, in order, to the pages of their tag that are open now. Persisted copies stay in the
/// outbox until acknowledged, so a page that is not open hears them when it registers.
/// Several events of a tag go in one message, `{ ferry: 'events', tag, events }`, in `seq` order: one
/// structured clone and one delivery per page instead of one per event.
pub fn broadcast(events: &[FerryEvent]) {
    let mut tags: Vec<&str> = Vec::new();
    for ev in events {
        if !tags.contains(&ev.tag.as_str()) {
            tags.push(&ev.tag);
        }
    }
    for tag in tags {
        // In `seq` order, kept as they are added (no sort brought into the wasm for this).
        let mut ordered = litemap::LiteMap::new();
        for (i, e) in events.iter().enumerate().filter(|(_, e)| e.tag == tag) {
            ordered.insert((e.seq, i), e);
        }
        let of_tag: Vec<&FerryEvent> = ordered
            .into_tuple_vec()
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let msg = match of_tag.as_slice() {
            [one] => js::to_js(one),
            many => {
                let list: Result<js_sys::Array, _> = many.iter().map(js::to_js).collect();
                list.map(|list| {
                    let msg = message("events", Some(tag), None);
                    js::set(&msg, "events", &list);
                    msg
                })
            }
        };
        if let Ok(msg) = msg {
            post(tag, &msg);
        }
    }
}

/// Tells the open pages of each tag its last event's `seq` (`{ ferry: 'tail', tag, seq }`): a worker
/// instance stopped after it recorded events but before it posted them left its pages short of them,
/// and a page behind the tail reads the outbox.
pub fn tell_tails(tails: &[(String, u64)]) {
    for (tag, seq) in tails {
        let msg = message("tail", Some(tag), None);
        js::set(&msg, "seq", &JsValue::from_f64(*seq as f64));
        post(tag, &msg);
    }
}

/// Posts one message on the tag's channel (kept open, see `SENDERS`).
pub fn post(tag: &str, msg: &JsValue) {
    SENDERS.with(|senders| {
        let mut senders = senders.borrow_mut();
        if !senders.contains_key(tag) {
            match web_sys::BroadcastChannel::new(&channel_name(tag)) {
                Ok(c) => {
                    senders.insert(tag.to_string(), c);
                }
                Err(_) => return,
            }
        }
        if let Some(channel) = senders.get(tag) {
            let _ = channel.post_message(msg);
        }
    });
}

/// A message from a page to the worker: `{ ferry: kind, tag?, id? }`.
pub fn message(kind: &str, tag: Option<&str>, id: Option<&str>) -> JsValue {
    let msg = js_sys::Object::new();
    js::set(&msg, "ferry", &JsValue::from_str(kind));
    if let Some(tag) = tag {
        js::set(&msg, "tag", &JsValue::from_str(tag));
    }
    if let Some(id) = id {
        js::set(&msg, "id", &JsValue::from_str(id));
    }
    msg.into()
}

/// Asks the pages of a tag over its channel and resolves with the first reply carrying the same
/// `requestId`, or `None` after `timeout_ms` (no page of the tag open, or none answered).
pub async fn ask(tag: &str, question: &JsValue, timeout_ms: i32) -> Option<JsValue> {
    let mut replies = gather(&channel_name(tag), question, timeout_ms, true).await;
    (!replies.is_empty()).then(|| replies.swap_remove(0))
}

/// The channel on which worker instances of the origin (an old version still running beside a new
/// one) say they are alive.
const WORKERS: &str = "ferry:workers";

/// The lease holders of the worker instances that answer within `timeout_ms` (this one excluded).
pub async fn live_workers(timeout_ms: i32) -> Vec<String> {
    let question = message("alive?", None, None);
    gather(WORKERS, &question, timeout_ms, false)
        .await
        .iter()
        .filter_map(|r| js::get(r, "holder").as_string())
        .collect()
}

thread_local! {
    /// This instance's answer to `alive?`: the channel and its handler live as long as the instance.
    static RESPONDER: RefCell<Option<(web_sys::BroadcastChannel, MessageHandler)>> =
        const { RefCell::new(None) };
}

type MessageHandler = Closure<dyn FnMut(web_sys::MessageEvent)>;

/// Makes this worker instance answer `alive?` with its lease holder name (once per instance).
pub fn answer_alive(holder: String) {
    if RESPONDER.with(|r| r.borrow().is_some()) {
        return;
    }
    let Ok(channel) = web_sys::BroadcastChannel::new(WORKERS) else {
        return;
    };
    let reply_on = channel.clone();
    let handler =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let data = e.data();
            if js::get(&data, "ferry").as_string().as_deref() != Some("alive?") {
                return;
            }
            let reply = message("alive", None, None);
            js::set(&reply, "requestId", &js::get(&data, "requestId"));
            js::set(&reply, "holder", &JsValue::from_str(&holder));
            let _ = reply_on.post_message(&reply);
        });
    channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    RESPONDER.with(|r| *r.borrow_mut() = Some((channel, handler)));
}

/// Posts `question` on `channel` with a fresh `requestId` and collects the replies carrying it (of
/// another kind than the question) for `timeout_ms`, or until the first one when `first` is set.
async fn gather(channel: &str, question: &JsValue, timeout_ms: i32, first: bool) -> Vec<JsValue> {
    let Ok(channel) = web_sys::BroadcastChannel::new(channel) else {
        return Vec::new();
    };
    let request_id = js::uuid();
    js::set(question, "requestId", &JsValue::from_str(&request_id));
    let kind = js::get(question, "ferry").as_string();
    let replies = Rc::new(RefCell::new(Vec::<JsValue>::new()));
    let mut resolve = None;
    let done = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
    let resolve = resolve.expect("the executor runs at once");
    let (slot, early) = (replies.clone(), resolve.clone());
    let (again, asked) = (channel.clone(), question.clone());
    let handler =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let data = e.data();
            let said = js::get(&data, "ferry").as_string();
            if said.as_deref() == Some("here") {
                // A page of the tag opened while the question waits: it did not hear it, so it
                // is put again (a header provider registered a moment too late answers it).
                let _ = again.post_message(&asked);
                return;
            }
            // A reply carries the question's id under another kind (other questions are skipped).
            if js::get(&data, "requestId").as_string().as_deref() == Some(request_id.as_str())
                && said != kind
            {
                slot.borrow_mut().push(data);
                if first {
                    let _ = early.call0(&JsValue::UNDEFINED);
                }
            }
        });
    channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    let _timer = gloo_timers::callback::Timeout::new(timeout_ms.max(0) as u32, move || {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    });
    let _ = channel.post_message(question);
    let _ = wasm_bindgen_futures::JsFuture::from(done).await;
    channel.set_onmessage(None);
    channel.close();
    // The handler is dropped here, after the channel stopped calling it: nothing leaks per question.
    drop(handler);
    let out = replies.borrow_mut().drain(..).collect();
    out
}
