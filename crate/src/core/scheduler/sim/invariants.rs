//! The invariants checked after every step of the simulation: one live attempt per task, each tag
//! within its concurrency and sent only by its own app's worker, and a Blob kept exactly as long as its
//! task is live.

use super::world::{World, TAGS};
use crate::core::scheduler::serves_task;
use crate::core::state::check_invariants;
use crate::core::task::State;
use std::collections::BTreeMap;

impl World {
    pub(super) fn check(&self) {
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
        // A worker runs attempts only of the tags its scope serves (another app's worker has its own
        // `beforeSend`, credentials included).
        for (i, w) in self.instances.iter().enumerate() {
            let views = self.views_for(i);
            for a in &w.running {
                if let Some(t) = self.tasks.get(&a.task) {
                    assert!(
                        serves_task(&views, t),
                        "{} of scope {} runs {} of tag {}",
                        w.id,
                        w.scope,
                        t.id,
                        t.tag
                    );
                }
            }
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
}
