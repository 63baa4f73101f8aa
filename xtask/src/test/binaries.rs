//! The test binaries cargo builds for a layer, read from its `--message-format=json` output (by hand:
//! xtask stays std-only), named and selected the way the summary and cargo need them.

use super::process::{run_captured, End};
use super::{Count, BUILD_TIMEOUT};
use std::path::PathBuf;
use std::process::Command;

/// A test binary cargo built, from its `compiler-artifact` message.
pub(super) struct TestBinary {
    pub(super) package: String,
    pub(super) package_dir: PathBuf,
    /// The target's kind as cargo selects it: `lib`, `test`, `bin`, `bench` or `example`.
    pub(super) kind: String,
    pub(super) target: String,
    pub(super) executable: PathBuf,
}

impl TestBinary {
    /// The name the summary gives it, e.g. `ferry test store_scale` or `ferry-server lib`.
    pub(super) fn name(&self) -> String {
        match self.kind.as_str() {
            "lib" => format!("{} lib", self.package),
            kind => format!("{} {kind} {}", self.package, self.target),
        }
    }

    /// The cargo arguments that select it (within its package).
    pub(super) fn select(&self) -> Vec<String> {
        match self.kind.as_str() {
            "lib" => vec!["--lib".into()],
            kind => vec![format!("--{kind}"), self.target.clone()],
        }
    }
}

/// Builds what `cargo_test` (a `cargo test ...` command) would run, without running it, and lists the
/// test binaries that built, in a stable order. The build goes on past a target that does not compile
/// (`--no-fail-fast`), so the others still run; a build that failed or hung is counted as not run.
pub(super) fn test_binaries(mut cargo_test: Command) -> (Vec<TestBinary>, Count) {
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
