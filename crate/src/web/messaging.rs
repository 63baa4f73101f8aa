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
    let Ok(channel) = web_sys::BroadcastChannel::new(&channel_name(&first.tag)) else { return };
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
