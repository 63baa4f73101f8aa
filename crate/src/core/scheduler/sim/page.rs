//! What pages do to the simulated world beyond pausing, cancelling and clearing (which the schedule
//! does in place): enqueue a task, hand a due task to a Background Fetch, say they can start one, and
//! take up the worker's offer of a large task that waits for one.

use super::world::{World, TAGS};
use crate::core::retry::RetryPolicy;
use crate::core::scheduler::{announce, background_fetch_fits, PAGE_HEARD_MS};
use crate::core::state::{new_task, NewTask};
use crate::core::task::{BodyMeta, Method, Request, Transport};

impl World {
    pub(super) fn enqueue(&mut self) {
        let tag = TAGS[self.rng.below(3) as usize];
        self.enqueue_for(tag);
    }

    /// A page of `tag` stores an upload.
    pub(super) fn enqueue_for(&mut self, tag: &str) {
        let tag = tag.to_string();
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
                credentials: Default::default(),
            },
            body: BodyMeta {
                size: [100, 1000][self.rng.below(2) as usize],
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
        // The page wakes the worker when it falls due and at its deadline (the answer's `wakeAt`).
        for at in [crate::core::scheduler::due_at(&t), t.deadline()] {
            self.page_alarm(&t.tag, at);
        }
        self.write(t);
    }

    /// A page with a Background Fetch grant uploads: it may hand a due task to the browser.
    pub(super) fn page_background_fetch(&mut self) {
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
            self.page_starts(&id);
        }
    }

    /// A page of `tag` that can start a Background Fetch says so (an upload, or its wakes).
    pub(super) fn page_heard(&mut self) {
        let tag = TAGS[self.rng.below(3) as usize].to_string();
        self.log.push(format!(
            "a page of {tag} that can start a Background Fetch is heard"
        ));
        self.pages.insert(tag, self.now + PAGE_HEARD_MS);
    }

    /// The page takes up the worker's offer of a task waiting for its Background Fetch
    /// (`bgfetchNext`): leased for it if it still fits, as an upload call's would be.
    pub(super) fn page_takes_offer(&mut self, id: &str) {
        let t = &self.tasks[id];
        assert!(
            t.body.size >= self.sessions[&t.tag].background_fetch_min_bytes
                && self
                    .pages
                    .get(&t.tag)
                    .is_some_and(|&until| self.now < until),
            "{id} offered to a page, but it is small or no page of {} is heard",
            t.tag
        );
        let fits = background_fetch_fits(
            t,
            &self.sessions[&t.tag],
            &self.in_flight(),
            "https://example.com",
        );
        if t.is_due(self.now) && fits {
            self.page_starts(id);
        }
    }

    /// A page leases a task for its Background Fetch and starts it (or goes before it could).
    fn page_starts(&mut self, id: &str) {
        // The page is not a worker instance; index 0 is only used for the holder (none here).
        if !self.try_lease(0, id, Transport::BackgroundFetch) {
            return;
        }
        if self.rng.below(6) == 0 {
            // The page was closed (or frozen) before it could start the fetch: nothing runs, and
            // the worker takes the task back once the start window has passed.
            self.fetches.remove(id);
            self.log
                .push(format!("the page of {id} went before starting it"));
        } else {
            // Started: the page says so (`bgfetchStarted`). (A page gone between the two is not
            // modelled: its fetch's event, due at once, settles it; a later one is the
            // Idempotency-Key's to cover.)
            let t = self.tasks[id].clone();
            let (next, _) = announce(&t, t.lease_no);
            self.write(next);
        }
    }
}
