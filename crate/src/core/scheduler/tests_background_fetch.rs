//! Background Fetch as the scheduler sees it: one per origin, a grace period once the browser no
//! longer lists it, its timeout, and what its abort means.

use super::tests::{env, leased, sessions, task, NOTHING, NOW};
use super::*;
use crate::core::retry::Outcome;
use crate::core::task::{BodyMeta, Protocol};

#[test]
fn a_background_fetch_the_browser_no_longer_lists_gets_a_grace_period() {
    let t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
    // Its page said the browser began it.
    let (t, _) = announce(&t, t.lease_no);
    let none: [String; 0] = [];
    assert_eq!(recover(&t, NOW + 1, &none, Some(true)), None);
    let Some(Input::Renew { until }) = recover(&t, NOW + 1, &none, Some(false)) else {
        panic!("the long lease shrinks to the grace period")
    };
    assert_eq!(until, NOW + 1 + SETTLE_GRACE_MS);
    let (shrunk, _) = settle(&t, t.lease_no, Input::Renew { until }, NOW + 1, 0).unwrap();
    assert_eq!(recover(&shrunk, NOW + 2, &none, Some(false)), None);
    assert_eq!(
        recover(&shrunk, until, &none, Some(false)),
        Some(Input::LeaseExpired)
    );
}

#[test]
fn a_background_fetch_whose_page_went_before_starting_it_is_the_worker_s_after_the_start_window() {
    let t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
    assert!(!t.announced && t.attempt == 1);
    assert_eq!(t.lease_until, Some(NOW + BACKGROUND_FETCH_START_WINDOW_MS));
    let none: [String; 0] = [];
    let end = NOW + BACKGROUND_FETCH_START_WINDOW_MS;
    // The page may still be starting it: nothing yet.
    assert_eq!(recover(&t, NOW + 1, &none, Some(false)), None);
    assert_eq!(recover(&t, end - 1, &none, Some(false)), None);
    // Past the window, not listed and never said to have begun: released, not counted, no event.
    assert_eq!(recover(&t, end, &none, Some(false)), Some(Input::Release));
    let (next, effects) = settle(&t, t.lease_no, Input::Release, end, 0).unwrap();
    assert_eq!(next.state, State::Queued);
    assert_eq!(next.attempt, 0, "an attempt that never reached the network");
    assert!(next.is_due(end));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::RetryAt { .. })),
        "{effects:?}"
    );
}

#[test]
fn an_unannounced_background_fetch_leased_for_a_day_by_an_older_version_gets_a_start_window_now() {
    let mut t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
    t.lease_until = Some(NOW + BACKGROUND_FETCH_LEASE_MS);
    let none: [String; 0] = [];
    let at = NOW + 1000;
    let until = at + BACKGROUND_FETCH_START_WINDOW_MS;
    assert_eq!(
        recover(&t, at, &none, Some(false)),
        Some(Input::Renew { until })
    );
    let (t, _) = settle(&t, t.lease_no, Input::Renew { until }, at, 0).unwrap();
    assert_eq!(recover(&t, until - 1, &none, Some(false)), None);
    assert_eq!(recover(&t, until, &none, Some(false)), Some(Input::Release));
}

#[test]
fn a_background_fetch_the_browser_began_is_kept_for_a_day_whether_or_not_its_page_said_so() {
    let t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
    let none: [String; 0] = [];
    let end = NOW + BACKGROUND_FETCH_START_WINDOW_MS;
    // Its page said so: the lease runs a day past the window.
    let (said, effects) = announce(&t, t.lease_no);
    assert!(said.announced && effects == vec![Effect::Send]);
    assert_eq!(
        said.lease_until,
        Some(end + BACKGROUND_FETCH_LEASE_MS),
        "a day"
    );
    assert_eq!(
        announce(&said, said.lease_no).0.lease_until,
        said.lease_until
    );
    assert_eq!(recover(&said, end, &none, Some(true)), None);
    // Its page went before saying so, but the browser lists it: renewed for a day, never released
    // (nor aborted: only a timeout is).
    let renew = recover(&t, end, &none, Some(true)).expect("renewed");
    assert_eq!(
        renew,
        Input::Renew {
            until: end + BACKGROUND_FETCH_LEASE_MS
        }
    );
    assert!(
        !recovery_aborts_fetch(&renew),
        "a running fetch is left to run"
    );
    let at = t.timeout_at.unwrap();
    assert!(at > end);
    let timeout = recover(&t, at, &none, Some(true)).expect("timed out");
    assert_eq!(timeout, Input::Outcome(Outcome::Timeout));
    assert!(recovery_aborts_fetch(&timeout));
}

