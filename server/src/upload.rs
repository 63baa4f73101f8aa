//! `POST|PUT|PATCH /upload[/anything]`: stream the body to disk, record what arrived, and answer according
//! to faults, auth and idempotency.
//!
//! The work runs in its own task so that it always finishes and records the outcome: if the client goes
//! away, hyper drops the handler's future, but the task still sees the body error and records `clientGone`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, request, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};

use crate::ingest::{ingest, Ended, Limits, Sink};
use crate::multipart::{self, Multipart};
use crate::record::{hex, now_ms, Outcome, Record};
use crate::serve::drop_connection;
use crate::state::{AppState, Stored};

pub async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut tx = tx;
        let response = process(state, req, &mut tx).await;
        let _ = tx.send(response);
    });
    // A panicked task has no answer to give: dropping the connection is the honest failure.
    rx.await.unwrap_or_else(|_| drop_connection())
}

async fn process(
    state: Arc<AppState>,
    req: Request,
    client: &mut oneshot::Sender<Response>,
) -> Response {
    let (head, body) = req.into_parts();
    let (id, rule, mut reset) = {
        let mut inner = state.lock();
        let id = inner.next_record_id();
        let mut record = Record::arrived(id, &head);
        let rule = inner.faults.take(&record.path);
        record.fault = rule.clone();
        inner.records.push(record);
        let reset = state.watch_reset(&inner);
        (id, rule.unwrap_or_default(), reset)
    };
    let path = state.uploads_dir.join(id.to_string());

    let content_type = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (multipart, multipart_error) = match multipart::boundary(content_type) {
        Some(Ok(boundary)) => (Some(Multipart::new(&boundary)), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let is_multipart = multipart.is_some() || multipart_error.is_some();
    let file = match create(&path).await {
        Ok(file) => file,
        Err(e) => {
            let response = text(500, &format!("cannot store the upload: {e}"));
            return finish(
                &state,
                id,
                |r| settle(r, Outcome::Answered, Some(500)),
                response,
            );
        }
    };

    let limits = Limits {
        drop_after: rule.drop_after,
        bytes_per_sec: rule.slow_bytes_per_sec,
        max: None,
    };
    let mut sink = Sink::new(file, Sha256::new(), multipart);
    let mut ended = ingest(body, limits, &mut sink, &mut reset, |n| {
        if let Some(r) = state.lock().record_mut(id) {
            r.raw_bytes = n;
            r.bytes = n;
        }
    })
    .await;
    let drained = match sink.finish().await {
        Ok(d) => Some(d),
        Err(e) => {
            ended = Ended::Io(e);
            None
        }
    };
    let raw_bytes = drained.as_ref().map_or(0, |d| d.bytes);
    let raw_sha = drained.as_ref().map(|d| hex(&d.hasher.clone().finalize()));
    if let (Ended::Complete, Some(expected)) = (&ended, content_length(&head)) {
        if expected != raw_bytes {
            ended = Ended::ClientGone(format!("body ended after {raw_bytes} of {expected} bytes"));
        }
    }
    let (parts, parts_error) = match drained.and_then(|d| d.multipart) {
        Some(m) => {
            let (parts, error) = m.finish();
            (Some(parts), error)
        }
        None => (is_multipart.then(Vec::new), multipart_error),
    };
    // The payload is the file of a form if there is one; otherwise the whole body.
    let file_part = parts
        .as_ref()
        .and_then(|ps| ps.iter().find(|p| p.filename.is_some()));
    let (bytes, sha256) = file_part.map_or((raw_bytes, raw_sha.clone()), |p| {
        (p.bytes, Some(p.sha256.clone()))
    });
    let complete = matches!(ended, Ended::Complete);
    let error = match &ended {
        Ended::ClientGone(why) => Some(why.clone()),
        Ended::Io(e) => Some(format!("disk: {e}")),
        Ended::Overflow | Ended::Complete | Ended::DropPoint | Ended::Cancelled => None,
    };
    {
        let mut inner = state.lock();
        if let Some(r) = inner.record_mut(id) {
            r.bytes = bytes;
            r.sha256 = sha256;
            r.raw_bytes = raw_bytes;
            r.raw_sha256 = raw_sha;
            r.parts = parts;
            r.multipart_error = parts_error;
            r.complete = complete;
            r.error = error;
            r.finished_at = Some(now_ms());
        }
    }

    // From here on only an applied upload keeps its file.
    let applied = matches!(ended, Ended::Complete)
        && !rule.hang
        && rule.status.is_none()
        && rule.drop_after.is_none();
    if !applied {
        let _ = tokio::fs::remove_file(&path).await;
    }
    match ended {
        Ended::Cancelled => return drop_connection(),
        Ended::ClientGone(_) | Ended::Overflow => {
            return finish(
                &state,
                id,
                |r| settle(r, Outcome::ClientGone, None),
                text(400, "incomplete body\n"),
            );
        }
        Ended::Io(e) => {
            let response = text(500, &format!("cannot store the upload: {e}\n"));
            return finish(
                &state,
                id,
                |r| settle(r, Outcome::Answered, Some(500)),
                response,
            );
        }
        Ended::DropPoint | Ended::Complete if rule.drop_after.is_some() => {
            return finish(
                &state,
                id,
                |r| settle(r, Outcome::Dropped, None),
                drop_connection(),
            );
        }
        Ended::DropPoint | Ended::Complete => {}
    }
    if rule.hang {
        finish(&state, id, |r| settle(r, Outcome::Hanging, None), ());
        tokio::select! {
            _ = reset.changed() => {}
            // Not logged again: the hang was, and a client timing out is what a hang is for.
            _ = client.closed() => if let Some(r) = state.lock().record_mut(id) {
                r.outcome = Outcome::ClientGone;
            },
        }
        return drop_connection();
    }
    if let Some(status) = rule.status {
        let mut response = text(status, &format!("ferry fault: {status}\n"));
        if let Some(retry) = rule
            .retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        if let Some(location) = rule
            .location
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return finish(
            &state,
            id,
            |r| settle(r, Outcome::Answered, Some(status)),
            response,
        );
    }
    decide(&state, id, &head, &reset, &path).await
}

/// Auth, then idempotency, decided and recorded under one lock so that concurrent duplicates are safe.
async fn decide(
    state: &AppState,
    id: u64,
    head: &request::Parts,
    reset: &watch::Receiver<u64>,
    path: &std::path::Path,
) -> Response {
    let (response, applied) = {
        let mut inner = state.lock();
        if reset.has_changed().unwrap_or(true) {
            (drop_connection(), false)
        } else if !inner.authorized(&head.headers) {
            let mut response = text(401, "missing or wrong bearer token\n");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            if let Some(r) = inner.record_mut(id) {
                settle(r, Outcome::Answered, Some(401));
                state.log(r);
            }
            (response, false)
        } else {
            let key = inner.record_mut(id).and_then(|r| r.idempotency_key.clone());
            let original = key.as_ref().and_then(|k| inner.applied.get(k)).cloned();
            let r = inner
                .record_mut(id)
                .expect("a record stays until a reset, and there was none");
            let stored = match &original {
                Some(first) => {
                    r.duplicate_of = Some(first.record_id);
                    first.clone()
                }
                None => {
                    r.applied = true;
                    created(r)
                }
            };
            settle(r, Outcome::Answered, Some(stored.status.as_u16()));
            state.log(r);
            if let (Some(key), None) = (key, &original) {
                inner.applied.insert(key, stored.clone());
            }
            (replay(&stored, original.is_some()), original.is_none())
        }
    };
    if !applied {
        let _ = tokio::fs::remove_file(path).await;
    }
    response
}

/// The answer to an applied upload (201, where it lives, what the server counted).
pub(crate) fn created(r: &Record) -> Stored {
    #[derive(serde::Serialize)]
    struct Created<'a> {
        id: u64,
        bytes: u64,
        sha256: Option<&'a str>,
    }
    let body = serde_json::to_string(&Created {
        id: r.id,
        bytes: r.bytes,
        sha256: r.sha256.as_deref(),
    })
    .expect("serializable");
    let location = format!("/uploads/{}", r.id);
    Stored {
        status: StatusCode::CREATED,
        headers: vec![
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::LOCATION,
                HeaderValue::from_str(&location).expect("ascii"),
            ),
            (
                HeaderName::from_static("x-ferry-upload-id"),
                HeaderValue::from(r.id),
            ),
        ],
        body: Bytes::from(body),
        record_id: r.id,
    }
}

/// `stored` as a response; a replay says so in `Idempotent-Replayed: true`, otherwise it is identical.
fn replay(stored: &Stored, replayed: bool) -> Response {
    let mut response = Response::new(Body::from(stored.body.clone()));
    *response.status_mut() = stored.status;
    for (name, value) in &stored.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn settle(r: &mut Record, outcome: Outcome, status: Option<u16>) {
    r.outcome = outcome;
    r.status = status;
}

/// Applies `update` to the record (unless a reset removed it), logs it, and passes `response` through.
fn finish<T>(state: &AppState, id: u64, update: impl FnOnce(&mut Record), response: T) -> T {
    let mut inner = state.lock();
    if let Some(r) = inner.record_mut(id) {
        update(r);
        state.log(r);
    }
    response
}

pub fn text(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn content_length(head: &request::Parts) -> Option<u64> {
    head.headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn create(path: &std::path::Path) -> std::io::Result<tokio::fs::File> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    tokio::fs::File::create(path).await
}
