//! `cargo xtask test`: every layer, each counted, closing with one `N passed, N failed` line.
//!
//! Layers: `native` (cargo test), `sw-chromium` and `sw-firefox` (wasm-bindgen-test inside a real service
//! worker), `wasm-pack` (the same suites the way Rust/wasm users run them), `e2e` (node:test driving
//! headless browsers against the reference server).

use crate::setup::{CHROMEDRIVER, CHROMIUM, FIREFOX};
use crate::util::{self, which};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const LAYERS: [&str; 5] = ["native", "sw-chromium", "sw-firefox", "wasm-pack", "e2e"];

#[derive(Default, Clone, Copy)]
struct Count {
    passed: u64,
    failed: u64,
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
    let mut rows: Vec<(&str, Count)> = Vec::new();
    for layer in LAYERS.into_iter().filter(|l| wanted(l)) {
        eprintln!("\n=== test layer: {layer} ===");
        let count = match layer {
            "native" => native(),
            "sw-chromium" => service_worker(Browser::Chromium),
            "sw-firefox" => service_worker(Browser::Firefox),
            "wasm-pack" => wasm_pack(),
            _ => e2e(),
        };
        rows.push((layer, count));
    }
    let mut total = Count::default();
    eprintln!();
    for (layer, c) in &rows {
        println!("layer {layer}: {} passed, {} failed", c.passed, c.failed);
        total.passed += c.passed;
        total.failed += c.failed;
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 || total.passed == 0 {
        Err("tests failed".into())
    } else {
        Ok(())
    }
}

fn native() -> Count {
    let mut cmd = util::cargo();
    cmd.current_dir(util::root())
        .args(["test", "--workspace", "--exclude", "xtask"]);
    run_counted(cmd, Parse::Cargo)
}

enum Browser {
    Chromium,
    Firefox,
}

fn service_worker(browser: Browser) -> Count {
    let root = util::root();
    let mut cmd = util::cargo();
    cmd.current_dir(root.join("crate"))
        .args(["test", "--target", "wasm32-unknown-unknown", "--test", "*"])
        .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
        .env("TMPDIR", util::scratch("sw"))
        .env_remove("CHROMEDRIVER")
        .env_remove("GECKODRIVER")
        .env_remove("SAFARIDRIVER");
    match browser {
        Browser::Chromium => {
            if !Path::new(CHROMIUM).exists() {
                return missing("chromium");
            }
            cmd.env("CHROMEDRIVER", CHROMEDRIVER);
        }
        Browser::Firefox => {
            let (Some(gecko), true) = (which("geckodriver"), Path::new(FIREFOX).exists()) else {
                return missing("firefox-esr / geckodriver");
            };
            cmd.env("GECKODRIVER", gecko);
        }
    }
    run_counted(cmd, Parse::Cargo)
}

fn wasm_pack() -> Count {
    let Some(wp) = which("wasm-pack") else {
        return missing("wasm-pack");
    };
    let mut cmd = Command::new(wp);
    cmd.current_dir(util::root())
        .args([
            "test",
            "--headless",
            "--chrome",
            "--chromedriver",
            CHROMEDRIVER,
            "crate",
        ])
        .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
        .env("TMPDIR", util::scratch("wasm-pack"));
    run_counted(cmd, Parse::Cargo)
}

fn e2e() -> Count {
    let root = util::root();
    let tap = util::scratch("e2e").join("report.tap");
    let mut cmd = Command::new("node");
    cmd.current_dir(root.join("tests"))
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "--test-reporter-destination=stdout",
            "--test-reporter=tap",
        ])
        .arg(format!("--test-reporter-destination={}", tap.display()))
        .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
        .env("FERRY_ROOT", &root)
        .env("TMPDIR", util::scratch("e2e-profiles"));
    let test_files = std::fs::read_dir(root.join("tests"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"));
    let mut files: Vec<_> = test_files.collect();
    files.sort();
    cmd.args(&files);
    let mut count = run_counted(cmd, Parse::None);
    let report = std::fs::read_to_string(&tap).unwrap_or_default();
    let field = |name: &str| {
        report
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("# {name} ")))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    match (field("pass"), field("fail")) {
        (Some(p), Some(f)) => {
            // The runner's exit code still counts when the report shows no failure (e.g. a crash in a hook).
            count = Count {
                passed: p,
                failed: if f == 0 { count.failed } else { f },
            };
        }
        _ => count.failed = count.failed.max(1),
    }
    count
}

fn missing(what: &str) -> Count {
    eprintln!("{what} is not installed (run `cargo xtask setup`): counted as a failure");
    Count {
        passed: 0,
        failed: 1,
    }
}

#[derive(Clone, Copy)]
enum Parse {
    Cargo,
    None,
}

/// Runs a layer, echoing its output, summing `test result:` lines; a non-zero exit without a counted
/// failure (a compile error, a crashed runner) still counts as one failure.
fn run_counted(mut cmd: Command, parse: Parse) -> Count {
    let mut count = Count::default();
    cmd.stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {cmd:?}: {e}");
            return Count {
                passed: 0,
                failed: 1,
            };
        }
    };
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        println!("{line}");
        if let (Parse::Cargo, Some(rest)) = (parse, line.trim().strip_prefix("test result: ")) {
            for part in rest.split(['.', ';']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (
                    words.next().and_then(|n| n.parse::<u64>().ok()),
                    words.next(),
                ) {
                    match what {
                        "passed" => count.passed += n,
                        "failed" => count.failed += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    if !ok && count.failed == 0 {
        count.failed = 1;
    }
    count
}

/// `cargo xtask soak --kills N [--seed S]`: the kill loop of `tests/soak.mjs`.
pub fn soak(args: &[String]) -> Result<(), String> {
    let root = util::root();
    let mut cmd = Command::new("node");
    cmd.current_dir(root.join("tests"))
        .arg("soak.mjs")
        .args(args)
        .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
        .env("FERRY_ROOT", &root)
        .env("TMPDIR", util::scratch("soak"));
    util::run(&mut cmd)
}

/// `cargo xtask bench [--reps N]`: builds the package with its bench entry points, runs `tests/bench.mjs`
/// (the queue's own scaling), then `tests/bench-peers.mjs` (Ferry next to raw `idb`, a fetch loop and
/// Workbox, on the package `cargo xtask build` made), which writes `bench/RESULTS.md`.
pub fn bench(args: &[String], started_ms: u128) -> Result<(), String> {
    let mut reps = "3".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--reps" => {
                reps = it
                    .next()
                    .filter(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
                    .cloned()
                    .ok_or("--reps needs a positive number")?
            }
            other => return Err(format!("bench: unknown option `{other}` (only --reps N)")),
        }
    }
    let root = util::root();
    let pkg = root.join("target/bench-pkg");
    crate::build::package(&["bench"], &pkg)?;
    let out = util::scratch("bench-out");
    for script in ["bench.mjs", "bench-peers.mjs"] {
        let mut cmd = Command::new("node");
        cmd.current_dir(root.join("tests"))
            .arg(script)
            .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
            .env("FERRY_ROOT", &root)
            .env("FERRY_BENCH_PKG", &pkg)
            .env("FERRY_PKG", root.join("pkg"))
            .env("FERRY_BENCH_OUT", &out)
            .env("FERRY_BENCH_REPS", &reps)
            .env("FERRY_BENCH_STARTED", started_ms.to_string())
            .env("TMPDIR", util::scratch("bench"));
        util::run(&mut cmd)?;
    }
    Ok(())
}
