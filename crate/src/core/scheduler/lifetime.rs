//! How long the work lives in the browser's events: a browser stops a service worker whose events
//! have gone on too long, a fetch in flight or not. An event holds the work at most
//! `event_hold_ms`, an open page's wakes (`keepalive_at`) bring the events that keep the worker
//! while an attempt runs, and a `sync` event that leaves work behind rejects (`sync_resolves`).

use super::Plan;
use crate::core::task::{State, Task, Transport};

/// Whether a pump with nothing of its own running stays for the next due time rather than end: a
/// Background Fetch was handed to a page that has not said it began it. If the page went first, the
/// task is the worker's once the start window has passed (`recover`), and no page may be left to
/// wake the worker then.
pub fn stays_for_a_start(in_flight: &[Task]) -> bool {
    in_flight.iter().any(|t| {
        t.state == State::InFlight
            && t.transport == Some(Transport::BackgroundFetch)
            && !t.announced
    })
}

/// Whether a pump that made an attempt waits, inside its event, for the next due time `wake` (within
/// its `deadline`) rather than end. Not while a new version of the worker waits to take over: an open
/// event of this one holds that version's activation (`skipWaiting()` too) until it ends, so an app's
/// deploy would wait for a retry. The retry then goes by the new version (an open page's alarm, the
/// browser's sync retry).
pub fn waits_for_retry(waiting: bool, wake: u64, deadline: u64, update_waiting: bool) -> bool {
    waiting && !update_waiting && wake.saturating_add(1000) < deadline
}

/// Whether a `sync` event may resolve: only when nothing is left for later and no attempt of this
/// worker still runs (then the browser need not fire it again), or when it is the browser's last try
/// anyway.
pub fn sync_resolves(plan: &Plan, running: bool, last_chance: bool) -> bool {
    !(plan.work_left || running) || last_chance
}

/// The longest one event holds its `waitUntil` for the work it started or joined. Chromium stops a
/// worker one of whose events has not settled 5 minutes after it began (a `sync` event: 3 minutes),
/// attempt in flight or not. An event that lets go before then leaves its attempts running, the
/// worker kept by the events that come after (an open page's wakes, `KEEPALIVE_MS`).
pub const EVENT_HOLD_MS: u64 = 240_000;
/// `EVENT_HOLD_MS` of a `sync` event.
pub const SYNC_HOLD_MS: u64 = 170_000;

// The pages' wakes come well inside the time Firefox gives one event (about 60 s), and many times
// within one hold.
const _: () = assert!(KEEPALIVE_MS * 4 <= 30_000 && KEEPALIVE_MS * 10 <= SYNC_HOLD_MS);

/// How long an event of the transport `via` holds on to the work.
pub fn event_hold_ms(via: Transport) -> u64 {
    match via {
        Transport::BackgroundSync => SYNC_HOLD_MS,
        _ => EVENT_HOLD_MS,
    }
}

/// While attempts of a worker run, the open pages of their tags wake it this often. Each wake is a
/// fresh event, which is what keeps a browser from stopping the worker mid-attempt: Firefox stops one
/// whose events have run ~60 s (its idle plus extended timeout) even with a fetch in flight, and
/// Chromium one with no event left 30 s after the last let go (`EVENT_HOLD_MS`).
pub const KEEPALIVE_MS: u64 = 5_000;

/// When the pages of running attempts' tags are asked to wake the worker next, given the wake last
/// asked for (`asked`): `None` while that one is still ahead. The page's wake arrives at `asked`, the
/// pump looks again and asks for the next, so one ask stands at a time. A page that registers while
/// attempts of its tag run (`new_page`) opened after the standing ask was told, and the pages that heard
/// it may close: it is told the standing ask, or a worker the browser stops mid-attempt would wait for
/// whatever wakes it next (with no Background Sync to fire again, nothing).
pub fn keepalive_at(now: u64, running: bool, asked: Option<u64>, new_page: bool) -> Option<u64> {
    match asked {
        _ if !running => None,
        Some(at) if now + KEEPALIVE_MS / 10 < at => new_page.then_some(at),
        _ => Some(now + KEEPALIVE_MS),
    }
}

