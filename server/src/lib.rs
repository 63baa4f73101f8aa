//! Ferry's reference upload server: serves the demo and the built package, accepts uploads, and keeps its
//! own record of exactly what arrived so that end-to-end tests can assert on the server's view rather than
//! the client's. Faults (errors, hangs, dropped connections, slow reads) are injected on request.

mod control;
mod faults;
mod ingest;
mod multipart;
mod record;
mod serve;
mod state;
mod statics;
mod tus;
mod upload;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::on;
use axum::routing::MethodFilter;
use axum::Router;
use tokio::net::TcpListener;

pub use serve::SHUTDOWN_GRACE;

/// Where things live; see `ferry-server --help`.
#[derive(Clone, Debug)]
pub struct Config {
    pub www: PathBuf,
    pub pkg: PathBuf,
    pub uploads: PathBuf,
    /// No per-upload log lines on stderr.
    pub quiet: bool,
}

/// The whole application: uploads, tus, test control, then static files for everything else.
pub fn app(config: &Config) -> Router {
    let state = Arc::new(state::AppState::new(config.uploads.clone(), config.quiet));
    let upload = on(
        MethodFilter::POST
            .or(MethodFilter::PUT)
            .or(MethodFilter::PATCH),
        upload::handle,
    );
    Router::new()
        .route("/upload", upload.clone())
        .route("/upload/", upload.clone())
        .route("/upload/{*rest}", upload)
        .merge(tus::routes())
        .layer(DefaultBodyLimit::disable())
        .merge(control::routes())
        .with_state(state)
        .fallback_service(statics::routes(&config.www, &config.pkg))
}

/// Serves until `shutdown` resolves (then drains connections for at most [`SHUTDOWN_GRACE`]).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(&config.uploads).await?;
    serve::serve(listener, app(&config), shutdown).await;
    Ok(())
}
