//! `cargo xtask setup`: install what is missing, quickly skip what is present, and say plainly what
//! could not be installed and how to do it by hand.

use crate::util::{self, locked_version, output, which};
use std::process::Command;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const FIREFOX: &str = "/usr/bin/firefox-esr";
/// A private session bus for the launch tests' stand-in desktop notification server.
const DBUS_DAEMON: &str = "/usr/bin/dbus-daemon";
/// WebKit (Safari's engine): WebKitGTK's WebDriver, the X server it draws on (it has no headless mode),
/// and what the tests' browser (`tests/webkit/browser.py`, on Debian's python3) is made of.
const WEBKIT_DRIVER: &str = "/usr/bin/WebKitWebDriver";
const XVFB: &str = "/usr/bin/Xvfb";
const PYTHON_GI: &str = "/usr/lib/python3/dist-packages/gi/__init__.py";

/// Everything the tests need: the build's tools, the browsers and their drivers.
pub fn run() -> Result<(), String> {
    let mut problems = Vec::new();
    step("wasm32 target", &mut problems, wasm_target);
    // The browsers' packages (downloads, unpacking) install beside the cargo tools (compiling): on a fresh
    // machine each takes minutes, and they wait on different things.
    let browsers = std::thread::spawn(debian_packages);
    step("wasm-bindgen-cli", &mut problems, wasm_bindgen_cli);
    step("wasm-pack", &mut problems, || {
        cargo_tool("wasm-pack", "wasm-pack", &[])
    });
    step("geckodriver", &mut problems, || {
        cargo_tool("geckodriver", "geckodriver", &["--locked"])
    });
    step("npm packages", &mut problems, npm_packages);
    step("Debian browsers", &mut problems, || {
        browsers
            .join()
            .unwrap_or_else(|_| Err("the install stopped with a panic".into()))
    });
    outcome(problems)
}

/// What the build (and so the demo) needs, no browser: the wasm32 target, wasm-bindgen-cli, and the npm
/// packages of `tests/` (binaryen's `wasm-opt`). Any machine with Rust and Node, no root needed.
pub fn for_build() -> Result<(), String> {
    let mut problems = Vec::new();
    step("wasm32 target", &mut problems, wasm_target);
    step("wasm-bindgen-cli", &mut problems, wasm_bindgen_cli);
    step("npm packages", &mut problems, npm_packages);
    outcome(problems)
}

fn outcome(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "setup could not install everything:\n  - {}",
            problems.join("\n  - ")
        ))
    }
}

fn step(what: &str, problems: &mut Vec<String>, f: impl FnOnce() -> Result<(), String>) {
    if let Err(e) = f() {
        problems.push(format!("{what}: {e}"));
    }
}

fn wasm_target() -> Result<(), String> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    eprintln!("setup: adding the wasm32-unknown-unknown target");
    util::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
        .map_err(|e| format!("{e}; by hand: rustup target add wasm32-unknown-unknown"))
}

/// Where Debian keeps WebKitGTK 4.1's GObject bindings on this architecture.
fn webkit_typelib() -> String {
    format!(
        "/usr/lib/{}-linux-gnu/girepository-1.0/WebKit2-4.1.typelib",
        std::env::consts::ARCH
    )
}

fn debian_packages() -> Result<(), String> {
    let wanted = [
        ("chromium", CHROMIUM),
        ("chromium-driver", CHROMEDRIVER),
        ("firefox-esr", FIREFOX),
        ("dbus-daemon", DBUS_DAEMON),
        ("webkit2gtk-driver", WEBKIT_DRIVER),
        ("xvfb", XVFB),
        ("python3-gi", PYTHON_GI),
        ("gir1.2-webkit2-4.1", &webkit_typelib()),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(_, bin)| !std::path::Path::new(bin).exists())
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let by_hand = format!(
        "by hand: sudo apt-get update && sudo apt-get install -y {}",
        missing.join(" ")
    );
    if which("apt-get").is_none() {
        return Err(format!(
            "not a Debian/Ubuntu machine (no apt-get); install {} yourself",
            missing.join(", ")
        ));
    }
    let root = output(Command::new("id").arg("-u")).as_deref() == Some("0");
    let sudo = !root && which("sudo").is_some();
    if !root && !sudo {
        return Err(format!("need root or sudo; {by_hand}"));
    }
    let apt = |args: &[&str]| {
        let mut c = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    eprintln!("setup: installing {}", missing.join(" "));
    util::run(&mut apt(&["update", "-qq"])).map_err(|e| format!("{e}; {by_hand}"))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    util::run(&mut install).map_err(|e| format!("{e}; {by_hand}"))
}

fn wasm_bindgen_cli() -> Result<(), String> {
    let want = locked_version("wasm-bindgen").ok_or("wasm-bindgen is not in Cargo.lock")?;
    let have = which("wasm-bindgen")
        .and_then(|p| output(Command::new(p).arg("--version")))
        .unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(want.as_str()) {
        return Ok(());
    }
    eprintln!("setup: installing wasm-bindgen-cli {want} (about 2 minutes)");
    // No --locked: its lock file names a crate version the registry no longer serves.
    util::run(
        util::cargo()
            .args([
                "install",
                "--quiet",
                "--force",
                "wasm-bindgen-cli",
                "--version",
                &want,
            ])
            .arg("--target-dir")
            .arg(tools_target()),
    )
    .map_err(|e| format!("{e}; by hand: cargo install wasm-bindgen-cli --version {want}"))
}

/// One build folder for the tools cargo installs (not one temporary folder each): the crates they share
/// (serde, syn, clap...) compile once when their versions and features match.
fn tools_target() -> std::path::PathBuf {
    util::root().join("target/tools")
}

fn cargo_tool(bin: &str, krate: &str, extra: &[&str]) -> Result<(), String> {
    if which(bin).is_some() {
        return Ok(());
    }
    eprintln!("setup: installing {krate} (about 2 minutes)");
    util::run(
        util::cargo()
            .args(["install", "--quiet", krate])
            .args(extra)
            .arg("--target-dir")
            .arg(tools_target()),
    )
    .map_err(|e| format!("{e}; by hand: cargo install {krate} {}", extra.join(" ")))
}

fn npm_packages() -> Result<(), String> {
    let tests = util::root().join("tests");
    if which("npm").is_none() {
        return Err("npm not found; install Node.js 20+ (e.g. apt-get install nodejs npm)".into());
    }
    let lock = tests.join("package-lock.json");
    let stamp = tests.join("node_modules/.package-lock.json");
    let fresh = match (
        std::fs::metadata(&lock).and_then(|m| m.modified()),
        std::fs::metadata(&stamp).and_then(|m| m.modified()),
    ) {
        (Ok(l), Ok(s)) => s >= l,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    eprintln!("setup: npm ci in tests/");
    util::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&tests),
    )
    .map_err(|e| format!("{e}; by hand: cd tests && npm ci"))
}
