//! A deterministic simulation of the scheduler (in the manner of quinn-proto's tests of its state
//! machine without sockets): a store, worker instances that start, stop and update, a browser that
//! carries Background Fetches and settles them late, a server that answers, fails or hangs, and pages
//! that enqueue, pause, resume, cancel and clear, all driven by a seeded random schedule. The worker
//! here does what the web layer does, with the same `core` calls; after every step the invariants are
//! checked.
//!
//! `world` holds the model, `page`, `worker` and `outside` what each actor does, `schedule` the
//! random steps, `invariants` the checks; this file runs the schedules.

mod invariants;
mod outside;
mod page;
mod schedule;
mod worker;
mod world;

use world::World;

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
