//! Helpers shared by the service-worker store suites (`tests/store_*.rs`).
//!
//! Every suite runs inside a real service worker (`run_in_service_worker`) and gives each test its
//! own database (`Fixture::new`), so tests never see each other's records. Raw IndexedDB access
//! (`raw_open`, `count`, `await_request`) lets a test look past the `Store` API: schema names,
//! record counts, and fixtures written the way an older version of Ferry would have written them.
//!
//! Each suite uses a different subset of these helpers.
#![allow(dead_code)]

use ferry::core::{self, BodyMeta, Method, NewTask, Protocol, Request, RetryPolicy, Task};
use ferry::web::store::Store;
use js_sys::{Array, Promise, Uint8Array};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
};

/// A fixed "now" for tests: times are explicit arguments of the store, so tests use a synthetic
/// clock and stay deterministic (tasks are created at `T0`; retention is 7 days after that).
pub const T0: u64 = 1_700_000_000_000;

/// A database name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    let r = (js_sys::Math::random() * 1e15) as u64;
    format!("ferry-test-{prefix}-{}-{r:x}", js_sys::Date::now() as u64)
}

/// One test's own database and the `Store` connected to it.
pub struct Fixture {
    pub store: Store,
    pub name: String,
}

impl Fixture {
    pub async fn new(prefix: &str) -> Fixture {
        let name = unique_name(prefix);
        let store = Store::open_named(&name).await.expect("open a fresh store");
        assert_eq!(store.name(), name);
        Fixture { store, name }
    }

