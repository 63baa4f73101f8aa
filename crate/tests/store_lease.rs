//! The lease transaction and attempt-owned outcomes inside a real service worker: the lease re-reads
//! the session (a pause committed before it wins) and the tag's in-flight count, and an outcome is
//! applied only for the task's current lease.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{Error, Input, Outcome, SessionOptions, State, Transport};
use ferry::web::store::{Early, Leased, SessionRecord, Store};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

async fn session(store: &Store, tag: &str, concurrency: u32, paused: bool) {
    let record = SessionRecord {
        tag: tag.into(),
        options: SessionOptions {
            concurrency,
            ..SessionOptions::default()
        },
        paused,
        page_url: None,
        last_headers: None,
        owner: None,
    };
    store.put_session(&record).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_pause_committed_before_the_lease_wins() {
    let f = Fixture::new("lease-pause").await;
    enqueue(&f.store, &task_due("a", "photos", Some(T0), 3)).await;
    session(&f.store, "photos", 2, true).await;
    let leased = f
        .store
        .lease("a", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap();
    assert!(leased.is_none(), "a paused tag leases nothing");
    assert_eq!(
        f.store.get("a").await.unwrap().unwrap().state,
        State::Queued
    );
    session(&f.store, "photos", 2, false).await;
    let leased = f
        .store
        .lease("a", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.task.state, State::InFlight);
    assert_eq!(leased.task.holder.as_deref(), Some("w1"));
    assert_eq!(
        bytes_of(leased.blob.as_ref().unwrap()).await,
        bytes_for("a")
    );
    assert_eq!(leased.events.len(), 1, "its `started` event, in the outbox");
    f.finish().await;
}

#[wasm_bindgen_test]
async fn the_lease_counts_the_tags_attempts_in_flight_whatever_the_transport() {
    let f = Fixture::new("lease-busy").await;
    for id in ["a", "b", "c"] {
        enqueue(&f.store, &task_due(id, "photos", Some(T0), 3)).await;
    }
    session(&f.store, "photos", 2, false).await;
    let bg = f
        .store
        .lease("a", Transport::BackgroundFetch, None, env(T0))
        .await
        .unwrap();
    assert!(bg.is_some());
    assert!(f
        .store
        .lease("b", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .is_some());
    assert!(
        f.store
            .lease("c", Transport::Fallback, Some("w2"), env(T0))
            .await
            .unwrap()
            .is_none(),
        "concurrency 2 is full"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn an_outcome_of_an_old_lease_changes_nothing() {
    let f = Fixture::new("lease-stale").await;
    enqueue(&f.store, &task_due("a", "photos", Some(T0), 3)).await;
    let first = f
        .store
        .lease("a", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .unwrap();
    // Its holder is gone: the task goes back and a second attempt leases it.
    f.store
        .settle("a", first.task.lease_no, Input::Abandoned, T0 + 1, 0, None)
        .await
        .unwrap();
    let second = f
        .store
        .lease("a", Transport::Fallback, Some("w2"), env(T0 + 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.task.lease_no, first.task.lease_no + 1);
    let ok = || {
        Input::Outcome(Outcome::Response {
            status: 201,
            retry_after: None,
        })
    };
    let stale = f
        .store
        .settle("a", first.task.lease_no, ok(), T0 + 3, 0, None)
        .await;
    assert!(
        matches!(stale, Err(Error::IllegalTransition { .. })),
        "{stale:?}"
    );
    assert_eq!(
        f.store.get("a").await.unwrap().unwrap().state,
        State::InFlight
    );
    let (done, _) = f
        .store
        .settle("a", second.task.lease_no, ok(), T0 + 3, 0, None)
        .await
        .unwrap();
    assert_eq!(done.state, State::Done);
    assert!(f.store.blob("a").await.unwrap().is_none());
    f.finish().await;
}

#[wasm_bindgen_test]
async fn a_batch_commits_in_order_or_not_at_all_and_reports_pause_and_background_fetch() {
    let f = Fixture::new("enqueue-all").await;
    let batch: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| (task_due(id, "photos", Some(T0), 3), blob(&bytes_for(id))))
        .collect();
    let done = f.store.enqueue_all(&batch, true).await.unwrap();
    let seqs: Vec<_> = done.tasks.iter().map(|t| (t.id.as_str(), t.seq)).collect();
    assert_eq!(seqs, vec![("a", 1), ("b", 2), ("c", 3)]);
    let events: Vec<_> = done
        .events
        .iter()
        .map(|e| (e.task_id.as_str(), e.seq))
        .collect();
    assert_eq!(events, vec![("a", 1), ("b", 2), ("c", 3)]);
    assert!(!done.paused && !done.background_fetch_busy);
    for id in ["a", "b", "c"] {
        assert_blob_intact(&f.store, id).await;
    }

    // "b" exists: the whole batch is refused, "d" included.
    let again: Vec<_> = ["d", "b"]
        .iter()
        .map(|id| (task_due(id, "photos", Some(T0), 3), blob(&bytes_for(id))))
        .collect();
    let err = f.store.enqueue_all(&again, true).await.unwrap_err();
    assert!(
        matches!(err, Error::DuplicateTask { ref id } if id == "b"),
        "{err:?}"
    );
    assert_eq!(f.store.get("d").await.unwrap(), None);
    assert_eq!(count(&f.name, "blobs").await, 3);

    // What the same transaction saw: a Background Fetch in flight, then a paused tag.
    f.store
        .lease("a", Transport::BackgroundFetch, None, env(T0))
        .await
        .unwrap()
        .expect("leased");
    let one = |id: &str| vec![(task_due(id, "photos", Some(T0), 3), blob(&bytes_for(id)))];
    let done = f.store.enqueue_all(&one("e"), true).await.unwrap();
    assert!(done.background_fetch_busy && !done.paused);
    let e = done.tasks[0].seq;
    // A caller that cannot start a Background Fetch (a worker, a page without the permission) does
    // not ask what is in flight.
    let done = f.store.enqueue_all(&one("g"), false).await.unwrap();
    assert!(!done.background_fetch_busy);
    session(&f.store, "photos", 2, true).await;
    let done = f.store.enqueue_all(&one("f"), true).await.unwrap();
    assert!(done.paused);
    // A task's seq is its `queued` event's: enqueue order, never reused.
    assert_eq!(done.tasks[0].seq, done.events[0].seq);
    assert!(done.tasks[0].seq > e + 1, "{} after {e}", done.tasks[0].seq);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn a_batch_lease_skips_a_task_that_moved_on_and_leases_the_rest() {
    let f = Fixture::new("lease-many").await;
    for id in ["a", "b", "c"] {
        enqueue(&f.store, &task_due(id, "photos", Some(T0), 3)).await;
    }
    session(&f.store, "photos", 4, false).await;
    // Chosen from an older look: "a" was cancelled and "b" leased elsewhere since.
    f.store
        .transition("a", Input::Cancel, T0, 0, None)
        .await
        .unwrap();
    f.store
        .lease("b", Transport::Fallback, Some("other"), env(T0))
        .await
        .unwrap()
        .expect("leased elsewhere");
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let leased = f
        .store
        .lease_many(&ids, Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap();
    let got: Vec<_> = leased
        .iter()
        .map(|l| l.as_ref().map(|l| (l.task.id.as_str(), l.events.len())))
        .collect();
    assert_eq!(got, vec![None, None, Some(("c", 1))]);
    assert_eq!(
        f.store.get("a").await.unwrap().unwrap().state,
        State::Cancelled
    );
    assert_eq!(
        f.store.get("b").await.unwrap().unwrap().holder.as_deref(),
        Some("other")
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn an_outcome_and_the_next_lease_share_a_transaction_and_the_lease_sees_the_freed_slot() {
    use ferry::core::EventKind;
    let f = Fixture::new("settle-lease").await;
    for id in ["a", "b"] {
        enqueue(&f.store, &task_due(id, "photos", Some(T0), 3)).await;
    }
    session(&f.store, "photos", 1, false).await;
    let a = f
        .store
        .lease("a", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .expect("a leased");
    let full = f
        .store
        .lease("b", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap();
    assert!(full.is_none(), "concurrency 1: b waits while a runs");
    // a's answer and b's lease in ONE transaction: b takes the slot a's outcome frees. b is handed
    // over as soon as it is decided (its attempt may start while the transaction commits).
    let handed: Rc<RefCell<Vec<Option<Leased>>>> = Rc::default();
    let early: Early = {
        let handed = handed.clone();
        Box::new(move |leased| handed.borrow_mut().extend(leased))
    };
    let done = f
        .store
        .settle_many(
            vec![answered("a", a.task.lease_no)],
            lease_of("b"),
            Some(early),
        )
        .await;
    assert!(done.committed);
    assert!(done.leased.is_empty(), "the leases went to `early`");
    let (a_done, a_events) = done.settled.into_iter().next().unwrap().unwrap();
    assert_eq!(a_done.state, State::Done);
    let b = handed
        .borrow_mut()
        .pop()
        .expect("one lease asked")
        .expect("b leased with a's slot");
    assert_eq!(done.started, b.events, "the `started` events to tell");
    assert_eq!(b.task.state, State::InFlight);
    assert_eq!(bytes_of(b.blob.as_ref().unwrap()).await, bytes_for("b"));
    // The events of both, numbered in one run: a's `completed`, then b's `started`.
    let a_last = a_events.last().expect("a's events");
    assert_eq!(a_last.kind, EventKind::Completed, "{a_events:?}");
    assert_eq!(b.events.len(), 1);
    assert_eq!(b.events[0].kind, EventKind::Started);
    assert_eq!(b.events[0].seq, a_last.seq + 1);
    let stored = f.store.events("photos", 0).await.unwrap();
    let tail: Vec<_> = stored
        .iter()
        .rev()
        .take(2)
        .map(|e| (e.seq, e.kind))
        .collect();
    assert_eq!(
        tail,
        vec![
            (b.events[0].seq, EventKind::Started),
            (a_last.seq, EventKind::Completed)
        ]
    );
    assert!(f.store.get("a").await.unwrap().unwrap().state == State::Done);
    f.finish().await;
}

/// Rewrites task `id` as a newer version might have written it (a protocol this version does not know).
async fn from_a_newer_version(name: &str, id: &str) {
    let record = raw_get(name, "tasks", &JsValue::from_str(id)).await;
    let protocol = js_sys::Reflect::get(
        &js_sys::Reflect::get(&record, &"request".into()).unwrap(),
        &"protocol".into(),
    )
    .unwrap();
    js_sys::Reflect::set(&protocol, &"kind".into(), &"webTransport".into()).unwrap();
    let db = raw_open(name, None, None).await;
    let tx = raw_tx(&db, &["tasks"], true);
    tx.object_store("tasks").unwrap().put(&record).unwrap();
    assert!(tx_done(&tx).await, "rewrite {id}");
    db.close();
}

#[wasm_bindgen_test]
async fn a_record_this_version_cannot_read_fails_its_own_outcome_and_the_rest_commit_whole() {
    use ferry::core::EventKind;
    let f = Fixture::new("settle-unreadable").await;
    for id in ["a", "b", "c"] {
        enqueue(&f.store, &task(id, "photos")).await;
    }
    session(&f.store, "photos", 2, false).await;
    let mut lease_nos = Vec::new();
    for id in ["a", "b"] {
        let leased = f
            .store
            .lease(id, Transport::Fallback, Some("w1"), env(T0))
            .await
            .unwrap()
            .expect("leased");
        lease_nos.push(leased.task.lease_no);
    }
    from_a_newer_version(&f.name, "b").await;
    let done = f
        .store
        .settle_many(
            vec![answered("a", lease_nos[0]), answered("b", lease_nos[1])],
            lease_of("c"),
            None,
        )
        .await;
    assert!(done.committed);
    let (settled, leased) = (done.settled, done.leased);
    let mut settled = settled.into_iter();
    let (a_done, a_events) = settled
        .next()
        .unwrap()
        .expect("a's outcome applies whatever b's record holds");
    assert_eq!(a_done.state, State::Done);
    assert!(settled.next().unwrap().is_err(), "b cannot be read here");
    // a committed whole: done, its Blob gone, its `completed` in the outbox.
    assert_eq!(f.store.get("a").await.unwrap().unwrap().state, State::Done);
    assert!(
        f.store.blob("a").await.unwrap().is_none(),
        "a's Blob deleted"
    );
    let completed = a_events.last().expect("a's events");
    assert_eq!(completed.kind, EventKind::Completed);
    let stored = f.store.events("photos", 0).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|e| e.seq == completed.seq && e.kind == EventKind::Completed),
        "{stored:?}"
    );
    // b is left as the newer version wrote it, with its Blob.
    let b = raw_get(&f.name, "tasks", &JsValue::from_str("b")).await;
    let kind = js_sys::Reflect::get(
        &js_sys::Reflect::get(
            &js_sys::Reflect::get(&b, &"request".into()).unwrap(),
            &"protocol".into(),
        )
        .unwrap(),
        &"kind".into(),
    )
    .unwrap();
    assert_eq!(kind.as_string().as_deref(), Some("webTransport"));
    assert!(f.store.blob("b").await.unwrap().is_some(), "b's Blob kept");
    // And the queue goes on: c is leased in the same transaction.
    let c = leased.into_iter().next().unwrap().expect("c leased");
    assert_eq!(c.task.state, State::InFlight);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn a_look_leaves_out_records_this_version_cannot_read_and_holds_their_sessions() {
    let f = Fixture::new("look-unreadable").await;
    for (id, tag) in [("a", "photos"), ("b", "photos"), ("c", "photos")] {
        enqueue(&f.store, &task(id, tag)).await;
    }
    // Due a moment later: due at once, it would come first with `a` (both the first of their tag).
    let size = bytes_for("d").len() as u64;
    enqueue(&f.store, &task_due("d", "videos", Some(T0 + 1), size)).await;
    session(&f.store, "photos", 2, false).await;
    session(&f.store, "videos", 2, false).await;
    from_a_newer_version(&f.name, "a").await;
    // The videos session as a newer version might write it (options this version cannot read).
    let key = JsValue::from_str("session:videos");
    let record = raw_get(&f.name, "meta", &key).await;
    js_sys::Reflect::set(&record, &"options".into(), &"newer".into()).unwrap();
    let db = raw_open(&f.name, None, None).await;
    let tx = raw_tx(&db, &["meta"], true);
    tx.object_store("meta")
        .unwrap()
        .put_with_key(&record, &key)
        .unwrap();
    assert!(tx_done(&tx).await);
    db.close();
    let ids = |tasks: &[ferry::core::Task]| tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    // Two records read, one of them unreadable: the look knows there may be more.
    let snap = f.store.snapshot(T0 + 1, 2).await.unwrap();
    assert_eq!(ids(&snap.due), ["b"]);
    assert_eq!(snap.due_read, 2);
    let snap = f.store.snapshot(T0 + 1, 10).await.unwrap();
    assert_eq!(ids(&snap.due), ["b", "c", "d"]);
    assert_eq!(snap.due_read, 4);
    assert!(!snap.sessions.get("photos").expect("photos read").paused);
    assert!(
        snap.sessions.get("videos").expect("videos read").paused,
        "a session this version cannot read holds its tasks"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn a_record_this_version_cannot_read_fails_no_enqueue_in_flight_read_or_sweep() {
    let f = Fixture::new("unreadable-rest").await;
    enqueue(&f.store, &task("a", "photos")).await;
    session(&f.store, "photos", 2, false).await;
    f.store
        .lease("a", Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .expect("a leased");
    from_a_newer_version(&f.name, "a").await;
    // An upload goes on (its transaction reads what is in flight), and so do the reads around it.
    let b = enqueue(&f.store, &task("b", "photos")).await;
    assert_eq!(b.id, "b");
    assert!(f.store.in_flight().await.unwrap().is_empty());
    let far = T0 + 365 * 24 * 3_600_000;
    f.store.sweep(far).await.expect("the sweep goes on");
    assert!(
        !raw_get(&f.name, "tasks", &JsValue::from_str("a"))
            .await
            .is_undefined(),
        "the record is left to the version that wrote it"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn a_task_whose_time_ran_out_is_expired_by_its_lease_and_never_handed_out() {
    use ferry::core::EventKind;
    let f = Fixture::new("lease-expired").await;
    let mut t = task("late", "photos");
    t.expires_at = Some(T0 + 1_000);
    enqueue(&f.store, &t).await;
    session(&f.store, "photos", 2, false).await;
    let leased = f
        .store
        .lease("late", Transport::Fallback, Some("w1"), env(T0 + 2_000))
        .await
        .unwrap();
    assert!(leased.is_none(), "an expired task is not sent");
    assert_eq!(
        f.store.get("late").await.unwrap().unwrap().state,
        State::Expired
    );
    assert!(
        f.store.blob("late").await.unwrap().is_none(),
        "its Blob deleted"
    );
    let kinds: Vec<_> = f
        .store
        .events("photos", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.last(), Some(&EventKind::Expired), "{kinds:?}");
    f.finish().await;
}
