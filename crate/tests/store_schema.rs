//! The IndexedDB schema, reopening, and upgrades, tested inside a real service worker.
//!
//! Migration tests are written around `SCHEMA_HISTORY`: a frozen description of every schema version
//! Ferry ever shipped, and `seed_v1`, which writes a database exactly as schema v1 code wrote it
//! (hand-written records, not today's serde output). When v2 lands: add its schema to the history,
//! keep `seed_v1` untouched, and the v1 test then exercises the real upgrade from v1 to it.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{EventKind, Input, Outcome, State, Transport};
use ferry::web::store::{SessionRecord, Store, SCHEMA_VERSION};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::IdbDatabase;

/// Object stores with (key path, [(index, key path, unique)]), per schema version. Append, never edit.
type StoreSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, bool)],
);
const SCHEMA_V1: &[StoreSpec] = &[
    ("blobs", "null", &[]),
    ("meta", "null", &[]),
    ("outbox", "tag,seq", &[]),
    (
        "tasks",
        "id",
        &[
            ("by_due", "state,nextAttemptAt", false),
            ("by_lease", "state,leaseUntil", false),
            ("by_tag_seq", "tag,seq", true),
        ],
    ),
];
/// v2 adds `tasks.by_state` (retention sweep) and `outbox.by_task` (a task's events leave with it).
const SCHEMA_V2: &[StoreSpec] = &[
    ("blobs", "null", &[]),
    ("meta", "null", &[]),
    ("outbox", "tag,seq", &[("by_task", "taskId", false)]),
    (
        "tasks",
        "id",
        &[
            ("by_due", "state,nextAttemptAt", false),
            ("by_lease", "state,leaseUntil", false),
            ("by_state", "state,createdAt", false),
            ("by_tag_seq", "tag,seq", true),
        ],
    ),
];
/// v3 adds `tasks.by_tag_due` (one tag's queued tasks in due order: a look reads a tag on its own).
const SCHEMA_V3: &[StoreSpec] = &[
    ("blobs", "null", &[]),
    ("meta", "null", &[]),
    ("outbox", "tag,seq", &[("by_task", "taskId", false)]),
    (
        "tasks",
        "id",
        &[
            ("by_due", "state,nextAttemptAt", false),
            ("by_lease", "state,leaseUntil", false),
            ("by_state", "state,createdAt", false),
            ("by_tag_due", "tag,nextAttemptAt", false),
            ("by_tag_seq", "tag,seq", true),
        ],
    ),
];
/// v4 ends both due indexes with `seq`: tasks due at the same time come in enqueue order.
const SCHEMA_V4: &[StoreSpec] = &[
    ("blobs", "null", &[]),
    ("meta", "null", &[]),
    ("outbox", "tag,seq", &[("by_task", "taskId", false)]),
    (
        "tasks",
        "id",
        &[
            ("by_due", "state,nextAttemptAt,seq", false),
            ("by_lease", "state,leaseUntil", false),
            ("by_state", "state,createdAt", false),
            ("by_tag_due", "tag,nextAttemptAt,seq", false),
            ("by_tag_seq", "tag,seq", true),
        ],
    ),
];
const SCHEMA_HISTORY: &[(u32, &[StoreSpec])] = &[
    (1, SCHEMA_V1),
    (2, SCHEMA_V2),
    (3, SCHEMA_V3),
    (4, SCHEMA_V4),
];

/// The schema the current code must produce.
fn current_schema() -> &'static [StoreSpec] {
    SCHEMA_HISTORY
        .iter()
        .find(|(v, _)| *v == SCHEMA_VERSION)
        .map(|(_, s)| *s)
        .expect("SCHEMA_HISTORY lacks SCHEMA_VERSION: add the new schema to it")
}

