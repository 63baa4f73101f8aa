//! The simulated world: the store's tasks and Blobs, the sessions, the worker instances and their
//! running attempts, the browser's Background Fetches and what the server applied; and the store's write.

use crate::core::rng::Rng;
use crate::core::scheduler::{serves, Env, Outages, SessionView};
use crate::core::state::check_invariants;
use crate::core::task::{State, Task};
use litemap::LiteMap;
use std::collections::{BTreeMap, BTreeSet};

pub(super) const TAGS: [&str; 3] = ["a", "b", "c"];
/// The worker (registration scope) each tag's pages registered it with: two apps of one origin, and a
/// tag no page registered (any worker's).
pub(super) const OWNERS: [Option<&str>; 3] = [Some("s0"), Some("s1"), None];
pub(super) const SCOPES: [&str; 2] = ["s0", "s1"];

#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub(super) task: String,
    pub(super) lease_no: u64,
    pub(super) deadline: u64,
    /// The server has the whole body (its answer may still be lost).
    pub(super) arrived: bool,
    pub(super) hung: bool,
    /// When it began.
    pub(super) started: u64,
}

#[derive(Debug)]
pub(super) struct Instance {
    pub(super) id: String,
    /// The registration scope it runs for.
    pub(super) scope: &'static str,
    pub(super) alive: bool,
    /// Suspended by the browser (or a debugger): it neither renews, answers pings, nor acts; its
    /// fetches' answers arrive when it thaws, possibly long after its leases ran out.
    pub(super) frozen: bool,
    pub(super) running: Vec<Attempt>,
    /// The origins it heard to be down (`outage_after`), kept in its memory only.
    pub(super) outages: Outages,
    /// Its running pump, when the browser's events are modelled (`World::browser`).
    pub(super) run: Option<Run>,
    /// The wake it last asked of the pages of its running attempts' tags.
    pub(super) asked: Option<u64>,
    /// When its latest event began (Firefox stops a worker whose events have run about a minute).
    pub(super) last_event: u64,
    /// Until when an event holds it (Chromium stops a worker with no event left 30 s later).
    pub(super) held_until: u64,
}

/// A running pump: `core`'s state and when it turns next if nothing wakes it first.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) pump: crate::core::scheduler::Pump,
    pub(super) until: Option<u64>,
}

/// Which browser stops the workers, when the simulation models events' lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Browser {
    /// Stops a worker about a minute after its latest event began, fetches in flight or not.
    Firefox,
    /// Stops a worker 30 s after its last event let go (each is held at most `event_hold_ms`).
    Chromium,
}

/// The open page of a tag: since when it hears the worker's asks (its channel opened after its
/// `register` was answered), and the wakes it was asked for.
#[derive(Debug, Clone, Default)]
pub(super) struct Page {
    pub(super) listening_since: Option<u64>,
    pub(super) alarms: Vec<u64>,
}

#[derive(Debug, Clone)]
pub(super) struct Fetch {
    pub(super) lease_no: u64,
    /// Still in `getIds()`; once false, its event fires within the grace period.
    pub(super) listed: bool,
    pub(super) unlisted_at: u64,
    pub(super) success: bool,
    /// Its server never answers: the browser keeps it listed until Ferry aborts it.
    pub(super) hung: bool,
}

pub(super) struct World {
    pub(super) rng: Rng,
    pub(super) now: u64,
    pub(super) tasks: BTreeMap<String, Task>,
    pub(super) blobs: BTreeSet<String>,
    pub(super) sessions: LiteMap<String, SessionView>,
    pub(super) instances: Vec<Instance>,
    pub(super) fetches: BTreeMap<String, Fetch>,
    /// Bodies the server applied, by idempotency key.
    pub(super) applied: BTreeMap<String, u32>,
    /// (task, lease) pairs whose outcome was applied.
    pub(super) settled: BTreeSet<(String, u64)>,
    pub(super) next_id: u64,
    pub(super) seq: BTreeMap<String, u64>,
    /// Per tag, until when a page that can start a Background Fetch counts as open (its last word).
    pub(super) pages: LiteMap<String, u64>,
    /// Events' lifetimes, pumps, pages' wakes and the browser that stops workers are modelled.
    pub(super) browser: Option<Browser>,
    /// The open page of each tag, when events are modelled.
    pub(super) open: LiteMap<String, Page>,
    /// When events are modelled, how quiet the world is: all but one step in `calm` only lets time
    /// pass (0: none), so that a pump is left to its own timers and its pages' wakes.
    pub(super) calm: u64,
    pub(super) log: Vec<String>,
}

