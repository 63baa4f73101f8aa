//! The state machine rule by rule: timing, budgets, progress, recovery (outcomes: `tests_outcomes`).

use super::tests::*;
use super::*;
use crate::core::error::Error;
use crate::core::retry::{Outcome, RetryPolicy};
use crate::core::task::{Protocol, Transport};

#[test]
fn retention_end_expires_a_task_without_deadline() {
    let mut t = in_state(State::Queued);
    t.expires_at = None;
    let end = T0 + t.retry.max_retention_ms;
    let (after, eff) = apply(&t, lease_input(), end, 0).unwrap();
    assert_eq!(
        (after.state, effect_names(&eff)),
        (State::Expired, EXPIRED.to_vec())
    );
}

#[test]
fn lease_before_next_attempt_is_illegal() {
    let t = in_state(State::Queued);
    let due = t.next_attempt_at.unwrap();
    let err = apply(&t, lease_input(), due - 1, 0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IllegalTransition {
                state: State::Queued,
                ..
            }
        ),
        "{err}"
    );
    assert!(apply(&t, lease_input(), due, 0).is_ok());
}

#[test]
fn lease_before_earliest_begin_is_illegal() {
    let mut n = fresh();
    n.earliest_begin = Some(T0 + 5000);
    n.next_attempt_at = Some(T0);
    assert_eq!(
        apply(&n, lease_input(), T0 + 4999, 0).unwrap_err().name(),
        "FerryIllegalTransition"
    );
    assert!(apply(&n, lease_input(), T0 + 5000, 0).is_ok());
}

#[test]
fn new_task_is_due_at_earliest_begin_or_now() {
    let t = fresh();
    assert_eq!(
        (t.state, t.next_attempt_at, t.attempt),
        (State::Queued, Some(T0), 0)
    );
    assert!(check_invariants(&t));
    let mut n = NewTask {
        id: "x".into(),
        tag: "t".into(),
        seq: 3,
        request: t.request.clone(),
        body: t.body.clone(),
        idempotency_key: "k".into(),
        now_ms: T0,
        expires_at: None,
        earliest_begin: Some(T0 + 10),
        retry: RetryPolicy::default(),
    };
    assert_eq!(new_task(n.clone()).next_attempt_at, Some(T0 + 10));
    n.earliest_begin = Some(T0 - 10);
    assert_eq!(new_task(n).next_attempt_at, Some(T0));
}

#[test]
fn lease_counts_the_attempt_and_sets_the_lease() {
    let (t, eff) = apply(
        &fresh(),
        Input::Lease {
            lease_ms: 500,
            transport: Transport::BackgroundSync,
        },
        T0,
        0,
    )
    .unwrap();
    assert_eq!(eff, vec![Effect::Send]);
    assert_eq!(
        (t.attempt, t.lease_until, t.next_attempt_at),
        (1, Some(T0 + 500), None)
    );
    assert_eq!(t.transport, Some(Transport::BackgroundSync));
}

#[test]
fn a_background_fetch_tells_started_once_the_browser_began_it_or_with_its_end_and_never_when_refused(
) {
    let lease = |t: &Task| {
        let input = Input::Lease {
            lease_ms: 500,
            transport: Transport::BackgroundFetch,
        };
        apply(t, input, T0, 0).unwrap()
    };
    // Leased: nothing told yet.
    let (leased, eff) = lease(&fresh());
    assert_eq!(eff, vec![]);
    assert!(!leased.announced && leased.attempt == 1);
    // The page says the browser began it: `started`, once, and only for this lease.
    assert_eq!(announce(&leased, leased.lease_no + 1).1, vec![]);
    let (began, eff) = announce(&leased, leased.lease_no);
    assert_eq!(eff, vec![Effect::Send]);
    assert_eq!(announce(&began, began.lease_no).1, vec![]);
    let ok = Outcome::Response {
        status: 201,
        retry_after: None,
    };
    let (_, eff) = apply(&began, Input::Outcome(ok.clone()), T0 + 1, 0).unwrap();
    assert!(!eff.contains(&Effect::Send), "told already: {eff:?}");
    // Its outcome came first (the page closed at once, or the answer was quicker): told with it.
    let (done, eff) = apply(&leased, Input::Outcome(ok), T0 + 1, 0).unwrap();
    assert_eq!(eff.first(), Some(&Effect::Send));
    assert!(eff.contains(&Effect::Completed { status: 201 }));
    assert!(done.announced);
    // Refused by the browser: no attempt, nothing told; the next lease tells its own.
    let (released, eff) = apply(&leased, Input::Release, T0 + 1, 0).unwrap();
    assert_eq!(eff, vec![]);
    assert_eq!((released.state, released.attempt), (State::Queued, 0));
    let again = Input::Lease {
        lease_ms: 500,
        transport: Transport::Fallback,
    };
    let (sent, eff) = apply(&released, again, T0 + 1, 0).unwrap();
    assert_eq!((eff, sent.attempt), (vec![Effect::Send], 1));
}