#[test]
fn background_fetch_is_one_per_origin_same_origin_only_and_never_for_tus_fresh_headers_or_a_worker_before_send(
) {
    let s = SessionView::default();
    let t = task("1", "a", 1);
    let here = "https://example.com";
    assert!(background_fetch_fits(&t, &s, &[], here));
    let other = leased(&task("2", "b", 1), Transport::BackgroundFetch, None);
    assert!(!background_fetch_fits(&t, &s, &[other], here));
    let worker = leased(&task("3", "b", 2), Transport::Fallback, Some("w"));
    assert!(background_fetch_fits(&t, &s, &[worker], here));
    // Another origin (a presigned object-store URL): the worker's fetch carries it.
    for page in [
        "https://app.example.com",
        "http://example.com",
        "https://example.com:8443",
        "",
    ] {
        assert!(!background_fetch_fits(&t, &s, &[], page), "{page}");
    }
    let mut longer = t.clone();
    longer.request.url = "https://example.com.evil.test/u".into();
    assert!(!background_fetch_fits(&longer, &s, &[], here));
    // An empty body: nothing for the browser to carry.
    let mut empty = t.clone();
    empty.body.size = 0;
    assert!(!background_fetch_fits(&empty, &s, &[], here));
    let provider = SessionView {
        header_provider: true,
        ..s
    };
    assert!(!background_fetch_fits(&t, &provider, &[], here));
    // The worker prepares each request (`beforeSend`): the browser would send it as it was started.
    let prepared = SessionView {
        before_send: true,
        ..s
    };
    assert!(!background_fetch_fits(&t, &prepared, &[], here));
    let mut tus = task("4", "a", 2);
    tus.request.protocol = Protocol::Tus {
        chunk_size: 5,
        metadata: vec![],
        upload_url: None,
    };
    assert!(!background_fetch_fits(&tus, &s, &[], here));
}

#[test]
fn background_fetch_min_bytes_keeps_smaller_bodies_for_the_workers_fetch() {
    let mut t = task("1", "a", 1);
    t.body.size = 1000;
    let here = "https://example.com";
    let any = SessionView::default();
    assert_eq!(any.background_fetch_min_bytes, 0, "any size by default");
    assert!(background_fetch_fits(&t, &any, &[], here));
    let at_least = |n| SessionView {
        background_fetch_min_bytes: n,
        ..any
    };
    assert!(
        background_fetch_fits(&t, &at_least(1000), &[], here),
        "the bound itself fits"
    );
    assert!(!background_fetch_fits(&t, &at_least(1001), &[], here));
}

