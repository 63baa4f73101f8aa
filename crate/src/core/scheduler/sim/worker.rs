//! What a simulated worker instance does, with the same `core` calls as the web layer: a look
//! (recovery, the plan, leases), the lease transaction, and applying an attempt's outcome.

use super::world::{Attempt, Fetch, World};
use crate::core::retry::Outcome;
use crate::core::scheduler::{
    attempt_timeout_ms, keepalive_at, later_reads, lease, origin_of, plan, recover,
    recovery_aborts_fetch, serves_task, settle, Plan,
};
use crate::core::state::Input;
use crate::core::task::{State, Task, Transport};

/// The due tasks a look reads first, and of each tag when it reads further (the web layer reads 32; a
/// small window here makes the simulation read further often).
const READ: usize = 2;

impl World {
    /// One look of a worker instance: recovery of what it finds in flight, then the plan, then leases.
    pub(super) fn pump(&mut self, i: usize) -> Plan {
        if !self.instances[i].alive || self.instances[i].frozen {
            return Plan::default();
        }
        let holder = self.instances[i].id.clone();
        let live = self.live_holders();
        let views = self.views_for(i);
        let ours = |t: &Task| serves_task(&views, t);
        // Attempts another instance holds are asked about first (a second): meanwhile the pages of
        // their tags are asked to wake this one, should the browser stop it (`lifetime::ask_wake`).
        let held: Vec<Task> = self
            .in_flight()
            .into_iter()
            .filter(|t| {
                ours(t)
                    && t.transport != Some(Transport::BackgroundFetch)
                    && t.holder.as_deref().is_some_and(|h| h != holder)
                    && t.lease_until.is_some_and(|u| u > self.now)
            })
            .collect();
        if !held.is_empty() && self.browser.is_some() {
            let at = keepalive_at(self.now, true, None, false);
            self.instances[i].asked = at;
            if let Some(at) = at {
                // (Its own attempts' pages too: the one standing ask covers them.)
                let running: Vec<String> = self.instances[i]
                    .running
                    .iter()
                    .filter_map(|a| self.tasks.get(&a.task).map(|t| t.tag.clone()))
                    .collect();
                let tags = held.iter().map(|t| t.tag.clone()).chain(running);
                self.tell_pages(tags.collect::<Vec<_>>().into_iter(), at);
            }
        }
        for t in self.in_flight().into_iter().filter(ours) {
            let listed = self.fetches.get(&t.id).map(|f| f.listed);
            if let Some(input) = recover(&t, self.now, &live, Some(listed == Some(true))) {
                let (next, _) =
                    settle(&t, t.lease_no, input.clone(), self.now, self.rng.next_u64())
                        .expect("recovery input fits");
                self.log
                    .push(format!("{holder} recovers {} with {input:?}", t.id));
                self.write(next);
                if listed == Some(true) && recovery_aborts_fetch(&input) {
                    // Timed out: recorded first, then the browser's fetch is aborted.
                    self.fetches.remove(&t.id);
                }
            }
        }
        // A look ends every Background Fetch (of its tags) still running past its attempt's timeout.
        for t in self.in_flight().into_iter().filter(ours) {
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
        // Read as the web layer reads: the `by_due` index's first due tasks in (due time, seq) order
        // (`READ` of them) and the first not due; then, while the plan reads further, the due tasks of
        // each tag with a slot left on their own (its `by_tag_due` range, in due order).
        let mut queued: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.state == State::Queued && t.next_attempt_at.is_some())
            .collect();
        queued.sort_by_key(|t| (t.next_attempt_at, t.seq, t.id.as_str()));
        let split = queued.partition_point(|t| t.next_attempt_at <= Some(self.now));
        let (due, later) = queued.split_at(split);
        let running_here = self.instances[i].running.len() as u32;
        let outages = self.instances[i].outages.clone();
        let heard = crate::core::scheduler::Heard {
            origin: "https://example.com",
            outages: &outages,
        };
        let in_flight = self.in_flight();
        let mut read: Vec<Task> = due.iter().take(READ).map(|t| (*t).clone()).collect();
        let window = read.len() as u32;
        let mut per_tag = litemap::LiteMap::new();
        loop {
            let p = plan(
                &self.env(),
                &read,
                &in_flight,
                &views,
                &[],
                running_here,
                &heard,
            );
            if !p.reads_further(window, READ as u32) {
                break;
            }
            let reads = p.tag_reads(&per_tag, READ as u32);
            if reads.is_empty() {
                break;
            }
            for (tag, asked) in reads {
                let of_tag: Vec<&Task> = due
                    .iter()
                    .filter(|t| t.tag == tag)
                    .take(asked as usize)
                    .copied()
                    .collect();
                per_tag.insert(tag, (asked, of_tag.len() as u32));
                for t in of_tag {
                    if !read.iter().any(|r| r.id == t.id) {
                        read.push(t.clone());
                    }
                }
            }
        }
        let unread = due.len() - read.len();
        // The first due after now of all; when it is held, each sending tag's own first (as the web
        // layer's `later_of_tags`).
        let first_later = later.first().copied();
        let own_later: Vec<Task> = later_reads(first_later, &views)
            .into_iter()
            .filter_map(|tag| later.iter().find(|t| t.tag == tag).map(|t| (*t).clone()))
            .collect();
        let queued: Vec<Task> = read
            .into_iter()
            .chain(own_later)
            .chain(first_later.cloned())
            .collect();
        let p = plan(
            &self.env(),
            &queued,
            &in_flight,
            &views,
            &[],
            running_here,
            &heard,
        );
        let read_ids: Vec<String> = queued.iter().map(|t| t.id.clone()).collect();
        // A look never leaves a lane idle that a due task it did not read could take.
        if p.start.is_empty() && unread > 0 {
            let all: Vec<Task> = due.iter().map(|t| (*t).clone()).collect();
            let full = plan(
                &self.env(),
                &all,
                &in_flight,
                &views,
                &[],
                running_here,
                &heard,
            );
            // (Not one whose time ran out: that is only recorded, once read; see below.)
            let missed: Vec<&String> = full
                .start
                .iter()
                .filter(|id| !self.tasks[*id].is_expired_at(self.now))
                .collect();
            assert!(
                missed.is_empty(),
                "a look read {} of {} due tasks and started nothing; {:?} could have started",
                queued.len(),
                due.len(),
                missed
            );
        }
        if let Some(w) = p.wake_at {
            assert!(w > self.now, "wake-up loop: wake at {w}, now {}", self.now);
        }
        for id in p.start.clone() {
            let t = &self.tasks[&id];
            let v = views[&t.tag];
            assert!(
                // (One whose time ran out is leased to record `expired`, nothing sent.)
                t.is_expired_at(self.now)
                    || !(v.background_fetch_min_bytes > 0
                        && t.body.size >= v.background_fetch_min_bytes
                        && v.background_fetch
                        && self.now < v.background_fetch_page_until),
                "{id} sent by the worker while a page that can start its Background Fetch is heard"
            );
            // Not while the instance heard the server is down, but for a probe once its hold ended.
            let down = self.instances[i].outages.get(origin_of(&t.request.url));
            assert!(
                t.is_expired_at(self.now) || down.is_none_or(|o| o.until <= self.now),
                "{id} sent while its server is held as down: {down:?}"
            );
            if !self.try_lease(i, &id, Transport::Fallback) {
                // Recorded `expired`, or taken meanwhile: news for the running pump, which looks
                // again (as the web layer's `start_leased` does).
                if let Some(run) = self.instances[i].run.as_mut() {
                    run.pump.hear();
                }
            }
        }
        // A page of its tag may take up the offer (it may also be gone, or slow to ask).
        if let Some(id) = &p.offer {
            if self.rng.below(3) != 0 {
                self.page_takes_offer(id);
            }
        }
        // Whatever held them (a pause, a full tag, this worker's slots), no queued task of its tags
        // that the look read outlives its deadline past it. (One behind the window, while every lane
        // is taken, is recorded `expired` once a look reads it, before anything after it is sent.)
        for t in self
            .tasks
            .values()
            .filter(|t| ours(t) && read_ids.contains(&t.id))
        {
            assert!(
                !(t.state == State::Queued && t.is_expired_at(self.now)),
                "{} still queued past its deadline {} at {}",
                t.id,
                t.deadline(),
                self.now
            );
        }
        p
    }

    /// The lease transaction: re-reads the task, its session and the tag's in-flight count.
    pub(super) fn try_lease(&mut self, i: usize, id: &str, transport: Transport) -> bool {
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
        // (A Background Fetch is leased for the page by its tag's worker, whichever instance.)
        assert!(
            holder.is_none() || serves_task(&self.views_for(i), &task),
            "{} of scope {} leases {id} of tag {}, another worker's",
            self.instances[i].id,
            self.instances[i].scope,
            task.tag
        );
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
                started: self.now,
            });
        }
        self.write(t);
        true
    }

    /// An outcome reaches the worker that ran the attempt; applied only for the current lease.
    pub(super) fn apply_outcome(&mut self, task: &str, lease_no: u64, outcome: Outcome) {
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
                // A `retrying` event: the tag's listening page wakes the worker when it is due.
                if let (State::Queued, Some(at)) = (next.state, next.next_attempt_at) {
                    self.page_alarm(&next.tag, at);
                }
                self.write(next);
            }
            Err(_) => self
                .log
                .push(format!("{task} #{lease_no}: stale {outcome:?} ignored")),
        }
    }
}
