//! Property tests: the state machine's promises hold for any input sequence, not just the ones we
//! thought of.

use proptest::prelude::*;

use crate::core::retry::{backoff_ms, classify, parse_retry_after, Class, Outcome, RetryPolicy};
use crate::core::state::{apply, check_invariants, new_task, Effect, Input, NewTask};
use crate::core::task::{BodyMeta, Credentials, Method, Protocol, Request, State, Task, Transport};

const T0: u64 = 1_700_000_000_000;

fn arb_policy() -> impl Strategy<Value = RetryPolicy> {
    (1u32..6, 1u64..5_000, 0u64..100_000, 1u64..100_000_000).prop_map(
        |(max_attempts, base_ms, extra, retention)| RetryPolicy {
            max_attempts,
            base_ms,
            cap_ms: base_ms + extra,
            max_retention_ms: retention,
        },
    )
}

fn arb_transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        Just(Transport::BackgroundFetch),
        Just(Transport::BackgroundSync),
        Just(Transport::Fallback)
    ]
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    let pairs = || proptest::collection::vec((".{0,8}", ".{0,8}"), 0..3);
    prop_oneof![
        Just(Protocol::Http),
        (".{0,8}", ".{0,8}", pairs()).prop_map(|(field, filename, fields)| Protocol::Multipart {
            field,
            filename,
            fields
        }),
        (any::<u64>(), pairs(), proptest::option::of(".{0,12}")).prop_map(
            |(chunk_size, metadata, upload_url)| Protocol::Tus {
                chunk_size,
                metadata,
                upload_url
            }
        ),
    ]
}

/// A fresh task with random policy, deadline, start time and size.
fn arb_task() -> impl Strategy<Value = Task> {
    (
        arb_policy(),
        proptest::option::of(1u64..50_000_000),
        proptest::option::of(0u64..200_000),
        0u64..10_000,
    )
        .prop_map(|(retry, expires_in, begin_in, size)| {
            new_task(NewTask {
                id: "t".into(),
                tag: "tag".into(),
                seq: 1,
                request: Request {
                    url: "https://example.com/u".into(),
                    method: Method::Post,
                    headers: vec![],
                    protocol: Protocol::Http,
                    credentials: Default::default(),
                },
                body: BodyMeta {
                    size,
                    mime: "x/y".into(),
                    name: None,
                },
                idempotency_key: "k".into(),
                now_ms: T0,
                expires_at: expires_in.map(|d| T0 + d),
                earliest_begin: begin_in.map(|d| T0 + d),
                retry,
            })
        })
}

fn arb_retry_after() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[0-9]{1,5}",
        Just("Sun, 06 Nov 1994 08:49:37 GMT".to_string()),
        Just("Fri, 01 Jan 2100 00:00:00 GMT".to_string()),
        "[a-z ]{0,6}",
    ])
}

fn arb_input() -> impl Strategy<Value = Input> {
    let status = prop_oneof![
        Just(200u16),
        Just(201),
        Just(400),
        Just(408),
        Just(429),
        Just(503),
        100u16..600
    ];
    prop_oneof![
        3 => (0u64..200_000, arb_transport()).prop_map(|(lease_ms, transport)| Input::Lease { lease_ms, transport }),
        3 => (status, arb_retry_after()).prop_map(|(status, retry_after)| Input::Outcome(Outcome::Response { status, retry_after })),
        1 => ".{0,10}".prop_map(|m| Input::Outcome(Outcome::NetworkError(m))),
        1 => Just(Input::Outcome(Outcome::Timeout)),
        2 => (0u64..12_000).prop_map(|bytes_confirmed| Input::Progress { bytes_confirmed }),
        1 => Just(Input::LeaseExpired),
        1 => Just(Input::Cancel),
        1 => Just(Input::Expire),
    ]
}

/// One step: an input, a clock advance, jitter, and whether to jump to the task's due time first
/// (without it, random clocks would rarely hit a lease window).
fn arb_steps() -> impl Strategy<Value = Vec<(Input, u64, u64, bool)>> {
    let dt = prop_oneof![0u64..1_000, 0u64..300_000, 0u64..5_000_000];
    proptest::collection::vec((arb_input(), dt, any::<u64>(), any::<bool>()), 0..30)
}