    /// Closes the connection and deletes the database.
    pub async fn finish(self) {
        self.store.close();
        let outcome = delete_db(&self.name).await;
        assert!(
            matches!(outcome, Finished::Success(_)),
            "deleting {} after the test: {outcome:?}",
            self.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks and Blobs
// ---------------------------------------------------------------------------------------------

/// The request every test task carries (the store never sends it).
pub fn request() -> Request {
    Request {
        url: "https://upload.example.test/files".into(),
        method: Method::Post,
        headers: vec![("x-test".into(), "1".into())],
        protocol: Protocol::Http,
        credentials: Default::default(),
    }
}

/// A fresh `Queued` task created at `T0`, due at `due` (`T0` when `None`), with a body of `size` bytes.
pub fn task_due(id: &str, tag: &str, due: Option<u64>, size: u64) -> Task {
    core::new_task(NewTask {
        id: id.into(),
        tag: tag.into(),
        seq: 0,
        request: request(),
        body: BodyMeta {
            size,
            mime: "application/octet-stream".into(),
            name: Some(format!("{id}.bin")),
        },
        idempotency_key: format!("idem-{id}"),
        now_ms: T0,
        expires_at: None,
        earliest_begin: due,
        retry: RetryPolicy::default(),
    })
}

/// A fresh `Queued` task due at `T0`, whose body is `bytes_for(id)`.
pub fn task(id: &str, tag: &str) -> Task {
    task_due(id, tag, None, bytes_for(id).len() as u64)
}

/// The scheduler's world at `now`: online, no Save-Data.
pub fn env(now: u64) -> core::scheduler::Env {
    core::scheduler::Env {
        now_ms: now,
        online: true,
        save_data: false,
    }
}

/// Distinct, recognisable bytes for a task id (so a mixed-up Blob is caught).
pub fn bytes_for(id: &str) -> Vec<u8> {
    let mut v = format!("payload of {id}:").into_bytes();
    v.extend((0..=255u8).map(|b| b ^ (id.len() as u8)));
    v
}

/// A Blob holding `bytes`.
pub fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).expect("new Blob")
}

/// The bytes of a Blob (reading it back is fine in tests; the library never does this).
pub async fn bytes_of(blob: &web_sys::Blob) -> Vec<u8> {
    let buf = JsFuture::from(blob.array_buffer())
        .await
        .expect("blob.arrayBuffer()");
    Uint8Array::new(&buf).to_vec()
}

/// Enqueues `task` with the Blob `bytes_for(task.id)`; returns the stored task.
pub async fn enqueue(store: &Store, t: &Task) -> Task {
    let (stored, events) = store
        .enqueue(t, &blob(&bytes_for(&t.id)))
        .await
        .expect("enqueue");
    assert_eq!(events.len(), 1, "enqueue appends exactly one event");
    stored
}

/// Asserts the stored Blob of `id` holds exactly `bytes_for(id)`.
pub async fn assert_blob_intact(store: &Store, id: &str) {
    let b = store
        .blob(id)
        .await
        .expect("read blob")
        .unwrap_or_else(|| panic!("Blob of {id} is missing"));
    assert_eq!(
        bytes_of(&b).await,
        bytes_for(id),
        "Blob of {id} holds other bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Raw IndexedDB
// ---------------------------------------------------------------------------------------------

/// How a request ended.
#[derive(Debug)]
pub enum Finished {
    Success(JsValue),
    Error(String),
    TimedOut,
}

/// The worker's `indexedDB`.
pub fn factory() -> IdbFactory {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    scope
        .indexed_db()
        .expect("indexedDB access")
        .expect("indexedDB exists")
}

/// A promise that resolves with `value` after `ms`.
pub fn delay(ms: u32, value: JsValue) -> Promise {
    Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: js_sys::Function = js_sys::Reflect::get(&global, &"setTimeout".into())
            .unwrap()
            .unchecked_into();
        let _ = set_timeout.call3(&global, &resolve, &JsValue::from(ms), &value);
    })
}

pub async fn sleep(ms: u32) {
    let _ = JsFuture::from(delay(ms, JsValue::UNDEFINED)).await;
}

/// Waits for `request` (success or error), at most `timeout_ms`.
pub async fn await_request(request: &IdbRequest, timeout_ms: u32) -> Finished {
    if request.ready_state() == web_sys::IdbRequestReadyState::Done {
        return match request.error() {
            Ok(Some(d)) => Finished::Error(format!("{}: {}", d.name(), d.message())),
            _ => Finished::Success(request.result().unwrap_or(JsValue::UNDEFINED)),
        };
    }
    let req = request.clone();
    let done = Promise::new(&mut |resolve, _reject| {
        let (r_ok, r_err) = (req.clone(), req.clone());
        let resolve2 = resolve.clone();
        let ok = Closure::once_into_js(move |_: web_sys::Event| {
            let result = r_ok.result().unwrap_or(JsValue::UNDEFINED);
            let _ = resolve.call1(&JsValue::NULL, &Array::of2(&"ok".into(), &result));
        });
        let err = Closure::once_into_js(move |e: web_sys::Event| {
            // Keep the failed request from aborting anything else the test is doing.
            e.prevent_default();
            let msg = r_err
                .error()
                .ok()
                .flatten()
                .map(|d| format!("{}: {}", d.name(), d.message()))
                .unwrap_or_default();
            let _ = resolve2.call1(&JsValue::NULL, &Array::of2(&"error".into(), &msg.into()));
        });
        req.set_onsuccess(Some(ok.unchecked_ref()));
        req.set_onerror(Some(err.unchecked_ref()));
    });
    let timeout = delay(
        timeout_ms,
        Array::of2(&"timeout".into(), &JsValue::UNDEFINED).into(),
    );
    let winner: Array = JsFuture::from(Promise::race(&Array::of2(&done, &timeout)))
        .await
        .expect("race")
        .unchecked_into();
    match winner.get(0).as_string().as_deref() {
        Some("ok") => Finished::Success(winner.get(1)),
        Some("error") => Finished::Error(winner.get(1).as_string().unwrap_or_default()),
        _ => Finished::TimedOut,
    }
}

/// Like `await_request` for open/delete requests, also reporting whether `blocked` fired (another
/// connection stayed open after it was told a version change was waiting).
pub async fn await_open_request(request: &IdbOpenDbRequest, timeout_ms: u32) -> (Finished, bool) {
    let blocked = Rc::new(Cell::new(false));
    let flag = blocked.clone();
    let on_blocked = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| flag.set(true));
    request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
    let outcome = await_request(request, timeout_ms).await;
    request.set_onblocked(None);
    drop(on_blocked);
    (outcome, blocked.get())
}

/// Deletes a database, waiting up to 10 s.
pub async fn delete_db(name: &str) -> Finished {
    let request = factory().delete_database(name).expect("deleteDatabase");
    await_open_request(&request, 10_000).await.0
}

/// A schema upgrade callback for `raw_open`.
pub type Upgrade = Box<dyn FnOnce(&IdbDatabase, &IdbTransaction, f64)>;

