//! A deterministic simulation of the scheduler (in the manner of quinn-proto's tests of its state
//! machine without sockets): a store, worker instances that start, stop and update, a browser that
//! carries Background Fetches and settles them late, a server that answers, fails or hangs, and pages
//! that enqueue, pause, resume, cancel and clear, all driven by a seeded random schedule. The worker
//! here does what the web layer does, with the same `core` calls; after every step the invariants are
//! checked.

use super::*;
use crate::core::retry::{Outcome, RetryPolicy};
use crate::core::rng::Rng;
use crate::core::state::{check_invariants, new_task, NewTask};
use crate::core::task::{BodyMeta, Method, Request};
use std::collections::{BTreeMap, BTreeSet};

const TAGS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
struct Attempt {
    task: String,
    lease_no: u64,
    deadline: u64,
    /// The server has the whole body (its answer may still be lost).
    arrived: bool,
    hung: bool,
}

#[derive(Debug)]
struct Instance {
    id: String,
    alive: bool,
    /// Suspended by the browser (or a debugger): it neither renews, answers pings, nor acts; its
    /// fetches' answers arrive when it thaws, possibly long after its leases ran out.
    frozen: bool,
    running: Vec<Attempt>,
}

#[derive(Debug, Clone)]
struct Fetch {
    lease_no: u64,
    /// Still in `getIds()`; once false, its event fires within the grace period.
    listed: bool,
    unlisted_at: u64,
    success: bool,
    /// Its server never answers: the browser keeps it listed until Ferry aborts it.
    hung: bool,
}

struct World {
    rng: Rng,
    now: u64,
    tasks: BTreeMap<String, Task>,
    blobs: BTreeSet<String>,
    sessions: LiteMap<String, SessionView>,
    instances: Vec<Instance>,
    fetches: BTreeMap<String, Fetch>,
    /// Bodies the server applied, by idempotency key.
    applied: BTreeMap<String, u32>,
    /// (task, lease) pairs whose outcome was applied.
    settled: BTreeSet<(String, u64)>,
    next_id: u64,
    seq: BTreeMap<String, u64>,
    log: Vec<String>,
}

impl World {
    fn new(seed: u64) -> World {
        let mut sessions = LiteMap::new();
        let mut rng = Rng::new(seed);
        for tag in TAGS {
            // The draws stay in this order: a seed replays the same schedules.
            let concurrency = 1 + rng.below(3) as u32;
            let background_fetch = rng.below(2) == 0;
            let v = SessionView {
                concurrency,
                background_fetch,
                attempt_timeout_ms: Some(5_000 + rng.below(20_000)),
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
                alive: true,
                frozen: false,
                running: Vec::new(),
            }],
            fetches: BTreeMap::new(),
            applied: BTreeMap::new(),
            settled: BTreeSet::new(),
            next_id: 0,
            seq: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn env(&self) -> Env {
        Env {
            now_ms: self.now,
            online: true,
            save_data: false,
        }
    }

    fn live_holders(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|i| i.alive && !i.frozen)
            .map(|i| i.id.clone())
            .collect()
    }

    fn in_flight(&self) -> Vec<Task> {
        self.tasks
            .values()
            .filter(|t| t.state == State::InFlight)
            .cloned()
            .collect()
    }

    /// Writes a transition's result the way the store does: the task, and the Blob gone when it ended.
    fn write(&mut self, t: Task) {
        assert!(check_invariants(&t), "invariants broken: {t:?}");
        if t.state.is_terminal() {
            self.blobs.remove(&t.id);
        }
        self.tasks.insert(t.id.clone(), t);
    }

    fn enqueue(&mut self) {
        let tag = TAGS[self.rng.below(3) as usize].to_string();
        self.next_id += 1;
        let seq = {
            let s = self.seq.entry(tag.clone()).or_default();
            *s += 1;
            *s
        };
        let id = format!("t{}", self.next_id);
        let earliest_begin = (self.rng.below(4) == 0).then(|| self.now + self.rng.below(30_000));
        // Some tasks have a deadline (after their earliest begin, as validation demands).
        let expires_at = (self.rng.below(4) == 0)
            .then(|| earliest_begin.unwrap_or(self.now) + 1 + self.rng.below(60_000));
        let mut t = new_task(NewTask {
            id: id.clone(),
            tag,
            seq,
            request: Request {
                url: "https://example.com/u".into(),
                method: Method::Post,
                headers: vec![],
                protocol: crate::core::task::Protocol::Http,
            },
            body: BodyMeta {
                size: 1000,
                mime: String::new(),
                name: None,
            },
            idempotency_key: format!("k{id}"),
            now_ms: self.now,
            expires_at,
            earliest_begin,
            retry: RetryPolicy {
                max_attempts: 1 + self.rng.below(6) as u32,
                base_ms: 500,
                cap_ms: 20_000,
                max_retention_ms: 10 * 60_000,
            },
        });
        t.discretionary = false;
        self.blobs.insert(id.clone());
        self.write(t);
    }

