//! What happens around the simulated workers: the server answers, time passes (renewals and
//! timeouts with it), the browser settles Background Fetches and thaws suspended instances.

use super::world::World;
use crate::core::retry::Outcome;
use crate::core::scheduler::{outage_after, settle, LEASE_MS, RENEW_EVERY_MS, SETTLE_GRACE_MS};
use crate::core::state::Input;
use crate::core::task::State;

impl World {
    /// The server answers one running attempt of instance `i` (a hung one only when `even_hung`).
    pub(super) fn answer(&mut self, i: usize, even_hung: bool) {
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
        if let Some(t) = self.tasks.get(&a.task) {
            let env = self.env();
            outage_after(&mut self.instances[i].outages, t, &outcome, &env);
        }
        self.apply_outcome(&a.task, a.lease_no, outcome);
        self.attempt_ended(i);
    }

    /// Time passes: live instances renew the leases of their running attempts (their timer), and
    /// attempts past their timeout end as `Timeout`.
    pub(super) fn advance(&mut self) {
        // (With events modelled, time goes in small steps: pages' wakes come every few seconds.)
        let step = match self.browser {
            Some(_) => 3_000,
            None => RENEW_EVERY_MS,
        };
        self.now += 1 + self.rng.below(step);
        for i in 0..self.instances.len() {
            if !self.instances[i].alive || self.instances[i].frozen {
                continue;
            }
            let before = self.instances[i].running.len();
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
            if self.instances[i].running.len() < before {
                self.attempt_ended(i);
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

    pub(super) fn settle_fetch(&mut self, id: &str) {
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
    pub(super) fn thaw(&mut self, i: usize) {
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
}
