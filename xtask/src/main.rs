//! `cargo xtask setup|build|demo|test|soak|bench`: the one entry point for people and CI.
//!
//! Std only, so that this builds in seconds on a fresh machine before anything else is installed.

mod build;
mod failures;
mod readme;
mod setup;
mod test;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

  setup            install what is missing (wasm32 target, Chromium, Firefox ESR, drivers,
                   wasm-bindgen-cli matching Cargo.lock, wasm-pack, geckodriver, npm packages)
  build            build the wasm package into pkg/ (what www/ and tests/ load)
  demo [--port N]  what the build needs (wasm32 target, wasm-bindgen-cli, npm packages; no browser)
                   + build, then serve the demo PWA and accept uploads (Ctrl-C stops)
  test [LAYER..]   setup + build, then run every test layer: native, sw (service worker, Chromium
                   and Firefox), wasm-pack, e2e, bundlers, types; each test binary on its own, with a
                   timeout; closes with `N passed, N failed, N did not run`
  bench [--reps N] benchmarks, Ferry side by side with raw idb, a fetch loop in a worker and Workbox
                   (enqueue, drain, wake, memory, bytes), as ratios; writes bench/RESULTS.md
  soak --kills N   SIGKILL the browser N times at random points mid-upload; prints
                   `uploads U, kills K, lost L, applied twice D` (non-zero exit unless both are 0)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "setup" => setup::run(),
        "build" => build::run(),
        "demo" => setup::for_build()
            .and_then(|_| build::run())
            .and_then(|_| demo(rest)),
        "test" => setup::run()
            .and_then(|_| build::run())
            .and_then(|_| test::run(rest)),
        "bench" => {
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            setup::run()
                .and_then(|_| build::run())
                .and_then(|_| test::bench(rest, started))
        }
        "soak" => setup::run()
            .and_then(|_| build::run())
            .and_then(|_| test::soak(rest)),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the reference server in the foreground; Ctrl-C reaches it (same process group) and it exits cleanly.
fn demo(rest: &[String]) -> Result<(), String> {
    let root = util::root();
    let mut cmd = util::cargo();
    cmd.current_dir(&root)
        .args(["run", "--quiet", "--release", "-p", "ferry-server", "--"]);
    let mut port = "8787".to_string();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => port = it.next().cloned().ok_or("--port needs a number")?,
            other => return Err(format!("demo: unknown option `{other}` (only --port N)")),
        }
    }
    cmd.args(["--port", &port]);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    // 130 = interrupted by Ctrl-C: a clean stop for a demo.
    if status.success() || status.code() == Some(130) || status.code().is_none() {
        Ok(())
    } else {
        Err(format!("server exited with {status}"))
    }
}
