//! Running a test command and counting what it reports: cargo's `test result:` lines, node:test's TAP
//! summary, and what did not run to its end.

use super::process::{run_captured, End};
use super::{Count, LAYER_TIMEOUT};
use crate::failures;
use std::process::Command;
use std::time::Duration;

/// What a layer run as one command (`run_counted`) prints its results as.
#[allow(dead_code)]
#[derive(Clone, Copy)]
pub(super) enum Parse {
    Cargo,
    /// node:test's TAP reporter: its closing `# pass N` and `# fail N` lines.
    Tap,
    None,
}

/// Runs a layer as one command, echoing its output, summing `test result:` lines; a non-zero exit
/// without a counted failure (a compile error, a crashed runner) still counts as one failure, and a run
/// stopped by its timeout is named as not run.
#[allow(dead_code)]
pub(super) fn run_counted(cmd: Command, parse: Parse) -> Count {
    let ran = run_captured(cmd, LAYER_TIMEOUT, true);
    let mut count = match parse {
        Parse::Cargo => cargo_results(&ran.lines).0,
        Parse::Tap => tap_results(&ran.lines),
        Parse::None => Count::default(),
    };
    count.failures = match parse {
        Parse::Cargo => failures::cargo(&ran.lines),
        Parse::Tap => failures::tap(&ran.lines.join("\n")),
        Parse::None => Vec::new(),
    };
    match &ran.end {
        End::Exited(status) => {
            if !status.success() && count.failed == 0 {
                count.failed = 1;
            }
        }
        end => count.not_run.push((String::new(), end.why())),
    }
    count
}

/// Runs one test binary (or the command that runs it), echoing its output. It counts what its
/// `test result:` line says; a binary that printed none (it crashed, its runner failed, it timed out)
/// did not run to its end and is named with the reason.
pub(super) fn run_binary(name: &str, cmd: Command, timeout: Duration) -> Count {
    eprintln!("\n--- {name}");
    let ran = run_captured(cmd, timeout, true);
    let (mut count, results) = cargo_results(&ran.lines);
    count.failures = failures::cargo(&ran.lines)
        .into_iter()
        .map(|f| format!("{name}: {f}"))
        .collect();
    match &ran.end {
        End::Exited(status) if results > 0 => {
            if !status.success() && count.failed == 0 {
                count.failed = 1;
            }
        }
        end => count.not_run.push((name.to_string(), end.why())),
    }
    count
}

/// Sums the `test result:` lines of cargo's test harness (and wasm-bindgen-test-runner's); also returns
/// how many results there were (wasm-bindgen-test-runner's `no tests to run!` is one: zero tests).
fn cargo_results(lines: &[String]) -> (Count, u64) {
    let mut count = Count::default();
    let mut results = 0;
    for line in lines {
        if line.trim() == "no tests to run!" {
            results += 1;
            continue;
        }
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        results += 1;
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
    (count, results)
}

/// Sums node:test's TAP summary lines (`# pass N`, `# fail N`); a run that was cut short before its
/// summary is named as not run by its caller.
fn tap_results(lines: &[String]) -> Count {
    let mut count = Count::default();
    for line in lines {
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
    count
}

/// A number of node's TAP summary (`# pass 12`), the last one the report holds.
pub(super) fn tap_summary(report: &str, name: &str) -> Option<u64> {
    report
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("# {name} ")))
        .and_then(|n| n.trim().parse::<u64>().ok())
}
