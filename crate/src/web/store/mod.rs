//! The IndexedDB store: the only IndexedDB code in Ferry.
//!
//! Schema v4 (database `ferry`):
//! - `tasks`  keyPath `id`; indexes `by_tag_seq` [tag, seq] (unique), `by_due` [state, nextAttemptAt,
//!   seq] (the scheduler's index: only queued tasks have `nextAttemptAt`), `by_lease` [state,
//!   leaseUntil], since v2 `by_state` [state, createdAt] (the retention sweep), and since v3
//!   `by_tag_due` [tag, nextAttemptAt, seq] (one tag's queued tasks in due order: a look reads a tag
//!   with a free slot on its own, not the whole queue of the others). Since v4 both due indexes end
//!   with `seq`: tasks due at the same time (an `uploadAll`, calls within a millisecond) come in
//!   enqueue order, so a look's window holds a tag's first queued, not a random few by id.
//! - `blobs`  out-of-line key = task id; value = the Blob itself (the browser keeps it on disk).
//! - `outbox` keyPath [tag, seq]: events not yet acknowledged by a page of the tag; since v2 index
//!   `by_task` (taskId), so a task's events leave with it when its retention ends.
//! - `meta`   out-of-line keys: per-tag counters and session settings (strings), and the launch
//!   decisions owed, `["launchdue", tag, seq]` (arrays).
//!
//! Upgrades are declarative (`upgrade` makes the database match `SCHEMA` and keeps every record): v1 → v2
//! only adds the two indexes, v2 → v3 the one, v3 → v4 rebuilds the two due indexes with `seq`.
//!
//! Every change that must be seen whole (enqueue; a transition with its events and Blob deletion) is
//! one transaction with `durability: 'strict'`, so a kill at any point leaves either before or after.

mod batch;
mod enqueue;
mod lease;
mod look;
mod outbox;
mod settle;
mod tasks;

pub use enqueue::Enqueued;
pub use lease::Leased;
pub use look::Snapshot;
pub use outbox::SessionRecord;
pub use settle::{Early, LeaseAsk, Settle, Settled, SettledMany};

use crate::core::{self, Error};
use crate::web::externs;
use crate::web::js::{self, js_message, storage_error};
use idb::{DatabaseEvent as _, Event as _, KeyPath, Request as _, TransactionResult};
use wasm_bindgen::{JsCast, JsValue};

/// What `Store::modify` does to a task: the new record and the events to append. Boxed, so the
/// transaction's code is there once whatever the caller (a generic parameter made one copy per caller).
pub type Change<'a> =
    Box<dyn FnOnce(&core::Task) -> Result<(core::Task, Vec<core::FerryEvent>), Error> + 'a>;
/// What `Store::update_session` does to a session record (`None`: leave it as it is). Boxed, as `Change`.
pub type SessionChange<'a> = Box<dyn FnOnce(Option<SessionRecord>) -> Option<SessionRecord> + 'a>;

/// The database every page and the service worker of an origin share.
pub const DB_NAME: &str = "ferry";
/// The schema this code writes; opening an older database upgrades it in place.
pub const SCHEMA_VERSION: u32 = 4;

pub(crate) const TASKS: &str = "tasks";
pub(crate) const BLOBS: &str = "blobs";
pub(crate) const OUTBOX: &str = "outbox";
pub(crate) const META: &str = "meta";

/// The `meta` key of a tag's session record.
pub(crate) fn session_key(tag: &str) -> String {
    format!("session:{tag}")
}

/// What every `meta` key of a tag's last event sequence number starts with.
pub(crate) const EVENT_SEQ_PREFIX: &str = "eventseq:";

/// The `meta` key of a tag's last event sequence number.
pub(crate) fn event_seq_key(tag: &str) -> JsValue {
    JsValue::from_str(&format!("{EVENT_SEQ_PREFIX}{tag}"))
}

/// The first part of every `meta` key of a launch decision owed (`launch_due_key`).
pub(crate) const LAUNCH_DUE: &str = "launchdue";

/// The `meta` key that says a launch decision is owed for the tag's event `seq` (written with the
/// event, dropped once decided). An array key: it sorts apart from every string key of `meta`.
pub(crate) fn launch_due_key(tag: &str, seq: u64) -> JsValue {
    key(&[LAUNCH_DUE.into(), tag.into(), JsValue::from_f64(seq as f64)])
}

/// Whether a stored session record asks for launch events (`launch` other than `'none'`).
pub(crate) fn session_launches(record: Option<&JsValue>) -> bool {
    record
        .map(|r| js::get(&js::get(r, "options"), "launch"))
        .and_then(|l| l.as_string())
        .is_some_and(|l| l != "none")
}

