//! A deterministic simulation of the scheduler (in the manner of quinn-proto's tests of its state
//! machine without sockets): a store, worker instances that start, stop and update, a browser that
//! carries Background Fetches and settles them late, a server that answers, fails or hangs, and pages
//! that enqueue, pause, resume, cancel and clear, all driven by a seeded random schedule. The worker
//! here does what the web layer does, with the same `core` calls; after every step the invariants are
//! checked.
//!
//! A second set of schedules models the browser's events too (`lifetimes`): every look is a turn of a
//! worker's pump (`core::scheduler::Pump`, the machine the web layer runs), started or joined by an
//! event or by its timer; open pages hear the worker's asks and wake it; and a browser (Firefox's or
//! Chromium's rule) stops workers whose events ran out.
//!
//! `world` holds the model, `page`, `worker` and `outside` what each actor does, `lifetimes` the
//! events, `schedule` the random steps, `invariants` the checks; this file runs the schedules.

mod invariants;
mod lifetimes;
mod outside;
mod page;
mod schedule;
mod wakes;
mod worker;
mod world;

use world::{Browser, World};

fn run(seed: u64, steps: usize) {
    run_in(seed, steps, None)
}

fn run_in(seed: u64, steps: usize, browser: Option<Browser>) {
    let mut w = World::new(seed);
    if let Some(b) = browser {
        w.model_events(b);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for _ in 0..steps {
            match browser {
                Some(_) => w.step_with_events(),
                None => w.step(),
            }
        }
        match browser {
            Some(_) => w.quiesce_with_events(),
            None => w.quiesce(),
        }
    }));
    if let Err(e) = result {
        let keep = env_or("FERRY_SIM_LOG", 30) as usize;
        let tail: Vec<&String> = w.log.iter().rev().take(keep).collect();
        panic!("seed {seed} failed: {e:?}\nlast steps (newest first): {tail:#?}");
    }
}

/// A number from the environment (a seed, a count), or `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn ten_thousand_random_schedules_keep_every_invariant() {
    let (base, n) = (
        env_or("FERRY_SIM_SEED", 0x5eed),
        env_or("FERRY_SIM_SCHEDULES", 10_000),
    );
    for k in 0..n {
        run(base.wrapping_add(k), 200);
    }
}

#[test]
fn random_schedules_with_events_pages_and_a_browser_that_stops_workers_keep_every_invariant() {
    let (base, n) = (
        env_or("FERRY_SIM_SEED", 0x11fe),
        env_or("FERRY_SIM_SCHEDULES", 2_000),
    );
    for k in 0..n {
        // (By the seed, so that one seed replays alone.)
        let seed = base.wrapping_add(k);
        let browser = [Browser::Firefox, Browser::Chromium][(seed % 2) as usize];
        run_in(seed, 400, Some(browser));
    }
}