    /// One look of a worker instance: recovery of what it finds in flight, then the plan, then leases.
    fn pump(&mut self, i: usize) {
        if !self.instances[i].alive || self.instances[i].frozen {
            return;
        }
        let holder = self.instances[i].id.clone();
        let live = self.live_holders();
        for t in self.in_flight() {
            let listed = self.fetches.get(&t.id).map(|f| f.listed);
            if let Some(input) = recover(&t, self.now, &live, Some(listed == Some(true))) {
                let (next, _) =
                    settle(&t, t.lease_no, input.clone(), self.now, self.rng.next_u64())
                        .expect("recovery input fits");
                self.log
                    .push(format!("{holder} recovers {} with {input:?}", t.id));
                self.write(next);
                if listed == Some(true) {
                    // Timed out: recorded first, then the browser's fetch is aborted.
                    self.fetches.remove(&t.id);
                }
            }
        }
        // A look ends every Background Fetch still running past its attempt's timeout.
        for t in self.in_flight() {
            if self.fetches.get(&t.id).is_some_and(|f| f.listed) {
                assert!(
                    t.lease_until.is_some_and(|u| u > self.now),
                    "{} still on a Background Fetch past its timeout {:?} at {}",
                    t.id,
                    t.lease_until,
                    self.now
                );
            }
        }
        let queued: Vec<Task> = self
            .tasks
            .values()
            .filter(|t| t.state == State::Queued)
            .cloned()
            .collect();
        let running_here = self.instances[i].running.len() as u32;
        let p = plan(
            &self.env(),
            &queued,
            &self.in_flight(),
            &self.sessions,
            &[],
            running_here,
        );
        if let Some(w) = p.wake_at {
            assert!(w > self.now, "wake-up loop: wake at {w}, now {}", self.now);
        }
        for id in p.start {
            self.try_lease(i, &id, Transport::Fallback);
        }
        // Whatever held them (a pause, a full tag, this worker's slots), no queued task outlives its
        // deadline past a look.
        for t in self.tasks.values() {
            assert!(
                !(t.state == State::Queued && t.is_expired_at(self.now)),
                "{} still queued past its deadline {} at {}",
                t.id,
                t.deadline(),
                self.now
            );
        }
    }

    /// The lease transaction: re-reads the task, its session and the tag's in-flight count.
    fn try_lease(&mut self, i: usize, id: &str, transport: Transport) -> bool {
        let Some(task) = self.tasks.get(id).cloned() else {
            return false;
        };
        let session = self.sessions[&task.tag];
        let busy = self
            .tasks
            .values()
            .filter(|t| t.tag == task.tag && t.state == State::InFlight)
            .count() as u32;
        let holder =
            (transport != Transport::BackgroundFetch).then(|| self.instances[i].id.clone());
        let Ok(Some((t, _))) = lease(
            &task,
            &session,
            busy,
            &self.env(),
            transport,
            holder.as_deref(),
        ) else {
            return false;
        };
        if t.state == State::Expired {
            assert!(
                task.is_expired_at(self.now),
                "{id} expired before its deadline"
            );
            self.log.push(format!("lease finds {id} expired"));
            self.write(t);
            return false;
        }
        assert!(!session.paused, "started {id} while its tag is paused");
        assert!(
            busy < session.concurrency,
            "tag {} over its concurrency",
            task.tag
        );
        self.log
            .push(format!("lease {id} #{} via {transport:?}", t.lease_no));
        if transport == Transport::BackgroundFetch {
            self.fetches.insert(
                id.to_string(),
                Fetch {
                    lease_no: t.lease_no,
                    listed: true,
                    unlisted_at: 0,
                    success: self.rng.below(3) != 0,
                    hung: self.rng.below(6) == 0,
                },
            );
        } else {
            let timeout = attempt_timeout_ms(&session, t.body.size);
            self.instances[i].running.push(Attempt {
                task: id.to_string(),
                lease_no: t.lease_no,
                deadline: self.now + timeout,
                arrived: false,
                hung: self.rng.below(8) == 0,
            });
        }
        self.write(t);
        true
    }