/// An open connection to the Ferry database.
#[derive(Clone)]
pub struct Store {
    db: web_sys::IdbDatabase,
    closed: std::rc::Rc<std::cell::Cell<bool>>,
}

impl Store {
    /// Opens (creating or upgrading) the shared `ferry` database.
    pub async fn open() -> Result<Store, Error> {
        Self::open_named(DB_NAME).await
    }

    /// Opens a database of another name: tests use one fresh database each.
    pub async fn open_named(name: &str) -> Result<Store, Error> {
        let db: web_sys::IdbDatabase = open_db(name)
            .await
            .map_err(|e| storage_error("open database", e))?
            .into();
        // A newer schema opened elsewhere (a page of an updated app) must not wait for this connection:
        // close it on `versionchange`; the owner sees `is_closed` and opens again.
        let closed = std::rc::Rc::new(std::cell::Cell::new(false));
        let (conn, flag) = (db.clone(), closed.clone());
        let on_change = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
            flag.set(true);
            conn.close();
        });
        db.set_onversionchange(Some(on_change.as_ref().unchecked_ref()));
        // The browser closed it (the user cleared the site's data, storage was lost): the owner opens
        // again on its next call, into a new empty database, instead of failing every call.
        let flag = closed.clone();
        let on_close = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || flag.set(true));
        db.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // They live as long as the connection; two per open, and opens are rare.
        on_change.forget();
        on_close.forget();
        Ok(Store { db, closed })
    }

    /// Whether the connection was closed (by `close` or for a newer schema's upgrade).
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The database's name.
    pub fn name(&self) -> String {
        self.db.name()
    }

    /// Closes the connection (pending transactions finish first).
    pub fn close(&self) {
        self.closed.set(true);
        self.db.close();
    }

    /// A transaction over `stores`; read-write ones ask for strict durability (flushed to disk before
    /// `complete`), which browsers without the option simply ignore.
    pub(crate) fn tx(&self, stores: &[&str], write: bool) -> Result<idb::Transaction, Error> {
        let durability = if write { "strict" } else { "default" };
        self.tx_with(stores, write, durability)
    }

    /// A read-write transaction whose loss in a crash costs nothing but a repeat: a lease or its
    /// renewal (the task stays queued, or its lease runs out, and the Idempotency-Key covers a body
    /// sent again). `relaxed` lets it commit without waiting for the disk, so attempts do not queue
    /// behind each other's flushes.
    pub(crate) fn tx_relaxed(&self, stores: &[&str]) -> Result<idb::Transaction, Error> {
        self.tx_with(stores, true, "relaxed")
    }

    fn tx_with(
        &self,
        stores: &[&str],
        write: bool,
        durability: &str,
    ) -> Result<idb::Transaction, Error> {
        let names: js_sys::Array = stores.iter().map(|s| JsValue::from_str(s)).collect();
        let options = js_sys::Object::new();
        js::set(&options, "durability", &JsValue::from_str(durability));
        let mode = if write { "readwrite" } else { "readonly" };
        self.db
            .unchecked_ref::<externs::DatabaseExt>()
            .transaction_with_options(&names, mode, &options)
            .map(idb::Transaction::from)
            .map_err(|e| {
                // A connection that is closing takes no transaction again: the next call opens anew.
                if js::get(&e, "name").as_string().as_deref() == Some("InvalidStateError") {
                    self.closed.set(true);
                }
                storage_error("begin transaction", js_message(&e))
            })
    }
}

