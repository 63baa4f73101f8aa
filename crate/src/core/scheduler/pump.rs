//! The pump's turns, without I/O: one pump runs per worker instance, started by an event (a `sync`, a
//! page's message, an upload, a Background Fetch's outcome) and joined by every event that comes while
//! it runs. Each turn it looks at the store (while within its budget), starts what the plan says, and
//! then [`Pump::turn`] decides what comes next: wait for running attempts (asking the pages of their
//! tags to wake the worker), wait inside the event for a retry, look again, or end. The web layer
//! carries the turns out with its timers and the store; the simulation (`sim`) drives the same
//! machine through events, page wakes and a browser that stops workers.

use super::lifetime::{
    joined_deadline, keepalive_at, running_pump_until, stays_for_a_start, waits_for_retry,
};
use super::Plan;
use crate::core::task::Task;

/// One running pump of a worker instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pump {
    /// Until when it takes new work: its event's budget, moved on by each event that joins it.
    deadline: u64,
    /// It made an attempt (or a Background Fetch was handed to a page): it stays for the retries due
    /// within its budget.
    waiting: bool,
    /// News came (an event joined: work stored, a page's message) since its last look began.
    again: bool,
    /// The turn's look is the last, past the budget: it hands the work over rather than start it.
    handing_over: bool,
}

/// Whether a turn reads the store, and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looks {
    /// Within its budget: it reads, and starts what the plan says.
    Start,
    /// Past its budget, nothing of this instance running any more: it reads once more and starts
    /// nothing, only to tell the pages when the work falls due (at once, for work due now), so that
    /// a fresh event (with its own budget) takes it up; it then ends.
    HandOver,
    /// Past its budget, attempts running: no read; it waits for them to end (or for an event to join
    /// and move the budget on).
    No,
}

/// How soon the pages are asked to wake the worker for work that a pump past its budget found due.
pub const HAND_OVER_MS: u64 = 1_000;

/// What the worker instance has at the end of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Here {
    /// Attempts of this instance running.
    pub running: u32,
    /// The wake last asked of the pages of running attempts' tags.
    pub asked: Option<u64>,
    /// An attempt ended while the look read the store (its wake found the pump not waiting).
    pub woken: bool,
}

/// What a pump does after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Attempts of this instance run: the pages of their tags are asked to wake the worker at `ask`
    /// (when `Some`: it becomes the standing ask), and the pump waits until `until`, or less if an
    /// attempt ends or news comes.
    Wait {
        /// The wake to ask of the pages now.
        ask: Option<u64>,
        /// When the pump looks again if nothing else wakes it.
        until: u64,
    },
    /// Nothing of this instance runs; a retry of its own attempts falls due at `at`, within its budget:
    /// it waits inside its event for it.
    Retry {
        /// The retry's due time.
        at: u64,
    },
    /// News came, or an attempt ended during the look: look again at once.
    Again,
    /// The pump ends (its event lets go); the pages of the queued tasks are told to wake the worker
    /// at `tell` (a worker holds no timer once the browser stops it).
    End {
        /// The next due time, if any.
        tell: Option<u64>,
    },
}

impl Pump {
    /// A pump started at `now` by an event with `budget_ms` to take new work in; `expect_retry` when an
    /// attempt made elsewhere (a Background Fetch) may have queued a retry to wait for.
    pub fn start(now: u64, budget_ms: u64, expect_retry: bool) -> Pump {
        Pump {
            deadline: now.saturating_add(budget_ms),
            waiting: expect_retry,
            again: false,
            handing_over: false,
        }
    }

    /// An event with `budget_ms` joins the running pump at `now` (rather than start a second): its
    /// budget moves on (`joined_deadline`) and it looks again.
    pub fn join(&mut self, now: u64, budget_ms: u64) {
        self.deadline = joined_deadline(self.deadline, now, budget_ms);
        self.hear();
    }

    /// News for the running pump (work stored, a tag resumed, a lane freed that only a look fills):
    /// its next turn looks again rather than wait or end.
    pub fn hear(&mut self) {
        self.again = true;
    }

    /// A turn begins at `now` with `running` attempts of this instance: whether it reads the store
    /// (within its budget; past it, the pump only waits for its attempts to end, until an event joins
    /// and moves the budget on, and then hands what is left over to the pages).
    pub fn begins(&mut self, now: u64, running: u32) -> Looks {
        self.again = false;
        let looks = match (now < self.deadline, running) {
            (true, _) => Looks::Start,
            (false, 0) => Looks::HandOver,
            (false, _) => Looks::No,
        };
        self.handing_over = looks == Looks::HandOver;
        looks
    }

