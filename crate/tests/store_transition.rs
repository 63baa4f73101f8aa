//! `Store::transition` inside a real service worker: record, Blob deletion and events move together.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{
    Error, EventKind, FerryEvent, Input, Outcome, ResponseInfo, State, Task, Transport,
};
use ferry::web::store::Store;
use wasm_bindgen_test::*;

const LEASE_MS: u64 = 60_000;

fn lease() -> Input {
    Input::Lease {
        lease_ms: LEASE_MS,
        transport: Transport::BackgroundSync,
    }
}

fn status(code: u16) -> Input {
    Input::Outcome(Outcome::Response {
        status: code,
        retry_after: None,
    })
}

/// Enqueues `id` in `photos` and leases it at `T0 + 10`.
async fn in_flight(store: &Store, id: &str) -> Task {
    enqueue(store, &task(id, "photos")).await;
    store
        .transition(id, lease(), T0 + 10, 0, None)
        .await
        .expect("lease")
        .0
}

/// Asserts `result` is an IllegalTransition refusing `input` in `state`.
fn assert_illegal(result: Result<(Task, Vec<FerryEvent>), Error>, state: State, input: &str) {
    match result {
        Err(Error::IllegalTransition {
            state: s, input: i, ..
        }) => assert_eq!((s, i.as_str()), (state, input)),
        other => panic!("expected IllegalTransition({state}, {input}), got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn lease_puts_the_task_in_flight_with_a_started_event() {
    let f = Fixture::new("lease").await;
    enqueue(&f.store, &task("a", "photos")).await;
    let (t, events) = f
        .store
        .transition("a", lease(), T0 + 10, 0, None)
        .await
        .unwrap();
    assert_eq!(t.state, State::InFlight);
    assert_eq!(t.attempt, 1);
    assert_eq!(t.lease_until, Some(T0 + 10 + LEASE_MS));
    assert_eq!(
        t.next_attempt_at, None,
        "an in-flight task leaves the due index"
    );
    assert_eq!(t.transport, Some(Transport::BackgroundSync));
    assert_eq!(
        f.store.get("a").await.unwrap(),
        Some(t.clone()),
        "the new record is persisted"
    );

    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.kind, e.seq, e.attempt, e.transport),
        (
            EventKind::Started,
            2,
            Some(1),
            Some(Transport::BackgroundSync)
        )
    );
    assert_eq!(
        f.store.events("photos", 1).await.unwrap(),
        events,
        "the started event follows queued in the outbox"
    );
    assert_blob_intact(&f.store, "a").await;
    assert_eq!(f.store.in_flight().await.unwrap(), vec![t]);
    assert!(
        f.store.next_due(T0 + 10_000, 10).await.unwrap().is_empty(),
        "a leased task is not due"
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn outcome_201_completes_deletes_the_blob_and_reports_the_response() {
    let f = Fixture::new("done").await;
    in_flight(&f.store, "a").await;
    let response = ResponseInfo {
        status: 201,
        headers: vec![("etag".into(), "\"v1\"".into())],
        body: "{\"id\":42}".into(),
    };
    let (t, events) = f
        .store
        .transition("a", status(201), T0 + 20, 0, Some(response.clone()))
        .await
        .unwrap();
    assert_eq!(t.state, State::Done);
    assert_eq!(t.last_status, Some(201));
    assert_eq!((t.next_attempt_at, t.lease_until), (None, None));
    assert_eq!(f.store.get("a").await.unwrap(), Some(t));
    assert!(
        f.store.blob("a").await.unwrap().is_none(),
        "a finished task keeps no Blob"
    );
    assert_eq!(count(&f.name, "blobs").await, 0);

    assert_eq!(events.len(), 2, "progress at the total, then completed");
    assert_eq!(
        (events[0].kind, events[0].seq, events[0].bytes_sent),
        (EventKind::Progress, 3, events[0].bytes_total)
    );
    assert_eq!(
        (events[1].kind, events[1].seq, events[1].attempt),
        (EventKind::Completed, 4, Some(1))
    );
    assert_eq!(
        events[1].response,
        Some(response),
        "the completed event carries the response"
    );
    assert_eq!(f.store.events("photos", 2).await.unwrap(), events);
    assert!(f.store.in_flight().await.unwrap().is_empty());
    assert!(f
        .store
        .next_due(u64::MAX >> 12, 10)
        .await
        .unwrap()
        .is_empty());
    f.finish().await;
}

#[wasm_bindgen_test]
async fn outcome_503_requeues_later_with_a_retrying_event() {
    let f = Fixture::new("retry").await;
    in_flight(&f.store, "a").await;
    let now = T0 + 20;
    // rand = MAX picks the top of the jitter range: the first retry waits base_ms (1 s).
    let (t, events) = f
        .store
        .transition("a", status(503), now, u64::MAX, None)
        .await
        .unwrap();
    assert_eq!(t.state, State::Queued);
    assert_eq!(
        t.next_attempt_at,
        Some(now + 1000),
        "due again in the future"
    );
    assert_eq!(t.lease_until, None);
    assert_eq!(t.last_status, Some(503));
    assert_eq!(f.store.get("a").await.unwrap(), Some(t.clone()));
    assert_blob_intact(&f.store, "a").await;

    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.kind, e.seq, e.attempt, e.delay_ms),
        (EventKind::Retrying, 3, Some(1), Some(1000))
    );
    assert!(
        e.reason.as_deref().unwrap_or_default().contains("503"),
        "{e:?}"
    );

    assert!(
        f.store.next_due(now, 10).await.unwrap().is_empty(),
        "not due before its retry time"
    );
    assert!(f.store.next_due(now + 999, 10).await.unwrap().is_empty());
    assert_eq!(f.store.next_due(now + 1000, 10).await.unwrap(), vec![t]);
    assert_eq!(f.store.next_wake().await.unwrap(), Some(now + 1000));
    assert!(f.store.in_flight().await.unwrap().is_empty());

    // And the retry can be leased again once due: attempt 2.
    let (again, _) = f
        .store
        .transition("a", lease(), now + 1000, 0, None)
        .await
        .unwrap();
    assert_eq!((again.state, again.attempt), (State::InFlight, 2));
    f.finish().await;
}

