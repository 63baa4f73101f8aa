//! The browser's events and what they keep alive, when the simulation models them (`World::browser`):
//! every look is a turn of an instance's pump (`core::scheduler::Pump`), started or joined by an event
//! (a page's upload or call, a wake it was asked for, a `sync`), or by its own timer; open pages hear
//! the worker's asks for wakes once their channel is open; and the browser stops a worker whose events
//! ran out (Firefox: about a minute after its latest began; Chromium: 30 s after its last let go).
//!
//! The pages' side (which worker they reach, what they hear, when they wake it) is `wakes`; the calm
//! end where only events drive the workers is in `schedule`.
//!
//! Two more invariants hold here: an event that joins a pump makes it look (one past its budget that
//! started nothing new while a long attempt ran was a bug), and an attempt of a tag whose page listened
//! all along is never cut by the browser (a page that missed the worker's ask as it registered, and
//! was never asked again, let Firefox cut the attempt).

use super::wakes::page_scope;
use super::world::{Browser, Run, World};
use crate::core::scheduler::{event_hold_ms, plan, Heard, Here, Looks, Plan, Pump, Turn};
use crate::core::task::{State, Task, Transport};

/// The budget of a page's message or upload, and of a wake (the web layer's `EVENT_BUDGET_MS`).
pub(super) const EVENT_BUDGET_MS: u64 = 60_000;
/// Firefox stops a worker about this long after its latest event began.
const FIREFOX_LIFETIME_MS: u64 = 60_000;
/// Chromium stops a worker this long after its last event let go.
const CHROMIUM_IDLE_MS: u64 = 30_000;
/// How long a page of the tag has listened, and an attempt run, before the browser stops its worker,
/// for the page to have had to keep it alive: asks come at least every two keep-alive periods.
const LISTENED_MS: u64 = 30_000;

impl World {
    /// An event reaches instance `i`: it starts a pump, or joins the running one (which looks again).
    pub(super) fn event(&mut self, i: usize, budget: u64, via: Transport) {
        let now = self.now;
        let inst = &mut self.instances[i];
        if !inst.alive || inst.frozen {
            return;
        }
        inst.last_event = now;
        inst.held_until = inst.held_until.max(now + event_hold_ms(via));
        let joined = match inst.run.as_mut() {
            Some(run) => {
                run.pump.join(now, budget);
                true
            }
            None => {
                inst.run = Some(Run {
                    pump: Pump::start(now, budget, false),
                    until: None,
                });
                false
            }
        };
        self.turn(i, joined);
    }

    /// The pump of instance `i` turns (woken by an event that `joined` it, an attempt's end, or its
    /// timer) until it waits or ends, as the web layer's loop does.
    pub(super) fn turn(&mut self, i: usize, mut joined: bool) {
        for _ in 0..1_000 {
            let running = self.instances[i].running.len() as u32;
            let Some(run) = self.instances[i].run.as_mut() else {
                return;
            };
            let looks = run.pump.begins(self.now, running);
            let plan = match looks {
                Looks::Start => self.pump(i),
                // Read to hand over: what it would start is told to the pages, not started.
                Looks::HandOver => self.look_only(i),
                Looks::No => Plan::default(),
            };
            let looks = looks == Looks::Start;
            if joined && !looks {
                let idle = self.startable(i);
                assert!(
                    idle.is_empty(),
                    "an event joined the pump of {} past its budget and it did not look: {idle:?} \
                     could start",
                    self.instances[i].id
                );
            }
            joined = false;
            let others: Vec<Task> = self
                .in_flight()
                .into_iter()
                .filter(|t| t.transport == Some(Transport::BackgroundFetch))
                .collect();
            let newest = self.newest_of_scope(i);
            let inst = &mut self.instances[i];
            let here = Here {
                running: inst.running.len() as u32,
                asked: inst.asked,
                woken: false,
            };
            let run = inst.run.as_mut().expect("checked above");
            let turn = run.pump.turn(self.now, &plan, &others, here, || !newest);
            self.log.push(format!(
                "{} at {}: looks {looks}, {here:?} -> {turn:?}",
                inst.id, self.now
            ));
            match turn {
                Turn::Wait { ask, until } => {
                    run.until = Some(until);
                    if let Some(at) = ask {
                        inst.asked = Some(at);
                        // (And the tags whose due work waits: as the web layer's look read them.)
                        let now = self.now;
                        let tags: Vec<String> = inst
                            .running
                            .iter()
                            .filter_map(|a| self.tasks.get(&a.task).map(|t| t.tag.clone()))
                            .chain(
                                self.tasks
                                    .values()
                                    .filter(|t| t.is_due(now))
                                    .map(|t| t.tag.clone()),
                            )
                            .collect();
                        self.tell_pages(tags.into_iter(), at);
                    }
                    return;
                }
                Turn::Retry { at } => {
                    run.until = Some(at);
                    return;
                }
                Turn::Again => continue,
                Turn::End { tell } => {
                    inst.run = None;
                    inst.asked = None;
                    // Its events let go.
                    inst.held_until = inst.held_until.min(self.now);
                    if let Some(at) = tell {
                        let mut tags: Vec<String> = self
                            .tasks
                            .values()
                            .filter(|t| t.state == State::Queued)
                            .map(|t| t.tag.clone())
                            .collect();
                        tags.sort();
                        tags.dedup();
                        self.tell_pages(tags.into_iter(), at);
                    }
                    return;
                }
            }
        }
        panic!(
            "the pump of {} turned 8 times at once",
            self.instances[i].id
        );
    }

