//! `cargo xtask build`: the npm package `ferry-upload` in `pkg/` (served at `/ferry/` by the reference
//! server): the wasm through the wasm-bindgen CLI and wasm-opt, the page and module-worker entries and
//! typings from `worker/`, a classic-worker build (`ferry-sw.js`), the package README and both licenses.
//!
//! Reproducible: the bytes depend only on the sources and the pinned tools (rustc, wasm-bindgen from
//! Cargo.lock, wasm-opt from npm `binaryen` pinned in tests/package.json), never on where the checkout or
//! the cargo home lives (`--remap-path-prefix`) or on what else happens to be installed.

use crate::util::{self, output, which};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiler the published package is built with; another one still builds, with different bytes.
const RUSTC: &str = "1.95.0";

/// wasm features the wasm-bindgen output uses (what rustc's wasm32 target enables by default).
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

pub fn run() -> Result<(), String> {
    package(&[], &util::root().join("pkg"))
}

/// Builds the package with extra cargo `features` into `live` (pkg/ for the real one).
pub fn package(features: &[&str], live: &Path) -> Result<(), String> {
    let root = util::root();
    // Built beside, then swapped in: a server running on pkg/ never serves a half-written package.
    let pkg = root.join("target/pkg-staging");
    let classic = root.join("target/pkg-classic");
    let target = if features.is_empty() {
        root.join("target")
    } else {
        root.join("target/bench")
    };
    check_rustc();
    let wasm_opt = wasm_opt(&root)?;
    eprintln!("build: wasm (release) and the reference server");
    let mut cargo = util::cargo();
    cargo
        .current_dir(&root)
        // `rustc --crate-type cdylib` under the `wasm-release` profile: the crate declares only an rlib
        // (its tests need no more), and cargo applies the profile's LTO to a cdylib built alone.
        .args([
            "rustc",
            "--quiet",
            "--profile",
            "wasm-release",
            "-p",
            "ferry",
            "--lib",
        ])
        .args([
            "--crate-type",
            "cdylib",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            remap_flags(&root),
        );
    if !features.is_empty() {
        // A separate target dir keeps the feature build from invalidating the real one.
        cargo
            .args(["--features", &features.join(","), "--target-dir"])
            .arg(&target);
    }
    util::run(&mut cargo)?;
    util::run(util::cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "ferry-server",
    ]))?;

    let wasm = target.join("wasm32-unknown-unknown/wasm-release/ferry.wasm");
    bindgen(&wasm, "web", &pkg)?;
    // The classic build is the same wasm behind wasm-bindgen's no-modules glue (checked, not assumed).
    bindgen(&wasm, "no-modules", &classic)?;
    let bg = pkg.join("ferry_bg.wasm");
    if read(&bg)? != read(&classic.join("ferry_bg.wasm"))? {
        return Err("wasm-bindgen made different wasm for the web and no-modules targets".into());
    }
    util::run(
        Command::new(&wasm_opt)
            .arg("-Os")
            .args(WASM_FEATURES)
            // Metadata no runtime reads: the toolchain's names and the feature list (given above).
            .args(["--strip-producers", "--strip-target-features"])
            .arg(&bg)
            .arg("-o")
            .arg(&bg),
    )?;

    // The worker caches the wasm under a name that changes with it, so a new build is never served stale.
    let bytes = read(&bg)?;
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let build_id = format!("{hash:016x}");

    // Sources in worker/ (classic.js is the template of ferry-sw.js, not a file of the package).
    let sources = root.join("worker");
    for entry in fs::read_dir(&sources).map_err(|e| format!("read worker/: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let ships = name == "package.json"
            || name == "README.md"
            || name.ends_with(".js")
            || name.ends_with(".d.ts");
        if ships && name != "classic.js" {
            let mut text = read_text(&path)?.replace("__FERRY_BUILD__", &build_id);
            if name == "README.md" {
                text = crate::readme::package_readme(&text, &read_text(&root.join("README.md"))?)?;
            }
            write(&pkg.join(&name), &text)?;
        }
    }
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        fs::copy(root.join(name), pkg.join(name)).map_err(|e| format!("copy {name}: {e}"))?;
    }
    let sw = classic_worker(&sources, &classic.join("ferry.js"), &pkg)?;
    write(&pkg.join("ferry-sw.js"), &sw)?;
    let _ = fs::remove_dir_all(&classic);

    let old = root.join("target/pkg-old");
    let _ = fs::remove_dir_all(&old);
    if live.exists() {
        fs::rename(live, &old).map_err(|e| format!("move old pkg/: {e}"))?;
    }
    fs::rename(&pkg, live).map_err(|e| format!("move new pkg/ in place: {e}"))?;
    let _ = fs::remove_dir_all(&old);
    eprintln!(
        "build: {} ready (ferry_bg.wasm {} KiB, build {build_id})",
        live.display(),
        bytes.len() / 1024
    );
    Ok(())
}