#[wasm_bindgen_test]
async fn outcome_400_fails_and_deletes_the_blob() {
    let f = Fixture::new("failed").await;
    in_flight(&f.store, "a").await;
    let response = ResponseInfo {
        status: 400,
        headers: vec![],
        body: "bad file".into(),
    };
    let (t, events) = f
        .store
        .transition("a", status(400), T0 + 20, 0, Some(response.clone()))
        .await
        .unwrap();
    assert_eq!(t.state, State::Failed);
    assert_eq!(t.last_status, Some(400));
    assert_eq!(f.store.get("a").await.unwrap(), Some(t));
    assert!(f.store.blob("a").await.unwrap().is_none());
    assert_eq!(count(&f.name, "blobs").await, 0);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind, events[0].seq), (EventKind::Failed, 3));
    assert_eq!(events[0].response, Some(response));
    assert!(f
        .store
        .next_due(u64::MAX >> 12, 10)
        .await
        .unwrap()
        .is_empty());
    f.finish().await;
}

#[wasm_bindgen_test]
async fn illegal_transition_is_refused_and_changes_nothing() {
    let f = Fixture::new("illegal").await;
    let queued = enqueue(&f.store, &task("q", "photos")).await;
    let flying = in_flight(&f.store, "f").await;
    let events_before = f.store.events("photos", 0).await.unwrap();

    // An outcome for a task nobody is sending.
    assert_illegal(
        f.store.transition("q", status(201), T0 + 20, 0, None).await,
        State::Queued,
        "outcome",
    );
    // A second lease of a running task.
    assert_illegal(
        f.store.transition("f", lease(), T0 + 20, 0, None).await,
        State::InFlight,
        "lease",
    );
    // Recovery before the lease ran out.
    assert_illegal(
        f.store
            .transition("f", Input::LeaseExpired, T0 + 20, 0, None)
            .await,
        State::InFlight,
        "leaseExpired",
    );
    // A lease of a task that is not due yet.
    enqueue(&f.store, &task_due("later", "photos", Some(T0 + 5_000), 10)).await;
    assert_illegal(
        f.store.transition("later", lease(), T0 + 20, 0, None).await,
        State::Queued,
        "lease",
    );

    assert_eq!(f.store.get("q").await.unwrap(), Some(queued));
    assert_eq!(f.store.get("f").await.unwrap(), Some(flying));
    assert_blob_intact(&f.store, "q").await;
    assert_blob_intact(&f.store, "f").await;
    let mut events_after = f.store.events("photos", 0).await.unwrap();
    assert_eq!(
        events_after.pop().map(|e| (e.kind, e.task_id)),
        Some((EventKind::Queued, "later".to_string()))
    );
    assert_eq!(events_after, events_before, "no event for a refused input");
    f.finish().await;
}

