//! Crossing the JS boundary: typed errors, clock, randomness, and (de)serialisation helpers.

use crate::core;
use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// A JS `Error` whose `name` is a stable Ferry code and whose message says what to do.
pub fn error(name: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name(name);
    e.into()
}

/// A core error as a JS `Error` (`name` = `FerryInvalidUrl`, ...).
pub fn core_error(e: &core::Error) -> JsValue {
    error(e.name(), &e.to_string())
}

/// A failed storage operation, named after what was being done.
pub fn storage_error(operation: &str, cause: impl std::fmt::Display) -> core::Error {
    core::Error::Storage {
        op: operation.to_string(),
        message: cause.to_string(),
    }
}

/// What a thrown JS value says: an `Error`'s message, or the value itself.
pub fn js_message(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{v:?}"))
}

/// A JS value as the page's own `String(v)` writes it (`undefined`, `42`, `Symbol(x)`), for messages.
pub fn js_string(v: &JsValue) -> String {
    let to_string: js_sys::Function = get(&global(), "String").unchecked_into();
    to_string
        .call1(&JsValue::UNDEFINED, v)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch (the only clock the layer reads; core takes it as an argument).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// 64 random bits for retry jitter.
pub fn random_u64() -> u64 {
    let hi = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let lo = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (hi << 32) | lo
}

/// A random UUID (task ids, idempotency keys) from the platform's CSPRNG.
pub fn uuid() -> String {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok();
    crypto
        .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
        .map(|c| c.random_uuid())
        .unwrap_or_else(|| format!("{:016x}-{:016x}", random_u64(), random_u64()))
}

/// Serialises into plain JS objects with numbers (not BigInts): what IndexedDB indexes and pages read.
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, core::Error> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| storage_error("serialise", e))
}

/// Reads a stored or received JS value back into a Rust type.
pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, core::Error> {
    serde_wasm_bindgen::from_value(value).map_err(|e| storage_error("deserialise", e))
}

/// `obj[key]`, or `undefined`.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key] = value` on a fresh or existing object.
pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

/// The global scope (window or worker): never `window()`, this code runs in workers.
pub fn global() -> JsValue {
    js_sys::global().into()
}

/// A one-shot answer between two tasks of this thread: `send` it once, `wait` for it.
pub struct Reply<T> {
    slot: std::rc::Rc<std::cell::RefCell<Option<T>>>,
    resolve: js_sys::Function,
}

/// The waiting side of a `Reply`.
pub struct Replied<T> {
    slot: std::rc::Rc<std::cell::RefCell<Option<T>>>,
    promise: js_sys::Promise,
}

/// A `Reply` and the `Replied` that waits for it.
pub fn reply<T>() -> (Reply<T>, Replied<T>) {
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
    let resolve = resolve.expect("the executor runs at once");
    (
        Reply {
            slot: slot.clone(),
            resolve,
        },
        Replied { slot, promise },
    )
}

impl<T> Reply<T> {
    /// Hands `value` to the waiting side and wakes it.
    pub fn send(self, value: T) {
        *self.slot.borrow_mut() = Some(value);
        let _ = self.resolve.call0(&JsValue::UNDEFINED);
    }
}

impl<T> Replied<T> {
    /// The value sent (`None`: the promise settled without one).
    pub async fn wait(self) -> Option<T> {
        let _ = wasm_bindgen_futures::JsFuture::from(self.promise).await;
        let value = self.slot.borrow_mut().take();
        value
    }
}