/// Absolute paths (of the checkout and of the cargo home, where dependency sources live) end up in
/// panic locations inside the wasm; mapped to fixed names, the bytes are the same on every machine.
fn remap_flags(root: &Path) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut flags = vec![format!("--remap-path-prefix={}=/ferry", root.display())];
    if let Some(home) = cargo_home {
        let home = fs::canonicalize(&home).unwrap_or(home);
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join(" ")
}

fn check_rustc() {
    let version = output(Command::new("rustc").arg("--version")).unwrap_or_default();
    if version.split_whitespace().nth(1) != Some(RUSTC) {
        eprintln!(
            "build: warning: {version:?} is not rustc {RUSTC}, which the published package is built with: \
             the wasm works but its bytes differ (`rustup toolchain install {RUSTC}` and \
             `cargo +{RUSTC} xtask build` for the same bytes)"
        );
    }
}

/// wasm-opt from npm `binaryen` at the exact version tests/package.json pins (`cargo xtask setup`
/// installs it): a missing or different optimiser would silently change the package's bytes.
fn wasm_opt(root: &Path) -> Result<PathBuf, String> {
    let manifest = read_text(&root.join("tests/package.json"))?;
    let want = manifest
        .split("\"binaryen\":")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .and_then(|v| v.split('.').next())
        .ok_or("tests/package.json does not pin binaryen")?
        .to_string();
    let bin = root.join("tests/node_modules/.bin/wasm-opt");
    let have = output(Command::new(&bin).arg("--version")).unwrap_or_default();
    // `wasm-opt version 132 (version_132)`
    if have.split_whitespace().nth(2) != Some(want.as_str()) {
        return Err(format!(
            "wasm-opt {want} (npm binaryen, pinned in tests/package.json) is needed at {}, found {:?}: \
             run `cargo xtask setup` (or `cd tests && npm ci`)",
            bin.display(),
            have
        ));
    }
    Ok(bin)
}

fn bindgen(wasm: &Path, target: &str, out: &Path) -> Result<(), String> {
    let bindgen = which("wasm-bindgen").ok_or("wasm-bindgen not found: run `cargo xtask setup`")?;
    let _ = fs::remove_dir_all(out);
    fs::create_dir_all(out).map_err(|e| format!("create {}: {e}", out.display()))?;
    util::run(
        Command::new(bindgen)
            .args(["--target", target, "--out-name", "ferry", "--out-dir"])
            .arg(out)
            // The package's types are the hand-written worker/*.d.ts; the generated ones say `any`.
            .arg("--no-typescript")
            .arg(wasm),
    )
}

/// `ferry-sw.js`: one classic script (for `importScripts`) holding wasm-bindgen's no-modules glue, the
/// worker half shared with the module entry (install.js) and the Workbox plugin (workbox.js), taken from
/// the package folder `pkg`, wrapped so that it defines only the global `ferry`.
fn classic_worker(sources: &Path, glue: &Path, pkg: &Path) -> Result<String, String> {
    let template = read_text(&sources.join("classic.js"))?;
    let glue = read_text(glue)?;
    let install = inlined(&pkg.join("install.js"), &[])?;
    // workbox.js takes `enqueue` from install.js; in the wrapper, install.js is inlined before it.
    let workbox = inlined(
        &pkg.join("workbox.js"),
        &["import { enqueue } from './install.js';"],
    )?;
    let slots = [
        ("/* __FERRY_GLUE__ */", glue.trim_end()),
        ("/* __FERRY_INSTALL__ */", install.trim_end()),
        ("/* __FERRY_WORKBOX__ */", workbox.trim_end()),
    ];
    let mut out = template;
    for (slot, text) in slots {
        if !out.contains(slot) {
            return Err(format!("worker/classic.js lost its {slot} slot"));
        }
        out = out.replace(slot, text);
    }
    Ok(out)
}

/// A module of worker/ as plain functions inside the classic wrapper: it is an ES module only through its
/// `export`s and the lines of `imports` (which the wrapper provides), and must stay so.
fn inlined(path: &Path, imports: &[&str]) -> Result<String, String> {
    let text: String = read_text(path)?
        .lines()
        .filter(|l| !imports.contains(&l.trim()))
        .map(|l| l.strip_prefix("export ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    if text.contains("import ") || text.contains("export ") || text.contains("import.meta") {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        return Err(format!(
            "worker/{name} must stay free of imports and import.meta (it is inlined into ferry-sw.js)"
        ));
    }
    Ok(text)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}
