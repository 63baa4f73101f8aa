//! The layers that run Rust test binaries: `native` (cargo test), `sw-chromium` and `sw-firefox`
//! (wasm-bindgen-test in a service worker), and `wasm-pack`; each binary built once, then run on its own.

use super::binaries::test_binaries;
use super::results::run_binary;
use super::{Count, NATIVE_TIMEOUT, WASM_TIMEOUT};
use crate::setup::{CHROMEDRIVER, CHROMIUM, FIREFOX};
use crate::util::{self, which};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) fn native() -> Count {
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

pub(super) enum Browser {
    Chromium,
    Firefox,
}

pub(super) fn service_worker(browser: Browser) -> Count {
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

pub(super) fn wasm_pack() -> Count {
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

fn missing(what: &str) -> Count {
    eprintln!("{what} is not installed (run `cargo xtask setup`): counted as not run");
    Count::not_run("", format!("{what} is not installed"))
}
