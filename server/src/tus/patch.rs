//! `PATCH /tus/<id>`: append exactly at the current offset, with faults applied like on plain uploads.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use tokio::io::AsyncSeekExt;
use tokio::sync::oneshot;

use super::{complete, finish_file, header_u64, refuse, reply, with_version};
use crate::ingest::{ingest, Ended, Limits, Sink};
use crate::serve::drop_connection;
use crate::state::AppState;
use crate::upload::text;

/// Like uploads, the PATCH runs in its own task so that it always settles the upload (offset, busy flag)
/// even when the client goes away mid-body.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut tx = tx;
        let response = patch_task(state, id, req, &mut tx).await;
        let _ = tx.send(response);
    });
    rx.await.unwrap_or_else(|_| drop_connection())
}

async fn patch_task(
    state: Arc<AppState>,
    id: String,
    req: Request,
    client: &mut oneshot::Sender<Response>,
) -> Response {
    let (head, body) = req.into_parts();
    let content_type = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(offset) = header_u64(&head.headers, "upload-offset") else {
        return with_version(text(400, "Upload-Offset required"));
    };
    let (id, rule, length, hasher, mut reset) = {
        let mut inner = state.lock();
        if let Some(response) = refuse(&inner, &head.headers) {
            return response;
        }
        if content_type.split(';').next().map(str::trim) != Some("application/offset+octet-stream")
        {
            return with_version(text(
                415,
                "Content-Type must be application/offset+octet-stream",
            ));
        }
        let Some(upload) = id.parse().ok().and_then(|id: u64| inner.tus.get_mut(&id)) else {
            return reply(StatusCode::NOT_FOUND, &[]);
        };
        if upload.busy {
            return with_version(text(423, "another PATCH to this upload is in progress"));
        }
        if upload.offset != offset {
            let current = upload.offset.to_string();
            return reply(StatusCode::CONFLICT, &[("upload-offset", current)]);
        }
        if upload.record_id.is_some() {
            // Already complete (its file became the record's): nothing more can be appended.
            let done = upload.offset.to_string();
            return reply(StatusCode::NO_CONTENT, &[("upload-offset", done)]);
        }
        upload.busy = true;
        upload.patches += 1;
        let (id, length, hasher) = (upload.id, upload.length, upload.hasher.clone());
        let rule = inner.faults.take(head.uri.path()).unwrap_or_default();
        (id, rule, length, hasher, state.watch_reset(&inner))
    };

    let limits = Limits {
        drop_after: rule.drop_after,
        bytes_per_sec: rule.slow_bytes_per_sec,
        max: Some(length - offset),
    };
    let (mut ended, drained) = match open_at(&state, id, offset).await {
        Ok(file) => {
            let mut sink = Sink::new(file, hasher, None);
            let ended = ingest(body, limits, &mut sink, &mut reset, |_| {}).await;
            match sink.finish().await {
                Ok(d) => (ended, Some(d)),
                Err(e) => (Ended::Io(e), None),
            }
        }
        Err(e) => (Ended::Io(e), None),
    };
    // A failed PATCH (status fault, disk error) stores nothing: the client must resume from the old offset.
    let keep = rule.status.is_none()
        && !matches!(ended, Ended::Cancelled | Ended::Io(_))
        && drained.is_some();
    if !keep {
        if let Some(d) = &drained {
            if let Err(e) = d.file.set_len(offset).await {
                ended = Ended::Io(e);
            }
        }
    }
    let (new_offset, moved) = {
        let mut inner = state.lock();
        if reset.has_changed().unwrap_or(true) {
            return drop_connection();
        }
        let Some(upload) = inner.tus.get_mut(&id) else {
            return reply(StatusCode::NOT_FOUND, &[]); // terminated meanwhile
        };
        upload.busy = false;
        if let (true, Some(d)) = (keep, drained) {
            upload.offset += d.bytes;
            upload.hasher = d.hasher;
        }
        let finished = upload.offset == upload.length && upload.record_id.is_none();
        let new_offset = upload.offset;
        (
            new_offset,
            if finished {
                complete(&state, &mut inner, id, 204)
            } else {
                None
            },
        )
    };
    finish_file(&state, id, moved).await;
    if !state.quiet {
        eprintln!("ferry-server: tus {id} PATCH @{offset} → {new_offset}/{length} ({ended:?})");
    }

    match ended {
        Ended::Cancelled => return drop_connection(),
        Ended::Io(e) => return with_version(text(500, &format!("cannot store the upload: {e}"))),
        _ if rule.drop_after.is_some() => return drop_connection(),
        _ => {}
    }
    if rule.hang {
        tokio::select! {
            _ = reset.changed() => {}
            _ = client.closed() => {}
        }
        return drop_connection();
    }
    if let Some(status) = rule.status {
        let mut response = with_version(text(status, &format!("ferry fault: {status}\n")));
        if let Some(retry) = rule
            .retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, retry);
        }
        return response;
    }
    match ended {
        Ended::Overflow => with_version(text(400, "the body goes past Upload-Length")),
        Ended::ClientGone(_) => with_version(text(400, "incomplete body")),
        _ => reply(
            StatusCode::NO_CONTENT,
            &[("upload-offset", new_offset.to_string())],
        ),
    }
}

/// The upload's file, cut back to `offset` (bytes of an earlier failed PATCH are not part of it).
async fn open_at(state: &AppState, id: u64, offset: u64) -> std::io::Result<tokio::fs::File> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(state.tus_file(id))
        .await?;
    file.set_len(offset).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(file)
}