    /// Whether `i` is the newest version of its scope (else a new version took or waits to take over).
    fn newest_of_scope(&self, i: usize) -> bool {
        let scope = self.instances[i].scope;
        !self.instances[i + 1..].iter().any(|w| w.scope == scope)
    }

    /// A read that starts nothing: the plan over every queued task instance `i` serves.
    fn look_only(&self, i: usize) -> Plan {
        self.plan_over(i, |_| true)
    }

    /// The due tasks instance `i` could start now, read in full (none expired).
    fn startable(&self, i: usize) -> Vec<String> {
        let now = self.now;
        self.plan_over(i, |t| t.is_due(now))
            .start
            .into_iter()
            .filter(|id| !self.tasks[id].is_expired_at(now))
            .collect()
    }

    /// Instance `i`'s plan over every queued task that `read` keeps, as if a look read them all.
    fn plan_over(&self, i: usize, read: impl Fn(&Task) -> bool) -> Plan {
        let queued: Vec<Task> = self
            .tasks
            .values()
            .filter(|t| t.state == State::Queued && read(t))
            .cloned()
            .collect();
        let outages = self.instances[i].outages.clone();
        let heard = Heard {
            origin: "https://example.com",
            outages: &outages,
        };
        plan(
            &self.env(),
            &queued,
            &self.in_flight(),
            &self.views_for(i),
            &[],
            self.instances[i].running.len() as u32,
            &heard,
        )
    }

    /// Time has passed: pumps whose time came turn, pages wake the worker when asked, and the browser
    /// stops workers whose events ran out.
    pub(super) fn tick(&mut self) {
        for i in 0..self.instances.len() {
            let inst = &self.instances[i];
            if !inst.alive || inst.frozen {
                continue;
            }
            if inst
                .run
                .as_ref()
                .is_some_and(|r| r.until.is_none_or(|u| u <= self.now))
            {
                self.turn(i, false);
            }
        }
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, p)| p.alarms.iter().any(|&a| a <= self.now))
            .map(|(tag, _)| tag.clone())
            .collect();
        for tag in due {
            let now = self.now;
            if let Some(p) = self.open.get_mut(&tag) {
                p.alarms.retain(|&a| a > now);
            }
            self.log
                .push(format!("the page of {tag} wakes the worker at {now}"));
            self.page_event(&tag);
        }
        for i in 0..self.instances.len() {
            self.browser_stops(i);
        }
    }

    /// The browser stops instance `i` if its events ran out while it works; no attempt of a tag whose
    /// page listened all along (and was asked for wakes) is cut so.
    fn browser_stops(&mut self, i: usize) {
        let inst = &self.instances[i];
        if !inst.alive || inst.frozen || (inst.run.is_none() && inst.running.is_empty()) {
            return;
        }
        let out = match self.browser.expect("events are modelled") {
            Browser::Firefox => self.now >= inst.last_event + FIREFOX_LIFETIME_MS,
            Browser::Chromium => self.now >= inst.held_until + CHROMIUM_IDLE_MS,
        };
        if !out {
            return;
        }
        // Only the instance the pages reach (an older version's attempts are the lease's to recover).
        if self.newest_of_scope(i) {
            for a in &inst.running {
                let Some(t) = self.tasks.get(&a.task) else {
                    continue;
                };
                // (A tag no page registered is any worker's; its pages here reach the first app's.)
                let listened = self
                    .open
                    .get(&t.tag)
                    .filter(|_| page_scope(&t.tag) == inst.scope)
                    .and_then(|p| p.listening_since)
                    .is_some_and(|s| s + LISTENED_MS <= self.now);
                assert!(
                    !(listened && a.started + LISTENED_MS <= self.now && !t.state.is_terminal()),
                    "the browser stopped {} mid-attempt of {} (tag {}, running since {}) at {} \
                     though a page of the tag listened all along; last event {}, asked {:?}; {:?}",
                    inst.id,
                    a.task,
                    t.tag,
                    a.started,
                    self.now,
                    inst.last_event,
                    inst.asked,
                    self.instances
                        .iter()
                        .map(|w| (&w.id, w.scope, w.alive))
                        .collect::<Vec<_>>()
                );
            }
        }
        self.log
            .push(format!("the browser stops {}", self.instances[i].id));
        self.stop(i);
    }

    /// An attempt of instance `i` ended (answered or timed out): its pump, if one runs, is woken.
    pub(super) fn attempt_ended(&mut self, i: usize) {
        if self.browser.is_some() && self.instances[i].run.is_some() {
            self.turn(i, false);
        }
    }
}
