//! The seeded random schedule that drives the simulation one step at a time, and the calm end
//! where nothing more goes wrong until every task has ended.

use super::wakes::page_less;
use super::world::{Browser, World, SCOPES, TAGS};
use crate::core::scheduler::RENEW_EVERY_MS;
use crate::core::state::{apply, Input};
use crate::core::task::Transport;

impl World {
    pub(super) fn step(&mut self) {
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
            19 if self.rng.below(2) == 0 => self.page_heard(),
            _ => self.advance(),
        }
        self.check();
    }

    /// Events' lifetimes are modelled from now on, with `browser` stopping the workers; sessions take
    /// long attempts (a minute or two: what the browser's limits are about).
    pub(super) fn model_events(&mut self, browser: Browser) {
        self.browser = Some(browser);
        for tag in TAGS {
            let timeout = 20_000 + self.rng.below(100_000);
            let s = self.sessions.get_mut(tag).expect("every tag has a session");
            s.attempt_timeout_ms = Some(timeout);
            // (Background Fetch is left to `step`: no page here can start one.)
            s.background_fetch = false;
        }
        self.instances[0].last_event = self.now;
        self.instances[0].held_until = self.now;
        self.calm = [0, 4, 16][self.rng.below(3) as usize];
    }

    /// One step when events are modelled: every look is a pump's turn, started or joined by an event
    /// or by its timer; time goes in small steps, and attempts are answered less often than it passes.
    pub(super) fn step_with_events(&mut self) {
        if self.calm > 0 && self.rng.below(self.calm) != 0 {
            self.advance();
            self.tick();
            self.check();
            return;
        }
        let tag = TAGS[self.rng.below(3) as usize];
        match self.rng.below(24) {
            0..=2 if page_less(tag) => {
                // The worker stores an upload itself (`enqueue`, from a `fetch` event, say).
                let i = self.alive_index();
                self.enqueue_for(tag);
                self.event(i, 60_000, Transport::Fallback);
            }
            0..=2 => {
                // A page uploads (opening first if none of the tag is open).
                self.page_opens(tag);
                self.enqueue_for(tag);
                self.page_event(tag);
            }
            3 => {
                // A `sync`, an `online` or another app's call reaches a live worker.
                let i = self.alive_index();
                self.event(i, 150_000, Transport::BackgroundSync);
            }
            4 | 5 => {
                let i = self.alive_index();
                self.answer(i, false);
            }
            6 => {
                // The page pauses or resumes its tag (a call: an event).
                if self.open.contains_key(tag) {
                    let s = self.sessions.get_mut(tag).unwrap();
                    s.paused = !s.paused;
                    self.page_event(tag);
                }
            }
            7 => self.page_opens(tag),
            8 if self.rng.below(2) == 0 => self.page_closes(tag),
            9 if self.rng.below(4) == 0 => {
                // A worker crashes.
                let i = self.alive_index();
                self.stop(i);
            }
            10 if self.rng.below(4) == 0 => {
                // A new version installs beside the running one; its activation is an event.
                let scope = SCOPES[self.rng.below(SCOPES.len() as u64) as usize];
                self.start_instance_of(scope);
                let i = self.instances.len() - 1;
                self.event(i, 60_000, Transport::Fallback);
            }
            11 => {
                // A body arrives whole at the server (its answer is still on its way).
                let i = self.alive_index();
                if let Some(a) = self.instances[i].running.iter_mut().find(|a| !a.hung) {
                    a.arrived = true;
                }
            }
            _ => {
                self.advance();
                self.tick();
            }
        }
        self.check();
    }

    /// Nothing more goes wrong: every tag resumes, pages stop interfering, time passes and workers
    /// look again until every task has ended.
    pub(super) fn quiesce(&mut self) {
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
            // Every worker of the origin runs: each app's pages came back.
            for scope in SCOPES {
                if !self.instances.iter().any(|w| w.alive && w.scope == scope) {
                    self.start_instance_of(scope);
                }
            }
            for i in 0..self.instances.len() {
                if !self.instances[i].alive {
                    continue;
                }
                self.pump(i);
                while !self.instances[i].running.is_empty() {
                    self.answer(i, true);
                }
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