#[test]
fn progress_growth_restarts_the_attempt_budget() {
    let mut t = in_state(State::InFlight);
    t.attempt = 7;
    let t = step(
        &t,
        Input::Progress {
            bytes_confirmed: 300,
        },
        NOW,
    );
    assert_eq!((t.attempt, t.bytes_confirmed), (1, 300));
    let t2 = step(
        &t,
        Input::Progress {
            bytes_confirmed: 200,
        },
        NOW,
    );
    assert_eq!(t2, t, "stale progress is ignored");
}

#[test]
fn progress_beyond_the_body_is_clamped() {
    let t = step(
        &in_state(State::InFlight),
        Input::Progress {
            bytes_confirmed: 10_000,
        },
        NOW,
    );
    assert_eq!(t.bytes_confirmed, 1000);
    assert!(check_invariants(&t));
}

#[test]
fn lease_expired_requeues_due_now() {
    let (t, eff) = apply(&in_state(State::InFlight), Input::LeaseExpired, NOW, 0).unwrap();
    assert_eq!(
        (t.state, t.next_attempt_at, t.attempt),
        (State::Queued, Some(NOW), 1)
    );
    assert_eq!(t.last_error.as_deref(), Some("lease expired"));
    assert_eq!(
        eff,
        vec![Effect::RetryAt {
            at: NOW,
            delay_ms: 0,
            reason: "lease expired".into()
        }]
    );
}

#[test]
fn lease_expired_before_lease_end_is_illegal() {
    let t = in_state(State::InFlight);
    let err = apply(&t, Input::LeaseExpired, T0 + LEASE_MS - 1, 0).unwrap_err();
    assert_eq!(err.name(), "FerryIllegalTransition");
    assert!(apply(&t, Input::LeaseExpired, T0 + LEASE_MS, 0).is_ok());
}

#[test]
fn abandoned_requeues_due_now_even_inside_the_lease() {
    let t = in_state(State::InFlight);
    let now = T0 + 1;
    assert!(t.lease_until.unwrap() > now);
    let (t, eff) = apply(&t, Input::Abandoned, now, 0).unwrap();
    assert_eq!(
        (t.state, t.next_attempt_at, t.attempt),
        (State::Queued, Some(now), 1)
    );
    assert_eq!(effect_names(&eff), ["retryAt"]);
}

#[test]
fn abandoned_on_the_last_attempt_fails() {
    let mut t = in_state(State::InFlight);
    t.attempt = t.retry.max_attempts;
    let (t, eff) = apply(&t, Input::Abandoned, T0 + 1, 0).unwrap();
    assert_eq!(t.state, State::Failed);
    assert_eq!(effect_names(&eff), FAILED);
}

#[test]
fn lease_expired_on_the_last_attempt_fails() {
    let mut t = in_state(State::InFlight);
    t.attempt = t.retry.max_attempts;
    let (t, eff) = apply(&t, Input::LeaseExpired, NOW, 0).unwrap();
    assert_eq!(t.state, State::Failed);
    assert_eq!(effect_names(&eff), FAILED);
}

#[test]
fn cancel_of_a_finished_task_changes_nothing() {
    for s in [State::Done, State::Failed, State::Cancelled, State::Expired] {
        let t = in_state(s);
        assert_eq!(apply(&t, Input::Cancel, NOW, 0).unwrap(), (t, vec![]));
    }
}

#[test]
fn illegal_transition_names_task_state_and_input() {
    let err = apply(&in_state(State::Done), lease_input(), NOW, 0).unwrap_err();
    match err {
        Error::IllegalTransition {
            task_id,
            state,
            attempt,
            input,
            ..
        } => {
            assert_eq!(
                (task_id.as_str(), state, attempt, input.as_str()),
                ("t1", State::Done, 1, "lease")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tus_upload_url_is_recorded_while_in_flight() {
    let mut t = in_state(State::InFlight);
    t.request.protocol = Protocol::Tus {
        chunk_size: 10,
        metadata: vec![],
        upload_url: None,
    };
    let t = record_upload_url(&t, "https://example.com/files/abc").unwrap();
    assert!(
        matches!(&t.request.protocol, Protocol::Tus { upload_url: Some(u), .. } if u.ends_with("/abc"))
    );
    assert!(
        record_upload_url(&in_state(State::InFlight), "x").is_err(),
        "http has no upload URL"
    );
    assert!(
        record_upload_url(&in_state(State::Queued), "x").is_err(),
        "only while in flight"
    );
}

#[test]
fn a_finished_task_drops_its_request_headers() {
    let mut t = fresh();
    t.request.headers = vec![("authorization".into(), "Bearer secret".into())];
    let now = t.created_at;
    let flying = step(&t, lease_input(), now);
    assert_eq!(
        flying.request.headers.len(),
        1,
        "kept while the task needs them"
    );
    assert!(step(&flying, resp(201), now).request.headers.is_empty());
    assert!(step(&flying, resp(400), now).request.headers.is_empty());
    assert!(step(&t, Input::Cancel, now).request.headers.is_empty());
}