#[test]
fn a_background_fetch_still_running_at_its_attempt_timeout_ends_as_a_retryable_timeout() {
    let s = SessionView {
        attempt_timeout_ms: Some(4_000),
        ..SessionView::default()
    };
    let (t, _) = lease(
        &task("1", "a", 1),
        &s,
        0,
        &env(),
        Transport::BackgroundFetch,
        None,
    )
    .unwrap()
    .unwrap();
    // The browser takes seconds to begin a Background Fetch: that time is added.
    let at = NOW + BACKGROUND_FETCH_START_MS + 4_000;
    assert_eq!(t.timeout_at, Some(at));
    let none: [String; 0] = [];
    assert_eq!(recover(&t, at - 1, &none, Some(true)), None);
    let input = recover(&t, at, &none, Some(true));
    assert_eq!(input, Some(Input::Outcome(Outcome::Timeout)));
    let (next, effects) = settle(&t, t.lease_no, input.unwrap(), at, 0).unwrap();
    assert_eq!(next.state, State::Queued, "a timeout is retried");
    assert_eq!(next.timeout_at, None);
    assert_eq!(next.attempt, 1, "it cost one attempt");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::RetryAt { reason, .. } if reason == "timeout")),
        "{effects:?}"
    );
    // The default timeout grows with the body, as a worker's fetch's does.
    let big = Task {
        body: BodyMeta {
            size: 64 * 1024 * 100,
            ..task("2", "a", 2).body
        },
        ..task("2", "a", 2)
    };
    let (b, _) = lease(
        &big,
        &SessionView::default(),
        0,
        &env(),
        Transport::BackgroundFetch,
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        b.timeout_at,
        Some(NOW + BACKGROUND_FETCH_START_MS + TIMEOUT_BASE_MS + 100_000)
    );
    let w = leased(&big, Transport::Fallback, Some("w"));
    assert_eq!(w.timeout_at, None, "a worker's fetch has its own timer");
}

#[test]
fn an_abort_cancels_a_background_fetch_in_flight_and_nothing_else() {
    let t = task("1", "a", 1);
    assert_eq!(
        background_fetch_aborted(&t),
        None,
        "queued: its fetch already ended"
    );
    let by_browser = leased(&t, Transport::BackgroundFetch, None);
    assert_eq!(background_fetch_aborted(&by_browser), Some(Input::Cancel));
    let by_worker = leased(&t, Transport::Fallback, Some("w"));
    assert_eq!(
        background_fetch_aborted(&by_worker),
        None,
        "another attempt now"
    );
}

#[test]
fn a_background_fetch_in_flight_of_any_tag_takes_the_origin_s_one() {
    let other_tag = leased(&task("1", "b", 1), Transport::BackgroundFetch, None);
    let by_sync = leased(&task("2", "a", 2), Transport::BackgroundSync, None);
    assert!(background_fetch_free(&[]));
    assert!(background_fetch_free(std::slice::from_ref(&by_sync)));
    assert!(!background_fetch_free(&[by_sync, other_tag.clone()]));
    // A finished one no longer counts.
    let mut done = other_tag;
    done.state = State::Done;
    assert!(background_fetch_free(&[done]));
}

#[test]
fn a_background_fetch_is_aborted_only_once_its_body_is_known_to_be_sent() {
    let t = task("1", "a", 1);
    let size = t.body.size;
    assert!(background_fetch_abortable(&t, Some(size)));
    // Under way, or unknown (no page saw it: it may be sending): left to end on its own.
    assert!(!background_fetch_abortable(&t, Some(size - 1)));
    assert!(!background_fetch_abortable(&t, Some(0)));
    assert!(!background_fetch_abortable(&t, None));
    // A multipart body: past the file's size, only its closing boundary is left.
    let mut form = t.clone();
    form.request.protocol = Protocol::Multipart {
        field: "file".into(),
        filename: "a.bin".into(),
        fields: vec![],
    };
    assert!(!background_fetch_abortable(&form, Some(size)));
    assert!(background_fetch_abortable(&form, Some(size + 1)));
}

#[test]
fn a_background_fetch_past_four_gib_is_not_aborted_when_a_page_saw_what_chromium_calls_its_total() {
    // Chromium keeps a registration's uploadTotal modulo 2^32: a 4,939,212,390-byte body's reads
    // 644,245,094. A page that saw that much sent has seen an eighth of the body, not all of it.
    let mut t = task("1", "a", 1);
    t.body.size = 4_939_212_390;
    let chromium_total = t.body.size % (1 << 32);
    assert!(!background_fetch_abortable(&t, Some(chromium_total)));
    assert!(!background_fetch_abortable(&t, Some(u32::MAX as u64)));
    assert!(background_fetch_abortable(&t, Some(t.body.size)));
}

