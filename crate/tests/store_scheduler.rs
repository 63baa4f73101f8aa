//! The scheduler's indexed queries inside a real service worker: `next_due`, `next_wake`,
//! `in_flight`, and taking back a lease a dead worker left behind.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{EventKind, Input, Outcome, State, Task, Transport};
use ferry::web::store::Store;
use wasm_bindgen_test::*;

fn ids(tasks: &[Task]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

fn lease(ms: u64) -> Input {
    Input::Lease {
        lease_ms: ms,
        transport: Transport::Fallback,
    }
}

/// Queued tasks due at T0+{0,100,200,300,500} (enqueued out of order, over two tags), plus one in
/// flight, one done, one failed and one cancelled, all of which were due early.
async fn mixed_queue(store: &Store) {
    for (id, tag, due) in [
        ("d300", "photos", 300),
        ("d0", "docs", 0),
        ("d500", "photos", 500),
        ("d100", "docs", 100),
        ("d200", "photos", 200),
    ] {
        enqueue(
            store,
            &task_due(id, tag, Some(T0 + due), bytes_for(id).len() as u64),
        )
        .await;
    }
    for id in ["flying", "done", "failed", "cancelled"] {
        enqueue(
            store,
            &task_due(id, "photos", Some(T0 + 1), bytes_for(id).len() as u64),
        )
        .await;
    }
    for id in ["flying", "done", "failed"] {
        store
            .transition(id, lease(60_000), T0 + 1, 0, None)
            .await
            .unwrap();
    }
    let status = |s| {
        Input::Outcome(Outcome::Response {
            status: s,
            retry_after: None,
        })
    };
    store
        .transition("done", status(204), T0 + 2, 0, None)
        .await
        .unwrap();
    store
        .transition("failed", status(413), T0 + 2, 0, None)
        .await
        .unwrap();
    store
        .transition("cancelled", Input::Cancel, T0 + 2, 0, None)
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn next_due_returns_only_due_queued_tasks_in_due_order() {
    let f = Fixture::new("due").await;
    mixed_queue(&f.store).await;

    assert_eq!(
        ids(&f.store.next_due(T0 + 250, 100).await.unwrap()),
        ["d0", "d100", "d200"]
    );
    assert_eq!(
        ids(&f.store.next_due(T0 + 200, 100).await.unwrap()),
        ["d0", "d100", "d200"],
        "due exactly at now counts"
    );
    assert_eq!(
        ids(&f.store.next_due(T0 + 199, 100).await.unwrap()),
        ["d0", "d100"]
    );
    assert_eq!(ids(&f.store.next_due(T0, 100).await.unwrap()), ["d0"]);
    assert!(
        f.store.next_due(T0 - 1, 100).await.unwrap().is_empty(),
        "nothing is due before T0"
    );
    let all = f.store.next_due(T0 + 1_000_000, 100).await.unwrap();
    assert_eq!(
        ids(&all),
        ["d0", "d100", "d200", "d300", "d500"],
        "never in-flight or finished tasks"
    );
    assert!(all.iter().all(|t| t.state == State::Queued));
    f.finish().await;
}

#[wasm_bindgen_test]
async fn next_due_honours_the_limit() {
    let f = Fixture::new("due-limit").await;
    mixed_queue(&f.store).await;
    assert_eq!(ids(&f.store.next_due(T0 + 1_000, 1).await.unwrap()), ["d0"]);
    assert_eq!(
        ids(&f.store.next_due(T0 + 1_000, 2).await.unwrap()),
        ["d0", "d100"]
    );
    assert_eq!(
        ids(&f.store.next_due(T0 + 1_000, 4).await.unwrap()),
        ["d0", "d100", "d200", "d300"]
    );
    assert_eq!(f.store.next_due(T0 + 1_000, 5).await.unwrap().len(), 5);
    assert_eq!(f.store.next_due(T0 + 1_000, 6).await.unwrap().len(), 5);
    f.finish().await;
}

/// "At most `limit`" includes 0; IndexedDB's getAll treats a count of 0 as "no limit".
#[wasm_bindgen_test]
async fn next_due_with_limit_zero_returns_nothing() {
    let f = Fixture::new("due-zero").await;
    mixed_queue(&f.store).await;
    assert_eq!(
        ids(&f.store.next_due(T0 + 1_000, 0).await.unwrap()),
        Vec::<&str>::new()
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn next_due_orders_ties_and_tags_by_due_time_only() {
    // Same due time across tags: all of them come back, each exactly once.
    let f = Fixture::new("due-ties").await;
    for (id, tag) in [
        ("a1", "photos"),
        ("b1", "docs"),
        ("a2", "photos"),
        ("b2", "docs"),
    ] {
        enqueue(&f.store, &task_due(id, tag, Some(T0 + 50), 10)).await;
    }
    enqueue(&f.store, &task_due("early", "docs", Some(T0 + 10), 10)).await;
    let due = f.store.next_due(T0 + 50, 10).await.unwrap();
    assert_eq!(due[0].id, "early");
    let mut rest: Vec<&str> = ids(&due[1..]);
    rest.sort();
    assert_eq!(rest, ["a1", "a2", "b1", "b2"]);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn tasks_due_at_the_same_time_come_in_enqueue_order_from_both_due_indexes() {
    // An `uploadAll` (or calls within a millisecond) gives every task the same due time: a window of
    // the due index must hold the first enqueued, not the first by id (random UUIDs in practice).
    let f = Fixture::new("due-fifo").await;
    let order = ["m", "z", "a", "q", "b"];
    for id in order {
        enqueue(&f.store, &task_due(id, "photos", Some(T0 + 50), 10)).await;
    }
    enqueue(&f.store, &task_due("other", "docs", Some(T0 + 45), 10)).await;
    let due = f.store.next_due(T0 + 50, 3).await.unwrap();
    assert_eq!(
        ids(&due),
        ["other", "m", "z"],
        "due time first, then the first enqueued"
    );
    let of_tag = f
        .store
        .due_of_tags(T0 + 50, &[("photos".into(), 4)])
        .await
        .unwrap();
    assert_eq!(of_tag.len(), 1);
    assert_eq!(ids(&of_tag[0].1), ["m", "z", "a", "q"]);
    // Due exactly now is due; the first later one is none of them.
    assert_eq!(
        f.store.next_later(T0 + 49).await.unwrap().map(|t| t.id),
        Some("m".into())
    );
    assert_eq!(f.store.next_later(T0 + 50).await.unwrap(), None);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn next_wake_is_the_earliest_queued_due_time() {
    let f = Fixture::new("wake").await;
    assert_eq!(
        f.store.next_wake().await.unwrap(),
        None,
        "an empty store never needs waking"
    );
    for (id, due) in [("c", 9_000), ("a", 3_000), ("b", 5_000)] {
        enqueue(&f.store, &task_due(id, "photos", Some(T0 + due), 10)).await;
    }
    assert_eq!(f.store.next_wake().await.unwrap(), Some(T0 + 3_000));
    assert!(
        f.store.next_due(T0 + 2_999, 10).await.unwrap().is_empty(),
        "nothing due before the wake time"
    );

    // Taking the earliest away (leased, then finished) moves the wake time to the next one.
    f.store
        .transition("a", lease(1_000), T0 + 3_000, 0, None)
        .await
        .unwrap();
    assert_eq!(
        f.store.next_wake().await.unwrap(),
        Some(T0 + 5_000),
        "in-flight tasks do not wake the scheduler"
    );
    f.store
        .transition(
            "a",
            Input::Outcome(Outcome::Response {
                status: 200,
                retry_after: None,
            }),
            T0 + 3_001,
            0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(f.store.next_wake().await.unwrap(), Some(T0 + 5_000));
    f.store
        .transition("b", Input::Cancel, T0 + 3_002, 0, None)
        .await
        .unwrap();
    assert_eq!(f.store.next_wake().await.unwrap(), Some(T0 + 9_000));
    f.store
        .transition("c", Input::Cancel, T0 + 3_003, 0, None)
        .await
        .unwrap();
    assert_eq!(
        f.store.next_wake().await.unwrap(),
        None,
        "only finished tasks left"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn in_flight_lists_exactly_the_leased_tasks() {
    let f = Fixture::new("in-flight").await;
    assert!(f.store.in_flight().await.unwrap().is_empty());
    for id in ["a", "b", "c", "d"] {
        enqueue(
            &f.store,
            &task(id, if id < "c" { "photos" } else { "docs" }),
        )
        .await;
    }
    f.store
        .transition("b", lease(5_000), T0 + 1, 0, None)
        .await
        .unwrap();
    f.store
        .transition("d", lease(1_000), T0 + 1, 0, None)
        .await
        .unwrap();
    f.store
        .transition("c", lease(1_000), T0 + 1, 0, None)
        .await
        .unwrap();
    f.store
        .transition("c", Input::Cancel, T0 + 2, 0, None)
        .await
        .unwrap();
    let mut flying = ids(&f.store.in_flight().await.unwrap())
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    flying.sort();
    assert_eq!(flying, ["b", "d"]);
    assert!(f
        .store
        .in_flight()
        .await
        .unwrap()
        .iter()
        .all(|t| t.state == State::InFlight && t.lease_until.is_some()));
    f.finish().await;
}

#[wasm_bindgen_test]
async fn an_abandoned_lease_is_found_and_recovered_with_its_blob() {
    let f = Fixture::new("recover").await;
    enqueue(&f.store, &task("a", "photos")).await;
    enqueue(&f.store, &task("other", "photos")).await;
    let (leased, _) = f
        .store
        .transition("a", lease(30_000), T0 + 100, 0, None)
        .await
        .unwrap();
    let until = leased.lease_until.unwrap();
    assert_eq!(until, T0 + 30_100);
    // The worker holding the lease dies here: nothing reports an outcome.

    // A new worker looks for abandoned work.
    assert_eq!(f.store.in_flight().await.unwrap(), vec![leased.clone()]);
    assert!(
        !ids(&f.store.next_due(until, 10).await.unwrap()).contains(&"a"),
        "still leased, so not due"
    );

    // Too early: the lease still runs.
    assert!(f
        .store
        .transition("a", Input::LeaseExpired, until - 1, 0, None)
        .await
        .is_err());
    assert_eq!(f.store.get("a").await.unwrap(), Some(leased));

    // At the lease's end it is queued again, due at once, with its Blob.
    let (back, events) = f
        .store
        .transition("a", Input::LeaseExpired, until, 0, None)
        .await
        .unwrap();
    assert_eq!(back.state, State::Queued);
    assert_eq!(back.next_attempt_at, Some(until));
    assert_eq!(back.lease_until, None);
    assert_eq!(back.attempt, 1, "the abandoned attempt counts");
    assert_eq!(f.store.get("a").await.unwrap(), Some(back.clone()));
    assert_blob_intact(&f.store, "a").await;
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::Retrying]
    );
    assert!(f.store.in_flight().await.unwrap().is_empty());
    assert_eq!(
        ids(&f.store.next_due(until, 10).await.unwrap()),
        ["other", "a"],
        "due again, after the older task"
    );
    assert_eq!(f.store.next_due(until, 10).await.unwrap()[1], back);

    // And it can be leased again.
    let (again, _) = f
        .store
        .transition("a", lease(30_000), until + 1, 0, None)
        .await
        .unwrap();
    assert_eq!((again.state, again.attempt), (State::InFlight, 2));

    // Recovery long after the lease ended works the same way.
    let (late, _) = f
        .store
        .transition("a", Input::LeaseExpired, until + 10_000_000, 0, None)
        .await
        .unwrap();
    assert_eq!(
        (late.state, late.next_attempt_at),
        (State::Queued, Some(until + 10_000_000))
    );
    assert_blob_intact(&f.store, "a").await;
    f.finish().await;
}