fn is_success(input: &Input) -> bool {
    matches!(input, Input::Outcome(o) if classify(o) == Class::Success)
}

/// Checks every promise of one transition; returns the task to continue with.
fn check_step(before: &Task, input: Input, now: u64, rand: u64) -> Result<Task, TestCaseError> {
    let result = apply(before, input.clone(), now, rand);
    if before.state.is_terminal() {
        match result {
            Ok((after, effects)) => {
                prop_assert_eq!(
                    &input,
                    &Input::Cancel,
                    "only cancel is accepted on a terminal task"
                );
                prop_assert_eq!(&after, before);
                prop_assert!(effects.is_empty());
            }
            Err(e) => prop_assert_eq!(e.name(), "FerryIllegalTransition"),
        }
        return Ok(before.clone());
    }
    if before.is_expired_at(now) {
        let (after, _) = result.as_ref().expect("expiry always succeeds");
        let wanted = if before.state == State::InFlight && is_success(&input) {
            State::Done
        } else {
            State::Expired
        };
        prop_assert_eq!(after.state, wanted, "expiry wins past the deadline");
    }
    let Ok((after, effects)) = result else {
        return Ok(before.clone());
    };
    prop_assert!(check_invariants(&after), "invariants broken: {:?}", after);
    prop_assert!(after.bytes_confirmed >= before.bytes_confirmed);
    let progressed =
        matches!(input, Input::Progress { .. }) && after.bytes_confirmed > before.bytes_confirmed;
    if progressed {
        prop_assert_eq!(after.attempt, 1);
    } else {
        prop_assert!(after.attempt >= before.attempt, "attempts never decrease");
    }
    if after.state.is_terminal() {
        prop_assert!(
            effects.contains(&Effect::DeleteBlob),
            "terminal transitions delete the blob"
        );
    }
    for e in &effects {
        if let Effect::RetryAt { at, delay_ms, .. } = e {
            prop_assert_eq!(*at, now + delay_ms);
            prop_assert!(*at <= before.deadline());
            if let Input::Outcome(Outcome::Response {
                retry_after: Some(v),
                ..
            }) = &input
            {
                if let Some(wait) = parse_retry_after(v, now) {
                    prop_assert!(
                        *delay_ms >= wait.min(before.deadline() - now),
                        "Retry-After honoured"
                    );
                }
            }
        }
    }
    let json = serde_json::to_string(&after).unwrap();
    prop_assert_eq!(&serde_json::from_str::<Task>(&json).unwrap(), &after);
    Ok(after)
}

