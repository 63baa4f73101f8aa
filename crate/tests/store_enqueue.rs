//! `Store::enqueue` inside a real service worker: task + Blob + sequence + `queued` event, all or nothing.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{queued_event, Error, EventKind, State};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

#[wasm_bindgen_test]
async fn enqueue_writes_task_and_blob_in_one_transaction() {
    let f = Fixture::new("enqueue").await;
    let t = task("a", "photos");
    let (stored, events) = f.store.enqueue(&t, &blob(&bytes_for("a"))).await.unwrap();

    let mut expected = t.clone();
    expected.seq = 1;
    assert_eq!(
        stored, expected,
        "enqueue returns the task with its sequence number and nothing else changed"
    );
    assert_eq!(stored.state, State::Queued);
    assert_eq!(
        f.store.get("a").await.unwrap(),
        Some(stored.clone()),
        "the task reads back"
    );
    assert_blob_intact(&f.store, "a").await;
    assert_eq!(f.store.list("photos").await.unwrap(), vec![stored.clone()]);

    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].kind,
            events[0].seq,
            events[0].task_id.as_str(),
            events[0].tag.as_str()
        ),
        (EventKind::Queued, 1, "a", "photos")
    );
    assert_eq!(
        f.store.events("photos", 0).await.unwrap(),
        events,
        "the returned event is the stored one"
    );
    assert_eq!(f.store.outbox_len("photos").await.unwrap(), 1);
    assert_eq!(count(&f.name, "tasks").await, 1);
    assert_eq!(count(&f.name, "blobs").await, 1);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn enqueue_failing_at_its_last_step_leaves_nothing_behind() {
    // Make the final write of enqueue (the `queued` event, written after the task and the Blob) fail:
    // a squatter already holds outbox key ["photos", 1]. The whole transaction must roll back.
    let f = Fixture::new("enqueue-atomic").await;
    let db = raw_open(&f.name, None, None).await;
    let tx = raw_tx(&db, &["outbox"], true);
    let squatter =
        js_sys::JSON::parse(r#"{"tag":"photos","seq":1,"kind":"queued","taskId":"squatter"}"#)
            .unwrap();
    tx.object_store("outbox").unwrap().add(&squatter).unwrap();
    assert!(tx_done(&tx).await);
    db.close();

    let err = f
        .store
        .enqueue(&task("a", "photos"), &blob(&bytes_for("a")))
        .await
        .expect_err("the event write collides");
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(
        f.store.get("a").await.unwrap(),
        None,
        "no task without its event"
    );
    assert!(
        f.store.blob("a").await.unwrap().is_none(),
        "no Blob without its task"
    );
    assert_eq!(count(&f.name, "tasks").await, 0);
    assert_eq!(count(&f.name, "blobs").await, 0);
    assert_eq!(count(&f.name, "meta").await, 0, "no counter moved");
    assert_eq!(
        f.store.outbox_len("photos").await.unwrap(),
        1,
        "only the squatter"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn per_tag_sequence_numbers_count_independently() {
    let f = Fixture::new("seq").await;
    let order = [
        ("a1", "photos"),
        ("b1", "docs"),
        ("a2", "photos"),
        ("a3", "photos"),
        ("b2", "docs"),
    ];
    let mut seqs = Vec::new();
    for (id, tag) in order {
        seqs.push((id, enqueue(&f.store, &task(id, tag)).await.seq));
    }
    assert_eq!(
        seqs,
        [("a1", 1), ("b1", 1), ("a2", 2), ("a3", 3), ("b2", 2)]
    );
    let listed = |tasks: Vec<ferry::core::Task>| {
        tasks.into_iter().map(|t| (t.id, t.seq)).collect::<Vec<_>>()
    };
    assert_eq!(
        listed(f.store.list("photos").await.unwrap()),
        [("a1".into(), 1), ("a2".into(), 2), ("a3".into(), 3)]
    );
    assert_eq!(
        listed(f.store.list("docs").await.unwrap()),
        [("b1".into(), 1), ("b2".into(), 2)]
    );
    for id in ["a1", "a2", "a3", "b1", "b2"] {
        assert_blob_intact(&f.store, id).await;
    }
    f.finish().await;
}

#[wasm_bindgen_test]
async fn every_enqueue_appends_a_queued_event_numbered_per_tag() {
    let f = Fixture::new("queued-events").await;
    for (id, tag) in [
        ("a1", "photos"),
        ("b1", "docs"),
        ("a2", "photos"),
        ("a3", "photos"),
    ] {
        enqueue(&f.store, &task(id, tag)).await;
    }
    let summary = |events: Vec<ferry::core::FerryEvent>| {
        events
            .into_iter()
            .map(|e| (e.seq, e.kind, e.task_id, e.tag))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(f.store.events("photos", 0).await.unwrap()),
        [1, 2, 3]
            .iter()
            .zip(["a1", "a2", "a3"])
            .map(|(s, id)| (*s, EventKind::Queued, id.to_string(), "photos".to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        summary(f.store.events("docs", 0).await.unwrap()),
        [(1, EventKind::Queued, "b1".to_string(), "docs".to_string())]
    );
    assert_eq!(f.store.outbox_len("photos").await.unwrap(), 3);
    assert_eq!(f.store.outbox_len("docs").await.unwrap(), 1);
    f.finish().await;
}

/// The store announces a new task with `core::queued_event` (which carries `bytesTotal`, so a page
/// can draw a progress bar from the first event), not with a bare event.
#[wasm_bindgen_test]
async fn the_queued_event_is_cores_queued_event() {
    let f = Fixture::new("queued-shape").await;
    let (stored, events) = f
        .store
        .enqueue(&task("a", "photos"), &blob(&bytes_for("a")))
        .await
        .unwrap();
    let mut expected = queued_event(&stored);
    expected.seq = 1;
    assert_eq!(events, vec![expected.clone()]);
    assert_eq!(events[0].bytes_total, Some(bytes_for("a").len() as u64));
    assert_eq!(f.store.events("photos", 0).await.unwrap(), vec![expected]);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn duplicate_task_id_is_refused_and_changes_nothing() {
    let f = Fixture::new("duplicate").await;
    let first = enqueue(&f.store, &task("a", "photos")).await;
    enqueue(&f.store, &task("b", "photos")).await;
    let tasks_before = f.store.list("photos").await.unwrap();
    let events_before = f.store.events("photos", 0).await.unwrap();
    let blobs_before = count(&f.name, "blobs").await;
    let event_counter = raw_get(&f.name, "meta", &"eventseq:photos".into()).await;
    assert_eq!(event_counter.as_f64(), Some(2.0));

    // Same id, another Blob (and even another tag): refused as a duplicate.
    let other_bytes = b"not the original payload".to_vec();
    for tag in ["photos", "docs"] {
        let mut again = task("a", tag);
        again.body.size = other_bytes.len() as u64;
        let err = f
            .store
            .enqueue(&again, &blob(&other_bytes))
            .await
            .expect_err("duplicate id");
        assert_eq!(err, Error::DuplicateTask { id: "a".into() });
    }

    assert_eq!(
        f.store.get("a").await.unwrap(),
        Some(first),
        "the original task is untouched"
    );
    assert_blob_intact(&f.store, "a").await;
    assert_eq!(
        count(&f.name, "blobs").await,
        blobs_before,
        "no second Blob"
    );
    assert_eq!(count(&f.name, "tasks").await, 2);
    assert_eq!(f.store.list("photos").await.unwrap(), tasks_before);
    assert_eq!(
        f.store.events("photos", 0).await.unwrap(),
        events_before,
        "no event for the refused task"
    );
    assert_eq!(f.store.outbox_len("docs").await.unwrap(), 0);
    assert_eq!(
        raw_get(&f.name, "meta", &"eventseq:photos".into())
            .await
            .as_f64(),
        event_counter.as_f64(),
        "event counter unchanged"
    );
    assert_eq!(
        raw_get(&f.name, "meta", &"eventseq:docs".into()).await,
        JsValue::UNDEFINED,
        "no counter for the refused tag"
    );

    // The next enqueue continues without a gap.
    let (c, events) = f
        .store
        .enqueue(&task("c", "photos"), &blob(&bytes_for("c")))
        .await
        .unwrap();
    assert_eq!(c.seq, 3);
    assert_eq!(events[0].seq, 3);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn concurrent_enqueues_of_one_tag_get_distinct_gapless_sequences() {
    let f = Fixture::new("concurrent").await;
    let promises = js_sys::Array::new();
    for i in 0..20 {
        let store = f.store.clone();
        let t = task(&format!("t{i:02}"), "photos");
        promises.push(&wasm_bindgen_futures::future_to_promise(async move {
            let b = blob(&bytes_for(&t.id));
            store
                .enqueue(&t, &b)
                .await
                .map(|(t, _)| JsValue::from(t.seq as f64))
                .map_err(|e| JsValue::from(e.to_string()))
        }));
    }
    let seqs = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::all(&promises))
        .await
        .expect("every enqueue succeeds");
    let mut seqs: Vec<u64> = js_sys::Array::from(&seqs)
        .iter()
        .map(|v| v.as_f64().unwrap() as u64)
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    let listed = f.store.list("photos").await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<u64>>()
    );
    let events = f.store.events("photos", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<u64>>()
    );
    for t in &listed {
        assert_blob_intact(&f.store, &t.id).await;
    }
    f.finish().await;
}
