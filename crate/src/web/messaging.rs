//! Live delivery: events go to every open page of their tag over `BroadcastChannel("ferry:<tag>")`;
//! pages of other tags do not listen to that channel. Pages wake the worker with a message.

use crate::core::FerryEvent;
use crate::web::js;
use wasm_bindgen::JsValue;

/// The channel name of a tag.
pub fn channel_name(tag: &str) -> String {
    format!("ferry:{tag}")
}

/// Posts events, in order, to the pages of their tag that are open now. Persisted copies stay in the
/// outbox until acknowledged, so a page that is not open hears them when it registers.
pub fn broadcast(events: &[FerryEvent]) {
    let Some(first) = events.first() else { return };
    let Ok(channel) = web_sys::BroadcastChannel::new(&channel_name(&first.tag)) else {
        return;
    };
    for ev in events {
        if ev.tag != first.tag {
            broadcast(std::slice::from_ref(ev));
            continue;
        }
        if let Ok(v) = js::to_js(ev) {
            let _ = channel.post_message(&v);
        }
    }
    channel.close();
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
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let channel = web_sys::BroadcastChannel::new(&channel_name(tag)).ok()?;
    let request_id = js::uuid();
    js::set(question, "requestId", &JsValue::from_str(&request_id));
    let kind = js::get(question, "ferry").as_string();
    let answer = std::rc::Rc::new(std::cell::RefCell::new(None::<JsValue>));
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let (slot, done, id, kind) = (
            answer.clone(),
            resolve.clone(),
            request_id.clone(),
            kind.clone(),
        );
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let data = e.data();
                // A reply carries the question's id under another kind (other workers' questions are skipped).
                if js::get(&data, "requestId").as_string().as_deref() == Some(id.as_str())
                    && js::get(&data, "ferry").as_string() != kind
                {
                    slot.borrow_mut().get_or_insert(data);
                    let _ = done.call0(&JsValue::UNDEFINED);
                }
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let set_timeout: js_sys::Function = js::get(&js::global(), "setTimeout").unchecked_into();
        let _ = set_timeout.call2(&js::global(), &resolve, &JsValue::from(timeout_ms));
    });
    let _ = channel.post_message(question);
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    channel.set_onmessage(None);
    channel.close();
    let reply = answer.borrow_mut().take();
    reply
}
