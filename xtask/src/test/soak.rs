//! `cargo xtask soak`: the browser killed at random points mid-upload, by `tests/soak.mjs`.

use crate::util;
use std::process::Command;

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
