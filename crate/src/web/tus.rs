//! tus 1.0 (creation, HEAD offset, PATCH chunks, termination): a killed upload resumes at the server's
//! offset instead of byte 0. Each PATCH body is a `Blob.slice` of the stored Blob (no copy), sized to
//! fit a sync event; every confirmed offset is persisted (it resets the attempt budget) and becomes a
//! `progress` event.

use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::web::store::Store;
use crate::web::{js, messaging, transport};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const TUS_VERSION: &str = "1.0.0";

/// One attempt of a tus task: create the upload if it has none, learn the server's offset, send the rest.
pub async fn send(
    store: &Store,
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
) -> (Outcome, Option<ResponseInfo>) {
    let controller = match web_sys::AbortController::new() {
        Ok(c) => c,
        Err(e) => return (Outcome::NetworkError(transport::describe(&e)), None),
    };
    transport::track(&task.id, controller.clone());
    let result = run(store, task, blob, extra, &controller.signal()).await;
    transport::untrack(&task.id);
    match result {
        Ok(r) => r,
        Err(e) => (Outcome::NetworkError(transport::describe(&e)), None),
    }
}

async fn run(
    store: &Store,
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
    signal: &web_sys::AbortSignal,
) -> Result<(Outcome, Option<ResponseInfo>), JsValue> {
    let Protocol::Tus {
        chunk_size,
        metadata,
        upload_url,
    } = &task.request.protocol
    else {
        return Err(js::error("FerryInvalidProtocol", "not a tus task"));
    };
    let size = task.body.size;
    let (url, mut offset) = match upload_url {
        Some(url) => {
            let head = call(task, "HEAD", url, &[], extra, None, signal).await?;
            if !(200..300).contains(&head.status()) {
                return Ok(answer(&head).await);
            }
            (url.clone(), header_u64(&head, "upload-offset").unwrap_or(0))
        }
        None => {
            let mut headers = vec![
                ("Upload-Length".to_string(), size.to_string()),
                ("Idempotency-Key".to_string(), task.idempotency_key.clone()),
            ];
            if !metadata.is_empty() {
                headers.push(("Upload-Metadata".into(), encode_metadata(metadata)));
            }
            let created = call(
                task,
                "POST",
                &task.request.url,
                &headers,
                extra,
                None,
                signal,
            )
            .await?;
            let location = created.headers().get("location").ok().flatten();
            let (201, Some(location)) = (created.status(), location) else {
                return Ok(answer(&created).await);
            };
            let url = web_sys::Url::new_with_base(&location, &task.request.url)?.href();
            let recorded = store
                .modify(&task.id, |t| {
                    Ok((core::state::record_upload_url(t, &url)?, Vec::new()))
                })
                .await;
            recorded.map_err(|e| js::core_error(&e))?;
            (url, 0)
        }
    };
    let mut last = None;
    while offset < size {
        let end = (offset + chunk_size).min(size);
        let chunk = blob.slice_with_f64_and_f64(offset as f64, end as f64)?;
        let headers = [
            ("Upload-Offset".to_string(), offset.to_string()),
            (
                "Content-Type".to_string(),
                "application/offset+octet-stream".to_string(),
            ),
        ];
        let patched = call(task, "PATCH", &url, &headers, extra, Some(&chunk), signal).await?;
        match patched.status() {
            204 | 200 => {}
            // Someone else's bytes or a lost answer: the next attempt asks the server (HEAD) again.
            409 => {
                return Ok((
                    Outcome::NetworkError(
                        "tus offset mismatch; resuming from the server's offset".into(),
                    ),
                    None,
                ))
            }
            // The server still holds a previous PATCH of ours (its connection died with a killed worker).
            423 => {
                return Ok((
                    Outcome::NetworkError(
                        "tus upload locked by an earlier request; retrying".into(),
                    ),
                    None,
                ))
            }
            _ => return Ok(answer(&patched).await),
        }
        let confirmed = header_u64(&patched, "upload-offset").unwrap_or(end);
        if confirmed <= offset {
            return Ok((
                Outcome::NetworkError(format!(
                    "tus server did not advance the offset past {offset}"
                )),
                None,
            ));
        }
        offset = confirmed;
        progress(store, task, offset).await;
        last = Some(patched);
    }
    match last {
        Some(r) => Ok(answer(&r).await),
        // The server already had every byte (a previous attempt's last answer was lost).
        None => Ok((
            Outcome::Response {
                status: 204,
                retry_after: None,
            },
            Some(ResponseInfo {
                status: 204,
                headers: Vec::new(),
                body: String::new(),
            }),
        )),
    }
}

/// Persists the confirmed offset (which resets the attempt budget) and tells the pages.
async fn progress(store: &Store, task: &Task, offset: u64) {
    let result = store
        .modify(&task.id, |t| {
            let (next, _) = core::apply(
                t,
                core::Input::Progress {
                    bytes_confirmed: offset,
                },
                js::now_ms(),
                0,
            )?;
            let event = core::progress_event(&next, offset);
            Ok((next, vec![event]))
        })
        .await;
    if let Ok((_, events)) = result {
        messaging::broadcast(&events);
    }
}

/// Ends a cancelled tus upload at the server (termination), so it does not keep the partial bytes.
pub async fn terminate(task: &Task) {
    let Protocol::Tus {
        upload_url: Some(url),
        ..
    } = &task.request.protocol
    else {
        return;
    };
    if let Ok(signal) = web_sys::AbortController::new().map(|c| c.signal()) {
        let _ = call(task, "DELETE", url, &[], &[], None, &signal).await;
    }
}

async fn answer(response: &web_sys::Response) -> (Outcome, Option<ResponseInfo>) {
    let (outcome, info) = transport::read_response(response).await;
    (outcome, Some(info))
}

async fn call(
    task: &Task,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    extra: &[(String, String)],
    body: Option<&web_sys::Blob>,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Response, JsValue> {
    let h = web_sys::Headers::new()?;
    for (name, value) in task.request.headers.iter().chain(extra).chain(headers) {
        h.set(name, value)?;
    }
    h.set("Tus-Resumable", TUS_VERSION)?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_headers(&h);
    init.set_signal(Some(signal));
    if let Some(body) = body {
        init.set_body(body);
    }
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    JsFuture::from(transport::fetch(&request))
        .await?
        .dyn_into::<web_sys::Response>()
}

fn header_u64(response: &web_sys::Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .ok()
        .flatten()?
        .trim()
        .parse()
        .ok()
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs.
fn encode_metadata(pairs: &[(String, String)]) -> String {
    let encode = |v: &str| {
        js_sys::global()
            .unchecked_ref::<web_sys::WorkerGlobalScope>()
            .btoa(&latin1(v))
            .unwrap_or_default()
    };
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k} {}", encode(v))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// UTF-8 bytes as a Latin-1 string, which is what `btoa` encodes.
fn latin1(s: &str) -> String {
    s.bytes().map(char::from).collect()
}