/// An index: name, key path (one name: that property; several: an array of them), unique.
type IndexSpec = (&'static str, &'static [&'static str], bool);

/// The current schema: each object store with its key path (none: out-of-line keys) and indexes.
/// Kept declarative so a later version adds to it and the upgrade keeps existing records. What it does
/// not name is deleted at the next upgrade, records and all: a store or index is removed from here only
/// on purpose.
const SCHEMA: [(&str, &[&str], &[IndexSpec]); 4] = [
    (
        TASKS,
        &["id"],
        &[
            ("by_tag_seq", &["tag", "seq"], true),
            ("by_due", &["state", "nextAttemptAt", "seq"], false),
            ("by_lease", &["state", "leaseUntil"], false),
            ("by_state", &["state", "createdAt"], false),
            ("by_tag_due", &["tag", "nextAttemptAt", "seq"], false),
        ],
    ),
    (BLOBS, &[], &[]),
    (OUTBOX, &["tag", "seq"], &[("by_task", &["taskId"], false)]),
    (META, &[], &[]),
];

fn key_path(names: &[&str]) -> KeyPath {
    match names {
        [one] => KeyPath::new_single(one),
        _ => KeyPath::new_array(names.iter().copied()),
    }
}

/// Opens database `name` at `SCHEMA_VERSION`, upgrading it to `SCHEMA` first if it is older.
async fn open_db(name: &str) -> Result<idb::Database, idb::Error> {
    let mut request = idb::Factory::new()?.open(name, Some(SCHEMA_VERSION))?;
    request.on_upgrade_needed(|event| {
        // A failed step must abort the upgrade (the database stays at its old version): a panic does.
        if let Err(e) = upgrade(&event) {
            panic!("upgrade the ferry database: {e}");
        }
    });
    request.await
}

/// Makes the database of an `upgradeneeded` event match `SCHEMA`: missing stores are created, every
/// index of `SCHEMA` is (re)created, and stores and indexes it does not name are deleted. Records stay.
fn upgrade(event: &idb::event::VersionChangeEvent) -> Result<(), idb::Error> {
    let request = event.target()?;
    let db = event.database()?;
    let existing = db.store_names();
    for (name, path, indexes) in SCHEMA {
        let store = if existing.iter().any(|n| n == name) {
            request
                .transaction()
                .ok_or(idb::Error::TransactionNotFound)?
                .object_store(name)?
        } else {
            let mut params = idb::ObjectStoreParams::new();
            if !path.is_empty() {
                params.key_path(Some(key_path(path)));
            }
            db.create_object_store(name, params)?
        };
        let mut old = store.index_names();
        for (index, path, unique) in indexes {
            if let Some(i) = old.iter().position(|n| n == index) {
                store.delete_index(&old.swap_remove(i))?;
            }
            let mut params = idb::IndexParams::new();
            if *unique {
                params.unique(true);
            }
            store.create_index(index, key_path(path), Some(params))?;
        }
        for index in old {
            store.delete_index(&index)?;
        }
    }
    for name in existing {
        if !SCHEMA.iter().any(|(n, _, _)| *n == name) {
            db.delete_object_store(&name)?;
        }
    }
    Ok(())
}

/// An object store of `tx`; the error names the operation.
pub(crate) fn open_store(
    tx: &idb::Transaction,
    name: &str,
    op: &str,
) -> Result<idb::ObjectStore, Error> {
    tx.object_store(name).map_err(|e| storage_error(op, e))
}

/// Deletes what `query` selects in `store` and waits for it; the error names the operation.
pub(crate) async fn delete(
    store: &idb::ObjectStore,
    query: idb::Query,
    op: &str,
) -> Result<(), Error> {
    store
        .delete(query)
        .map_err(|e| storage_error(op, e))?
        .await
        .map_err(|e| storage_error(op, e))
}

/// Waits for a transaction to commit; an abort becomes a typed error (quota, constraint, storage).
pub(crate) async fn commit(tx: idb::Transaction, op: &str) -> Result<(), Error> {
    let js: JsValue = tx.into();
    let raw: web_sys::IdbTransaction = js.clone().unchecked_into();
    let tx = idb::Transaction::try_from(js).map_err(|e| storage_error(op, e))?;
    let result = tx.commit().map_err(|e| storage_error(op, e))?.await;
    match result {
        Ok(TransactionResult::Committed) => Ok(()),
        Ok(TransactionResult::Aborted) | Err(_) => Err(abort_error(
            op,
            raw.error().map(|d| (d.name(), d.message())),
        )),
    }
}

/// The error a failed request or aborted transaction stands for.
pub(crate) fn abort_error(op: &str, dom: Option<(String, String)>) -> Error {
    match dom {
        Some((name, _)) if name == "QuotaExceededError" => Error::QuotaExceeded {
            size: 0,
            available: 0,
        },
        Some((name, message)) => storage_error(op, format!("{name}: {message}")),
        None => storage_error(op, "transaction aborted"),
    }
}

/// The DOMException name and message inside an idb error, if it carries one.
pub(crate) fn dom_of(e: &idb::Error) -> Option<(String, String)> {
    match e {
        idb::Error::DomException(d) => Some((d.name(), d.message())),
        _ => None,
    }
}

/// Key helpers: IndexedDB keys are JS values.
pub(crate) fn key(parts: &[JsValue]) -> JsValue {
    parts.iter().collect::<js_sys::Array>().into()
}

/// Reads a task record out of a stored JS value.
pub(crate) fn task_of(v: JsValue) -> Result<core::Task, Error> {
    js::from_js(v)
}