    /// A page with a Background Fetch grant uploads: it may hand a due task to the browser.
    fn page_background_fetch(&mut self) {
        let in_flight = self.in_flight();
        let candidate = self
            .tasks
            .values()
            .find(|t| {
                t.is_due(self.now)
                    && background_fetch_fits(
                        t,
                        &self.sessions[&t.tag],
                        &in_flight,
                        "https://example.com",
                    )
            })
            .map(|t| t.id.clone());
        if let Some(id) = candidate {
            // The page is not a worker instance; index 0 is only used for the holder (none here).
            self.try_lease(0, &id, Transport::BackgroundFetch);
        }
    }

    /// An outcome reaches the worker that ran the attempt; applied only for the current lease.
    fn apply_outcome(&mut self, task: &str, lease_no: u64, outcome: Outcome) {
        let Some(t) = self.tasks.get(task).cloned() else {
            return;
        };
        match settle(
            &t,
            lease_no,
            Input::Outcome(outcome.clone()),
            self.now,
            self.rng.next_u64(),
        ) {
            Ok((next, _)) => {
                assert!(
                    t.state == State::InFlight && t.lease_no == lease_no,
                    "outcome of {task} #{lease_no} applied while the task is {} on lease {}",
                    t.state,
                    t.lease_no
                );
                assert!(
                    self.settled.insert((task.to_string(), lease_no)),
                    "outcome of {task} #{lease_no} applied twice"
                );
                if next.state == State::Done {
                    assert!(
                        self.applied.get(&t.idempotency_key).copied().unwrap_or(0) > 0,
                        "{task} completed but the server has nothing"
                    );
                }
                self.log
                    .push(format!("{task} #{lease_no}: {outcome:?} -> {}", next.state));
                self.write(next);
            }
            Err(_) => self
                .log
                .push(format!("{task} #{lease_no}: stale {outcome:?} ignored")),
        }
    }

    /// The server answers one running attempt of instance `i` (a hung one only when `even_hung`).
    fn answer(&mut self, i: usize, even_hung: bool) {
        let inst = &mut self.instances[i];
        if inst.frozen {
            return;
        }
        let open: Vec<usize> = (0..inst.running.len())
            .filter(|&k| even_hung || !inst.running[k].hung)
            .collect();
        if open.is_empty() {
            return;
        }
        let k = open[self.rng.below(open.len() as u64) as usize];
        let a = self.instances[i].running.remove(k);
        let roll = self.rng.below(10);
        let outcome = match roll {
            0..=5 => {
                if let Some(t) = self.tasks.get(&a.task) {
                    *self.applied.entry(t.idempotency_key.clone()).or_default() += 1;
                }
                Outcome::Response {
                    status: 201,
                    retry_after: None,
                }
            }
            6 | 7 => Outcome::Response {
                status: 503,
                retry_after: None,
            },
            8 => Outcome::Response {
                status: 400,
                retry_after: None,
            },
            _ => Outcome::NetworkError("reset".into()),
        };
        self.apply_outcome(&a.task, a.lease_no, outcome);
    }

    /// Time passes: live instances renew the leases of their running attempts (their timer), and
    /// attempts past their timeout end as `Timeout`.
    fn advance(&mut self) {
        self.now += 1 + self.rng.below(RENEW_EVERY_MS);
        for i in 0..self.instances.len() {
            if !self.instances[i].alive || self.instances[i].frozen {
                continue;
            }
            let running = self.instances[i].running.clone();
            for a in running {
                if a.deadline <= self.now {
                    self.instances[i]
                        .running
                        .retain(|r| r.task != a.task || r.lease_no != a.lease_no);
                    self.apply_outcome(&a.task, a.lease_no, Outcome::Timeout);
                    continue;
                }
                if let Some(t) = self.tasks.get(&a.task).cloned() {
                    let renew = Input::Renew {
                        until: self.now + LEASE_MS,
                    };
                    match settle(&t, a.lease_no, renew, self.now, 0) {
                        Ok((next, _)) => self.write(next),
                        // Cancelled, cleared or finished: the attempt is aborted.
                        Err(_) => self.instances[i]
                            .running
                            .retain(|r| r.task != a.task || r.lease_no != a.lease_no),
                    }
                }
            }
        }
        // The browser settles fetches it unlisted, always within the grace period.
        let due: Vec<String> = self
            .fetches
            .iter()
            .filter(|(_, f)| !f.listed && f.unlisted_at + SETTLE_GRACE_MS / 2 <= self.now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.settle_fetch(&id);
        }
    }

