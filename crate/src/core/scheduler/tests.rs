use super::*;
use crate::core::retry::{Outcome, RetryPolicy};
use crate::core::state::{new_task, NewTask};
use crate::core::task::{BodyMeta, Method, Protocol, Request};
use litemap::LiteMap;

pub(super) const NOW: u64 = 1_700_000_000_000;

pub(crate) fn task(id: &str, tag: &str, seq: u64) -> Task {
    new_task(NewTask {
        id: id.into(),
        tag: tag.into(),
        seq,
        request: Request {
            url: "https://example.com/u".into(),
            method: Method::Post,
            headers: vec![],
            protocol: Protocol::Http,
            credentials: Default::default(),
        },
        body: BodyMeta {
            size: 10,
            mime: String::new(),
            name: None,
        },
        idempotency_key: format!("k{id}"),
        now_ms: NOW,
        expires_at: None,
        earliest_begin: None,
        retry: RetryPolicy::default(),
    })
}

pub(super) fn env() -> Env {
    Env {
        now_ms: NOW,
        online: true,
        save_data: false,
    }
}

pub(super) fn leased(t: &Task, transport: Transport, holder: Option<&str>) -> Task {
    lease(t, &SessionView::default(), 0, &env(), transport, holder)
        .unwrap()
        .unwrap()
        .0
}

static NO_OUTAGES: Outages = LiteMap::new();
/// Nothing heard beyond the records (no origin, no outage).
pub(super) static NOTHING: Heard<'static> = Heard {
    origin: "",
    outages: &NO_OUTAGES,
};

pub(super) fn sessions(pairs: &[(&str, SessionView)]) -> LiteMap<String, SessionView> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn a_paused_tag_starts_nothing_and_never_makes_the_wake_time_now() {
    let paused = SessionView {
        paused: true,
        ..SessionView::default()
    };
    let q = [task("1", "a", 1), task("2", "b", 1)];
    let these = sessions(&[("a", paused)]);
    let p = plan(&env(), &q, &[], &these, &[], 0, &NOTHING);
    assert_eq!(p.start, vec!["2".to_string()]);
    // The only wake time is the held task's deadline (its retention end), never now.
    assert_eq!(p.wake_at, Some(q[0].deadline()));
    assert!(q[0].deadline() > env().now_ms);
    let p = plan(&env(), &q[..1], &[], &these, &[], 0, &NOTHING);
    assert!(p.start.is_empty() && !p.work_left);
    assert_eq!(p.wake_at, Some(q[0].deadline()));
}

#[test]
fn a_paused_task_expires_at_the_end_of_a_short_retention() {
    let paused = SessionView {
        paused: true,
        ..SessionView::default()
    };
    let mut t = task("1", "a", 1);
    t.retry.max_retention_ms = 1_000;
    let end = t.retention_end();
    let views = sessions(&[("a", paused)]);
    let p = plan(&env(), &[t.clone()], &[], &views, &[], 0, &NOTHING);
    assert!(p.start.is_empty());
    assert_eq!(
        p.wake_at,
        Some(end),
        "a look is due when the retention ends"
    );
    let then = Env {
        now_ms: end,
        ..env()
    };
    let p = plan(&then, &[t], &[], &views, &[], 0, &NOTHING);
    assert_eq!(
        p.start,
        vec!["1".to_string()],
        "leased to be recorded expired"
    );
}

#[test]
fn tasks_awaiting_headers_are_held_without_a_wake_loop() {
    let q = [task("1", "a", 1)];
    let waiting = ["1".to_string()];
    let p = plan(&env(), &q, &[], &LiteMap::new(), &waiting, 0, &NOTHING);
    // No wake time but the task's deadline (its retention end, far off).
    assert!(p.start.is_empty() && p.wake_at == Some(q[0].deadline()));
    assert!(
        p.work_left,
        "a sync event is rejected, so the browser asks again later"
    );
}

#[test]
fn behind_a_task_waiting_for_a_page_s_headers_its_tag_s_later_tasks_wait_too() {
    // Tag a asks a page for headers; its task 2 is waiting for that page (frozen, say): task 3 would
    // ask the same page, and whichever answer came first would start first.
    let asks = SessionView {
        header_provider: true,
        ..SessionView::default()
    };
    let q = [task("2", "a", 2), task("3", "a", 3), task("9", "b", 1)];
    let waiting = ["2".to_string()];
    let these = sessions(&[("a", asks)]);
    let p = plan(&env(), &q, &[], &these, &waiting, 0, &NOTHING);
    assert_eq!(p.start, vec!["9".to_string()], "tag b is not held by tag a");
    assert!(p.work_left);
    // Once the page answers (nothing waiting), task 2 goes first.
    let p = plan(&env(), &q, &[], &sessions(&[("a", asks)]), &[], 0, &NOTHING);
    assert_eq!(p.start.first(), Some(&"2".to_string()));
    // A tag that asks no page is not held behind a task skipped for another reason.
    let p = plan(&env(), &q, &[], &LiteMap::new(), &waiting, 0, &NOTHING);
    assert!(p.start.contains(&"3".to_string()));
}