#[test]
fn a_large_body_waits_for_an_open_page_to_start_its_background_fetch_and_goes_by_the_worker_once_none_is_heard(
) {
    let here = &Heard {
        origin: "https://example.com",
        ..Heard::default()
    };
    let page_heard = SessionView {
        concurrency: 3,
        background_fetch_min_bytes: 1000,
        background_fetch_page_until: NOW + PAGE_HEARD_MS,
        ..SessionView::default()
    };
    let small = task("s", "a", 1);
    let mut large = task("l", "a", 2);
    large.body.size = 1000;
    let mut later_small = task("t", "a", 3);
    later_small.body.size = 999;
    let q = [small.clone(), large.clone(), later_small.clone()];
    let views = sessions(&[("a", page_heard)]);
    let p = plan(&env(), &q, &[], &views, &[], 0, here);
    // The large one is offered to the page (the tag has a third slot); the small ones behind it do
    // not wait for it.
    assert_eq!(p.start, vec!["s".to_string(), "t".to_string()]);
    assert_eq!(p.offer.as_deref(), Some("l"));
    assert_eq!(p.for_pages, vec!["l".to_string()]);
    assert!(p.work_left);
    assert_eq!(
        p.wake_at,
        Some(NOW + PAGE_HEARD_MS),
        "looked at again once no page is heard"
    );
    // The tag's slots are taken: still waiting, offered once one frees.
    let running: Vec<Task> = ["x", "y", "z"]
        .into_iter()
        .map(|id| leased(&task(id, "a", 4), Transport::Fallback, Some("w")))
        .collect();
    let p = plan(&env(), &[large.clone()], &running, &views, &[], 0, here);
    assert!(p.start.is_empty() && p.offer.is_none() && p.work_left);
    // Another Background Fetch of the origin runs (any tag): it waits for that one, not offered.
    let other = leased(&task("o", "b", 1), Transport::BackgroundFetch, None);
    let p = plan(&env(), &[large.clone()], &[other], &views, &[], 0, here);
    assert!(p.start.is_empty() && p.offer.is_none());
    // Still waiting for it: its pages are asked to keep waking the worker meanwhile.
    assert_eq!(p.for_pages, vec!["l".to_string()]);
    // Planned alone, none in flight: what starts, and what is offered.
    let alone = |t: &Task, view: SessionView, heard: &Heard| {
        let p = plan(
            &env(),
            std::slice::from_ref(t),
            &[],
            &sessions(&[("a", view)]),
            &[],
            0,
            heard,
        );
        (p.start, p.offer)
    };
    let by_worker = (vec!["l".to_string()], None);
    // No page heard lately: the worker sends it.
    let gone = SessionView {
        background_fetch_page_until: NOW,
        ..page_heard
    };
    assert_eq!(alone(&large, gone, here), by_worker);
    // A session that hands any size to Background Fetch (no `minBytes`) keeps the worker's fetch for
    // what its upload call did not start: small files never queue one by one behind it.
    let any_size = SessionView {
        background_fetch_min_bytes: 0,
        ..page_heard
    };
    assert_eq!(alone(&large, any_size, here), by_worker);
    // Nor does a body Background Fetch cannot carry wait: another origin, or tus.
    assert_eq!(
        alone(
            &large,
            page_heard,
            &Heard {
                origin: "https://app.example.com",
                ..Heard::default()
            }
        ),
        by_worker
    );
    let mut tus = large.clone();
    tus.request.protocol = Protocol::Tus {
        chunk_size: 5,
        metadata: vec![],
        upload_url: None,
    };
    assert_eq!(alone(&tus, page_heard, here), by_worker);
    // `plan` (no origin) never holds one.
    let p = plan(&env(), &[large], &[], &views, &[], 0, &NOTHING);
    assert_eq!((p.start, p.offer), (vec!["l".to_string()], None));
}