    fn settle_fetch(&mut self, id: &str) {
        let Some(f) = self.fetches.remove(id) else {
            return;
        };
        // The event starts a worker if none runs.
        if !self.instances.iter().any(|i| i.alive) {
            self.start_instance();
        }
        let outcome = if f.success {
            if let Some(t) = self.tasks.get(id) {
                *self.applied.entry(t.idempotency_key.clone()).or_default() += 1;
            }
            Outcome::Response {
                status: 200,
                retry_after: None,
            }
        } else {
            Outcome::NetworkError("background fetch failed: bad-status".into())
        };
        self.apply_outcome(id, f.lease_no, outcome);
    }

    /// A suspended instance runs again. Each attempt whose lease was taken back meanwhile ends now:
    /// either its answer arrives first (an outcome of an old lease, which must change nothing) or its
    /// renewal timer fires first, finds the lease gone and aborts the fetch.
    fn thaw(&mut self, i: usize) {
        self.instances[i].frozen = false;
        let running = self.instances[i].running.clone();
        for a in running {
            let current = self
                .tasks
                .get(&a.task)
                .is_some_and(|t| t.state == State::InFlight && t.lease_no == a.lease_no);
            if current {
                continue;
            }
            self.instances[i]
                .running
                .retain(|r| r.task != a.task || r.lease_no != a.lease_no);
            if self.rng.below(2) == 0 {
                let outcome = Outcome::Response {
                    status: 201,
                    retry_after: None,
                };
                self.apply_outcome(&a.task, a.lease_no, outcome);
            }
        }
    }

    fn start_instance(&mut self) {
        let id = format!("w{}", self.instances.len());
        self.instances.push(Instance {
            id,
            alive: true,
            frozen: false,
            running: Vec::new(),
        });
    }

    fn stop(&mut self, i: usize) {
        let inst = &mut self.instances[i];
        inst.alive = false;
        // Its fetches die with it; some bodies had already arrived (their answers are lost).
        for a in std::mem::take(&mut inst.running) {
            if a.arrived {
                if let Some(t) = self.tasks.get(&a.task) {
                    *self.applied.entry(t.idempotency_key.clone()).or_default() += 1;
                }
            }
        }
    }

