//! Static files: the demo app (`--www`) at `/` and the built Ferry package (`--pkg`) at `/ferry/`.
//!
//! Headers are fixed up here rather than trusted to a MIME table: browsers refuse to stream-compile wasm
//! that is not `application/wasm`, and refuse module scripts and service workers with a non-JavaScript
//! type. `no-cache` makes every reload revalidate, so a rebuilt package is never served stale in the middle
//! of a test run, and `Service-Worker-Allowed: /` lets a worker script living under `/ferry/` control the
//! whole origin. A script asked for with `?csp=<policy>` is served under that Content-Security-Policy,
//! which is how a test runs a service worker under a strict policy (a worker's policy is its script's).

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::services::ServeDir;

pub fn routes(www: &Path, pkg: &Path) -> Router {
    Router::new()
        .nest_service("/ferry", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www))
        .layer(middleware::from_fn(headers))
}

async fn headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let csp =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(req.uri())
            .ok()
            .and_then(|q| q.0.get("csp").cloned())
            .and_then(|p| HeaderValue::from_str(&p).ok());
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !response.status().is_success() {
        return response;
    }
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.contains('/'));
    let content_type = match ext.as_deref() {
        Some("wasm") => Some("application/wasm"),
        Some("js" | "mjs") => Some("text/javascript"),
        _ => None,
    };
    if let Some(ct) = content_type {
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if ct == "text/javascript" && path.starts_with("/ferry/") {
            h.insert("service-worker-allowed", HeaderValue::from_static("/"));
        }
        if let (Some(csp), "text/javascript") = (csp, ct) {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    response
}