    /// Until when the pump takes new work.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Whether news came since the turn began.
    pub fn news(&self) -> bool {
        self.again
    }

    /// What comes after the turn whose look made `plan` (the empty plan when it did not look) and
    /// found `others` in flight elsewhere, at `now`, with what the instance has (`here`), and whether a
    /// new version of the worker waits to take over (`update_waiting`; read only when a retry is due).
    pub fn turn(
        &mut self,
        now: u64,
        plan: &Plan,
        others: &[Task],
        here: Here,
        update_waiting: impl FnOnce() -> bool,
    ) -> Turn {
        let Here {
            running,
            asked,
            woken,
        } = here;
        self.waiting |= !plan.start.is_empty() || stays_for_a_start(others);
        if self.handing_over && running == 0 {
            // (The plan's starts were not carried out: the pages wake the worker for them.)
            let due = (!plan.start.is_empty()).then(|| now + HAND_OVER_MS);
            let tell = match (due, plan.wake_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            return Turn::End { tell };
        }
        if running > 0 {
            let ask = keepalive_at(now, true, asked, false);
            let until = running_pump_until(now, plan.wake_at, self.deadline, ask.or(asked));
            return Turn::Wait { ask, until };
        }
        match plan.wake_at {
            Some(at) if waits_for_retry(self.waiting, at, self.deadline, update_waiting()) => {
                Turn::Retry { at }
            }
            _ if (self.again || woken) && now < self.deadline => Turn::Again,
            tell => Turn::End { tell },
        }
    }

    /// Whether a `Wait` until `until` goes on at `now` without a look: attempts still run, the last
    /// look's due tasks are not used up (`ahead_left`: the next ones start as attempts end), no news
    /// came, and `until` is not reached.
    pub fn waits_on(&self, now: u64, until: u64, running: u32, ahead_left: bool) -> bool {
        running > 0 && ahead_left && !self.again && now < until
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::super::tests::{leased, task};
    use super::super::KEEPALIVE_MS;
    use super::*;
    use crate::core::task::Transport;

    fn here(running: u32, asked: Option<u64>, woken: bool) -> Here {
        Here {
            running,
            asked,
            woken,
        }
    }

    fn plan(start: &[&str], wake_at: Option<u64>) -> Plan {
        Plan {
            start: start.iter().map(|s| s.to_string()).collect(),
            wake_at,
            ..Plan::default()
        }
    }

    #[test]
    fn a_pump_past_its_budget_looks_again_once_an_event_joins_it() {
        let mut p = Pump::start(0, 60_000, false);
        assert_eq!(p.begins(1_000, 0), Looks::Start);
        // A long attempt keeps it past its budget: its turns do not read the store.
        assert_eq!(p.begins(90_000, 1), Looks::No);
        // A page's upload joins it: the budget moves on and the next turn reads.
        p.join(90_000, 60_000);
        assert!(p.news());
        assert_eq!(p.begins(90_001, 1), Looks::Start);
        assert_eq!(p.deadline(), 150_000);
        assert!(!p.news(), "a turn that began took the news");
    }

    #[test]
    fn while_attempts_run_the_pump_asks_the_pages_and_waits_no_longer_than_a_missed_ask() {
        let mut p = Pump::start(0, 60_000, false);
        // The first turn with an attempt running asks for a wake one period on.
        let t = p.turn(
            1_000,
            &plan(&["1"], Some(121_000)),
            &[],
            here(1, None, false),
            || unreachable!(),
        );
        let ask = 1_000 + KEEPALIVE_MS;
        assert_eq!(
            t,
            Turn::Wait {
                ask: Some(ask),
                until: ask + KEEPALIVE_MS
            }
        );
        // An ask standing (heard or missed): none again, but the pump looks one period past it.
        let t = p.turn(
            2_000,
            &plan(&[], None),
            &[],
            here(1, Some(ask), false),
            || false,
        );
        assert_eq!(
            t,
            Turn::Wait {
                ask: None,
                until: ask + KEEPALIVE_MS
            }
        );
    }

    #[test]
    fn a_pump_with_nothing_running_waits_for_its_own_retry_and_otherwise_ends() {
        // It made an attempt: the retry within its budget is waited for in the event...
        let mut p = Pump::start(0, 60_000, false);
        let _ = p.turn(
            1_000,
            &plan(&["1"], None),
            &[],
            here(1, None, false),
            || false,
        );
        let t = p.turn(
            5_000,
            &plan(&[], Some(9_000)),
            &[],
            here(0, None, false),
            || false,
        );
        assert_eq!(t, Turn::Retry { at: 9_000 });
        // ...but not while a new version waits to take over, nor past the budget.
        let t = p.turn(
            5_000,
            &plan(&[], Some(9_000)),
            &[],
            here(0, None, false),
            || true,
        );
        assert_eq!(t, Turn::End { tell: Some(9_000) });
        let t = p.turn(
            5_000,
            &plan(&[], Some(70_000)),
            &[],
            here(0, None, false),
            || false,
        );
        assert_eq!(t, Turn::End { tell: Some(70_000) });
        // A pump that made no attempt does not wait for a retry: it ends and tells the pages.
        let mut idle = Pump::start(0, 60_000, false);
        let t = idle.turn(
            5_000,
            &plan(&[], Some(9_000)),
            &[],
            here(0, None, false),
            || false,
        );
        assert_eq!(t, Turn::End { tell: Some(9_000) });
        // A Background Fetch handed to a page not yet said to have begun keeps it.
        let handed = leased(&task("2", "a", 2), Transport::BackgroundFetch, None);
        let mut stays = Pump::start(0, 60_000, false);
        let t = stays.turn(
            5_000,
            &plan(&[], Some(9_000)),
            &[handed],
            here(0, None, false),
            || false,
        );
        assert_eq!(t, Turn::Retry { at: 9_000 });
    }

    #[test]
    fn news_or_an_attempt_ended_during_the_look_makes_the_pump_look_again_within_its_budget() {
        let mut p = Pump::start(0, 60_000, false);
        assert_eq!(p.begins(1_000, 0), Looks::Start);
        p.join(1_500, 1_000);
        let t = p.turn(2_000, &plan(&[], None), &[], here(0, None, false), || false);
        assert_eq!(t, Turn::Again);
        assert_eq!(p.begins(2_000, 0), Looks::Start);
        let t = p.turn(2_000, &plan(&[], None), &[], here(0, None, true), || false);
        assert_eq!(t, Turn::Again, "an attempt ended while it looked");
        let t = p.turn(70_000, &plan(&[], None), &[], here(0, None, true), || false);
        assert_eq!(t, Turn::End { tell: None }, "past its budget it ends");
    }

    #[test]
    fn a_wait_goes_on_without_a_look_only_while_the_last_looks_tasks_start_as_attempts_end() {
        let mut p = Pump::start(0, 60_000, false);
        assert_eq!(p.begins(0, 2), Looks::Start);
        assert!(p.waits_on(1_000, 5_000, 2, true));
        assert!(!p.waits_on(5_000, 5_000, 2, true), "its time came");
        assert!(!p.waits_on(1_000, 5_000, 0, true), "nothing runs");
        assert!(
            !p.waits_on(1_000, 5_000, 2, false),
            "the look's tasks are used up"
        );
        p.join(1_000, 60_000);
        assert!(!p.waits_on(1_000, 5_000, 2, true), "news came");
    }

    #[test]
    fn a_pump_past_its_budget_whose_attempts_ended_hands_what_is_due_over_to_the_pages() {
        let mut p = Pump::start(0, 60_000, false);
        assert_eq!(p.begins(1_000, 0), Looks::Start);
        // Its long attempt ends past the budget: one more read, starting nothing.
        assert_eq!(p.begins(90_000, 0), Looks::HandOver);
        // A task due now (the plan would start it): the pages wake the worker in a moment.
        let t = p.turn(
            90_000,
            &plan(&["1"], Some(200_000)),
            &[],
            here(0, None, false),
            || false,
        );
        assert_eq!(
            t,
            Turn::End {
                tell: Some(90_000 + HAND_OVER_MS)
            }
        );
        // Nothing due now: they are told the next due time.
        assert_eq!(p.begins(90_000, 0), Looks::HandOver);
        let t = p.turn(
            90_000,
            &plan(&[], Some(95_000)),
            &[],
            here(0, None, false),
            || false,
        );
        assert_eq!(t, Turn::End { tell: Some(95_000) });
        // An event joins before that turn: its budget moves on, and the turn reads to start.
        p.join(90_500, 60_000);
        assert_eq!(p.begins(90_500, 0), Looks::Start);
    }
}
