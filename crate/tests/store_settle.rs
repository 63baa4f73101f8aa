//! A settle that leases in the same transaction takes its tasks from the lease's read of what is in
//! flight; an outcome whose task is no longer there (cancelled, or cleared) is read by key and answered
//! as it would be alone, and the lease beside it goes on.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{Error, Input, State, Transport};
use ferry::web::store::Store;
use wasm_bindgen_test::*;

/// Leases `a` and `b` (both sent by this worker), with `c` queued behind them.
async fn two_running(store: &Store) -> (u64, u64) {
    for id in ["a", "b", "c"] {
        enqueue(store, &task_due(id, "photos", Some(T0), 3)).await;
    }
    let mut lease_no = Vec::new();
    for id in ["a", "b"] {
        let leased = store
            .lease(id, Transport::Fallback, Some("w1"), env(T0))
            .await
            .unwrap()
            .expect("leased");
        lease_no.push(leased.task.lease_no);
    }
    (lease_no[0], lease_no[1])
}

#[wasm_bindgen_test]
async fn outcomes_settled_with_a_lease_apply_to_the_tasks_in_flight_and_a_cancelled_ones_is_refused(
) {
    let f = Fixture::new("settle-cancelled").await;
    let (a, b) = two_running(&f.store).await;
    // b is cancelled while its request runs: its answer arrives after.
    let (cancelled, _) = f
        .store
        .transition("b", Input::Cancel, T0 + 5, 0, None)
        .await
        .unwrap();
    assert_eq!(cancelled.state, State::Cancelled);
    let done = f
        .store
        .settle_many(
            vec![answered("a", a), answered("b", b)],
            lease_of("c"),
            None,
        )
        .await;
    assert!(done.committed);
    let mut settled = done.settled.into_iter();
    let (a_done, a_events) = settled.next().unwrap().expect("a's outcome applies");
    assert_eq!(a_done.state, State::Done);
    assert!(!a_events.is_empty());
    let b_done = settled.next().unwrap();
    assert!(
        matches!(b_done, Err(Error::IllegalTransition { .. })),
        "the answer of a cancelled task is refused as such: {b_done:?}"
    );
    assert_eq!(
        f.store.get("b").await.unwrap().unwrap().state,
        State::Cancelled
    );
    let c = done.leased.into_iter().next().unwrap().expect("c leased");
    assert_eq!(c.task.state, State::InFlight);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn an_outcome_of_a_task_cleared_meanwhile_is_unknown_and_the_lease_beside_it_goes_on() {
    let f = Fixture::new("settle-cleared").await;
    let (a, _) = two_running(&f.store).await;
    assert_eq!(f.store.clear("photos").await.unwrap(), 3);
    enqueue(&f.store, &task_due("d", "photos", Some(T0), 3)).await;
    let done = f
        .store
        .settle_many(vec![answered("a", a)], lease_of("d"), None)
        .await;
    assert!(done.committed);
    let a_done = done.settled.into_iter().next().unwrap();
    assert!(
        matches!(&a_done, Err(Error::UnknownTask { id }) if id == "a"),
        "{a_done:?}"
    );
    let d = done.leased.into_iter().next().unwrap().expect("d leased");
    assert_eq!(d.task.state, State::InFlight);
    f.finish().await;
}