/// Whether a page that registers `tag` is to wake the worker while attempts of it run: one runs here
/// (`running_here`), or `in_flight` holds one another instance ran (`me` is this one), which this one
/// takes back and runs next, most likely a worker the browser stopped mid-attempt; it asks the pages
/// for wakes as it does, which a page whose channel opens after its `register` answer does not hear.
pub fn runs_for_new_page(tag: &str, running_here: bool, in_flight: &[Task], me: &str) -> bool {
    running_here
        || in_flight.iter().any(|t| {
            t.tag == tag
                && t.state == State::InFlight
                && t.transport != Some(Transport::BackgroundFetch)
                && t.holder.as_deref() != Some(me)
        })
}

/// Until when a running pump takes new work once an event with a budget of `budget_ms` joined it at
/// `now` (a page's wake, an upload's, a `sync`): the later of its deadline and the joiner's own. A
/// pump past its budget only waits for its attempts to end; one that a long attempt keeps running
/// would otherwise leave every upload queued meanwhile, of any tag, until that attempt ended, since
/// an event that finds a pump running joins it rather than start a second.
pub fn joined_deadline(deadline: u64, now: u64, budget_ms: u64) -> u64 {
    deadline.max(now.saturating_add(budget_ms))
}

/// When a pump whose attempts run looks again if nothing wakes it first (an attempt's end, new work, a
/// page's wake): at the next due time `wake_at` (within its `deadline`; past it, or with nothing due, a
/// lease renewal period on), and at the latest one keep-alive period past the wake it asked of the
/// pages (`asked`). A page's wake
/// makes the next look, and the next look the next ask; a page may not have heard the ask (one that
/// registered as it was told: its channel opened after), and without a look no ask is told again, so
/// a worker the browser stops at its event's limit would have no page to wake it.
pub fn running_pump_until(
    now: u64,
    wake_at: Option<u64>,
    deadline: u64,
    asked: Option<u64>,
) -> u64 {
    let until = match wake_at {
        Some(w) if now < deadline => w.min(deadline),
        _ => now + super::RENEW_EVERY_MS,
    };
    match asked {
        Some(at) => until.min(at.max(now) + KEEPALIVE_MS),
        None => until,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn a_pump_stays_for_a_background_fetch_not_yet_said_to_have_begun() {
        use super::super::announce;
        use super::super::tests::{leased, task};
        let t = leased(&task("1", "a", 1), Transport::BackgroundFetch, None);
        assert!(super::stays_for_a_start(std::slice::from_ref(&t)));
        let (said, _) = announce(&t, t.lease_no);
        assert!(!super::stays_for_a_start(&[said]));
        let worker = leased(&task("2", "a", 2), Transport::Fallback, Some("w"));
        assert!(!super::stays_for_a_start(&[worker]));
    }

    use super::*;

    #[test]
    fn a_pump_waits_for_a_retry_in_its_event_unless_a_new_version_waits_to_take_over() {
        let (wake, deadline) = (10_000, 60_000);
        assert!(waits_for_retry(true, wake, deadline, false));
        assert!(
            !waits_for_retry(true, wake, deadline, true),
            "the new version would wait for the retry"
        );
        assert!(
            !waits_for_retry(false, wake, deadline, false),
            "made no attempt"
        );
        assert!(
            !waits_for_retry(true, deadline - 500, deadline, false),
            "past its budget"
        );
    }

    #[test]
    fn a_sync_event_that_lets_go_of_a_running_attempt_is_fired_again() {
        // Nothing left for later, but an attempt of the worker still runs (the event let go of it).
        let idle = Plan::default();
        assert!(sync_resolves(&idle, false, false));
        assert!(!sync_resolves(&idle, true, false) && sync_resolves(&idle, true, true));
    }

    #[test]
    fn while_attempts_run_the_pages_are_asked_for_one_wake_at_a_time() {
        // Nothing runs: nothing to keep alive.
        assert_eq!(keepalive_at(1_000, false, None, false), None);
        assert_eq!(keepalive_at(1_000, false, Some(900), false), None);
        // A page that registers after the ask hears the standing ask; with nothing of its tag running, none.
        assert_eq!(keepalive_at(1_000, true, Some(4_000), true), Some(4_000));
        assert_eq!(keepalive_at(1_000, false, Some(4_000), true), None);
        // The first ask, and none again while it is ahead.
        let first = keepalive_at(1_000, true, None, false).unwrap();
        assert_eq!(first, 1_000 + KEEPALIVE_MS);
        assert_eq!(keepalive_at(2_000, true, Some(first), false), None);
        assert_eq!(
            keepalive_at(first - KEEPALIVE_MS / 10 - 1, true, Some(first), false),
            None
        );
        // The page's wake comes at (or just before) the asked time: the next ask is one period on.
        assert_eq!(
            keepalive_at(first, true, Some(first), false),
            Some(first + KEEPALIVE_MS)
        );
        assert_eq!(
            keepalive_at(first - KEEPALIVE_MS / 10, true, Some(first), false),
            Some(first - KEEPALIVE_MS / 10 + KEEPALIVE_MS)
        );
        // A wake that never came (the page closed): the pump's next look asks again.
        assert_eq!(
            keepalive_at(first + 60_000, true, Some(first), false),
            Some(first + 60_000 + KEEPALIVE_MS)
        );
    }

    #[test]
    fn a_pump_whose_ask_no_page_answered_looks_again_to_ask_again() {
        let (now, deadline) = (1_000, 200_000);
        // An attempt's timeout two minutes on, and no ask standing: that due time.
        assert_eq!(
            running_pump_until(now, Some(121_000), deadline, None),
            121_000
        );
        // An ask standing at `now + KEEPALIVE_MS`: a page's wake comes then; if none comes, the pump
        // looks one period later, and that look asks again (`keepalive_at`).
        let asked = keepalive_at(now, true, None, false);
        let until = running_pump_until(now, Some(121_000), deadline, asked);
        assert_eq!(until, now + 2 * KEEPALIVE_MS);
        assert_eq!(
            keepalive_at(until, true, asked, false),
            Some(until + KEEPALIVE_MS)
        );
        // An earlier due time comes first; past the budget, the renewal period still bounds it.
        assert_eq!(running_pump_until(now, Some(3_000), deadline, asked), 3_000);
        assert_eq!(
            running_pump_until(deadline + 1, Some(3_000), deadline, None),
            deadline + 1 + super::super::RENEW_EVERY_MS
        );
        // An ask long past (the pump slept through it): one period from now.
        assert_eq!(
            running_pump_until(50_000, None, deadline, Some(6_000)),
            50_000 + KEEPALIVE_MS
        );
    }

    #[test]
    fn an_event_that_joins_a_pump_past_its_budget_gives_it_its_own() {
        // A pump started at 0 with 60 s, a long attempt still running at 90 s: a page's wake then
        // gives it until 150 s, and a joiner never shortens what an earlier one gave.
        assert_eq!(joined_deadline(60_000, 90_000, 60_000), 150_000);
        assert_eq!(joined_deadline(150_000, 100_000, 10_000), 150_000);
        assert_eq!(joined_deadline(60_000, 10_000, 150_000), 160_000);
    }

    #[test]
    fn no_event_holds_the_work_as_long_as_chromium_lets_it_live() {
        // Chromium: 5 minutes for an event, 3 for a sync event; each hold ends a margin before.
        assert!(event_hold_ms(Transport::Fallback) + 30_000 <= 300_000);
        assert!(event_hold_ms(Transport::BackgroundFetch) + 30_000 <= 300_000);
        assert!(event_hold_ms(Transport::BackgroundSync) + 5_000 <= 180_000);
        // Long enough for the budgets the events take new work in (sync 150 s, others 60 s).
        assert!(event_hold_ms(Transport::BackgroundSync) > 150_000);
        assert!(event_hold_ms(Transport::Fallback) > 60_000);
    }

    #[test]
    fn a_page_that_registers_while_an_attempt_of_its_tag_is_taken_back_wakes_the_worker() {
        use super::super::tests::{leased, task};
        let cut = leased(&task("1", "a", 1), Transport::Fallback, Some("gone"));
        assert!(runs_for_new_page(
            "a",
            false,
            std::slice::from_ref(&cut),
            "me"
        ));
        assert!(!runs_for_new_page(
            "b",
            false,
            std::slice::from_ref(&cut),
            "me"
        ));
        let mine = leased(&task("2", "a", 2), Transport::Fallback, Some("me"));
        assert!(!runs_for_new_page(
            "a",
            false,
            std::slice::from_ref(&mine),
            "me"
        ));
        assert!(runs_for_new_page("a", true, &[], "me"));
        let fetch = leased(&task("3", "a", 3), Transport::BackgroundFetch, None);
        assert!(
            !runs_for_new_page("a", false, &[fetch], "me"),
            "the browser carries it"
        );
    }
}