impl World {
    pub(super) fn new(seed: u64) -> World {
        let mut sessions = LiteMap::new();
        let mut rng = Rng::new(seed);
        for tag in TAGS {
            // The draws stay in this order: a seed replays the same schedules.
            let concurrency = 1 + rng.below(3) as u32;
            let background_fetch = rng.below(2) == 0;
            let attempt_timeout_ms = Some(5_000 + rng.below(20_000));
            // Some sessions hand only large bodies (`minBytes`) to Background Fetch.
            let background_fetch_min_bytes = [0, 500][rng.below(2) as usize];
            let v = SessionView {
                concurrency,
                background_fetch,
                background_fetch_min_bytes,
                attempt_timeout_ms,
                ..SessionView::default()
            };
            sessions.insert(tag.to_string(), v);
        }
        World {
            rng,
            now: 1_700_000_000_000,
            tasks: BTreeMap::new(),
            blobs: BTreeSet::new(),
            sessions,
            instances: vec![Instance {
                id: "w0".into(),
                scope: SCOPES[0],
                alive: true,
                frozen: false,
                running: Vec::new(),
                outages: Outages::new(),
                run: None,
                asked: None,
                last_event: 0,
                held_until: 0,
            }],
            fetches: BTreeMap::new(),
            applied: BTreeMap::new(),
            settled: BTreeSet::new(),
            next_id: 0,
            seq: BTreeMap::new(),
            pages: LiteMap::new(),
            browser: None,
            open: LiteMap::new(),
            calm: 0,
            log: Vec::new(),
        }
    }

    pub(super) fn env(&self) -> Env {
        Env {
            now_ms: self.now,
            online: true,
            save_data: false,
        }
    }

    pub(super) fn live_holders(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|i| i.alive && !i.frozen)
            .map(|i| i.id.clone())
            .collect()
    }

    /// The session views as worker instance `i` reads them: another scope's tags are elsewhere.
    pub(super) fn views_for(&self, i: usize) -> LiteMap<String, SessionView> {
        let scope = self.instances[i].scope;
        let mut views = self.sessions.clone();
        for (tag, owner) in TAGS.iter().zip(OWNERS) {
            if let Some(v) = views.get_mut(*tag) {
                v.elsewhere = !serves(owner, scope);
                v.background_fetch_page_until = self.pages.get(*tag).copied().unwrap_or(0);
            }
        }
        views
    }

    pub(super) fn in_flight(&self) -> Vec<Task> {
        self.tasks
            .values()
            .filter(|t| t.state == State::InFlight)
            .cloned()
            .collect()
    }

    /// Writes a transition's result the way the store does: the task, and the Blob gone when it ended.
    pub(super) fn write(&mut self, t: Task) {
        assert!(check_invariants(&t), "invariants broken: {t:?}");
        if t.state.is_terminal() {
            self.blobs.remove(&t.id);
        }
        self.tasks.insert(t.id.clone(), t);
    }

    pub(super) fn start_instance(&mut self) {
        let scope = SCOPES[self.rng.below(SCOPES.len() as u64) as usize];
        self.start_instance_of(scope);
    }

    pub(super) fn start_instance_of(&mut self, scope: &'static str) {
        let id = format!("w{}", self.instances.len());
        self.instances.push(Instance {
            id,
            scope,
            alive: true,
            frozen: false,
            running: Vec::new(),
            outages: Outages::new(),
            run: None,
            asked: None,
            last_event: self.now,
            held_until: self.now,
        });
    }

    pub(super) fn stop(&mut self, i: usize) {
        let inst = &mut self.instances[i];
        inst.alive = false;
        inst.run = None;
        // Its fetches die with it; some bodies had already arrived (their answers are lost).
        for a in std::mem::take(&mut inst.running) {
            if a.arrived {
                if let Some(t) = self.tasks.get(&a.task) {
                    *self.applied.entry(t.idempotency_key.clone()).or_default() += 1;
                }
            }
        }
    }

    pub(super) fn alive_index(&mut self) -> usize {
        let alive: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].alive)
            .collect();
        if alive.is_empty() {
            self.start_instance();
            return self.instances.len() - 1;
        }
        alive[self.rng.below(alive.len() as u64) as usize]
    }
}
