//! `cargo xtask build`: the wasm through the wasm-bindgen CLI (and wasm-opt from npm `binaryen` when
//! present) into `pkg/`, next to the service-worker glue and the page entry: the npm package folder
//! that `www/` and `tests/` load (served at `/ferry/`).

use crate::util::{self, which};
use std::fs;
use std::process::Command;

pub fn run() -> Result<(), String> {
    package(&[], &util::root().join("pkg"))
}

/// Builds the package with extra cargo `features` into `live` (pkg/ for the real one).
pub fn package(features: &[&str], live: &std::path::Path) -> Result<(), String> {
    let root = util::root();
    // Built beside, then swapped in: a server running on pkg/ never serves a half-written package.
    let pkg = root.join("target/pkg-staging");
    let live = live.to_path_buf();
    eprintln!("build: wasm (release) and the reference server");
    let mut wasm = util::cargo();
    // `rustc --crate-type cdylib`: the profile's LTO applies to the wasm (cargo skips it for a cdylib+rlib).
    wasm.current_dir(&root).args([
        "rustc",
        "--quiet",
        "--profile",
        "wasm-release",
        "-p",
        "ferry",
        "--lib",
        "--crate-type",
        "cdylib",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    if !features.is_empty() {
        // A separate target dir keeps the feature build from invalidating the real one.
        wasm.args(["--features", &features.join(","), "--target-dir"])
            .arg(root.join("target/bench"));
    }
    util::run(&mut wasm)?;
    util::run(util::cargo().current_dir(&root).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "ferry-server",
    ]))?;

    let _ = fs::remove_dir_all(&pkg);
    fs::create_dir_all(&pkg).map_err(|e| format!("create pkg/: {e}"))?;
    let target = if features.is_empty() {
        root.join("target")
    } else {
        root.join("target/bench")
    };
    let wasm = target.join("wasm32-unknown-unknown/wasm-release/ferry.wasm");
    let bindgen = which("wasm-bindgen").ok_or("wasm-bindgen not found: run `cargo xtask setup`")?;
    util::run(
        Command::new(bindgen)
            .arg("--target")
            .arg("web")
            .arg("--out-dir")
            .arg(&pkg)
            .args(["--out-name", "ferry"])
            .arg(&wasm),
    )?;

    let bg = pkg.join("ferry_bg.wasm");
    let wasm_opt = root.join("tests/node_modules/.bin/wasm-opt");
    if wasm_opt.is_file() {
        let features = [
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-nontrapping-float-to-int",
            "--enable-mutable-globals",
            "--enable-reference-types",
            "--enable-multivalue",
        ];
        let ok = Command::new(&wasm_opt)
            .arg("-Os")
            .args(features)
            .arg(&bg)
            .arg("-o")
            .arg(&bg)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("build: wasm-opt failed; keeping the unoptimised wasm");
        }
    }

    // The glue and typings are sources in worker/; the package folder is what ships.
    for entry in fs::read_dir(root.join("worker")).map_err(|e| format!("read worker/: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "package.json" || name.ends_with(".js") || name.ends_with(".d.ts") {
            fs::copy(&path, pkg.join(&name)).map_err(|e| format!("copy {name}: {e}"))?;
        }
    }
    // The worker caches the wasm under a name that changes with it, so a new build is never served stale.
    let bytes = fs::read(&bg).map_err(|e| format!("read wasm: {e}"))?;
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let glue = pkg.join("worker.js");
    let text = fs::read_to_string(&glue).map_err(|e| format!("read worker.js: {e}"))?;
    fs::write(
        &glue,
        text.replace("__FERRY_BUILD__", &format!("{hash:016x}")),
    )
    .map_err(|e| format!("write worker.js: {e}"))?;
    let size = fs::metadata(&bg).map(|m| m.len()).unwrap_or(0);
    let old = root.join("target/pkg-old");
    let _ = fs::remove_dir_all(&old);
    if live.exists() {
        fs::rename(&live, &old).map_err(|e| format!("move old pkg/: {e}"))?;
    }
    fs::rename(&pkg, &live).map_err(|e| format!("move new pkg/ in place: {e}"))?;
    let _ = fs::remove_dir_all(&old);
    eprintln!("build: pkg/ ready (ferry_bg.wasm {} KiB)", size / 1024);
    Ok(())
}
