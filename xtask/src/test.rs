//! `cargo xtask test`: every layer, each counted, closing with one `N passed, N failed, N did not run` line.
//!
//! Layers: `native` (cargo test), `sw-chromium` and `sw-firefox` (wasm-bindgen-test inside a real service
//! worker), `wasm-pack` (the same suites the way Rust/wasm users run them), `e2e` (node:test driving
//! headless Chromium and Firefox, and WebKitGTK on Xvfb, against the reference server and servers from
//! npm), `bundlers` (the npm tarball in the build tools people use), `types` (tsc --strict over the
//! package's declarations).
//!
//! A layer builds its test binaries once, then runs each binary (each e2e file) on its own, with its own
//! timeout: one that fails, crashes or hangs never keeps the others from running. Whatever did not run to
//! its end (a layer missing its tool, a build that failed, a binary that timed out or crashed) is counted
//! apart and named with its reason.
//!
//! `cargo xtask soak` and `cargo xtask bench`, which also drive node scripts, live here too.

mod bench;
mod binaries;
mod cargo_layers;
mod node_layers;
mod process;
mod results;
mod soak;

pub use bench::bench;
pub use soak::soak;

use cargo_layers::{native, service_worker, wasm_pack, Browser};
use node_layers::{bundlers, e2e, types};
use std::time::{Duration, Instant};

const LAYERS: [&str; 7] = [
    "native",
    "sw-chromium",
    "sw-firefox",
    "wasm-pack",
    "e2e",
    "bundlers",
    "types",
];

/// Building a layer's test binaries (`cargo test --no-run`): a fresh machine compiles everything here.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// One native test binary (the simulation's thousands of schedules included).
const NATIVE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// One service-worker test binary, the browser's start included: each needs well under a minute.
const WASM_TIMEOUT: Duration = Duration::from_secs(150);
/// One e2e file.
const E2E_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A layer run as one command (`run_counted`).
const LAYER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Default, Clone)]
struct Count {
    passed: u64,
    failed: u64,
    /// What did not run to its end, as (what: a binary or file, empty for the whole layer; why).
    not_run: Vec<(String, String)>,
    /// Each failed test, named where it ran (a binary or file) and, where the runner says, why.
    failures: Vec<String>,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.not_run.extend(other.not_run);
        self.failures.extend(other.failures);
    }

    fn not_run(what: &str, why: String) -> Count {
        Count {
            not_run: vec![(what.to_string(), why)],
            ..Count::default()
        }
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    for a in args {
        if !LAYERS.contains(&a.as_str()) {
            return Err(format!(
                "unknown layer `{a}`; layers: {}",
                LAYERS.join(", ")
            ));
        }
    }
    let wanted = |l: &str| args.is_empty() || args.iter().any(|a| a == l);
    let mut rows: Vec<(&str, Count, Duration)> = Vec::new();
    for layer in LAYERS.into_iter().filter(|l| wanted(l)) {
        eprintln!("\n=== test layer: {layer} ===");
        let began = Instant::now();
        let count = match layer {
            "native" => native(),
            "sw-chromium" => service_worker(Browser::Chromium),
            "sw-firefox" => service_worker(Browser::Firefox),
            "wasm-pack" => wasm_pack(),
            "bundlers" => bundlers(),
            "types" => types(),
            _ => e2e(),
        };
        rows.push((layer, count, began.elapsed()));
    }
    let mut total = Count::default();
    eprintln!();
    for (layer, c, took) in &rows {
        // The time says where a slow CI run went (a fresh machine builds each layer's binaries first).
        println!(
            "layer {layer}: {} passed, {} failed, {} did not run ({} s)",
            c.passed,
            c.failed,
            c.not_run.len(),
            took.as_secs()
        );
        for (what, why) in &c.not_run {
            let what = if what.is_empty() {
                String::new()
            } else {
                format!(" {what}")
            };
            println!("  did not run: {layer}{what}: {why}");
        }
        for failure in &c.failures {
            println!("  failed: {layer} {failure}");
        }
        total.add(c.clone());
    }
    println!(
        "{} passed, {} failed, {} did not run",
        total.passed,
        total.failed,
        total.not_run.len()
    );
    if total.failed > 0 || !total.not_run.is_empty() || total.passed == 0 {
        Err("tests failed".into())
    } else {
        Ok(())
    }
}