/// Asserts the raw database has exactly `spec`'s stores, key paths and indexes.
fn assert_schema(db: &IdbDatabase, spec: &[StoreSpec]) {
    let expected: Vec<String> = spec.iter().map(|(n, _, _)| n.to_string()).collect();
    assert_eq!(names(&db.object_store_names()), expected, "object stores");
    let all: Vec<&str> = spec.iter().map(|(n, _, _)| *n).collect();
    let tx = raw_tx(db, &all, false);
    for (store_name, key_path, indexes) in spec {
        let store = tx.object_store(store_name).unwrap();
        assert_eq!(
            key_path_string(&store.key_path().unwrap()),
            *key_path,
            "key path of {store_name}"
        );
        assert!(
            !store.auto_increment(),
            "{store_name} must not auto-increment"
        );
        let expected: Vec<String> = indexes.iter().map(|(n, _, _)| n.to_string()).collect();
        assert_eq!(
            names(&store.index_names()),
            expected,
            "indexes of {store_name}"
        );
        for (index_name, index_path, unique) in *indexes {
            let index = store.index(index_name).unwrap();
            assert_eq!(
                key_path_string(&index.key_path().unwrap()),
                *index_path,
                "key path of {store_name}.{index_name}"
            );
            assert_eq!(
                index.unique(),
                *unique,
                "uniqueness of {store_name}.{index_name}"
            );
            assert!(
                !index.multi_entry(),
                "{store_name}.{index_name} must not be multiEntry"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn schema_has_every_store_and_index() {
    let f = Fixture::new("schema").await;
    let db = raw_open(&f.name, None, None).await;
    assert_eq!(db.version(), SCHEMA_VERSION as f64, "database version");
    assert_schema(&db, current_schema());
    db.close();
    f.finish().await;
}

#[wasm_bindgen_test]
async fn stored_records_are_plain_indexable_objects() {
    // The indexes only work if records hold plain strings and numbers (not BigInts, not Maps):
    // check what actually lands in IndexedDB.
    let f = Fixture::new("records").await;
    let t = enqueue(&f.store, &task("a", "photos")).await;
    let raw = raw_get(&f.name, "tasks", &"a".into()).await;
    let field = |k: &str| js_sys::Reflect::get(&raw, &k.into()).unwrap();
    assert_eq!(field("state").as_string().as_deref(), Some("queued"));
    assert_eq!(
        field("nextAttemptAt").as_f64(),
        Some(T0 as f64),
        "nextAttemptAt must be a plain number"
    );
    assert_eq!(
        field("seq").as_f64(),
        Some(1.0),
        "seq must be a plain number"
    );
    assert!(field("leaseUntil").is_null() || field("leaseUntil").is_undefined());
    assert_eq!(field("tag").as_string().as_deref(), Some("photos"));
    let raw_blob = raw_get(&f.name, "blobs", &"a".into()).await;
    assert!(
        raw_blob.is_instance_of::<web_sys::Blob>(),
        "the blobs store holds the Blob itself: {raw_blob:?}"
    );
    assert_eq!(t.seq, 1);
    f.finish().await;
}

/// Everything a store can hold, in two tags, in every interesting state. Returns what was written.
struct Seeded {
    photos: Vec<ferry::core::Task>,
    docs: Vec<ferry::core::Task>,
    events_photos: Vec<ferry::core::FerryEvent>,
    events_docs: Vec<ferry::core::FerryEvent>,
    session: SessionRecord,
}

async fn seed_through_store(store: &Store) -> Seeded {
    for id in ["p1", "p2", "p3", "p4"] {
        enqueue(store, &task(id, "photos")).await;
    }
    for id in ["d1", "d2"] {
        enqueue(store, &task(id, "docs")).await;
    }
    let lease = || Input::Lease {
        lease_ms: 60_000,
        transport: Transport::Fallback,
    };
    store
        .transition("p2", lease(), T0 + 5, 0, None)
        .await
        .unwrap(); // in flight
    store
        .transition("p3", lease(), T0 + 5, 0, None)
        .await
        .unwrap();
    store
        .transition(
            "p3",
            Input::Outcome(Outcome::Response {
                status: 201,
                retry_after: None,
            }),
            T0 + 6,
            0,
            None,
        )
        .await
        .unwrap(); // done
    store
        .transition("d2", lease(), T0 + 5, 0, None)
        .await
        .unwrap();
    store
        .transition(
            "d2",
            Input::Outcome(Outcome::Response {
                status: 503,
                retry_after: None,
            }),
            T0 + 6,
            u64::MAX,
            None,
        )
        .await
        .unwrap(); // retrying
    let session = SessionRecord {
        tag: "photos".into(),
        options: Default::default(),
        paused: true,
        page_url: None,
        last_headers: None,
        owner: None,
    };
    store.put_session(&session).await.unwrap();
    Seeded {
        photos: store.list("photos").await.unwrap(),
        docs: store.list("docs").await.unwrap(),
        events_photos: store.events("photos", 0).await.unwrap(),
        events_docs: store.events("docs", 0).await.unwrap(),
        session,
    }
}

#[wasm_bindgen_test]
async fn reopening_the_database_keeps_every_task_and_blob() {
    let name = unique_name("reopen");
    let first = Store::open_named(&name).await.unwrap();
    let seeded = seed_through_store(&first).await;
    assert_eq!(seeded.photos.len(), 4);
    assert_eq!(seeded.docs.len(), 2);
    first.close();

    let store = Store::open_named(&name).await.expect("reopen");
    assert_eq!(
        store.list("photos").await.unwrap(),
        seeded.photos,
        "photos tasks after reopening"
    );
    assert_eq!(
        store.list("docs").await.unwrap(),
        seeded.docs,
        "docs tasks after reopening"
    );
    for t in seeded.photos.iter().chain(&seeded.docs) {
        if t.state.is_terminal() {
            assert!(
                store.blob(&t.id).await.unwrap().is_none(),
                "finished task {} keeps no Blob",
                t.id
            );
        } else {
            assert_blob_intact(&store, &t.id).await;
        }
    }
    assert_eq!(
        store.events("photos", 0).await.unwrap(),
        seeded.events_photos
    );
    assert_eq!(store.events("docs", 0).await.unwrap(), seeded.events_docs);
    assert_eq!(
        store.session("photos").await.unwrap(),
        Some(seeded.session.clone())
    );
    assert_eq!(
        store
            .in_flight()
            .await
            .unwrap()
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        ["p2"]
    );
    // Counters survive: no sequence number is handed out twice.
    let (p5, events) = store
        .enqueue(&task("p5", "photos"), &blob(&bytes_for("p5")))
        .await
        .unwrap();
    // A task's seq is its `queued` event's: after every old task's and event's.
    assert_eq!(events[0].seq, seeded.events_photos.last().unwrap().seq + 1);
    assert_eq!(p5.seq, events[0].seq);
    assert!(p5.seq > 4, "after the seeded tasks' 1 to 4");
    store.close();
    assert!(matches!(delete_db(&name).await, Finished::Success(_)));
}

/// Writes a database exactly as schema v1 code did: raw schema, hand-written records. Frozen: never
/// change it to follow the current code, that is the point.
async fn seed_v1(name: &str) {
    let upgrade: Upgrade = Box::new(|db: &IdbDatabase, _tx, old| {
        assert_eq!(old, 0.0);
        let tasks_params = web_sys::IdbObjectStoreParameters::new();
        tasks_params.set_key_path(&"id".into());
        let tasks = db
            .create_object_store_with_optional_parameters("tasks", &tasks_params)
            .unwrap();
        let unique = web_sys::IdbIndexParameters::new();
        unique.set_unique(true);
        let seq_path = js_sys::Array::of2(&"tag".into(), &"seq".into());
        tasks
            .create_index_with_str_sequence_and_optional_parameters(
                "by_tag_seq",
                &seq_path,
                &unique,
            )
            .unwrap();
        tasks
            .create_index_with_str_sequence(
                "by_due",
                &js_sys::Array::of2(&"state".into(), &"nextAttemptAt".into()),
            )
            .unwrap();
        tasks
            .create_index_with_str_sequence(
                "by_lease",
                &js_sys::Array::of2(&"state".into(), &"leaseUntil".into()),
            )
            .unwrap();
        db.create_object_store("blobs").unwrap();
        let outbox_params = web_sys::IdbObjectStoreParameters::new();
        outbox_params.set_key_path(&seq_path);
        db.create_object_store_with_optional_parameters("outbox", &outbox_params)
            .unwrap();
        db.create_object_store("meta").unwrap();
    });
    let db = raw_open(name, Some(1), Some(upgrade)).await;
    let tx = raw_tx(&db, &["tasks", "blobs", "outbox", "meta"], true);
    let json = |s: &str| js_sys::JSON::parse(s).unwrap();
    let retry = r#"{"maxAttempts":8,"baseMs":1000,"capMs":300000,"maxRetentionMs":604800000}"#;
    let task_json = |id: &str,
                     seq: u32,
                     state: &str,
                     next: &str,
                     lease: &str,
                     attempt: u32,
                     transport: &str| {
        format!(
            r#"{{"id":"{id}","tag":"photos","seq":{seq},"request":{{"url":"https://upload.example.test/files","method":"POST","headers":[["x-test","1"]],"protocol":{{"kind":"http"}}}},"body":{{"size":{size},"mime":"application/octet-stream","name":"{id}.bin"}},"idempotencyKey":"idem-{id}","state":"{state}","attempt":{attempt},"nextAttemptAt":{next},"leaseUntil":{lease},"createdAt":{T0},"expiresAt":null,"earliestBegin":null,"lastError":null,"lastStatus":null,"transport":{transport},"retry":{retry},"bytesConfirmed":0}}"#,
            size = bytes_for(id).len()
        )
    };
    let tasks = tx.object_store("tasks").unwrap();
    tasks
        .add(&json(&task_json(
            "v1-queued",
            1,
            "queued",
            &T0.to_string(),
            "null",
            0,
            "null",
        )))
        .unwrap();
    tasks
        .add(&json(&task_json(
            "v1-flying",
            2,
            "inFlight",
            "null",
            &(T0 + 60_000).to_string(),
            1,
            r#""fallback""#,
        )))
        .unwrap();
    let blobs = tx.object_store("blobs").unwrap();
    for id in ["v1-queued", "v1-flying"] {
        blobs
            .put_with_key(&blob(&bytes_for(id)), &id.into())
            .unwrap();
    }
    let outbox = tx.object_store("outbox").unwrap();
    outbox
        .add(&json(
            r#"{"kind":"queued","taskId":"v1-queued","tag":"photos","seq":1}"#,
        ))
        .unwrap();
    outbox
        .add(&json(
            r#"{"kind":"queued","taskId":"v1-flying","tag":"photos","seq":2}"#,
        ))
        .unwrap();
    outbox.add(&json(r#"{"kind":"started","taskId":"v1-flying","tag":"photos","seq":3,"attempt":1,"transport":"fallback","bytesTotal":270}"#)).unwrap();
    let meta = tx.object_store("meta").unwrap();
    meta.put_with_key(&JsValue::from(2), &"taskseq:photos".into())
        .unwrap();
    meta.put_with_key(&JsValue::from(3), &"eventseq:photos".into())
        .unwrap();
    let session = format!(
        r#"{{"tag":"photos","options":{{"concurrency":2,"launch":"none","retry":{retry},"manualAck":false}},"paused":true}}"#
    );
    meta.put_with_key(&json(&session), &"session:photos".into())
        .unwrap();
    assert!(tx_done(&tx).await, "seeding the v1 database");
    db.close();
}

#[wasm_bindgen_test]
async fn a_schema_v1_database_upgraded_keeps_every_task_blob_and_event() {
    let name = unique_name("v1");
    seed_v1(&name).await;
    let store = Store::open_named(&name)
        .await
        .expect("open a v1 database with the current code");

    let raw = raw_open(&name, None, None).await;
    assert_eq!(
        raw.version(),
        SCHEMA_VERSION as f64,
        "opening upgrades to the current version"
    );
    assert_schema(&raw, current_schema());
    raw.close();

    let tasks = store.list("photos").await.unwrap();
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["v1-queued", "v1-flying"]);
    assert_eq!(tasks[0].state, State::Queued);
    assert_eq!(tasks[0].next_attempt_at, Some(T0));
    assert_eq!(
        tasks[0],
        task("v1-queued", "photos").with_seq(1),
        "a v1 record reads back as the same task"
    );
    assert_eq!(tasks[1].state, State::InFlight);
    assert_eq!(tasks[1].lease_until, Some(T0 + 60_000));
    assert_blob_intact(&store, "v1-queued").await;
    assert_blob_intact(&store, "v1-flying").await;

    // The scheduler's indexes see the old records.
    assert_eq!(
        store
            .next_due(T0, 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        ["v1-queued"]
    );
    assert_eq!(
        store
            .in_flight()
            .await
            .unwrap()
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        ["v1-flying"]
    );
    assert_eq!(store.next_wake().await.unwrap(), Some(T0));
    // And the index added since (v3, ordered by seq since v4) was built over them: a tag's queued
    // tasks only.
    let of_tags = store
        .due_of_tags(T0, &[("photos".into(), 10), ("other".into(), 10)])
        .await
        .unwrap();
    let ids: Vec<(u32, Vec<String>)> = of_tags
        .into_iter()
        .map(|(n, ts)| (n, ts.into_iter().map(|t| t.id).collect()))
        .collect();
    assert_eq!(ids, [(1, vec!["v1-queued".to_string()]), (0, vec![])]);

    let events = store.events("photos", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| (e.seq, e.kind)).collect::<Vec<_>>(),
        [
            (1, EventKind::Queued),
            (2, EventKind::Queued),
            (3, EventKind::Started)
        ]
    );
    let session = store
        .session("photos")
        .await
        .unwrap()
        .expect("v1 session record");
    assert!(session.paused);

    // Old counters continue.
    let (t, ev) = store
        .enqueue(&task("new", "photos"), &blob(&bytes_for("new")))
        .await
        .unwrap();
    assert_eq!(
        (t.seq, ev[0].seq),
        (4, 4),
        "the task's seq is its queued event's"
    );
    // And old records take transitions.
    let (done, _) = store
        .transition(
            "v1-flying",
            Input::Outcome(Outcome::Response {
                status: 200,
                retry_after: None,
            }),
            T0 + 10,
            0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.state, State::Done);
    assert!(store.blob("v1-flying").await.unwrap().is_none());

    store.close();
    assert!(matches!(delete_db(&name).await, Finished::Success(_)));
}

/// A page running a newer Ferry opens the database at a higher version while this worker holds a
/// connection: the open Store must step aside (close on `versionchange`), or the upgrade is blocked
/// for as long as the worker lives. The same holds for `indexedDB.deleteDatabase` (clearing data).
#[wasm_bindgen_test]
async fn an_open_store_lets_a_newer_version_upgrade() {
    let name = unique_name("vchange");
    let store = Store::open_named(&name).await.unwrap();
    enqueue(&store, &task("a", "photos")).await;

    let request = factory().open_with_u32(&name, SCHEMA_VERSION + 1).unwrap();
    let (outcome, blocked) = await_open_request(&request, 3_000).await;
    // Clean up before asserting, so a failure leaves nothing blocked behind it.
    store.close();
    let newer = match await_request(&request, 10_000).await {
        Finished::Success(db) => db.unchecked_into::<IdbDatabase>(),
        other => panic!("the upgrade never completed, even after the Store closed: {other:?}"),
    };
    newer.close();
    let _ = delete_db(&name).await;

    assert!(
        !blocked,
        "the upgrade was blocked by the Store's open connection"
    );
    assert!(
        matches!(outcome, Finished::Success(_)),
        "upgrade while a Store is open: {outcome:?}"
    );
}

/// A small extension so a test can compare a read-back task with a freshly built one.
trait WithSeq {
    fn with_seq(self, seq: u64) -> Self;
}
impl WithSeq for ferry::core::Task {
    fn with_seq(mut self, seq: u64) -> Self {
        self.seq = seq;
        self
    }
}
