//! Bindings web-sys does not have (Background Sync) or keeps behind `web_sys_unstable_apis`
//! (IndexedDB transaction durability). Each is feature-detected before use: Firefox has no
//! `registration.sync` at all.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `ServiceWorkerRegistration` seen with its optional `sync` member.
    #[wasm_bindgen(extends = web_sys::ServiceWorkerRegistration)]
    pub type RegistrationExt;
    /// `registration.sync`: `undefined` where Background Sync does not exist.
    #[wasm_bindgen(method, getter)]
    pub fn sync(this: &RegistrationExt) -> Option<SyncManager>;

    /// The Background Sync manager.
    pub type SyncManager;
    /// Asks the browser to fire a `sync` event with this tag once it is online.
    #[wasm_bindgen(method, catch)]
    pub fn register(this: &SyncManager, tag: &str) -> Result<js_sys::Promise, JsValue>;

    /// The `sync` event a service worker receives.
    #[wasm_bindgen(extends = web_sys::ExtendableEvent)]
    pub type SyncEvent;
    /// The tag given to `register`.
    #[wasm_bindgen(method, getter)]
    pub fn tag(this: &SyncEvent) -> String;
    /// True on the browser's final attempt for this registration.
    #[wasm_bindgen(method, getter, js_name = lastChance)]
    pub fn last_chance(this: &SyncEvent) -> bool;

    /// `IDBDatabase` seen with the options argument of `transaction`.
    #[wasm_bindgen(extends = web_sys::IdbDatabase)]
    pub type DatabaseExt;
    /// `IDBDatabase.transaction(names, mode, {durability})`.
    #[wasm_bindgen(method, catch, js_name = transaction)]
    pub fn transaction_with_options(
        this: &DatabaseExt,
        names: &js_sys::Array,
        mode: &str,
        options: &JsValue,
    ) -> Result<web_sys::IdbTransaction, JsValue>;
}

/// Registers a sync for `tag` when the browser has Background Sync; `false` where it does not (or the
/// permission is denied), so the caller falls back to waking the worker by message.
pub async fn register_sync(registration: &web_sys::ServiceWorkerRegistration, tag: &str) -> bool {
    let ext: &RegistrationExt = registration.unchecked_ref();
    let has = js_sys::Reflect::has(registration, &JsValue::from_str("sync")).unwrap_or(false);
    let Some(manager) = has.then(|| ext.sync()).flatten() else {
        return false;
    };
    match manager.register(tag) {
        Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await.is_ok(),
        Err(_) => false,
    }
}

#[wasm_bindgen]
extern "C" {
    /// `ServiceWorkerRegistration` seen with its optional `backgroundFetch` member.
    #[wasm_bindgen(extends = web_sys::ServiceWorkerRegistration)]
    pub type BackgroundFetchHost;
    /// `registration.backgroundFetch`: `undefined` where Background Fetch does not exist.
    #[wasm_bindgen(method, getter, js_name = backgroundFetch)]
    pub fn background_fetch(this: &BackgroundFetchHost) -> Option<BackgroundFetchManager>;

    /// Starts and finds browser-owned fetches.
    #[derive(Clone)]
    pub type BackgroundFetchManager;
    /// `fetch(id, requests, options)`: only allowed from a page (a worker gets NotAllowedError).
    #[wasm_bindgen(method, catch)]
    pub fn fetch(
        this: &BackgroundFetchManager,
        id: &str,
        requests: &JsValue,
        options: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
    /// `get(id)`: the registration, or `undefined` once it ended.
    #[wasm_bindgen(method, catch)]
    pub fn get(this: &BackgroundFetchManager, id: &str) -> Result<js_sys::Promise, JsValue>;

    /// One browser-owned fetch.
    #[wasm_bindgen(extends = web_sys::EventTarget)]
    pub type BackgroundFetchRegistration;
    /// Its id (Ferry uses the task id).
    #[wasm_bindgen(method, getter)]
    pub fn id(this: &BackgroundFetchRegistration) -> String;
    /// Bytes of request bodies sent so far.
    #[wasm_bindgen(method, getter)]
    pub fn uploaded(this: &BackgroundFetchRegistration) -> f64;
    /// `""`, `"aborted"`, `"bad-status"`, `"fetch-error"`, `"quota-exceeded"`, `"download-total-exceeded"`.
    #[wasm_bindgen(method, getter, js_name = failureReason)]
    pub fn failure_reason(this: &BackgroundFetchRegistration) -> String;
    /// The request/response records.
    #[wasm_bindgen(method, js_name = matchAll)]
    pub fn match_all(this: &BackgroundFetchRegistration) -> js_sys::Promise;
    /// Aborts it.
    #[wasm_bindgen(method)]
    pub fn abort(this: &BackgroundFetchRegistration) -> js_sys::Promise;

    /// `backgroundfetch*` events in the worker.
    #[wasm_bindgen(extends = web_sys::ExtendableEvent)]
    pub type BackgroundFetchEvent;
    /// The fetch the event is about.
    #[wasm_bindgen(method, getter)]
    pub fn registration(this: &BackgroundFetchEvent) -> BackgroundFetchRegistration;
}