proptest! {
    #[test]
    fn backoff_is_within_zero_and_cap(base in any::<u64>(), cap in any::<u64>(), attempt in any::<u32>(), rand in any::<u64>()) {
        let p = RetryPolicy { max_attempts: 1, base_ms: base, cap_ms: cap, max_retention_ms: 1 };
        let d = backoff_ms(&p, attempt, rand);
        prop_assert!(d <= cap);
        let exp = attempt.max(1) - 1;
        if exp < 64 {
            if let Some(ceiling) = base.checked_mul(1u64 << exp) {
                prop_assert!(d <= ceiling);
            }
        }
    }

    #[test]
    fn backoff_grows_with_attempts_at_fixed_jitter(policy in arb_policy(), attempt in 1u32..80, rand in any::<u64>()) {
        prop_assert!(backoff_ms(&policy, attempt, rand) <= backoff_ms(&policy, attempt + 1, rand));
    }

    #[test]
    fn random_input_sequences_keep_every_promise(task in arb_task(), steps in arb_steps()) {
        prop_assert!(check_invariants(&task));
        let mut t = task;
        let mut now = T0;
        for (input, dt, rand, jump_to_due) in steps {
            now += dt;
            if jump_to_due && t.state == State::Queued {
                let due = t.next_attempt_at.unwrap().max(t.earliest_begin.unwrap_or(0));
                now = now.max(due);
            }
            t = check_step(&t, input, now, rand)?;
        }
    }

    #[test]
    fn expiry_always_wins_past_the_deadline(task in arb_task(), steps in arb_steps(), input in arb_input(), late in 0u64..1_000_000) {
        let mut t = task;
        let mut now = T0;
        for (i, dt, rand, _) in steps {
            now += dt;
            if let Ok((next, _)) = apply(&t, i, now, rand) { t = next; }
        }
        let at = t.deadline().max(now) + late;
        let success = t.state == State::InFlight && is_success(&input);
        match apply(&t, input, at, 0) {
            Ok((after, _)) if !t.state.is_terminal() => {
                prop_assert_eq!(after.state, if success { State::Done } else { State::Expired });
            }
            Ok((after, _)) => prop_assert_eq!(after, t),
            Err(e) => prop_assert!(t.state.is_terminal(), "live task refused at expiry: {}", e),
        }
    }

    #[test]
    fn task_serde_round_trips(
        task in arb_task(),
        protocol in arb_protocol(),
        headers in proptest::collection::vec((".{0,6}", ".{0,6}"), 0..3),
        last_error in proptest::option::of(".{0,20}"),
        last_status in proptest::option::of(any::<u16>()),
        transport in proptest::option::of(arb_transport()),
        attempt in any::<u32>(),
        bytes in any::<u64>(),
    ) {
        let mut t = task;
        t.request.protocol = protocol;
        t.request.headers = headers;
        t.last_error = last_error;
        t.last_status = last_status;
        t.transport = transport;
        t.attempt = attempt;
        t.bytes_confirmed = bytes;
        let json = serde_json::to_string(&t).unwrap();
        prop_assert_eq!(serde_json::from_str::<Task>(&json).unwrap(), t);
    }

    #[test]
    fn retry_after_never_panics_and_digits_mean_seconds(s in ".{0,40}", secs in 0u64..1_000_000_000) {
        let _ = parse_retry_after(&s, T0);
        prop_assert_eq!(parse_retry_after(&secs.to_string(), T0), Some(secs * 1000));
    }
}

#[test]
fn task_json_uses_the_documented_field_names() {
    let t = new_task(NewTask {
        id: "a".into(),
        tag: "b".into(),
        seq: 7,
        request: Request {
            url: "https://e.x/".into(),
            method: Method::Put,
            headers: vec![("x".into(), "y".into())],
            protocol: Protocol::Http,
            credentials: Default::default(),
        },
        body: BodyMeta {
            size: 3,
            mime: "m".into(),
            name: None,
        },
        idempotency_key: "k".into(),
        now_ms: 5,
        expires_at: None,
        earliest_begin: Some(9),
        retry: RetryPolicy::default(),
    });
    let v = serde_json::to_value(&t).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "tag",
        "seq",
        "request",
        "body",
        "idempotencyKey",
        "state",
        "attempt",
        "nextAttemptAt",
        "leaseUntil",
        "createdAt",
        "expiresAt",
        "earliestBegin",
        "lastError",
        "lastStatus",
        "transport",
        "retry",
        "bytesConfirmed",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(v["state"], "queued");
    assert_eq!(v["nextAttemptAt"], 9);
    assert_eq!(v["request"]["method"], "PUT");
    assert_eq!(v["request"]["headers"], serde_json::json!([["x", "y"]]));
}

#[test]
fn credentials_are_stored_as_fetch_spells_them_and_a_record_without_them_reads_as_the_default() {
    let request = |credentials| Request {
        url: "https://e.x/".into(),
        method: Method::Post,
        headers: vec![],
        protocol: Protocol::Http,
        credentials,
    };
    let include = serde_json::to_value(request(Credentials::Include)).unwrap();
    assert_eq!(include["credentials"], "include");
    let omit = serde_json::to_value(request(Credentials::Omit)).unwrap();
    assert_eq!(omit["credentials"], "omit");
    let plain = serde_json::to_value(request(Credentials::SameOrigin)).unwrap();
    assert_eq!(plain["credentials"], "same-origin");
    // A record written before the field existed has none, and reads as fetch's default.
    let mut old = plain.clone();
    old.as_object_mut().unwrap().remove("credentials");
    let read: Request = serde_json::from_value(old).unwrap();
    assert_eq!(read.credentials, Credentials::SameOrigin);
    let read: Request = serde_json::from_value(include).unwrap();
    assert_eq!(read.credentials, Credentials::Include);
}
