//! The layers node:test runs: `e2e` (one run per file of tests/, so a file that hangs is stopped and
//! named), `bundlers` (the npm tarball in tests/apps/) and `types` (tsc --strict in tests/types).

use super::process::{run_captured, End};
use super::results::{run_counted, tap_summary, Parse};
use super::{Count, E2E_TIMEOUT};
use crate::failures;
use crate::util;
use std::path::Path;
use std::process::Command;

pub(super) fn e2e() -> Count {
    let root = util::root();
    let reports = util::scratch("e2e");
    let profiles = util::scratch("e2e-profiles");
    let test_files = std::fs::read_dir(root.join("tests"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"));
    let mut files: Vec<_> = test_files.collect();
    files.sort();
    let mut count = Count::default();
    // One node run per file, so that a file that hangs is stopped and named and the others still run.
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprintln!("\n--- e2e: {name}");
        let tap = reports.join(format!("{name}.tap"));
        let _ = std::fs::remove_file(&tap);
        let mut cmd = node_test(&root.join("tests"), &tap);
        cmd.arg(&file).env("TMPDIR", &profiles);
        let ran = run_captured(cmd, E2E_TIMEOUT, true);
        let report = std::fs::read_to_string(&tap).unwrap_or_default();
        let field = |name: &str| tap_summary(&report, name);
        let mut file_count = Count::default();
        match (&ran.end, field("pass"), field("fail")) {
            (End::Exited(status), Some(p), Some(f)) => {
                file_count.passed = p;
                // The runner's exit code still counts when the report shows no failure (e.g. a crash in a hook).
                file_count.failed = if f == 0 && !status.success() { 1 } else { f };
                if let Some(c) = field("cancelled").filter(|&c| c > 0) {
                    file_count
                        .not_run
                        .push((name.clone(), format!("{c} test(s) cancelled")));
                }
            }
            (end, _, _) => {
                // No summary: count the tests the report did finish, and name the file.
                let done = |prefix: &str| {
                    report
                        .lines()
                        .filter(|l| l.trim_start().starts_with(prefix))
                        .count() as u64
                };
                file_count.failed = done("not ok ");
                file_count.passed = done("ok ");
                file_count.not_run.push((name.clone(), end.why()));
            }
        }
        file_count.failures = failures::tap(&report)
            .into_iter()
            .map(|f| format!("{name}: {f}"))
            .collect();
        count.add(file_count);
    }
    count
}

/// `types`: tsc --strict over the README's examples, a typed app and misuse (tests/types, its own npm
/// folder, installed here), and the declared exports against the built package in Chromium.
pub(super) fn types() -> Count {
    let root = util::root();
    let dir = root.join("tests/types");
    let mut ci = Command::new("npm");
    ci.current_dir(&dir).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--loglevel=error",
    ]);
    if let Err(e) = util::run(&mut ci) {
        eprintln!("{e}");
        return Count::not_run("", format!("npm ci in tests/types failed: {e}"));
    }
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .args(["--test", "--test-reporter=tap", "types.test.mjs"])
        .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
        .env("FERRY_ROOT", &root)
        .env("TMPDIR", util::scratch("types"));
    run_counted(cmd, Parse::Tap)
}

/// The npm tarball in the build tools people use: `npm ci` in each app of tests/apps/ (each pins its tool in
/// its own package-lock.json; the npm cache makes re-runs quick), then node:test over tests/apps/*.test.mjs.
pub(super) fn bundlers() -> Count {
    let root = util::root();
    let apps = root.join("tests/apps");
    let mut dirs: Vec<_> = std::fs::read_dir(&apps)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("package-lock.json").is_file())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let npm_ci = Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
                "--loglevel=error",
            ])
            .current_dir(dir)
            .status();
        if !npm_ci.map(|s| s.success()).unwrap_or(false) {
            eprintln!("npm ci failed in {}", dir.display());
            return Count::not_run("", format!("npm ci failed in {}", dir.display()));
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(&apps)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    let tap = util::scratch("bundlers").join("report.tap");
    let mut cmd = node_test(&apps, &tap);
    cmd.args(&files)
        .env("TMPDIR", util::scratch("bundlers-tmp"));
    let mut count = run_counted(cmd, Parse::None);
    let report = std::fs::read_to_string(&tap).unwrap_or_default();
    count.failures = failures::tap(&report);
    let field = |name: &str| tap_summary(&report, name);
    match (field("pass"), field("fail")) {
        (Some(passed), Some(failed)) => Count {
            passed,
            failed: if failed == 0 { count.failed } else { failed },
            not_run: count.not_run,
            failures: count.failures,
        },
        // No summary: a run stopped by its timeout is already named as not run; otherwise it failed.
        _ if !count.not_run.is_empty() => count,
        _ => Count {
            failed: count.failed.max(1),
            ..count
        },
    }
}

/// `node --test` in `dir`, one file at a time, the spec report on stdout and a TAP report in `tap` (what
/// the counts are read from), against the reference server this workspace built.
fn node_test(dir: &Path, tap: &Path) -> Command {
    let root = util::root();
    let mut cmd = Command::new("node");
    cmd.current_dir(dir)
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "--test-reporter-destination=stdout",
            "--test-reporter=tap",
        ])
        .arg(format!("--test-reporter-destination={}", tap.display()))
        .env("FERRY_SERVER_BIN", root.join("target/release/ferry-server"))
        .env("FERRY_ROOT", &root);
    cmd
}
