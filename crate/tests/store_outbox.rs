//! The per-tag outbox, `clear`, and session records, inside a real service worker.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{EventKind, FerryEvent, Input, Launch, Outcome, SessionOptions, Transport};
use ferry::web::store::{SessionRecord, Settle, Store};
use wasm_bindgen_test::*;

/// Two tags whose names share a prefix (`photos`, `photos-2`), so a range that leaks across tags shows.
const A: &str = "photos";
const B: &str = "photos-2";

fn seqs(events: &[FerryEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// A: a1..a3 queued (events 1-3), a1 leased (4) and completed (progress at the total 5, completed 6).
/// B: b1, b2 queued (events 1-2).
async fn two_tags(store: &Store) {
    for (id, tag) in [("a1", A), ("b1", B), ("a2", A), ("a3", A), ("b2", B)] {
        enqueue(store, &task(id, tag)).await;
    }
    store
        .transition(
            "a1",
            Input::Lease {
                lease_ms: 60_000,
                transport: Transport::Fallback,
            },
            T0 + 1,
            0,
            None,
        )
        .await
        .unwrap();
    store
        .transition(
            "a1",
            Input::Outcome(Outcome::Response {
                status: 201,
                retry_after: None,
            }),
            T0 + 2,
            0,
            None,
        )
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn events_returns_one_tags_events_in_order_after_a_seq() {
    let f = Fixture::new("events").await;
    two_tags(&f.store).await;
    let a = f.store.events(A, 0).await.unwrap();
    assert_eq!(seqs(&a), [1, 2, 3, 4, 5, 6]);
    assert!(a.iter().all(|e| e.tag == A), "only {A}'s events: {a:?}");
    assert_eq!(
        a.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            EventKind::Queued,
            EventKind::Queued,
            EventKind::Queued,
            EventKind::Started,
            EventKind::Progress,
            EventKind::Completed
        ]
    );
    assert_eq!(
        a.iter().map(|e| e.task_id.as_str()).collect::<Vec<_>>(),
        ["a1", "a2", "a3", "a1", "a1", "a1"]
    );

    assert_eq!(
        f.store.events(A, 2).await.unwrap(),
        a[2..].to_vec(),
        "strictly after seq 2"
    );
    assert_eq!(f.store.events(A, 4).await.unwrap(), a[4..].to_vec());
    assert!(f.store.events(A, 6).await.unwrap().is_empty());
    assert!(f.store.events(A, 1_000).await.unwrap().is_empty());

    let b = f.store.events(B, 0).await.unwrap();
    assert_eq!(seqs(&b), [1, 2]);
    assert!(b.iter().all(|e| e.tag == B && e.kind == EventKind::Queued));
    assert!(
        f.store.events("photo", 0).await.unwrap().is_empty(),
        "a prefix of a tag is another tag"
    );
    assert!(f.store.events("nobody", 0).await.unwrap().is_empty());
    assert_eq!(
        (
            f.store.outbox_len(A).await.unwrap(),
            f.store.outbox_len(B).await.unwrap()
        ),
        (6, 2)
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn event_tails_are_each_tags_last_seq_acknowledged_or_not() {
    let f = Fixture::new("tails").await;
    assert!(f.store.event_tails().await.unwrap().is_empty());
    two_tags(&f.store).await;
    // A session record sits in the same store under another key: not a tail.
    f.store
        .put_session(&SessionRecord {
            tag: A.into(),
            options: SessionOptions::default(),
            paused: false,
            page_url: None,
            last_headers: None,
            owner: None,
        })
        .await
        .unwrap();
    f.store.ack(A, 6).await.unwrap();
    assert_eq!(
        f.store.event_tails().await.unwrap(),
        [(A.to_string(), 6), (B.to_string(), 2)],
        "acknowledging keeps the numbering's end"
    );
    f.finish().await;
}

fn session_launching(tag: &str, launch: Launch) -> SessionRecord {
    SessionRecord {
        tag: tag.into(),
        options: SessionOptions {
            launch,
            ..SessionOptions::default()
        },
        paused: false,
        page_url: None,
        last_headers: None,
        owner: None,
    }
}

/// Leases `id` and records the server's 201 for it, through `settle_many` (the drain's path) or
/// `settle` (one task's transition).
async fn complete(store: &Store, id: &str, tag: &str, many: bool) {
    let leased = store
        .lease(id, Transport::Fallback, Some("w1"), env(T0))
        .await
        .unwrap()
        .unwrap();
    let ok = Input::Outcome(Outcome::Response {
        status: 201,
        retry_after: None,
    });
    if many {
        let item = Settle {
            id: id.into(),
            tag: tag.into(),
            lease_no: leased.task.lease_no,
            input: ok,
            now_ms: T0 + 1,
            rand: 0,
            response: None,
        };
        let done = store.settle_many(vec![item], None, None).await;
        assert!(done.committed && done.settled[0].is_ok());
    } else {
        store
            .settle(id, leased.task.lease_no, ok, T0 + 1, 0, None)
            .await
            .unwrap();
    }
}

#[wasm_bindgen_test]
async fn a_launch_decision_is_owed_for_each_end_of_a_launching_sessions_task_until_made_or_heard() {
    let f = Fixture::new("launch-owed").await;
    f.store
        .put_session(&session_launching(A, Launch::Notify))
        .await
        .unwrap();
    f.store
        .put_session(&session_launching(B, Launch::None))
        .await
        .unwrap();
    for (id, tag) in [("a1", A), ("a2", A), ("a3", A), ("b1", B)] {
        enqueue(&f.store, &task(id, tag)).await;
    }
    assert!(f.store.launches_owed().await.unwrap().is_empty());
    // Both ways an outcome is recorded leave the mark with the event; a session without launch
    // events leaves none.
    complete(&f.store, "a1", A, true).await;
    complete(&f.store, "a2", A, false).await;
    complete(&f.store, "b1", B, true).await;
    let owed = f.store.launches_owed().await.unwrap();
    assert_eq!(
        owed.iter()
            .map(|e| (e.tag.as_str(), e.task_id.as_str(), e.kind))
            .collect::<Vec<_>>(),
        [
            (A, "a1", EventKind::Completed),
            (A, "a2", EventKind::Completed)
        ]
    );
    // Decided: no longer owed.
    f.store
        .launches_decided(&[(A.into(), owed[0].seq)])
        .await
        .unwrap();
    let left = f.store.launches_owed().await.unwrap();
    assert_eq!(left, owed[1..].to_vec());
    // Heard by a page (acknowledged): nothing left to tell, the mark goes.
    f.store.ack(A, owed[1].seq).await.unwrap();
    assert!(f.store.launches_owed().await.unwrap().is_empty());
    // `clear()` takes a tag's marks with its tasks.
    complete(&f.store, "a3", A, true).await;
    assert_eq!(f.store.launches_owed().await.unwrap().len(), 1);
    f.store.clear(A).await.unwrap();
    assert!(f.store.launches_owed().await.unwrap().is_empty());
    f.finish().await;
}

#[wasm_bindgen_test]
async fn ack_drops_events_up_to_n_of_that_tag_only() {
    let f = Fixture::new("ack").await;
    two_tags(&f.store).await;
    let all_a = f.store.events(A, 0).await.unwrap();
    let all_b = f.store.events(B, 0).await.unwrap();

    f.store.ack(A, 0).await.unwrap();
    assert_eq!(
        f.store.events(A, 0).await.unwrap(),
        all_a,
        "ack 0 drops nothing"
    );

    f.store.ack(A, 3).await.unwrap();
    assert_eq!(
        f.store.events(A, 0).await.unwrap(),
        all_a[3..].to_vec(),
        "events <= 3 are gone, the rest kept"
    );
    assert_eq!(f.store.outbox_len(A).await.unwrap(), 3);
    assert_eq!(
        f.store.events(B, 0).await.unwrap(),
        all_b,
        "another tag is untouched"
    );
    assert_eq!(f.store.outbox_len(B).await.unwrap(), 2);

    f.store.ack(A, 2).await.unwrap(); // an older ack arriving late changes nothing
    assert_eq!(seqs(&f.store.events(A, 0).await.unwrap()), [4, 5, 6]);

    f.store.ack(A, 99).await.unwrap();
    assert_eq!(f.store.outbox_len(A).await.unwrap(), 0);
    assert_eq!(f.store.outbox_len(B).await.unwrap(), 2);

    // Acknowledging never resets numbering: the next event continues after the last one.
    let (_, events) = f
        .store
        .transition("a2", Input::Cancel, T0 + 3, 0, None)
        .await
        .unwrap();
    assert_eq!(seqs(&events), [7]);
    assert_eq!(f.store.events(A, 0).await.unwrap(), events);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn ack_each_drops_exactly_the_events_named_of_every_tag_in_one_transaction() {
    let f = Fixture::new("ack-each").await;
    two_tags(&f.store).await;
    // A's 2 and 5, B's 1, and seqs no event has (A's 9) or a tag that does not exist: nothing else goes.
    f.store
        .ack_each(&[
            (A.into(), 2),
            (B.into(), 1),
            (A.into(), 5),
            (A.into(), 9),
            ("nobody".into(), 1),
        ])
        .await
        .unwrap();
    assert_eq!(seqs(&f.store.events(A, 0).await.unwrap()), [1, 3, 4, 6]);
    assert_eq!(seqs(&f.store.events(B, 0).await.unwrap()), [2]);
    f.store.ack_each(&[]).await.unwrap();
    assert_eq!(f.store.outbox_len(A).await.unwrap(), 4);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn ack_each_drops_runs_of_consecutive_events_whole_and_keeps_what_lies_between() {
    let f = Fixture::new("ack-runs").await;
    two_tags(&f.store).await;
    // A's 1-2 and 4-5 (named out of order, 4 twice), B's 1-2: A's 3 and 6 stay.
    let named = [(A, 5), (B, 2), (A, 1), (A, 4), (B, 1), (A, 2), (A, 4)];
    let named: Vec<(String, u64)> = named.iter().map(|(t, s)| (t.to_string(), *s)).collect();
    f.store.ack_each(&named).await.unwrap();
    assert_eq!(seqs(&f.store.events(A, 0).await.unwrap()), [3, 6]);
    assert_eq!(f.store.outbox_len(B).await.unwrap(), 0);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn clear_removes_one_tags_tasks_blobs_and_events() {
    let f = Fixture::new("clear").await;
    two_tags(&f.store).await;
    f.store
        .transition(
            "a2",
            Input::Lease {
                lease_ms: 60_000,
                transport: Transport::Fallback,
            },
            T0 + 3,
            0,
            None,
        )
        .await
        .unwrap();
    let b_tasks = f.store.list(B).await.unwrap();
    let b_events = f.store.events(B, 0).await.unwrap();

    assert_eq!(
        f.store.clear(A).await.unwrap(),
        3,
        "a1 (done), a2 (in flight), a3 (queued)"
    );
    assert!(f.store.list(A).await.unwrap().is_empty());
    for id in ["a1", "a2", "a3"] {
        assert_eq!(f.store.get(id).await.unwrap(), None);
        assert!(
            f.store.blob(id).await.unwrap().is_none(),
            "Blob of {id} removed"
        );
    }
    assert_eq!(f.store.outbox_len(A).await.unwrap(), 0);
    assert!(f.store.in_flight().await.unwrap().is_empty());

    assert_eq!(
        f.store.list(B).await.unwrap(),
        b_tasks,
        "the other tag survives"
    );
    assert_eq!(f.store.events(B, 0).await.unwrap(), b_events);
    for id in ["b1", "b2"] {
        assert_blob_intact(&f.store, id).await;
    }
    assert_eq!(count(&f.name, "tasks").await, 2);
    assert_eq!(count(&f.name, "blobs").await, 2);
    assert_eq!(count(&f.name, "outbox").await, 2);

    // Clearing again (or an unknown tag) removes nothing.
    assert_eq!(f.store.clear(A).await.unwrap(), 0);
    assert_eq!(f.store.clear("nobody").await.unwrap(), 0);

    // Counters stay, so numbers never repeat for the tag.
    let (t, events) = f
        .store
        .enqueue(&task("a4", A), &blob(&bytes_for("a4")))
        .await
        .unwrap();
    assert_eq!(seqs(&events), [8]);
    assert_eq!(t.seq, 8, "a task's seq is its queued event's");
    f.finish().await;
}

#[wasm_bindgen_test]
async fn session_records_round_trip_per_tag() {
    let f = Fixture::new("session").await;
    assert_eq!(f.store.session(A).await.unwrap(), None);
    let options = SessionOptions {
        concurrency: 3,
        launch: Launch::Notify,
        manual_ack: true,
        ..Default::default()
    };
    let paused = SessionRecord {
        tag: A.into(),
        options,
        paused: true,
        page_url: Some("http://127.0.0.1/app".into()),
        last_headers: Some(vec![("authorization".into(), "Bearer t".into())]),
        owner: Some("http://127.0.0.1/app/".into()),
    };
    f.store.put_session(&paused).await.unwrap();
    assert_eq!(f.store.session(A).await.unwrap(), Some(paused.clone()));
    assert_eq!(
        f.store.session(B).await.unwrap(),
        None,
        "sessions are per tag"
    );

    let resumed = SessionRecord {
        paused: false,
        ..paused.clone()
    };
    f.store.put_session(&resumed).await.unwrap();
    assert_eq!(
        f.store.session(A).await.unwrap(),
        Some(resumed.clone()),
        "the latest write wins"
    );

    let other = SessionRecord {
        tag: B.into(),
        options: SessionOptions::default(),
        paused: true,
        page_url: None,
        last_headers: None,
        owner: None,
    };
    f.store.put_session(&other).await.unwrap();
    assert_eq!(f.store.session(A).await.unwrap(), Some(resumed.clone()));
    assert_eq!(f.store.session(B).await.unwrap(), Some(other.clone()));

    // Kept headers replace the previous ones, only while the task they were asked for is there; a
    // clear drops them and keeps the rest of the record.
    enqueue(&f.store, &task("a1", A)).await;
    let fresh = vec![("authorization".to_string(), "Bearer t2".to_string())];
    f.store.keep_headers(A, "a1", &fresh).await.unwrap();
    assert_eq!(
        f.store.session(A).await.unwrap(),
        Some(SessionRecord {
            last_headers: Some(fresh.clone()),
            ..resumed.clone()
        })
    );
    f.store.clear(A).await.unwrap();
    let forgotten = SessionRecord {
        last_headers: None,
        ..resumed
    };
    assert_eq!(
        f.store.session(A).await.unwrap(),
        Some(forgotten.clone()),
        "a logout drops them"
    );
    f.store.keep_headers(A, "a1", &fresh).await.unwrap();
    assert_eq!(
        f.store.session(A).await.unwrap(),
        Some(forgotten),
        "headers asked for a cleared task are not written back"
    );
    assert_eq!(f.store.session(B).await.unwrap(), Some(other));
    f.finish().await;
}

#[wasm_bindgen_test]
async fn sweep_removes_finished_tasks_past_retention_with_their_unacknowledged_events() {
    let f = Fixture::new("sweep").await;
    two_tags(&f.store).await; // a1 done at T0 + 2 with events 1, 4, 5 for it; others queued
    let a1 = f.store.get("a1").await.unwrap().unwrap();
    let retention_end = a1.deadline();

    // Before the retention ends nothing leaves, not even acknowledged-or-not events.
    assert_eq!(f.store.sweep(retention_end - 1).await.unwrap(), 0);
    assert!(f.store.get("a1").await.unwrap().is_some());

    assert_eq!(
        f.store.sweep(retention_end).await.unwrap(),
        1,
        "the finished task past its retention"
    );
    assert!(f.store.get("a1").await.unwrap().is_none());
    let left: Vec<(String, u64)> = f
        .store
        .events(A, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.task_id, e.seq))
        .collect();
    assert!(
        left.iter().all(|(id, _)| id != "a1"),
        "a1's events left with it: {left:?}"
    );
    assert_eq!(left.len(), 2, "a2's and a3's queued events stay");
    // Queued tasks are never swept, whatever their age: expiry is the state machine's to decide.
    assert_eq!(f.store.list(A).await.unwrap().len(), 2);
    assert_eq!(f.store.list(B).await.unwrap().len(), 2);
    assert_eq!(count(&f.name, "outbox").await, 4);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn sweep_keeps_a_finished_task_with_an_early_expires_at_until_its_retention_ends() {
    let f = Fixture::new("sweep-expires").await;
    let mut t = task("e1", A);
    t.expires_at = Some(T0 + 10);
    enqueue(&f.store, &t).await;
    f.store
        .transition("e1", Input::Expire, T0 + 10, 0, None)
        .await
        .unwrap();
    let e1 = f.store.get("e1").await.unwrap().unwrap();
    assert_eq!(e1.state, ferry::core::State::Expired, "{e1:?}");
    let end = e1.retention_end();
    assert!(end > T0 + 10, "retention ends after expiresAt: {end}");

    // Past its expiresAt but not its retention: the task and its unacknowledged events stay, so the
    // next page still learns how it ended.
    assert_eq!(f.store.sweep(end - 1).await.unwrap(), 0);
    let kinds: Vec<EventKind> = f
        .store
        .events(A, 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [EventKind::Queued, EventKind::Expired]);

    assert_eq!(f.store.sweep(end).await.unwrap(), 1);
    assert!(f.store.get("e1").await.unwrap().is_none());
    assert!(f.store.events(A, 0).await.unwrap().is_empty());
    f.finish().await;
}
