//! Table tests: every (state, input) pair, before and at the deadline.

use super::*;
use crate::core::retry::{Outcome, RetryPolicy};
use crate::core::task::{BodyMeta, Method, Protocol, Request, Transport};

pub(super) const T0: u64 = 1_000_000;
pub(super) const DEADLINE: u64 = T0 + 1_000_000;
pub(super) const LEASE_MS: u64 = 60_000;
/// Past the lease of the in-flight fixture, before the deadline.
pub(super) const NOW: u64 = T0 + 100_000;

pub(super) fn fresh() -> Task {
    new_task(NewTask {
        id: "t1".into(),
        tag: "photos".into(),
        seq: 0,
        request: Request {
            url: "https://example.com/up".into(),
            method: Method::Post,
            headers: vec![],
            protocol: Protocol::Http,
            credentials: Default::default(),
        },
        body: BodyMeta {
            size: 1000,
            mime: "image/jpeg".into(),
            name: Some("a.jpg".into()),
        },
        idempotency_key: "k1".into(),
        now_ms: T0,
        expires_at: Some(DEADLINE),
        earliest_begin: None,
        retry: RetryPolicy::default(),
    })
}

pub(super) fn lease_input() -> Input {
    Input::Lease {
        lease_ms: LEASE_MS,
        transport: Transport::Fallback,
    }
}

pub(super) fn resp(status: u16) -> Input {
    Input::Outcome(Outcome::Response {
        status,
        retry_after: None,
    })
}

pub(super) fn step(t: &Task, input: Input, now: u64) -> Task {
    let (t, _) = apply(t, input, now, 0).expect("fixture step");
    t
}

/// A task in `state`, reached through the state machine itself.
pub(super) fn in_state(state: State) -> Task {
    let in_flight = step(&fresh(), lease_input(), T0);
    match state {
        State::Queued => step(&in_flight, resp(503), T0 + 1),
        State::InFlight => in_flight,
        State::Done => step(&in_flight, resp(201), T0 + 1),
        State::Failed => step(&in_flight, resp(400), T0 + 1),
        State::Cancelled => step(&in_flight, Input::Cancel, T0 + 1),
        State::Expired => step(&in_flight, Input::Expire, DEADLINE),
    }
}

fn inputs() -> Vec<(&'static str, Input)> {
    vec![
        ("lease", lease_input()),
        ("ok", resp(201)),
        ("503", resp(503)),
        (
            "net",
            Input::Outcome(Outcome::NetworkError("Failed to fetch".into())),
        ),
        ("timeout", Input::Outcome(Outcome::Timeout)),
        ("400", resp(400)),
        (
            "progress+",
            Input::Progress {
                bytes_confirmed: 500,
            },
        ),
        ("progress=", Input::Progress { bytes_confirmed: 0 }),
        ("leaseExpired", Input::LeaseExpired),
        ("abandoned", Input::Abandoned),
        ("cancel", Input::Cancel),
        ("expire", Input::Expire),
    ]
}

pub(super) fn effect_names(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .map(|e| match e {
            Effect::Send => "send",
            Effect::RetryAt { .. } => "retryAt",
            Effect::Completed { .. } => "completed",
            Effect::Failed { .. } => "failed",
            Effect::Cancelled => "cancelled",
            Effect::Expired => "expired",
            Effect::DeleteBlob => "deleteBlob",
        })
        .collect()
}

#[derive(Debug)]
enum Expect {
    /// Ok, into this state with these effects.
    To(State, &'static [&'static str]),
    /// Ok, the task unchanged and no effects.
    Same,
    /// `IllegalTransition`.
    Illegal,
}
use Expect::*;

const SEND: &[&str] = &["send"];
const RETRY: &[&str] = &["retryAt"];
const DONE: &[&str] = &["completed", "deleteBlob"];
pub(super) const FAILED: &[&str] = &["failed", "deleteBlob"];
const CANCELLED: &[&str] = &["cancelled", "deleteBlob"];
pub(super) const EXPIRED: &[&str] = &["expired", "deleteBlob"];
const NONE: &[&str] = &[];

fn check_row(state: State, label: &str, input: Input, now: u64, expect: &Expect) {
    let before = in_state(state);
    assert_eq!(before.state, state);
    let got = apply(&before, input, now, 12345);
    let ctx = format!("{state:?} + {label} @ {now}: {got:?}");
    match (expect, got) {
        (To(next, effects), Ok((after, eff))) => {
            assert_eq!(after.state, *next, "{ctx}");
            assert_eq!(effect_names(&eff), *effects, "{ctx}");
            assert!(check_invariants(&after), "{ctx}");
        }
        (Same, Ok((after, eff))) => {
            assert_eq!(after, before, "{ctx}");
            assert!(eff.is_empty(), "{ctx}");
        }
        (Illegal, Err(e)) => assert_eq!(e.name(), "FerryIllegalTransition", "{ctx}"),
        _ => panic!("expected {expect:?}, {ctx}"),
    }
}

fn expect_live(state: State, label: &str) -> Expect {
    match (state, label) {
        (State::Queued, "lease") => To(State::InFlight, SEND),
        (State::Queued, "cancel") => To(State::Cancelled, CANCELLED),
        (State::Queued, "expire") => Same,
        (State::Queued, _) => Illegal,
        (State::InFlight, "lease") => Illegal,
        (State::InFlight, "ok") => To(State::Done, DONE),
        (State::InFlight, "503" | "net" | "timeout" | "leaseExpired" | "abandoned") => {
            To(State::Queued, RETRY)
        }
        (State::InFlight, "400") => To(State::Failed, FAILED),
        (State::InFlight, "progress+") => To(State::InFlight, NONE),
        (State::InFlight, "progress=" | "expire") => Same,
        (State::InFlight, "cancel") => To(State::Cancelled, CANCELLED),
        (_, "cancel") => Same,
        _ => Illegal,
    }
}

fn expect_past_deadline(state: State, label: &str) -> Expect {
    match (state, label) {
        (State::InFlight, "ok") => To(State::Done, DONE),
        (State::Queued | State::InFlight, _) => To(State::Expired, EXPIRED),
        (_, "cancel") => Same,
        _ => Illegal,
    }
}

#[test]
fn every_state_input_pair_before_the_deadline() {
    for state in State::ALL {
        for (label, input) in inputs() {
            check_row(state, label, input, NOW, &expect_live(state, label));
        }
    }
}

#[test]
fn every_state_input_pair_at_the_deadline_expiry_wins() {
    for state in State::ALL {
        for (label, input) in inputs() {
            check_row(
                state,
                label,
                input,
                DEADLINE,
                &expect_past_deadline(state, label),
            );
        }
    }
}
