//! `/__ferry/*`: what tests use to inspect and steer the server (JSON in and out).
//!
//! Request bodies are parsed as JSON whatever their Content-Type, so a bare `fetch(url, {method: 'POST',
//! body: JSON.stringify(x)})` from a test works; malformed input is a 400 with `{"error": "..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::faults::Rule;
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/__ferry/health", get(|| async { "ok" }))
        .route("/__ferry/uploads", get(uploads))
        .route("/__ferry/keys", get(keys))
        .route("/__ferry/reset", post(reset))
        .route(
            "/__ferry/faults",
            get(faults).post(add_faults).delete(clear_faults),
        )
        .route("/__ferry/auth", post(auth))
        .route("/uploads/{id}", get(download))
}

#[derive(Deserialize)]
struct KeyFilter {
    key: Option<String>,
}

/// Every record in arrival order, optionally only those with one idempotency key.
async fn uploads(State(state): State<Arc<AppState>>, Query(filter): Query<KeyFilter>) -> Response {
    let inner = state.lock();
    let records: Vec<_> = inner
        .records
        .iter()
        .filter(|r| filter.key.is_none() || r.idempotency_key == filter.key)
        .collect();
    Json(records).into_response()
}

#[derive(Serialize, Default)]
struct KeyCount {
    arrived: u64,
    applied: u64,
}

/// Per idempotency key: how many requests arrived with it and how many were applied (should be ≤ 1).
async fn keys(State(state): State<Arc<AppState>>) -> Json<BTreeMap<String, KeyCount>> {
    let inner = state.lock();
    let mut map: BTreeMap<String, KeyCount> = BTreeMap::new();
    for r in &inner.records {
        if let Some(key) = &r.idempotency_key {
            let count = map.entry(key.clone()).or_default();
            count.arrived += 1;
            count.applied += u64::from(r.applied);
        }
    }
    Json(map)
}

/// Clears records, keys, faults, auth and tus uploads; in-flight and hanging requests are cut off.
async fn reset(State(state): State<Arc<AppState>>) -> StatusCode {
    for file in state.reset() {
        let _ = tokio::fs::remove_file(file).await;
    }
    StatusCode::NO_CONTENT
}

async fn faults(State(state): State<Arc<AppState>>) -> Json<Vec<Rule>> {
    Json(state.lock().faults.list())
}

/// Appends one rule (an object) or several (an array); answers the whole remaining queue.
async fn add_faults(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match Rule::parse_many(&body) {
        Ok(rules) => {
            let mut inner = state.lock();
            for rule in rules {
                inner.faults.push(rule);
            }
            Json(inner.faults.list()).into_response()
        }
        Err(e) => bad_request(&e),
    }
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    state.lock().faults.clear();
    StatusCode::NO_CONTENT
}

/// `{"token": "abc"}` requires `Authorization: Bearer abc` on uploads; `{"token": null}` lifts it.
async fn auth(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Auth {
        token: Option<String>,
    }
    match serde_json::from_slice::<Auth>(&body) {
        Ok(Auth { token }) => {
            state.lock().token = token;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(&format!("expected {{\"token\": string|null}}: {e}")),
    }
}

/// The stored bytes of an applied upload (what `Location` points at), for demos and spot checks.
async fn download(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u64>,
    req: Request,
) -> Response {
    let applied = state.lock().records.iter().any(|r| r.id == id && r.applied);
    if !applied {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no stored upload {id}") })),
        )
            .into_response();
    }
    let file = ServeFile::new(state.uploads_dir.join(id.to_string()));
    match file.oneshot(req).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

pub fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response()
}
