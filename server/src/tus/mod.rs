//! tus 1.0 (core + creation + termination): resumable uploads in pieces, for clients that speak tus.
//!
//! `POST /tus` creates an upload of a declared length, `HEAD /tus/<id>` tells how much arrived,
//! `PATCH /tus/<id>` appends at exactly that offset, `DELETE /tus/<id>` abandons it. Only a finished upload
//! becomes a record (method "TUS"), so tests see tus and plain uploads in one list with the same
//! idempotency bookkeeping. Faults apply to PATCH: a `status` fault discards that PATCH's bytes, while
//! `dropAfter`, `hang` and a client going away keep what arrived (as a real tus server would), which is
//! what makes resuming from `HEAD` observable.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::record::{headers_map, hex, now_ms, Outcome, Record};
use crate::state::{AppState, Inner};
use crate::upload::{created, text};

mod metadata;
mod patch;
use metadata::parse_metadata;

const VERSION: &str = "1.0.0";

/// One upload resource, created by `POST /tus`.
#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TusUpload {
    pub id: u64,
    pub length: u64,
    pub offset: u64,
    pub metadata: BTreeMap<String, Option<String>>,
    pub idempotency_key: Option<String>,
    pub created_at: u64,
    /// How many PATCH requests reached this upload.
    pub patches: u32,
    /// The record made when the upload completed.
    pub record_id: Option<u64>,
    #[serde(skip)]
    busy: bool,
    #[serde(skip)]
    hasher: Sha256,
    #[serde(skip)]
    headers: BTreeMap<String, String>,
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/tus", post(create).options(options))
        .route(
            "/tus/{id}",
            axum::routing::head(status)
                .patch(patch::patch)
                .delete(terminate)
                .options(options),
        )
        .route("/__ferry/tus", get(list))
}

/// Every tus response carries the protocol version.
fn reply(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(VERSION));
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
    response
}

fn with_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(VERSION));
    response
}

async fn options() -> Response {
    reply(
        StatusCode::NO_CONTENT,
        &[
            ("tus-version", VERSION.into()),
            ("tus-extension", "creation,termination".into()),
        ],
    )
}

/// Every request but OPTIONS must speak our version (412 otherwise) and, if a token is set, be authorized;
/// returns the rejection, if any.
fn refuse(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    if headers.get("tus-resumable").and_then(|v| v.to_str().ok()) != Some(VERSION) {
        return Some(reply(
            StatusCode::PRECONDITION_FAILED,
            &[("tus-version", VERSION.into())],
        ));
    }
    if !inner.authorized(headers) {
        return Some(with_version(text(401, "missing or wrong bearer token\n")));
    }
    None
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

async fn create(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(length) = header_u64(&headers, "upload-length") else {
        let why = if headers.contains_key("upload-defer-length") {
            "Upload-Defer-Length is not supported"
        } else {
            "Upload-Length required"
        };
        return with_version(text(400, why));
    };
    let metadata = match headers
        .get("upload-metadata")
        .map(|v| parse_metadata(v.to_str().unwrap_or("\u{0}")))
    {
        None => BTreeMap::new(),
        Some(Ok(m)) => m,
        Some(Err(e)) => return with_version(text(400, &e)),
    };
    let id = {
        let mut inner = state.lock();
        if let Some(response) = refuse(&inner, &headers) {
            return response;
        }
        let id = inner.next_tus_id();
        let map = headers_map(&headers);
        let upload = TusUpload {
            id,
            length,
            offset: 0,
            metadata,
            idempotency_key: map.get("idempotency-key").cloned(),
            created_at: now_ms(),
            patches: 0,
            record_id: None,
            busy: false,
            hasher: Sha256::new(),
            headers: map,
        };
        inner.tus.insert(id, upload);
        id
    };
    let file = state.tus_file(id);
    let made = async {
        tokio::fs::create_dir_all(&state.uploads_dir).await?;
        tokio::fs::File::create(&file).await
    };
    if let Err(e) = made.await {
        state.lock().tus.remove(&id);
        return with_version(text(500, &format!("cannot store the upload: {e}")));
    }
    if length == 0 {
        let moved = complete(&state, &mut state.lock(), id, 201);
        finish_file(&state, id, moved).await;
    }
    reply(
        StatusCode::CREATED,
        &[
            ("location", format!("/tus/{id}")),
            ("upload-offset", "0".into()),
        ],
    )
}

async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let inner = state.lock();
    if let Some(response) = refuse(&inner, &headers) {
        return response;
    }
    match id.parse().ok().and_then(|id: u64| inner.tus.get(&id)) {
        Some(u) => reply(
            StatusCode::OK,
            &[
                ("upload-offset", u.offset.to_string()),
                ("upload-length", u.length.to_string()),
                ("cache-control", "no-store".into()),
            ],
        ),
        None => reply(
            StatusCode::NOT_FOUND,
            &[("cache-control", "no-store".into())],
        ),
    }
}

async fn terminate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let removed = {
        let mut inner = state.lock();
        if let Some(response) = refuse(&inner, &headers) {
            return response;
        }
        id.parse().ok().and_then(|id: u64| inner.tus.remove(&id))
    };
    match removed {
        Some(u) => {
            let _ = tokio::fs::remove_file(state.tus_file(u.id)).await;
            reply(StatusCode::NO_CONTENT, &[])
        }
        None => reply(StatusCode::NOT_FOUND, &[]),
    }
}

async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<TusUpload>> {
    Json(state.lock().tus.values().cloned().collect())
}

/// Records a finished upload; returns the record id if its file is to be kept (applied) or None.
fn complete(state: &AppState, inner: &mut Inner, id: u64, status: u16) -> Option<Option<u64>> {
    let record_id = inner.next_record_id();
    let upload = inner.tus.get_mut(&id)?;
    upload.record_id = Some(record_id);
    let sha256 = hex(&upload.hasher.clone().finalize());
    let mut record = Record {
        id: record_id,
        method: "TUS".into(),
        path: format!("/tus/{id}"),
        query: None,
        headers: upload.headers.clone(),
        bytes: upload.length,
        sha256: Some(sha256.clone()),
        raw_bytes: upload.length,
        raw_sha256: Some(sha256),
        idempotency_key: upload.idempotency_key.clone(),
        applied: false,
        status: Some(status),
        received_at: upload.created_at,
        finished_at: Some(now_ms()),
        complete: true,
        outcome: Outcome::Answered,
        parts: None,
        multipart_error: None,
        fault: None,
        duplicate_of: None,
        metadata: Some(upload.metadata.clone()),
        error: None,
    };
    // Same rule as plain uploads: a key already applied makes this one a duplicate.
    match record
        .idempotency_key
        .as_ref()
        .and_then(|k| inner.applied.get(k))
    {
        Some(first) => record.duplicate_of = Some(first.record_id),
        None => {
            record.applied = true;
            if let Some(key) = record.idempotency_key.clone() {
                inner.applied.insert(key, created(&record));
            }
        }
    }
    state.log(&record);
    let keep = record.applied.then_some(record_id);
    inner.records.push(record);
    Some(keep)
}

/// A completed upload's file becomes the record's stored file (`/uploads/<record id>`) if it was applied.
async fn finish_file(state: &AppState, id: u64, moved: Option<Option<u64>>) {
    match moved {
        Some(Some(record_id)) => {
            let _ = tokio::fs::rename(
                state.tus_file(id),
                state.uploads_dir.join(record_id.to_string()),
            )
            .await;
        }
        Some(None) => {
            let _ = tokio::fs::remove_file(state.tus_file(id)).await;
        }
        None => {}
    }
}
