//! Several Ferry workers of one origin (apps in their own scopes) share one database: each acts only
//! on the tags it serves.

use super::tests::{env, leased, sessions, task, NOTHING, NOW};
use super::*;

#[test]
fn a_tag_another_worker_of_the_origin_serves_is_left_to_it() {
    assert!(serves(None, "https://app.test/a/"), "a tag without owner");
    assert!(serves(Some("https://app.test/a/"), "https://app.test/a/"));
    assert!(!serves(Some("https://app.test/b/"), "https://app.test/a/"));
    let elsewhere = SessionView {
        elsewhere: true,
        ..SessionView::default()
    };
    let mut late = task("1", "b", 1);
    late.expires_at = Some(NOW - 1);
    let mut later = task("2", "b", 2);
    later.next_attempt_at = Some(NOW + 5_000);
    let q = [task("0", "b", 0), late, later, task("3", "a", 1)];
    let flying = [leased(
        &task("4", "b", 3),
        Transport::Fallback,
        Some("them"),
    )];
    let these = sessions(&[("b", elsewhere)]);
    let p = plan(&env(), &q, &flying, &these, &[], 0, &NOTHING);
    // Only this worker's tag starts; the other's due, expired and later tasks and its lease end are
    // neither started nor waited for.
    assert_eq!(p.start, vec!["3".to_string()]);
    assert_eq!(p.wake_at, Some(q[3].deadline()));
    assert!(!p.work_left);
    let p = plan(&env(), &q[..3], &flying, &these, &[], 0, &NOTHING);
    assert!(
        p.start.is_empty() && !p.work_left && p.wake_at.is_none(),
        "{p:?}"
    );
}
