//! The state machine's answers to an attempt's outcome: retried (with `Retry-After` and backoff), failed,
//! completed, and what each records.

use super::tests::*;
use super::*;
use crate::core::retry::Outcome;

#[test]
fn retryable_response_records_reason_and_status() {
    let t = in_state(State::InFlight);
    let (t, eff) = apply(&t, resp(503), NOW, u64::MAX).unwrap();
    let at = NOW + 1000; // attempt 1, full jitter at the top of [0, base]
    assert_eq!(
        eff,
        vec![Effect::RetryAt {
            at,
            delay_ms: 1000,
            reason: "503 Service Unavailable".into()
        }]
    );
    assert_eq!((t.next_attempt_at, t.last_status), (Some(at), Some(503)));
    assert_eq!(t.last_error.as_deref(), Some("503 Service Unavailable"));
}

#[test]
fn network_error_clears_last_status() {
    let t = step(&in_state(State::InFlight), resp(503), NOW);
    let t = step(&t, lease_input(), t.next_attempt_at.unwrap());
    let (t, eff) = apply(
        &t,
        Input::Outcome(Outcome::NetworkError("offline".into())),
        NOW + 5000,
        0,
    )
    .unwrap();
    assert_eq!(t.last_status, None);
    assert!(
        matches!(&eff[0], Effect::RetryAt { reason, .. } if reason == "network error: offline")
    );
}

#[test]
fn retry_after_seconds_is_honoured_over_shorter_backoff() {
    let t = in_state(State::InFlight);
    let o = Outcome::Response {
        status: 429,
        retry_after: Some("120".into()),
    };
    let (t, eff) = apply(&t, Input::Outcome(o), NOW, u64::MAX).unwrap();
    assert_eq!(t.next_attempt_at, Some(NOW + 120_000));
    assert!(matches!(
        eff[0],
        Effect::RetryAt {
            delay_ms: 120_000,
            ..
        }
    ));
}

#[test]
fn backoff_wins_over_shorter_retry_after() {
    let mut t = in_state(State::InFlight);
    t.attempt = 5; // ceiling 16 s
    let o = Outcome::Response {
        status: 503,
        retry_after: Some("1".into()),
    };
    let (t, _) = apply(&t, Input::Outcome(o), NOW, u64::MAX).unwrap();
    assert_eq!(t.next_attempt_at, Some(NOW + 16_000));
}

#[test]
fn retry_after_is_capped_at_the_deadline() {
    let t = in_state(State::InFlight);
    let o = Outcome::Response {
        status: 503,
        retry_after: Some("999999".into()),
    };
    let (t, eff) = apply(&t, Input::Outcome(o), NOW, 0).unwrap();
    assert_eq!(t.next_attempt_at, Some(DEADLINE));
    assert!(
        matches!(eff[0], Effect::RetryAt { at: DEADLINE, delay_ms, .. } if delay_ms == DEADLINE - NOW)
    );
    // When the scheduler wakes at the cap, the task expires instead of running.
    let (t, eff) = apply(&t, lease_input(), DEADLINE, 0).unwrap();
    assert_eq!(
        (t.state, effect_names(&eff)),
        (State::Expired, EXPIRED.to_vec())
    );
}

#[test]
fn retryable_at_max_attempts_fails_with_count_and_status() {
    let mut t = in_state(State::InFlight);
    t.attempt = t.retry.max_attempts;
    let (t, eff) = apply(&t, resp(502), NOW, 0).unwrap();
    assert_eq!(t.state, State::Failed);
    assert_eq!(
        eff,
        vec![
            Effect::Failed {
                reason: "gave up after 8 attempts; last: 502 Bad Gateway".into()
            },
            Effect::DeleteBlob
        ]
    );
    assert_eq!(t.last_status, Some(502));
}

#[test]
fn final_response_fails_at_once() {
    let (t, eff) = apply(&in_state(State::InFlight), resp(413), NOW, 0).unwrap();
    assert_eq!(t.state, State::Failed);
    assert!(
        matches!(&eff[0], Effect::Failed { reason } if reason.starts_with("413 Content Too Large on attempt 1"))
    );
}

