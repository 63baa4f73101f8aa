//! Tag, retry and session option validation.

use super::*;

#[test]
fn good_tags_pass() {
    for t in [
        "a",
        "photos",
        "user-42.uploads_v2",
        &"x".repeat(64),
        "9lives",
    ] {
        assert_eq!(validate_tag(t), Ok(()), "{t}");
    }
}

#[test]
fn empty_tag_is_invalid_tag() {
    let e = validate_tag("").unwrap_err();
    assert!(
        matches!(&e, Error::InvalidTag { reason, .. } if reason.contains("1 to 64")),
        "{e}"
    );
}

#[test]
fn long_tag_is_invalid_tag() {
    assert_eq!(
        validate_tag(&"x".repeat(65)).unwrap_err().name(),
        "FerryInvalidTag"
    );
}

#[test]
fn tag_with_bad_character_is_invalid_tag() {
    for t in ["a b", "a/b", "ünï", "a:b"] {
        assert_eq!(
            validate_tag(t).unwrap_err().name(),
            "FerryInvalidTag",
            "{t}"
        );
    }
}

#[test]
fn tag_starting_with_punctuation_is_invalid_tag() {
    for t in [".hidden", "-x", "_x"] {
        assert!(
            matches!(validate_tag(t), Err(Error::InvalidTag { .. })),
            "{t}"
        );
    }
}

fn retry(f: impl FnOnce(&mut RetryInput)) -> Result<RetryPolicy> {
    let mut r = RetryInput::default();
    f(&mut r);
    validate_retry(&r, &RetryPolicy::default())
}

fn retry_err_option(f: impl FnOnce(&mut RetryInput)) -> String {
    match retry(f) {
        Err(Error::InvalidOptions { option, .. }) => option,
        other => panic!("expected InvalidOptions, got {other:?}"),
    }
}

#[test]
fn empty_retry_input_keeps_the_base() {
    assert_eq!(retry(|_| {}), Ok(RetryPolicy::default()));
}

#[test]
fn retry_overrides_apply_and_ms_fractions_are_dropped() {
    let p = retry(|r| {
        r.max_attempts = Some(3.0);
        r.base_ms = Some(250.7);
        r.cap_ms = Some(1000.0);
        r.max_retention_ms = Some(60_000.0);
    })
    .unwrap();
    assert_eq!(
        p,
        RetryPolicy {
            max_attempts: 3,
            base_ms: 250,
            cap_ms: 1000,
            max_retention_ms: 60_000
        }
    );
}

#[test]
fn nan_max_attempts_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.max_attempts = Some(f64::NAN)),
        "retry.maxAttempts"
    );
}

#[test]
fn fractional_max_attempts_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.max_attempts = Some(2.5)),
        "retry.maxAttempts"
    );
}

#[test]
fn zero_or_negative_max_attempts_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.max_attempts = Some(0.0)),
        "retry.maxAttempts"
    );
    assert_eq!(
        retry_err_option(|r| r.max_attempts = Some(-3.0)),
        "retry.maxAttempts"
    );
}

#[test]
fn infinite_cap_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.cap_ms = Some(f64::INFINITY)),
        "retry.capMs"
    );
}

#[test]
fn zero_base_is_invalid_options() {
    assert_eq!(retry_err_option(|r| r.base_ms = Some(0.0)), "retry.baseMs");
}

#[test]
fn negative_retention_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.max_retention_ms = Some(-1.0)),
        "retry.maxRetentionMs"
    );
}

#[test]
fn base_above_cap_is_invalid_options() {
    let e = retry(|r| r.base_ms = Some(400_000.0)).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidOptions { reason, .. } if reason.contains("capMs")),
        "{e}"
    );
}

#[test]
fn retention_over_a_year_is_invalid_options() {
    assert_eq!(
        retry_err_option(|r| r.max_retention_ms = Some(4e10)),
        "retry.maxRetentionMs"
    );
}

#[test]
fn session_defaults() {
    let s = validate_session_options(&SessionOptionsInput::default()).unwrap();
    assert_eq!(
        s,
        SessionOptions {
            concurrency: 2,
            launch: Launch::None,
            retry: RetryPolicy::default(),
            manual_ack: false,
            background_fetch: true,
            background_fetch_min_bytes: 0,
            header_provider: false,
            header_fallback: HeaderFallback::Wait,
            batch_window_ms: 60_000,
            attempt_timeout_ms: None,
        }
    );
}