/// Opens a raw connection; `version` None opens the current version. `upgrade` runs inside
/// `upgradeneeded` with the old version.
pub async fn raw_open(name: &str, version: Option<u32>, upgrade: Option<Upgrade>) -> IdbDatabase {
    let request = match version {
        Some(v) => factory().open_with_u32(name, v),
        None => factory().open(name),
    }
    .expect("indexedDB.open");
    let on_upgrade = upgrade.map(|f| {
        let req = request.clone();
        Closure::once_into_js(move |e: web_sys::IdbVersionChangeEvent| {
            let db: IdbDatabase = req.result().expect("db in upgradeneeded").unchecked_into();
            let tx = req.transaction().expect("version change transaction");
            f(&db, &tx, e.old_version());
        })
    });
    if let Some(cb) = &on_upgrade {
        request.set_onupgradeneeded(Some(cb.unchecked_ref()));
    }
    match await_open_request(&request, 10_000).await {
        (Finished::Success(db), _) => db.unchecked_into(),
        (other, blocked) => panic!("opening {name} (v{version:?}): {other:?}, blocked: {blocked}"),
    }
}

/// A raw transaction.
pub fn raw_tx(db: &IdbDatabase, stores: &[&str], write: bool) -> IdbTransaction {
    let names: Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
    let mode = if write {
        IdbTransactionMode::Readwrite
    } else {
        IdbTransactionMode::Readonly
    };
    db.transaction_with_str_sequence_and_mode(&names, mode)
        .expect("raw transaction")
}

/// Waits until `tx` commits (`complete`) or fails; `true` on commit.
pub async fn tx_done(tx: &IdbTransaction) -> bool {
    let t = tx.clone();
    let p = Promise::new(&mut |resolve, _| {
        let r2 = resolve.clone();
        let ok = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::TRUE);
        });
        let fail = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = r2.call1(&JsValue::NULL, &JsValue::FALSE);
        });
        t.set_oncomplete(Some(ok.unchecked_ref()));
        t.set_onabort(Some(fail.unchecked_ref()));
    });
    JsFuture::from(p)
        .await
        .map(|v| v.is_truthy())
        .unwrap_or(false)
}

/// Number of records in `store_name`, through a separate raw connection.
pub async fn count(name: &str, store_name: &str) -> u32 {
    let db = raw_open(name, None, None).await;
    let tx = raw_tx(&db, &[store_name], false);
    let req = tx.object_store(store_name).unwrap().count().unwrap();
    let n = match await_request(&req, 10_000).await {
        Finished::Success(v) => v.as_f64().expect("count is a number") as u32,
        other => panic!("count {store_name}: {other:?}"),
    };
    db.close();
    n
}

/// One record of `store_name` by key, through a separate raw connection.
pub async fn raw_get(name: &str, store_name: &str, key: &JsValue) -> JsValue {
    let db = raw_open(name, None, None).await;
    let tx = raw_tx(&db, &[store_name], false);
    let req = tx.object_store(store_name).unwrap().get(key).unwrap();
    let v = match await_request(&req, 10_000).await {
        Finished::Success(v) => v,
        other => panic!("get from {store_name}: {other:?}"),
    };
    db.close();
    v
}

/// Names in a `DOMStringList`, sorted.
pub fn names(list: &web_sys::DomStringList) -> Vec<String> {
    let mut v: Vec<String> = (0..list.length()).filter_map(|i| list.item(i)).collect();
    v.sort();
    v
}

/// The key path of a store or index as a comparable string (`"id"`, `"tag,seq"`, or `"null"`).
pub fn key_path_string(kp: &JsValue) -> String {
    if kp.is_null() {
        "null".into()
    } else if let Some(s) = kp.as_string() {
        s
    } else {
        Array::from(kp)
            .iter()
            .filter_map(|v| v.as_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The input of an attempt of `photos`'s task `id` under lease `lease_no` that the server answered 201,
/// at `T0 + 10`.
pub fn answered(id: &str, lease_no: u64) -> ferry::web::store::Settle {
    ferry::web::store::Settle {
        id: id.into(),
        tag: "photos".into(),
        lease_no,
        input: core::Input::Outcome(core::Outcome::Response {
            status: 201,
            retry_after: None,
        }),
        now_ms: T0 + 10,
        rand: 0,
        response: None,
    }
}

/// A lease of `photos`'s task `id` by worker `w1` at `T0 + 10`, asked with a settle.
pub fn lease_of(id: &str) -> Option<ferry::web::store::LeaseAsk> {
    Some(ferry::web::store::LeaseAsk {
        ids: vec![id.into()],
        tags: vec!["photos".into()],
        transport: core::Transport::Fallback,
        holder: Some("w1".into()),
        env: env(T0 + 10),
    })
}
