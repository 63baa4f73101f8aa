//! `cargo xtask bench`: the benchmarks, Ferry's own scaling and Ferry beside its peers.

use crate::util;
use std::process::Command;

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