#[wasm_bindgen_test]
async fn finished_tasks_refuse_inputs_but_accept_cancel_as_a_no_op() {
    let f = Fixture::new("terminal").await;
    in_flight(&f.store, "a").await;
    let (done, _) = f
        .store
        .transition("a", status(200), T0 + 20, 0, None)
        .await
        .unwrap();
    let outbox = f.store.outbox_len("photos").await.unwrap();

    assert_illegal(
        f.store.transition("a", lease(), T0 + 30, 0, None).await,
        State::Done,
        "lease",
    );
    assert_illegal(
        f.store.transition("a", status(500), T0 + 30, 0, None).await,
        State::Done,
        "outcome",
    );
    let (same, events) = f
        .store
        .transition("a", Input::Cancel, T0 + 30, 0, None)
        .await
        .unwrap();
    assert_eq!(same, done);
    assert!(events.is_empty());
    assert_eq!(f.store.get("a").await.unwrap(), Some(done));
    assert_eq!(f.store.outbox_len("photos").await.unwrap(), outbox);
    f.finish().await;
}

#[wasm_bindgen_test]
async fn cancel_deletes_the_blob_of_a_queued_or_running_task() {
    let f = Fixture::new("cancel").await;
    enqueue(&f.store, &task("q", "photos")).await;
    in_flight(&f.store, "r").await;
    enqueue(&f.store, &task("keep", "photos")).await;
    for id in ["q", "r"] {
        let (t, events) = f
            .store
            .transition(id, Input::Cancel, T0 + 20, 0, None)
            .await
            .unwrap();
        assert_eq!(t.state, State::Cancelled);
        assert_eq!((t.next_attempt_at, t.lease_until), (None, None));
        assert_eq!(f.store.get(id).await.unwrap(), Some(t));
        assert!(
            f.store.blob(id).await.unwrap().is_none(),
            "cancelled {id} keeps no Blob"
        );
        assert_eq!(
            events
                .iter()
                .map(|e| (e.kind, e.task_id.as_str()))
                .collect::<Vec<_>>(),
            [(EventKind::Cancelled, id)]
        );
    }
    assert_blob_intact(&f.store, "keep").await;
    assert_eq!(count(&f.name, "blobs").await, 1);
    assert!(f.store.in_flight().await.unwrap().is_empty());
    assert_eq!(
        f.store
            .next_due(T0 + 20, 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        ["keep"]
    );
    f.finish().await;
}

#[wasm_bindgen_test]
async fn unknown_task_id_is_an_error_and_writes_nothing() {
    let f = Fixture::new("unknown").await;
    enqueue(&f.store, &task("a", "photos")).await;
    for input in [Input::Cancel, lease(), status(201), Input::LeaseExpired] {
        let err = f
            .store
            .transition("nope", input, T0 + 20, 0, None)
            .await
            .expect_err("unknown id");
        assert_eq!(err, Error::UnknownTask { id: "nope".into() });
    }
    assert_eq!(count(&f.name, "tasks").await, 1);
    assert_eq!(count(&f.name, "outbox").await, 1);
    assert_blob_intact(&f.store, "a").await;
    f.finish().await;
}

#[wasm_bindgen_test]
async fn transition_failing_at_its_last_step_leaves_the_task_as_it_was() {
    // The completion's event write collides with a squatter at the tag's next event number, after the
    // record was rewritten and the Blob deleted inside the same transaction: all of it must roll back.
    let f = Fixture::new("transition-atomic").await;
    let running = in_flight(&f.store, "a").await; // events 1 (queued) and 2 (started)
    let db = raw_open(&f.name, None, None).await;
    let tx = raw_tx(&db, &["outbox"], true);
    let squatter =
        js_sys::JSON::parse(r#"{"tag":"photos","seq":3,"kind":"queued","taskId":"squatter"}"#)
            .unwrap();
    tx.object_store("outbox").unwrap().add(&squatter).unwrap();
    assert!(tx_done(&tx).await);
    db.close();

    let err = f
        .store
        .transition("a", status(201), T0 + 20, 0, None)
        .await
        .expect_err("the event write collides");
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(
        f.store.get("a").await.unwrap(),
        Some(running),
        "the task is still in flight"
    );
    assert_blob_intact(&f.store, "a").await;
    assert_eq!(
        raw_get(&f.name, "meta", &"eventseq:photos".into())
            .await
            .as_f64(),
        Some(2.0),
        "event counter unchanged"
    );
    f.finish().await;
}