#[test]
fn concurrency_counts_every_transport_and_other_instances() {
    let two = SessionView {
        concurrency: 2,
        ..SessionView::default()
    };
    let q = [task("3", "a", 3), task("4", "a", 4)];
    let flying = [
        leased(&task("1", "a", 1), Transport::BackgroundFetch, None),
        leased(&task("2", "x", 1), Transport::Fallback, Some("other")),
    ];
    let these = sessions(&[("a", two)]);
    let p = plan(&env(), &q, &flying, &these, &[], 0, &NOTHING);
    assert_eq!(p.start, vec!["3".to_string()], "one slot left for tag a");
    // The lease itself re-checks: a full tag refuses.
    assert!(
        lease(&q[1], &two, 2, &env(), Transport::Fallback, Some("w"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn each_tag_starts_in_enqueue_order_and_tags_share_the_worker() {
    let one = SessionView {
        concurrency: 1,
        ..SessionView::default()
    };
    let q = [task("a2", "a", 2), task("b1", "b", 1), task("a1", "a", 1)];
    let p = plan(&env(), &q, &[], &sessions(&[("a", one)]), &[], 0, &NOTHING);
    assert_eq!(p.start, vec!["a1".to_string(), "b1".to_string()]);
    let these = LiteMap::new();
    let p = plan(&env(), &q, &[], &these, &[], MAX_PARALLEL, &NOTHING);
    assert!(p.start.is_empty(), "no slot left in this worker");
}

#[test]
fn tasks_due_together_are_chosen_in_enqueue_order_not_in_the_order_read() {
    // Queued by one `uploadAll`: the same due time, so the store's index reads them by id.
    let read = [
        task("0c", "a", 3),
        task("1a", "a", 1),
        task("2d", "a", 4),
        task("3b", "a", 2),
    ];
    let three = SessionView {
        concurrency: 3,
        ..SessionView::default()
    };
    let these = sessions(&[("a", three)]);
    let p = plan(&env(), &read, &[], &these, &[], 0, &NOTHING);
    let seqs: Vec<u64> = p.chosen(&read).iter().map(|t| t.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn the_wake_time_is_the_next_due_task_or_lease_end() {
    let mut later = task("1", "a", 1);
    later.next_attempt_at = Some(NOW + 5_000);
    let flying = [leased(&task("2", "a", 2), Transport::Fallback, Some("w"))];
    let p = plan(&env(), &[later], &flying, &LiteMap::new(), &[], 0, &NOTHING);
    assert_eq!(p.wake_at, Some(NOW + 5_000));
    assert!(p.work_left);
    assert!(!sync_resolves(&p, false, false) && sync_resolves(&p, false, true));
}

#[test]
fn pause_between_plan_and_lease_wins() {
    let t = task("1", "a", 1);
    let paused = SessionView {
        paused: true,
        ..SessionView::default()
    };
    assert_eq!(
        lease(&t, &paused, 0, &env(), Transport::Fallback, Some("w")).unwrap(),
        None
    );
}

#[test]
fn an_outcome_of_an_older_lease_changes_nothing() {
    let t = leased(&task("1", "a", 1), Transport::Fallback, Some("w"));
    assert_eq!(t.lease_no, 1);
    let ok = Input::Outcome(Outcome::Response {
        status: 201,
        retry_after: None,
    });
    let (requeued, _) = settle(&t, 1, Input::Abandoned, NOW, 0).unwrap();
    let again = leased(&requeued, Transport::Fallback, Some("w2"));
    assert_eq!(again.lease_no, 2);
    assert!(settle(&again, 1, ok.clone(), NOW, 0).is_err());
    let (done, _) = settle(&again, 2, ok.clone(), NOW, 0).unwrap();
    assert_eq!(done.state, State::Done);
    assert!(settle(&done, 2, ok, NOW, 0).is_err(), "applied once");
}

#[test]
fn recovery_leaves_a_live_holder_alone_and_takes_back_a_dead_ones_task() {
    let t = leased(&task("1", "a", 1), Transport::Fallback, Some("old"));
    let live = ["old".to_string(), "new".to_string()];
    assert_eq!(recover(&t, NOW + 1, &live, None), None);
    let only_new = ["new".to_string()];
    assert_eq!(
        recover(&t, NOW + 1, &only_new, None),
        Some(Input::Abandoned)
    );
    assert_eq!(
        recover(&t, NOW + LEASE_MS, &live, None),
        Some(Input::LeaseExpired),
        "a holder that stopped renewing is stuck"
    );
}

#[test]
fn a_release_is_not_an_attempt() {
    let t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
    assert_eq!(t.attempt, 1);
    let (back, effects) = settle(&t, t.lease_no, Input::Release, NOW, 0).unwrap();
    assert_eq!(
        (back.state, back.attempt, back.next_attempt_at),
        (State::Queued, 0, Some(NOW))
    );
    assert!(effects.is_empty());
}

#[test]
fn attempt_timeouts_scale_with_the_body_unless_fixed() {
    let s = SessionView::default();
    assert_eq!(attempt_timeout_ms(&s, 0), TIMEOUT_BASE_MS);
    assert_eq!(
        attempt_timeout_ms(&s, 64 * 1024 * 10),
        TIMEOUT_BASE_MS + 10_000
    );
    let fixed = SessionView {
        attempt_timeout_ms: Some(1234),
        ..s
    };
    assert_eq!(attempt_timeout_ms(&fixed, 1 << 30), 1234);
}

#[test]
fn header_decisions() {
    let h = vec![("authorization".to_string(), "Bearer t".to_string())];
    let given = || Some(Ok(h.clone()));
    let plain = SessionView::default();
    assert_eq!(headers(&plain, None, None), HeaderPlan::Send(vec![]));
    let wait = SessionView {
        header_provider: true,
        ..plain
    };
    assert_eq!(headers(&wait, None, Some(h.clone())), HeaderPlan::Wait);
    assert_eq!(headers(&wait, given(), None), HeaderPlan::Send(h.clone()));
    let last = SessionView {
        header_fallback: HeaderFallback::Last,
        ..wait
    };
    assert_eq!(
        headers(&last, None, Some(h.clone())),
        HeaderPlan::Send(h.clone())
    );
    assert_eq!(headers(&last, None, None), HeaderPlan::Wait);
    assert_eq!(
        headers(&last, given(), None),
        HeaderPlan::SendAndKeep(h.clone())
    );
}

#[test]
fn a_header_provider_that_fails_ends_the_attempt_unsent_as_a_retryable_outcome_that_says_why() {
    let h = vec![("authorization".to_string(), "Bearer t".to_string())];
    for fallback in [HeaderFallback::Wait, HeaderFallback::Last] {
        let s = SessionView {
            header_provider: true,
            header_fallback: fallback,
            ..SessionView::default()
        };
        // Not the last headers either: the page answered, and its answer is the failure.
        let plan = headers(&s, Some(Err("threw Error: boom".into())), Some(h.clone()));
        let HeaderPlan::Refuse(why) = plan else {
            panic!("{plan:?}")
        };
        assert!(
            why.contains("headerProvider") && why.contains("boom"),
            "{why}"
        );
        let o = Outcome::NotSent(why.clone());
        assert_eq!(
            crate::core::retry::classify(&o),
            crate::core::retry::Class::Retryable
        );
        let t = leased(&task("1", "a", 1), Transport::Fallback, Some("w"));
        let (next, effects) = settle(&t, t.lease_no, Input::Outcome(o), NOW, 0).unwrap();
        assert_eq!(next.state, State::Queued);
        assert_eq!(next.last_error.as_deref(), Some(why.as_str()));
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::RetryAt { reason, .. } if *reason == why)),
            "{effects:?}"
        );
    }
}

#[test]
fn a_held_task_expires_on_time_and_its_expiry_takes_no_slot() {
    let paused = SessionView {
        paused: true,
        ..SessionView::default()
    };
    let mut late = task("1", "a", 1);
    late.expires_at = Some(NOW + 5_000);
    let q = [late.clone(), task("2", "a", 2)];
    let held = sessions(&[("a", paused)]);
    // Before its expiresAt: held by the pause, with a wake at its expiresAt.
    let p = plan(&env(), &q, &[], &held, &[], 0, &NOTHING);
    assert!(p.start.is_empty(), "{p:?}");
    assert_eq!(p.wake_at, Some(NOW + 5_000));

    // At its expiresAt, paused, offline and the tag full: chosen, and its lease records it expired.
    let at = Env {
        now_ms: NOW + 5_000,
        online: false,
        save_data: false,
    };
    let flying = [leased(
        &task("3", "a", 3),
        Transport::Fallback,
        Some("other"),
    )];
    let p = plan(&at, &q, &flying, &held, &[], MAX_PARALLEL, &NOTHING);
    assert_eq!(p.start, vec!["1".to_string()]);
    let (t, effects) = lease(&late, &paused, 1, &at, Transport::Fallback, Some("me"))
        .unwrap()
        .expect("an expired task is settled by its lease");
    assert_eq!(t.state, State::Expired);
    assert!(effects.contains(&Effect::Expired) && effects.contains(&Effect::DeleteBlob));
    assert_eq!(t.lease_until, None, "nothing was leased: {t:?}");
}
