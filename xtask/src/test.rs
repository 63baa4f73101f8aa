//! `cargo xtask test`: every layer, each counted, closing with one `N passed, N failed` line.
//!
//! Layers: `native` (cargo test), `sw-chromium` and `sw-firefox` (wasm-bindgen-test inside a real service
//! worker), `wasm-pack` (the same suites the way Rust/wasm users run them), `e2e` (node:test driving
//! headless browsers against the reference server), `types` (tsc --strict over the package's declarations).

use crate::setup::{CHROMEDRIVER, CHROMIUM, FIREFOX};
use crate::util::{self, which};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const LAYERS: [&str; 6] = [
    "native",
    "sw-chromium",
    "sw-firefox",
    "wasm-pack",
    "e2e",
    "types",
];

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
            "types" => types(),
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

/// `types`: tsc --strict over the README's examples, a typed app and misuse (tests/types, its own npm
/// folder, installed here), and the declared exports against the built package in Chromium.
fn types() -> Count {
    let dir = util::root().join("tests/types");
    let mut ci = Command::new("npm");
    ci.current_dir(&dir)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    if let Err(e) = util::run(&mut ci) {
        eprintln!("{e}");
        return Count {
            passed: 0,
            failed: 1,
        };
    }
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .args(["--test", "--test-reporter=tap", "types.test.mjs"])
        .env("TMPDIR", util::scratch("types"));
    run_counted(cmd, Parse::Tap)
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
    /// node:test's TAP summary (`# pass N`, `# fail N`).
    Tap,
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
        if let Parse::Tap = parse {
            for (prefix, n) in [
                ("# pass ", &mut count.passed),
                ("# fail ", &mut count.failed),
            ] {
                *n += line
                    .strip_prefix(prefix)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            }
        }
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

/// `cargo xtask bench`: builds the package with its bench entry points and runs `tests/bench.mjs`.
pub fn bench() -> Result<(), String> {
    let root = util::root();
    let pkg = root.join("target/bench-pkg");
    crate::build::package(&["bench"], &pkg)?;
    // The queue's own scaling, then Ferry next to its peer (Workbox background-sync).
    for script in ["bench.mjs", "bench-peers.mjs"] {
        let mut cmd = Command::new("node");
        cmd.current_dir(root.join("tests"))
            .arg(script)
            .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
            .env("FERRY_BENCH_PKG", &pkg)
            .env("TMPDIR", util::scratch("bench"));
        util::run(&mut cmd)?;
    }
    Ok(())
}
