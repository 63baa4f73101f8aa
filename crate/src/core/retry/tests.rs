use super::*;
use crate::core::rng::Rng;

fn resp(status: u16) -> Outcome {
    Outcome::Response {
        status,
        retry_after: None,
    }
}

const NOW: u64 = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT

#[test]
fn default_policy_matches_documented_values() {
    let p = RetryPolicy::default();
    assert_eq!((p.max_attempts, p.base_ms, p.cap_ms), (8, 1000, 300_000));
    assert_eq!(p.max_retention_ms, 604_800_000);
}

#[test]
fn retry_policy_serializes_camel_case() {
    let v = serde_json::to_value(RetryPolicy::default()).unwrap();
    assert_eq!(v["maxAttempts"], 8);
    assert_eq!(v["maxRetentionMs"], 604_800_000u64);
}

#[test]
fn network_errors_and_timeouts_are_retryable() {
    assert_eq!(
        classify(&Outcome::NetworkError("Failed to fetch".into())),
        Class::Retryable
    );
    assert_eq!(classify(&Outcome::Timeout), Class::Retryable);
}

#[test]
fn transient_statuses_are_retryable() {
    for s in [408, 425, 429, 500, 502, 503, 504] {
        assert_eq!(classify(&resp(s)), Class::Retryable, "{s}");
    }
}

#[test]
fn every_2xx_is_success() {
    for s in 200..=299 {
        assert_eq!(classify(&resp(s)), Class::Success, "{s}");
    }
}

#[test]
fn other_statuses_are_final() {
    for s in [
        0, 100, 101, 199, 301, 304, 308, 400, 401, 403, 404, 409, 410, 413, 422, 501, 505, 511,
        600, 999,
    ] {
        assert_eq!(classify(&resp(s)), Class::Final, "{s}");
    }
}

#[test]
fn describe_uses_reason_phrases() {
    assert_eq!(describe(&resp(503)), "503 Service Unavailable");
    assert_eq!(describe(&resp(599)), "HTTP 599");
    assert_eq!(
        describe(&Outcome::NetworkError("Failed to fetch".into())),
        "network error: Failed to fetch"
    );
    assert_eq!(
        describe(&Outcome::NetworkError(String::new())),
        "network error"
    );
    assert_eq!(describe(&Outcome::Timeout), "timeout");
}

#[test]
fn retry_after_seconds_are_milliseconds() {
    assert_eq!(parse_retry_after("120", NOW), Some(120_000));
    assert_eq!(parse_retry_after("  0 ", NOW), Some(0));
}

#[test]
fn retry_after_huge_seconds_saturate() {
    assert_eq!(
        parse_retry_after("99999999999999999999999", NOW),
        Some(u64::MAX)
    );
    assert_eq!(
        parse_retry_after("18446744073709551615", NOW),
        Some(u64::MAX)
    );
}

#[test]
fn retry_after_imf_date_is_honoured() {
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", NOW),
        Some(120_000)
    );
}

#[test]
fn retry_after_date_keeps_sub_second_now() {
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", NOW + 250),
        Some(750)
    );
}

#[test]
fn retry_after_obsolete_dates_are_honoured() {
    assert_eq!(
        parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", NOW),
        Some(60_000)
    );
    assert_eq!(
        parse_retry_after("Sun Nov  6 08:50:37 1994", NOW),
        Some(60_000)
    );
}

#[test]
fn retry_after_past_date_means_now() {
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", NOW),
        Some(0)
    );
    assert_eq!(
        parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW),
        Some(0)
    );
    assert_eq!(
        parse_retry_after("Wed, 31 Dec 1969 23:59:59 GMT", NOW),
        Some(0)
    );
}

#[test]
fn retry_after_garbage_is_ignored() {
    for bad in [
        "",
        "soon",
        "-5",
        "1.5",
        "+3",
        "12 s",
        "Sun, 06 Nov 1994",
        "0x10",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
    ] {
        assert_eq!(parse_retry_after(bad, NOW), None, "{bad:?}");
    }
}

#[test]
fn backoff_first_retry_is_within_base() {
    let p = RetryPolicy::default();
    assert_eq!(backoff_ms(&p, 1, 0), 0);
    assert_eq!(backoff_ms(&p, 1, u64::MAX), 1000);
    assert_eq!(backoff_ms(&p, 0, u64::MAX), 1000);
}

#[test]
fn backoff_ceiling_doubles_then_caps() {
    let p = RetryPolicy::default();
    let ceilings: Vec<u64> = (1..=11).map(|a| backoff_ms(&p, a, u64::MAX)).collect();
    assert_eq!(
        ceilings,
        [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]
    );
}

#[test]
fn backoff_does_not_overflow_at_attempt_64_and_beyond() {
    let p = RetryPolicy {
        base_ms: u64::MAX / 2,
        cap_ms: u64::MAX,
        ..RetryPolicy::default()
    };
    for attempt in [63, 64, 65, 100, u32::MAX] {
        assert_eq!(backoff_ms(&p, attempt, u64::MAX), u64::MAX, "{attempt}");
        assert_eq!(
            backoff_ms(&RetryPolicy::default(), attempt, u64::MAX),
            300_000
        );
    }
}

#[test]
fn backoff_full_jitter_spreads_over_the_whole_range() {
    let p = RetryPolicy::default();
    let mut rng = Rng::new(99);
    let draws: Vec<u64> = (0..2000)
        .map(|_| backoff_ms(&p, 3, rng.next_u64()))
        .collect();
    assert!(draws.iter().all(|d| *d <= 4000));
    assert!(draws.iter().any(|d| *d < 400), "low end reached");
    assert!(draws.iter().any(|d| *d > 3600), "high end reached");
}

#[test]
fn a_redirect_is_a_final_failure_that_names_the_url() {
    let o = redirected("POST", "https://example.com/upload");
    assert_eq!(classify(&o), Class::Final);
    let why = describe(&o);
    assert!(
        why.contains("POST https://example.com/upload with a redirect"),
        "{why}"
    );
    assert!(why.contains("give the URL the upload ends at"), "{why}");
}

#[test]
fn a_redirect_reason_leaves_out_the_query_that_may_hold_a_signature() {
    let o = redirected(
        "PUT",
        "https://bucket.example/obj?X-Amz-Signature=abc123&X-Amz-Credential=AK#frag",
    );
    let why = describe(&o);
    assert!(
        why.contains("PUT https://bucket.example/obj with a redirect"),
        "{why}"
    );
    assert!(!why.contains("abc123") && !why.contains('?'), "{why}");
    assert_eq!(
        without_query("https://a.example/p#x"),
        "https://a.example/p"
    );
    assert_eq!(without_query("https://a.example/p"), "https://a.example/p");
}

#[test]
fn a_redirect_a_background_fetch_followed_names_both_urls_and_what_may_have_arrived() {
    let o = redirect_followed(
        "POST",
        "https://example.com/upload?sig=1",
        "https://example.com/moved?sig=2",
        201,
    );
    assert_eq!(classify(&o), Class::Final);
    let why = describe(&o);
    assert!(
        why.contains("followed a redirect of POST https://example.com/upload to https://example.com/moved, which answered 201 Created"),
        "{why}"
    );
    assert!(
        why.contains("after a 307 or 308 the body may have arrived there"),
        "{why}"
    );
    assert!(!why.contains("sig="), "{why}");
}
