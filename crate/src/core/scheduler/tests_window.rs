//! A look reads the due tasks a window at a time: it reads further only while a slot is left that a
//! task it did not read could take, and then only the due tasks of the tags with a slot left.

use super::tests::{env, leased, sessions, task, NOTHING, NOW};
use super::*;

/// A session of `concurrency`, and a paused one (the defaults otherwise).
fn of_concurrency(concurrency: u32) -> SessionView {
    SessionView {
        concurrency,
        ..SessionView::default()
    }
}

fn paused() -> SessionView {
    SessionView {
        paused: true,
        ..SessionView::default()
    }
}

#[test]
fn a_look_reads_past_what_it_read_only_while_a_slot_is_left_for_what_it_did_not() {
    let (one, paused) = (of_concurrency(1), paused());
    let look = |q: &[Task], flying: &[Task], s: &LiteMap<String, SessionView>, here: u32| {
        plan(&env(), q, flying, s, &[], here, &NOTHING)
    };
    // The read (limit 2) is full of a paused tag's tasks; tag b, free, may have some behind them.
    let q = [task("a1", "a", 1), task("a2", "a", 2)];
    let these = sessions(&[("a", paused), ("b", one)]);
    let p = look(&q, &[], &these, 0);
    assert!(p.start.is_empty() && p.reads_further(2, 2));
    assert!(
        !p.reads_further(1, 2),
        "a read short of its limit saw every due task"
    );
    // Tag b busy too: whatever is behind, nothing could start (a drain with every lane taken).
    let b_flying = [leased(&task("b1", "b", 1), Transport::Fallback, Some("w"))];
    let p = look(&q, &b_flying, &these, 1);
    assert!(p.start.is_empty() && p.room.is_empty() && !p.reads_further(2, 2));
    // A full tag's own queue in the read, the same.
    let q = [task("b2", "b", 2), task("b3", "b", 3)];
    let p = look(&q, &b_flying, &sessions(&[("b", one)]), 1);
    assert!(p.start.is_empty() && !p.reads_further(2, 2));
    // No lane left in this worker: nothing more can start, whoever is behind.
    let p = look(&q, &[], &these, MAX_PARALLEL);
    assert!(p.start.is_empty() && !p.reads_further(2, 2));
    // A tag with no session record (defaults) counts as one with room.
    let q = [task("a1", "a", 1), task("a2", "a", 2)];
    let c_flying = [leased(&task("c1", "c", 1), Transport::Fallback, Some("w"))];
    let p = look(&q, &c_flying, &sessions(&[("a", paused)]), 1);
    assert!(p.reads_further(2, 2));
    // Something started: the next look reads again (its due tasks start as attempts end).
    let p = look(&[task("b2", "b", 2)], &[], &these, 0);
    assert!(!p.start.is_empty() && !p.reads_further(1, 1));
}

#[test]
fn a_look_reads_further_only_the_tags_with_a_slot_left_each_until_read_to_its_end() {
    let (two, paused) = (of_concurrency(2), paused());
    // A drain of tag a (every slot taken) beside b and c, registered with nothing due in the read,
    // and d, paused: b and c are read on their own, a and d are not.
    let flying = [
        leased(&task("a1", "a", 1), Transport::Fallback, Some("w")),
        leased(&task("a2", "a", 2), Transport::Fallback, Some("w")),
    ];
    let q = [task("a3", "a", 3), task("a4", "a", 4)];
    let these = sessions(&[("a", two), ("b", two), ("c", two), ("d", paused)]);
    let p = plan(&env(), &q, &flying, &these, &[], 2, &NOTHING);
    assert!(p.reads_further(2, 2));
    assert_eq!(p.room, ["b", "c"]);
    let none = LiteMap::new();
    assert_eq!(
        p.tag_reads(&none, 32),
        [("b".to_string(), 32), ("c".to_string(), 32)]
    );
    // b's read found nothing (read to its end); c's came back full (more may be due behind).
    let mut read = LiteMap::new();
    read.insert("b".to_string(), (32, 0));
    read.insert("c".to_string(), (32, 32));
    assert_eq!(p.tag_reads(&read, 32), [("c".to_string(), 128)]);
    read.insert("c".to_string(), (128, 40));
    assert!(
        p.tag_reads(&read, 32).is_empty(),
        "every tag read to its end"
    );
    // Offline, nothing starts, whatever is behind: no tag is read further.
    let offline = Env {
        online: false,
        ..env()
    };
    let p = plan(&offline, &q, &flying, &these, &[], 2, &NOTHING);
    assert!(p.room.is_empty() && !p.reads_further(2, 2));
    // A tag seen only in the tasks (no session record: the defaults) has room too.
    let e_flying = [leased(&task("e1", "e", 1), Transport::Fallback, Some("w"))];
    let p = plan(
        &env(),
        &q,
        &e_flying,
        &sessions(&[("a", paused)]),
        &[],
        1,
        &NOTHING,
    );
    assert_eq!(p.room, ["e"]);
}

#[test]
fn the_first_due_later_of_a_paused_or_other_workers_tag_makes_a_look_read_each_sending_tags_own() {
    let views = |paused_a: bool, elsewhere_a: bool| -> LiteMap<String, SessionView> {
        let mut m = LiteMap::new();
        for tag in ["a", "b", "c"] {
            m.insert(
                tag.to_string(),
                SessionView {
                    paused: tag == "a" && paused_a,
                    elsewhere: tag == "a" && elsewhere_a,
                    ..SessionView::default()
                },
            );
        }
        m
    };
    let first = task("1", "a", 1);
    // Its tag sends: it comes first of all, nothing more to read.
    assert!(later_reads(Some(&first), &views(false, false)).is_empty());
    assert!(later_reads(None, &views(true, false)).is_empty());
    // Held: every other tag that sends is read for its own.
    assert_eq!(later_reads(Some(&first), &views(true, false)), ["b", "c"]);
    assert_eq!(later_reads(Some(&first), &views(false, true)), ["b", "c"]);
    // And the plan then wakes for the sending tag's, not the held one's deadline (or nothing).
    let mut held = first.clone();
    held.next_attempt_at = Some(NOW + 1_000);
    let mut own = task("2", "b", 2);
    own.next_attempt_at = Some(NOW + 5_000);
    let p = plan(
        &env(),
        &[own, held],
        &[],
        &views(true, false),
        &[],
        0,
        &Heard::default(),
    );
    assert_eq!(p.wake_at, Some(NOW + 5_000));
}