    fn alive_index(&mut self) -> usize {
        let alive: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].alive)
            .collect();
        if alive.is_empty() {
            self.start_instance();
            return self.instances.len() - 1;
        }
        alive[self.rng.below(alive.len() as u64) as usize]
    }

    fn step(&mut self) {
        match self.rng.below(20) {
            0..=3 => self.enqueue(),
            4..=6 => {
                let i = self.alive_index();
                self.pump(i);
            }
            7..=9 => {
                let i = self.alive_index();
                self.answer(i, false);
            }
            10 => {
                let tag = TAGS[self.rng.below(3) as usize];
                let s = self.sessions.get_mut(tag).unwrap();
                s.paused = !s.paused;
            }
            11 => {
                let ids: Vec<String> = self.tasks.keys().cloned().collect();
                if !ids.is_empty() {
                    let id = &ids[self.rng.below(ids.len() as u64) as usize];
                    let t = self.tasks[id].clone();
                    let (next, _) = apply(&t, Input::Cancel, self.now, 0).unwrap();
                    self.write(next);
                    // The page tells the browser to abort a Background Fetch of it.
                    self.fetches.remove(id);
                }
            }
            12 if self.rng.below(4) == 0 => {
                let tag = TAGS[self.rng.below(3) as usize];
                let gone: Vec<String> = self
                    .tasks
                    .values()
                    .filter(|t| t.tag == tag)
                    .map(|t| t.id.clone())
                    .collect();
                for id in gone {
                    self.tasks.remove(&id);
                    self.blobs.remove(&id);
                    self.fetches.remove(&id);
                }
            }
            13 => {
                // A worker stops (idle timeout, CDP stopAllWorkers, a crash).
                let i = self.alive_index();
                self.stop(i);
            }
            14 => {
                // A new version installs beside the running one (or a stopped worker starts again).
                self.start_instance();
                let i = self.instances.len() - 1;
                self.pump(i);
            }
            15 => self.page_background_fetch(),
            16 => {
                // The browser finishes a fetch: first it drops it from getIds(), then fires the event.
                let listed: Vec<String> = self
                    .fetches
                    .iter()
                    .filter(|(_, f)| f.listed && !f.hung)
                    .map(|(id, _)| id.clone())
                    .collect();
                if !listed.is_empty() {
                    let id = listed[self.rng.below(listed.len() as u64) as usize].clone();
                    let now = self.now;
                    let f = self.fetches.get_mut(&id).unwrap();
                    f.listed = false;
                    f.unlisted_at = now;
                    if self.rng.below(2) == 0 {
                        self.settle_fetch(&id);
                    }
                }
            }
            18 if self.rng.below(3) == 0 => {
                // The browser suspends a worker, or thaws one.
                let i = self.rng.below(self.instances.len() as u64) as usize;
                if self.instances[i].frozen {
                    self.thaw(i);
                } else {
                    self.instances[i].frozen = true;
                }
            }
            17 => {
                // A body arrives whole at the server (its answer is still on its way).
                let i = self.alive_index();
                if let Some(a) = self.instances[i].running.iter_mut().find(|a| !a.hung) {
                    a.arrived = true;
                }
            }
            _ => self.advance(),
        }
        self.check();
    }

    fn check(&self) {
        // At most one live attempt per task: running in a live worker, or carried by the browser.
        let mut live: BTreeMap<&str, u32> = BTreeMap::new();
        // A frozen instance's attempts are not counted: once its leases ran out they were taken back
        // (that is the lease's purpose), and the Idempotency-Key covers a body it may still deliver.
        for i in self.instances.iter().filter(|i| i.alive && !i.frozen) {
            for a in &i.running {
                // Any attempt still on the network for a task that is not finished counts, current
                // or not: a second one beside it would send the body twice.
                let open = self
                    .tasks
                    .get(&a.task)
                    .is_some_and(|t| !t.state.is_terminal());
                if open {
                    *live.entry(&a.task).or_default() += 1;
                }
            }
        }
        for id in self.fetches.keys() {
            *live.entry(id).or_default() += 1;
        }
        for (id, n) in live {
            assert!(n <= 1, "{id} has {n} live attempts");
        }
        // Concurrency per tag, whatever the transport.
        for tag in TAGS {
            let n = self
                .tasks
                .values()
                .filter(|t| t.tag == tag && t.state == State::InFlight)
                .count() as u32;
            assert!(
                n <= self
                    .sessions
                    .get(tag)
                    .expect("every tag has a session")
                    .concurrency,
                "tag {tag}: {n} in flight"
            );
        }
        // A live task keeps its Blob; a finished one lost it.
        for t in self.tasks.values() {
            assert!(check_invariants(t));
            assert_eq!(
                self.blobs.contains(&t.id),
                !t.state.is_terminal(),
                "{} is {} with blob {}",
                t.id,
                t.state,
                self.blobs.contains(&t.id)
            );
        }
    }

    /// Nothing more goes wrong: every tag resumes, pages stop interfering, time passes and workers
    /// look again until every task has ended.
    fn quiesce(&mut self) {
        for (_, s) in self.sessions.iter_mut() {
            s.paused = false;
        }
        for i in 0..self.instances.len() {
            if self.instances[i].frozen {
                self.thaw(i);
            }
        }
        for _ in 0..2_000 {
            if self.tasks.values().all(|t| t.state.is_terminal()) {
                return;
            }
            // (A hung one is never answered: the looks below time it out.)
            let ids: Vec<String> = self
                .fetches
                .iter()
                .filter(|(_, f)| !f.hung)
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                self.settle_fetch(&id);
            }
            let i = self.alive_index();
            self.pump(i);
            while !self.instances[i].running.is_empty() {
                self.answer(i, true);
            }
            self.now += 1 + self.rng.below(RENEW_EVERY_MS);
            self.check();
        }
        let left: Vec<_> = self
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .collect();
        panic!("tasks never ended: {left:#?}");
    }
}

fn run(seed: u64, steps: usize) {
    let mut w = World::new(seed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..steps {
            w.step();
        }
        w.quiesce();
    }));
    if let Err(e) = result {
        let tail: Vec<&String> = w.log.iter().rev().take(30).collect();
        panic!("seed {seed} failed: {e:?}\nlast steps (newest first): {tail:#?}");
    }
}

#[test]
fn ten_thousand_random_schedules_keep_every_invariant() {
    let base: u64 = std::env::var("FERRY_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let n: u64 = std::env::var("FERRY_SIM_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    for k in 0..n {
        run(base.wrapping_add(k), 200);
    }
}
