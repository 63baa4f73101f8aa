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

use crate::failures;
use crate::setup::{CHROMEDRIVER, CHROMIUM, FIREFOX};
use crate::util::{self, which};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
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
    let mut rows: Vec<(&str, Count)> = Vec::new();
    for layer in LAYERS.into_iter().filter(|l| wanted(l)) {
        eprintln!("\n=== test layer: {layer} ===");
        let count = match layer {
            "native" => native(),
            "sw-chromium" => service_worker(Browser::Chromium),
            "sw-firefox" => service_worker(Browser::Firefox),
            "wasm-pack" => wasm_pack(),
            "bundlers" => bundlers(),
            "types" => types(),
            _ => e2e(),
        };
        rows.push((layer, count));
    }
    let mut total = Count::default();
    eprintln!();
    for (layer, c) in &rows {
        println!(
            "layer {layer}: {} passed, {} failed, {} did not run",
            c.passed,
            c.failed,
            c.not_run.len()
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

fn native() -> Count {
    let root = util::root();
    let cargo_test = || {
        let mut cmd = util::cargo();
        cmd.current_dir(&root).args(["test", "--workspace"]);
        cmd
    };
    let (binaries, mut count) = test_binaries(cargo_test());
    for bin in &binaries {
        // As cargo runs it: from its package's folder.
        let mut cmd = Command::new(&bin.executable);
        cmd.current_dir(&bin.package_dir)
            .env("CARGO_MANIFEST_DIR", &bin.package_dir)
            .env("CARGO_PKG_NAME", &bin.package);
        count.add(run_binary(&bin.name(), cmd, NATIVE_TIMEOUT));
    }
    // Doc tests are compiled when they run: one run for the workspace.
    let mut doc = cargo_test();
    doc.arg("--doc");
    count.add(run_binary("doc tests", doc, NATIVE_TIMEOUT));
    count
}

enum Browser {
    Chromium,
    Firefox,
}

fn service_worker(browser: Browser) -> Count {
    let root = util::root();
    let scratch = util::scratch("sw");
    let driver = match browser {
        Browser::Chromium => {
            if !Path::new(CHROMIUM).exists() {
                return missing("chromium");
            }
            ("CHROMEDRIVER", PathBuf::from(CHROMEDRIVER))
        }
        Browser::Firefox => {
            let (Some(gecko), true) = (which("geckodriver"), Path::new(FIREFOX).exists()) else {
                return missing("firefox-esr / geckodriver");
            };
            ("GECKODRIVER", gecko)
        }
    };
    let cargo_test = || {
        let mut cmd = util::cargo();
        cmd.current_dir(root.join("crate"))
            .args(["test", "--target", "wasm32-unknown-unknown"])
            .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
            .env("TMPDIR", &scratch)
            .env_remove("CHROMEDRIVER")
            .env_remove("GECKODRIVER")
            .env_remove("SAFARIDRIVER")
            .env(driver.0, &driver.1);
        cmd
    };
    let mut build = cargo_test();
    build.args(["--test", "*"]);
    let (binaries, mut count) = test_binaries(build);
    for bin in &binaries {
        // Through cargo, which runs the wasm with its runner (wasm-bindgen-test-runner).
        let mut cmd = cargo_test();
        cmd.args(bin.select());
        count.add(run_binary(&bin.name(), cmd, WASM_TIMEOUT));
    }
    count
}

fn wasm_pack() -> Count {
    let Some(wp) = which("wasm-pack") else {
        return missing("wasm-pack");
    };
    let root = util::root();
    let scratch = util::scratch("wasm-pack");
    let wasm_pack_test = |extra: &[&str]| {
        let mut cmd = Command::new(&wp);
        cmd.current_dir(&root)
            .args([
                "test",
                "--headless",
                "--chrome",
                "--chromedriver",
                CHROMEDRIVER,
                "crate",
            ])
            // What follows the crate's path goes to `cargo test` (here: which test binary).
            .args(extra)
            .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
            .env("TMPDIR", &scratch);
        cmd
    };
    // The binaries `wasm-pack test` runs, built the way it builds them (`cargo test --target wasm32-...`).
    let mut build = util::cargo();
    build
        .current_dir(root.join("crate"))
        .args(["test", "--target", "wasm32-unknown-unknown"]);
    let (binaries, mut count) = test_binaries(build);
    for bin in &binaries {
        let select = bin.select();
        let select: Vec<&str> = select.iter().map(String::as_str).collect();
        count.add(run_binary(
            &bin.name(),
            wasm_pack_test(&select),
            WASM_TIMEOUT,
        ));
    }
    count
}

fn e2e() -> Count {
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
        let field = |name: &str| {
            report
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix(&format!("# {name} ")))
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
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
fn types() -> Count {
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

fn missing(what: &str) -> Count {
    eprintln!("{what} is not installed (run `cargo xtask setup`): counted as not run");
    Count::not_run("", format!("{what} is not installed"))
}

/// What a layer run as one command (`run_counted`) prints its results as.
#[allow(dead_code)]
#[derive(Clone, Copy)]
enum Parse {
    Cargo,
    /// node:test's TAP reporter: its closing `# pass N` and `# fail N` lines.
    Tap,
    None,
}

/// Runs a layer as one command, echoing its output, summing `test result:` lines; a non-zero exit
/// without a counted failure (a compile error, a crashed runner) still counts as one failure, and a run
/// stopped by its timeout is named as not run.
#[allow(dead_code)]
fn run_counted(cmd: Command, parse: Parse) -> Count {
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
fn run_binary(name: &str, cmd: Command, timeout: Duration) -> Count {
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

/// A test binary cargo built, from its `compiler-artifact` message.
struct TestBinary {
    package: String,
    package_dir: PathBuf,
    /// The target's kind as cargo selects it: `lib`, `test`, `bin`, `bench` or `example`.
    kind: String,
    target: String,
    executable: PathBuf,
}

impl TestBinary {
    /// The name the summary gives it, e.g. `ferry test store_scale` or `ferry-server lib`.
    fn name(&self) -> String {
        match self.kind.as_str() {
            "lib" => format!("{} lib", self.package),
            kind => format!("{} {kind} {}", self.package, self.target),
        }
    }

    /// The cargo arguments that select it (within its package).
    fn select(&self) -> Vec<String> {
        match self.kind.as_str() {
            "lib" => vec!["--lib".into()],
            kind => vec![format!("--{kind}"), self.target.clone()],
        }
    }
}

/// Builds what `cargo_test` (a `cargo test ...` command) would run, without running it, and lists the
/// test binaries that built, in a stable order. The build goes on past a target that does not compile
/// (`--no-fail-fast`), so the others still run; a build that failed or hung is counted as not run.
fn test_binaries(mut cargo_test: Command) -> (Vec<TestBinary>, Count) {
    eprintln!("--- build");
    cargo_test.args([
        "--no-run",
        "--no-fail-fast",
        "--message-format=json-render-diagnostics",
    ]);
    let ran = run_captured(cargo_test, BUILD_TIMEOUT, false);
    let count = match &ran.end {
        End::Exited(status) if status.success() => Count::default(),
        End::Exited(status) => Count::not_run(
            "",
            format!("test binaries that did not build ({status}; the errors are above)"),
        ),
        end => Count::not_run("", format!("the build {}", end.why())),
    };
    let mut binaries: Vec<TestBinary> = ran.lines.iter().filter_map(|l| artifact(l)).collect();
    binaries
        .sort_by(|a, b| (&a.package, &a.kind, &a.target).cmp(&(&b.package, &b.kind, &b.target)));
    binaries.dedup_by(|a, b| a.executable == b.executable);
    (binaries, count)
}

/// A test binary out of one line of `cargo test --no-run --message-format=json`, if it is one. (Read
/// by hand: xtask stays std-only.)
fn artifact(line: &str) -> Option<TestBinary> {
    if !line.starts_with("{\"reason\":\"compiler-artifact\"") {
        return None;
    }
    let profile = section(line, "\"profile\":{", '}')?;
    if !profile.contains("\"test\":true") {
        return None;
    }
    let executable = string_field(line, "\"executable\":")?;
    let target = section(line, "\"target\":{", '}')?;
    let kinds = section(target, "\"kind\":[", ']')?;
    let kind = match kinds {
        k if k.contains("\"test\"") => "test",
        k if k.contains("\"bin\"") => "bin",
        k if k.contains("\"bench\"") => "bench",
        k if k.contains("\"example\"") => "example",
        _ => "lib",
    };
    let manifest = PathBuf::from(string_field(line, "\"manifest_path\":")?);
    let package_id = string_field(line, "\"package_id\":")?;
    Some(TestBinary {
        package: package_name(&package_id),
        package_dir: manifest.parent()?.to_path_buf(),
        kind: kind.into(),
        target: string_field(target, "\"name\":")?,
        executable: PathBuf::from(executable),
    })
}

/// `path+file:///w/crate#ferry@0.1.0` → `ferry`; `path+file:///w/xtask#0.0.0` → `xtask`;
/// `ferry 0.1.0 (path+file:///w/crate)` (older cargo) → `ferry`.
fn package_name(id: &str) -> String {
    match id.rsplit_once('#') {
        Some((_, spec)) if spec.contains('@') => spec.split('@').next().unwrap_or(spec).into(),
        Some((url, _)) => url.rsplit('/').next().unwrap_or(url).into(),
        None => id.split(' ').next().unwrap_or(id).into(),
    }
}

/// The text after `start` up to the first `end` (JSON with no nesting inside, as cargo writes these).
fn section<'a>(text: &'a str, start: &str, end: char) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The JSON string value after `key` (`null` and non-strings are `None`); handles `\"` and `\\`.
fn string_field(text: &str, key: &str) -> Option<String> {
    let rest = text[text.find(key)? + key.len()..].strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// How a command ended.
enum End {
    Exited(ExitStatus),
    /// Stopped, with everything it started, after running this long.
    TimedOut(Duration),
    /// It could not be started.
    Unstartable(String),
}

impl End {
    /// Why a run that printed no result did not run to its end.
    fn why(&self) -> String {
        match self {
            End::TimedOut(after) => format!("timed out after {} s", after.as_secs()),
            End::Unstartable(e) => format!("could not start: {e}"),
            End::Exited(status) if status.code().is_none() => format!("crashed ({status})"),
            End::Exited(status) => format!("ended without a result ({status})"),
        }
    }
}

/// What a command printed on stdout (line by line) and how it ended.
struct Ran {
    lines: Vec<String>,
    end: End,
}

/// Runs `cmd` with stdout captured (and echoed when `echo`), stderr shown as is. After `timeout` the
/// command and every process it started are killed.
fn run_captured(mut cmd: Command, timeout: Duration, echo: bool) -> Ran {
    cmd.stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {cmd:?}: {e}");
            return Ran {
                lines: Vec::new(),
                end: End::Unstartable(e.to_string()),
            };
        }
    };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (eof_tx, eof) = mpsc::channel::<()>();
    let stdout = child.stdout.take().expect("piped stdout");
    let sink = lines.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        // Bytes, not `lines()`: one line that is not UTF-8 must not stop the reading (and block the child).
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            if echo {
                println!("{line}");
            }
            sink.lock().expect("output lines").push(line);
            buf.clear();
        }
        let _ = eof_tx.send(());
    });
    let started = Instant::now();
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => break End::Exited(status),
            Ok(None) if started.elapsed() >= timeout => {
                eprintln!(
                    "timed out after {} s: stopping {cmd:?} and what it started",
                    timeout.as_secs()
                );
                kill_tree(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break End::TimedOut(started.elapsed());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => break End::Unstartable(e.to_string()),
        }
    };
    // A process the command left behind may hold its stdout open: do not wait for it for long.
    let _ = eof.recv_timeout(Duration::from_secs(10));
    let lines = std::mem::take(&mut *lines.lock().expect("output lines"));
    Ran { lines, end }
}

/// Kills `root` and all its descendants (found through /proc): stops them first, so none can start
/// another process or be re-parented away meanwhile, then kills them all.
fn kill_tree(root: u32) {
    let mut tree = vec![root];
    loop {
        let children = children_by_parent();
        let before = tree.len();
        let mut i = 0;
        while i < tree.len() {
            for &c in children.get(&tree[i]).into_iter().flatten() {
                if !tree.contains(&c) {
                    tree.push(c);
                }
            }
            i += 1;
        }
        signal("-STOP", &tree);
        if tree.len() == before {
            break;
        }
    }
    signal("-KILL", &tree);
}

fn signal(sig: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// Parent pid → child pids, from /proc (empty where there is no /proc).
fn children_by_parent() -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            map.entry(ppid).or_default().push(pid);
        }
    }
    map
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

/// The npm tarball in the build tools people use: `npm ci` in each app of tests/apps/ (each pins its tool in
/// its own package-lock.json; the npm cache makes re-runs quick), then node:test over tests/apps/*.test.mjs.
fn bundlers() -> Count {
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
    let field = |name: &str| {
        report
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix(&format!("# {name} ")))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
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
