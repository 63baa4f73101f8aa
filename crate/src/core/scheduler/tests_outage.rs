//! A server that is down: its uploads wait, then go one at a time, instead of each spending an attempt.

use super::tests::{env, leased, sessions, task, NOW};
use super::*;
use crate::core::retry::Outcome;

fn at(now_ms: u64) -> Env {
    Env { now_ms, ..env() }
}

#[test]
fn an_origin_is_scheme_host_and_port() {
    assert_eq!(
        origin_of("https://example.com/u?x=1"),
        "https://example.com"
    );
    assert_eq!(origin_of("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
    assert_eq!(origin_of("http://h:1?q"), "http://h:1");
    assert_eq!(origin_of("http://h:1#f"), "http://h:1");
}

#[test]
fn network_errors_in_a_row_hold_the_origin_longer_each_time_and_any_answer_ends_it() {
    let t = task("1", "a", 1); // default retry: baseMs 1000, capMs 300000
    let mut o = Outages::new();
    let down = Outcome::NetworkError("Failed to fetch".into());
    outage_after(&mut o, &t, &down, &at(NOW));
    assert_eq!(
        o[&"https://example.com".to_string()],
        Outage {
            failures: 1,
            until: NOW + 1_000
        }
    );
    outage_after(&mut o, &t, &down, &at(NOW + 10));
    assert_eq!(
        o[&"https://example.com".to_string()].until,
        NOW + 10 + 2_000
    );
    for _ in 0..10 {
        outage_after(&mut o, &t, &down, &at(NOW + 20));
    }
    assert_eq!(
        o[&"https://example.com".to_string()].until,
        NOW + 20 + OUTAGE_CAP_MS,
        "capped"
    );
    // A timeout says nothing of whether the server is down (a hung server holds back no one).
    let before = o.clone();
    outage_after(&mut o, &t, &Outcome::Timeout, &at(NOW + 30));
    assert_eq!(o, before);
    // Any answer ends it, an error status too.
    let answer = Outcome::Response {
        status: 503,
        retry_after: None,
    };
    outage_after(&mut o, &t, &answer, &at(NOW + 40));
    assert!(o.is_empty());
    // The session's own backoff ceiling bounds the hold (a test's `capMs: 200`, say).
    let mut quick = t.clone();
    quick.retry.base_ms = 100;
    quick.retry.cap_ms = 200;
    for _ in 0..3 {
        outage_after(&mut o, &quick, &down, &at(NOW));
    }
    assert_eq!(o[&"https://example.com".to_string()].until, NOW + 200);
    // A network error while the browser says it is offline says nothing of the server.
    let mut none = Outages::new();
    let offline = Env {
        online: false,
        ..env()
    };
    outage_after(&mut none, &t, &down, &offline);
    assert!(none.is_empty());
}

#[test]
fn a_network_error_from_a_server_that_answered_the_probe_holds_back_no_upload_to_it() {
    // Its CORS policy refused the request (or the connection was cut mid-request): it is up, and an
    // endpoint of it set up right goes on.
    let t = task("1", "a", 1);
    let refused = Outcome::NetworkError(crate::core::cors::refused_reason(
        "network error: TypeError: Failed to fetch",
        "https://example.com",
        "https://app.example.com",
        "POST",
        &t.request.url,
        &["idempotency-key".to_string()],
        crate::core::task::Credentials::SameOrigin,
    ));
    let mut o = Outages::new();
    outage_after(&mut o, &t, &refused, &at(NOW));
    assert!(o.is_empty(), "{o:?}");
    // And it ends an outage heard before (the server is back).
    outage_after(
        &mut o,
        &t,
        &Outcome::NetworkError("Failed to fetch".into()),
        &at(NOW),
    );
    assert_eq!(o.len(), 1);
    outage_after(&mut o, &t, &refused, &at(NOW + 5));
    assert!(o.is_empty(), "{o:?}");
}

#[test]
fn while_an_origin_is_down_its_uploads_wait_then_one_asks_and_other_origins_go_on() {
    let three = SessionView {
        concurrency: 3,
        ..SessionView::default()
    };
    let views = sessions(&[("a", three)]);
    let q: Vec<Task> = (1..=4).map(|i| task(&format!("t{i}"), "a", i)).collect();
    let mut elsewhere = task("e", "a", 5);
    elsewhere.request.url = "https://other.example/u".into();
    let mut all = q.clone();
    all.push(elsewhere);
    let mut outages = Outages::new();
    let down = Outcome::NetworkError("Failed to fetch".into());
    outage_after(&mut outages, &q[0], &down, &at(NOW));
    let heard = Heard {
        origin: "",
        outages: &outages,
    };
    // Held: none of the origin's uploads starts; the other origin's does; looked at again then.
    let p = plan(&env(), &all, &[], &views, &[], 0, &heard);
    assert_eq!(p.start, vec!["e".to_string()]);
    assert_eq!(p.wake_at, Some(NOW + 1_000));
    assert!(p.work_left);
    // After the hold: one upload asks (the tag has three slots).
    let then = Env {
        now_ms: NOW + 1_000,
        ..env()
    };
    let p = plan(&then, &q, &[], &views, &[], 0, &heard);
    assert_eq!(p.start.len(), 1, "{:?}", p.start);
    assert!(p.work_left);
    // While it asks, the others wait for its end.
    let asking = leased(&q[0], Transport::Fallback, Some("w"));
    let p = plan(&then, &q[1..], &[asking], &views, &[], 0, &heard);
    assert!(p.start.is_empty() && p.work_left);
    // Nothing heard: all three slots.
    let p = plan(&then, &q, &[], &views, &[], 0, &Heard::default());
    assert_eq!(p.start.len(), 3);
}
