//! The open pages' side of the simulated events (`lifetimes`): which worker a page reaches, what it
//! hears of the worker's asks (only once its channel is open: a page that registers misses what was
//! broadcast as it did, unless its `register` answer tells it), and when it wakes the worker.

use super::lifetimes::EVENT_BUDGET_MS;
use super::world::{Page, World, OWNERS, SCOPES, TAGS};
use crate::core::scheduler::{keepalive_at, runs_for_new_page};
use crate::core::task::Transport;

/// A tag no page registers (its uploads come from the worker, `enqueue`).
pub(super) fn page_less(tag: &str) -> bool {
    let k = TAGS.iter().position(|t| *t == tag).expect("a known tag");
    OWNERS[k].is_none()
}

/// The scope of the worker the pages of `tag` reach.
pub(super) fn page_scope(tag: &str) -> &'static str {
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
}