#[test]
fn success_completes_and_deletes_the_blob() {
    let (t, eff) = apply(&in_state(State::InFlight), resp(204), NOW, 0).unwrap();
    assert_eq!((t.state, t.last_status), (State::Done, Some(204)));
    assert_eq!(
        eff,
        vec![Effect::Completed { status: 204 }, Effect::DeleteBlob]
    );
}

#[test]
fn success_after_the_deadline_still_counts_as_completed() {
    let (t, eff) = apply(&in_state(State::InFlight), resp(200), DEADLINE + 1, 0).unwrap();
    assert_eq!(t.state, State::Done);
    assert_eq!(eff[0], Effect::Completed { status: 200 });
}

#[test]
fn failure_after_the_deadline_expires_and_keeps_the_status() {
    let (t, _) = apply(&in_state(State::InFlight), resp(503), DEADLINE, 0).unwrap();
    assert_eq!((t.state, t.last_status), (State::Expired, Some(503)));
}

#[test]
fn a_final_failure_blames_the_server_only_for_its_status() {
    let t = in_state(State::InFlight);
    let (_, effects) = apply(
        &t,
        Input::Outcome(Outcome::Response {
            status: 400,
            retry_after: None,
        }),
        NOW,
        0,
    )
    .unwrap();
    assert!(
        matches!(&effects[0], Effect::Failed { reason } if reason.contains("the server refused the upload"))
    );
    let refused = Outcome::Refused("the server answered POST u with a redirect".into());
    let (_, effects) = apply(&t, Input::Outcome(refused), NOW, 0).unwrap();
    let Effect::Failed { reason } = &effects[0] else {
        panic!("{effects:?}")
    };
    assert!(!reason.contains("the server refused"), "{reason}");
    assert!(
        reason.ends_with("(attempt 1); retrying cannot help"),
        "{reason}"
    );
}

#[test]
fn attempts_spent_on_network_errors_fail_naming_an_early_answer_too() {
    let mut t = in_state(State::InFlight);
    t.attempt = t.retry.max_attempts;
    let o =
        Outcome::NetworkError("TypeError: NetworkError when attempting to fetch resource.".into());
    let (_, eff) = apply(&t, Input::Outcome(o), NOW, 0).unwrap();
    let Some(Effect::Failed { reason }) = eff.first() else {
        panic!("not failed: {eff:?}");
    };
    assert!(reason.starts_with("gave up after 8 attempts; last: network error: TypeError"));
    assert!(
        reason.contains("answered (a 413 or 401, say) before reading the body"),
        "{reason}"
    );
    assert!(reason.contains("the server was unreachable"), "{reason}");
    // A server that answered Ferry's probe is not called unreachable: its reason says it answers.
    let answered = crate::core::cors::refused_reason(
        "TypeError: NetworkError when attempting to fetch resource.",
        "https://api.example.com",
        "https://app.example.com",
        "POST",
        "https://api.example.com/up",
        &[],
        crate::core::task::Credentials::SameOrigin,
    );
    let (_, eff) = apply(&t, Input::Outcome(Outcome::NetworkError(answered)), NOW, 0).unwrap();
    let Some(Effect::Failed { reason }) = eff.first() else {
        panic!("not failed: {eff:?}");
    };
    assert!(reason.contains("answers requests from here"), "{reason}");
    assert!(!reason.contains("unreachable"), "{reason}");
    assert!(
        reason.contains(
            "answers (a 413 or 401, say) before reading the body and closes the connection"
        ),
        "{reason}"
    );
    // An answer is its own reason: no such hint.
    let (_, eff) = apply(&t, resp(503), NOW, 0).unwrap();
    assert!(matches!(&eff[0], Effect::Failed { reason } if !reason.contains("no answer")));
    // A network error with attempts left is retried, its reason as it was.
    t.attempt = 1;
    let o = Outcome::NetworkError("Failed to fetch".into());
    let (_, eff) = apply(&t, Input::Outcome(o), NOW, 0).unwrap();
    assert!(
        matches!(&eff[0], Effect::RetryAt { reason, .. } if reason == "network error: Failed to fetch")
    );
}
