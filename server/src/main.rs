//! `ferry-server`: command line, startup line, and signal handling around [`ferry_server::run`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferry_server::Config;

/// Ferry's reference upload server: the demo, the built package, an upload endpoint that records exactly
/// what arrived, tus 1.0, and `/__ferry/*` controls for tests (records, faults, auth, reset).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the startup line says which).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Demo app served at `/` [default: <workspace>/www]
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,
    /// Built Ferry package served at `/ferry/` [default: <workspace>/pkg]
    #[arg(long, value_name = "DIR")]
    pkg: Option<PathBuf>,
    /// Where upload bodies are stored, named by record id [default: <workspace>/uploads]
    #[arg(long, value_name = "DIR")]
    uploads: Option<PathBuf>,
    /// Don't log one line per upload on stderr.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Defaults are relative to the workspace, not the current directory, so `cargo run -p ferry-server`
    // works from anywhere in the checkout.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let config = Config {
        www: args.www.unwrap_or_else(|| root.join("www")),
        pkg: args.pkg.unwrap_or_else(|| root.join("pkg")),
        uploads: args.uploads.unwrap_or_else(|| root.join("uploads")),
        quiet: args.quiet,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        // Loopback only: this server exists for tests and demos and has no business on a network.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
        let shutdown = shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        // Tests parse this exact line to find the port; flush so a pipe sees it at once.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Ferry demo: http://127.0.0.1:{port}/");
        let _ = out.flush();
        drop(out);
        ferry_server::run(listener, config, shutdown)
            .await
            .map_err(|e| e.to_string())
    });
    // Don't let a blocking file operation still in flight hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("ferry-server: {why}");
    ExitCode::FAILURE
}

/// Ctrl-C or SIGTERM (what test harnesses send). The handlers are installed at once (before the startup
/// line is printed), so a signal sent right after the line is read still shuts down cleanly with exit 0.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