#[test]
fn session_options_are_parsed() {
    let s = validate_session_options(&SessionOptionsInput {
        concurrency: Some(16.0),
        launch: Some("open".into()),
        retry: Some(RetryInput {
            max_attempts: Some(2.0),
            ..RetryInput::default()
        }),
        ack: Some("manual".into()),
        background_fetch: Some(false),
        background_fetch_min_bytes: None,
        header_provider: Some(true),
        header_fallback: Some("last".into()),
        batch_window_ms: Some(0.0),
        attempt_timeout_ms: Some(2500.0),
    })
    .unwrap();
    assert_eq!(s.attempt_timeout_ms, Some(2500));
    assert_eq!(
        (
            s.concurrency,
            s.launch,
            s.retry.max_attempts,
            s.manual_ack,
            s.background_fetch
        ),
        (16, Launch::Open, 2, true, false)
    );
}

#[test]
fn concurrency_out_of_range_is_invalid_options() {
    for c in [0.0, 17.0, 1.5, f64::NAN, -1.0] {
        let e = validate_session_options(&SessionOptionsInput {
            concurrency: Some(c),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidOptions { option, .. } if option == "concurrency"),
            "{c}: {e}"
        );
    }
}

#[test]
fn unknown_launch_is_invalid_options() {
    let e = validate_session_options(&SessionOptionsInput {
        launch: Some("popup".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidOptions { option, .. } if option == "launch"),
        "{e}"
    );
}

#[test]
fn unknown_ack_is_invalid_options() {
    let e = validate_session_options(&SessionOptionsInput {
        ack: Some("never".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.name(), "FerryInvalidOptions");
}

#[test]
fn session_options_serialize_camel_case() {
    let v = serde_json::to_value(SessionOptions::default()).unwrap();
    assert_eq!(v["manualAck"], false);
    assert_eq!(v["launch"], "none");
    assert_eq!(v["retry"]["capMs"], 300_000);
}

#[test]
fn session_input_deserializes_from_partial_js_object() {
    let i: SessionOptionsInput =
        serde_json::from_str(r#"{"concurrency": 3, "retry": {"maxAttempts": 4}}"#).unwrap();
    assert_eq!(i.concurrency, Some(3.0));
    assert_eq!(i.retry.unwrap().max_attempts, Some(4.0));
}

#[test]
fn header_fallback_without_a_provider_is_a_contradiction() {
    let e = validate_session_options(&SessionOptionsInput {
        header_fallback: Some("last".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.name(), "FerryInvalidOptions");
}

#[test]
fn unknown_header_fallback_is_refused() {
    let e = validate_session_options(&SessionOptionsInput {
        header_provider: Some(true),
        header_fallback: Some("never".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.name(), "FerryInvalidOptions");
}

#[test]
fn batch_window_must_be_a_whole_number_of_ms_up_to_a_day() {
    for bad in [-1.0, 0.5, f64::NAN, 86_400_001.0] {
        let e = validate_session_options(&SessionOptionsInput {
            batch_window_ms: Some(bad),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.name(), "FerryInvalidOptions", "{bad}");
    }
    let ok = validate_session_options(&SessionOptionsInput {
        batch_window_ms: Some(5000.0),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(ok.batch_window_ms, 5000);
}

#[test]
fn attempt_timeout_must_be_a_whole_number_in_range() {
    for bad in [0.0, 99.0, 1.5, f64::NAN, 86_400_001.0] {
        let e = validate_session_options(&SessionOptionsInput {
            attempt_timeout_ms: Some(bad),
            ..SessionOptionsInput::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("attemptTimeoutMs"), "{bad}: {e}");
    }
}

#[test]
fn background_fetch_min_bytes_is_a_whole_number_of_bytes() {
    for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 9_007_199_254_740_992.0] {
        let e = validate_session_options(&SessionOptionsInput {
            background_fetch: Some(true),
            background_fetch_min_bytes: Some(bad),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.name(), "FerryInvalidOptions", "{bad}");
        assert!(
            e.to_string().contains("backgroundFetch.minBytes"),
            "{bad}: {e}"
        );
    }
    let ok = |n: Option<f64>| {
        validate_session_options(&SessionOptionsInput {
            background_fetch: Some(true),
            background_fetch_min_bytes: n,
            ..Default::default()
        })
        .unwrap()
    };
    assert_eq!(ok(Some(1_048_576.0)).background_fetch_min_bytes, 1_048_576);
    assert_eq!(ok(None).background_fetch_min_bytes, 0);
    assert!(ok(Some(0.0)).background_fetch);
}
