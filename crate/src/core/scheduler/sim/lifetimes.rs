//! The browser's events and what they keep alive, when the simulation models them (`World::browser`):
//! every look is a turn of an instance's pump (`core::scheduler::Pump`), started or joined by an event
//! (a page's upload or call, a wake it was asked for, a `sync`), or by its own timer; open pages hear
//! the worker's asks for wakes once their channel is open; and the browser stops a worker whose events
//! ran out (Firefox: about a minute after its latest began; Chromium: 30 s after its last let go).
//!
//! Two more invariants hold here: an event that joins a pump makes it look (one past its budget that
//! started nothing new while a long attempt ran was a bug), and an attempt of a tag whose page listened
//! all along is never cut by the browser (a page that missed the worker's ask as it registered, and
//! was never asked again, let Firefox cut the attempt).

use super::world::{Browser, Page, Run, World, OWNERS, SCOPES, TAGS};
use crate::core::scheduler::{
    event_hold_ms, keepalive_at, plan, runs_for_new_page, Heard, Here, Looks, Plan, Pump, Turn,
};
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

/// A tag no page registers (its uploads come from the worker, `enqueue`).
pub(super) fn page_less(tag: &str) -> bool {
    let k = TAGS.iter().position(|t| *t == tag).expect("a known tag");
    OWNERS[k].is_none()
}

/// The scope of the worker the pages of `tag` reach.
fn page_scope(tag: &str) -> &'static str {
    let k = TAGS.iter().position(|t| *t == tag).expect("a known tag");
    OWNERS[k].unwrap_or(SCOPES[0])
}

impl World {
    /// The instance a page of `tag` reaches: its registration's active worker, the newest version of
    /// the tag's scope, started again if the browser stopped it (a message starts a stopped worker; an
    /// older version still running beside it hears nothing from the pages).
    fn instance_of(&mut self, tag: &str) -> Option<usize> {
        let scope = page_scope(tag);
        match (0..self.instances.len())
            .rev()
            .find(|&i| self.instances[i].scope == scope)
        {
            Some(i) if self.instances[i].frozen => None,
            Some(i) if self.instances[i].alive => Some(i),
            _ => {
                self.start_instance_of(scope);
                Some(self.instances.len() - 1)
            }
        }
    }

    /// An event of a page of `tag` (an upload, a call, a wake) reaches its worker.
    pub(super) fn page_event(&mut self, tag: &str) {
        if let Some(i) = self.instance_of(tag) {
            self.log.push(format!(
                "an event of {tag}'s page reaches {}",
                self.instances[i].id
            ));
            self.event(i, EVENT_BUDGET_MS, Transport::Fallback);
        }
    }

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

    /// The listening page of `tag`, if any, wakes the worker at `at` (after now).
    pub(super) fn page_alarm(&mut self, tag: &str, at: u64) {
        let now = self.now;
        if let Some(p) = self.open.get_mut(tag) {
            if p.listening_since.is_some() && at > now && !p.alarms.contains(&at) {
                p.alarms.push(at);
            }
        }
    }

    /// The listening pages of `tags` are asked to wake the worker at `at`.
    pub(super) fn tell_pages(&mut self, tags: impl Iterator<Item = String>, at: u64) {
        for tag in tags {
            let heard = self
                .open
                .get(&tag)
                .is_some_and(|p| p.listening_since.is_some());
            self.log.push(format!("ask {tag} for {at}: heard {heard}"));
            if let Some(p) = self.open.get_mut(&tag) {
                if p.listening_since.is_some() && !p.alarms.contains(&at) {
                    p.alarms.push(at);
                }
            }
        }
    }

    /// A page of `tag` opens and registers: its `register` reaches the worker (an event), whose answer
    /// tells it the standing ask while attempts of the tag run there; its channel opens after the
    /// answer, so what the worker broadcast meanwhile it misses. (The answer is made before or after the
    /// event's look: both orders happen.)
    pub(super) fn page_opens(&mut self, tag: &str) {
        // (The third tag is one no page registered: the worker's own uploads, any worker's.)
        if self.open.contains_key(tag) || page_less(tag) {
            return;
        }
        self.log.push(format!("a page of {tag} opens"));
        self.open.insert(tag.to_string(), Page::default());
        let answer_first = self.rng.below(2) == 0;
        let mut told = if answer_first {
            self.told_new_page(tag)
        } else {
            None
        };
        self.page_event(tag);
        if !answer_first {
            told = self.told_new_page(tag);
        }
        let p = self.open.get_mut(tag).expect("opened above");
        p.listening_since = Some(self.now);
        p.alarms.extend(told);
    }

    /// The standing ask a page that registers `tag` is told (`keepalive_at` with `new_page`).
    fn told_new_page(&mut self, tag: &str) -> Option<u64> {
        let i = self.instance_of(tag)?;
        let inst = &self.instances[i];
        let here = inst
            .running
            .iter()
            .any(|a| self.tasks.get(&a.task).is_some_and(|t| t.tag == tag));
        let runs = runs_for_new_page(tag, here, &self.in_flight(), &inst.id);
        keepalive_at(self.now, runs, inst.asked, true)
    }

    pub(super) fn page_closes(&mut self, tag: &str) {
        if self.open.remove(tag).is_some() {
            self.log.push(format!("the page of {tag} closes"));
        }
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

    /// The calm end when events are modelled: a page of every tag opens and stays, nothing is paused
    /// and nothing crashes; the server answers, and nothing else drives the workers but their events
    /// (the pages' wakes, the pumps' timers). Every task ends, within two hours: a wake lost anywhere
    /// (a pump that ends and tells no page when work falls due, an ask no page hears) leaves one
    /// queued for good.
    pub(super) fn quiesce_with_events(&mut self) {
        for tag in TAGS {
            self.sessions
                .get_mut(tag)
                .expect("every tag has a session")
                .paused = false;
            if self
                .open
                .get(tag)
                .is_none_or(|p| p.listening_since.is_none())
            {
                self.open.remove(tag);
                self.page_opens(tag);
            }
        }
        // (`resume()` is a call: an event.)
        for tag in TAGS.into_iter().filter(|t| !page_less(t)) {
            self.page_event(tag);
        }
        let end = self.now + 2 * 60 * 60 * 1000;
        while self.now < end {
            // (A tag no page registered waits for Background Sync, or for any event at all: the
            // forced looks of `quiesce` end its tasks afterwards.)
            if self
                .tasks
                .values()
                .all(|t| t.state.is_terminal() || page_less(&t.tag))
            {
                self.quiesce();
                return;
            }
            for i in 0..self.instances.len() {
                if self.instances[i].alive && self.rng.below(3) == 0 {
                    self.answer(i, false);
                }
            }
            self.advance();
            self.tick();
            self.check();
        }
        let left: Vec<_> = self
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal() && !page_less(&t.tag))
            .collect();
        panic!("with a page of every tag open, tasks never ended: {left:#?}");
    }
}
