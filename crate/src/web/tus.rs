//! tus 1.0 (creation, HEAD offset, PATCH chunks, termination): a killed upload resumes at the server's
//! offset instead of byte 0. Each PATCH body is a `Blob.slice` of the stored Blob (no copy), sized to
//! fit a sync event; every confirmed offset is persisted (it resets the attempt budget) and becomes a
//! `progress` event.

use crate::core::scheduler::SessionView;
use crate::core::tus::Step;
use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::web::resumable::{self, Failure};
use crate::web::store::Store;
use crate::web::{js, transport};
use wasm_bindgen::{JsCast, JsValue};

const TUS_VERSION: &str = "1.0.0";

/// One attempt of a tus task: create the upload if it has none, learn the server's offset, send the
/// rest. Each request has its own timeout (`core::scheduler::attempt_timeout_ms` of its body).
pub async fn send(
    store: &Store,
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
    view: &SessionView,
) -> (Outcome, Option<ResponseInfo>) {
    resumable::attempt(task, |controller| async move {
        run(store, task, blob, extra, &controller, view).await
    })
    .await
}

async fn run(
    store: &Store,
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
    controller: &web_sys::AbortController,
    view: &SessionView,
) -> Result<(Outcome, Option<ResponseInfo>), Failure> {
    let Protocol::Tus {
        chunk_size,
        metadata,
        upload_url,
    } = &task.request.protocol
    else {
        return Err(js::error("FerryInvalidProtocol", "not a tus task").into());
    };
    let size = task.body.size;
    let call = |method: &'static str,
                url: String,
                headers: Vec<(String, String)>,
                body: Option<web_sys::Blob>| {
        let bytes = body.as_ref().map_or(0, |b| b.size() as u64);
        let timeout = core::scheduler::attempt_timeout_ms(view, bytes);
        async move {
            timed(
                task,
                method,
                &url,
                &headers,
                extra,
                body.as_ref(),
                controller,
                timeout,
            )
            .await
        }
    };
    let resumed = match upload_url {
        Some(url) => {
            let head = call("HEAD", url.clone(), Vec::new(), None).await?;
            let offset = header_u64(&head, "upload-offset");
            let sent = core::tus::most_sent(task.bytes_confirmed, *chunk_size, size);
            match core::tus::on_head(head.status(), offset, size, sent, retry_after(&head)) {
                Step::Resume(offset) => {
                    // What the server holds is confirmed, whichever answer said so: a PATCH cut
                    // before its answer may have left more than the last answer confirmed, and the
                    // next cut's HEAD is judged against this.
                    if offset > task.bytes_confirmed {
                        progress(store, task, offset).await;
                    }
                    Some((url.clone(), offset, head))
                }
                // Forgotten (404/410): create a new upload below, in this same attempt.
                Step::Restart => None,
                Step::End(outcome) => return Ok(ended(outcome, &head).await),
                Step::Created(_) => unreachable!("HEAD never creates"),
            }
        }
        None => None,
    };
    // The answer `completed` reports: the last PATCH's, or (when no PATCH was needed: the server
    // had every byte, a previous attempt's last answer lost, or an empty file) the HEAD's or the
    // creation's that said so.
    let (url, mut offset, mut last) = match resumed {
        Some(r) => r,
        None => {
            let mut headers = vec![
                ("Upload-Length".to_string(), size.to_string()),
                ("Idempotency-Key".to_string(), task.idempotency_key.clone()),
            ];
            if !metadata.is_empty() {
                headers.push(("Upload-Metadata".into(), encode_metadata(metadata)));
            }
            let created = call("POST", task.request.url.clone(), headers, None).await?;
            let location = created.headers().get("location").ok().flatten();
            match core::tus::on_create(created.status(), location.as_deref(), retry_after(&created))
            {
                Step::Created(location) => {
                    let url = web_sys::Url::new_with_base(&location, &task.request.url)?.href();
                    let recorded = store
                        .modify(
                            &task.id,
                            Box::new(|t| {
                                Ok((core::state::record_upload_url(t, &url)?, Vec::new()))
                            }),
                        )
                        .await;
                    if let Err(e) = recorded {
                        // Cancelled (or cleared) while the creation was being answered: the cancel did
                        // not know this URL yet, so the upload is ended here (Termination extension).
                        end_if_gone(store, task, &url, extra).await;
                        return Err(js::core_error(&e).into());
                    }
                    (url, 0, created)
                }
                Step::End(outcome) => return Ok(ended(outcome, &created).await),
                Step::Resume(_) | Step::Restart => unreachable!("creation only creates or ends"),
            }
        }
    };
    while offset < size {
        let end = (offset + chunk_size).min(size);
        let chunk = blob.slice_with_f64_and_f64(offset as f64, end as f64)?;
        let headers = vec![
            ("Upload-Offset".to_string(), offset.to_string()),
            (
                "Content-Type".to_string(),
                "application/offset+octet-stream".to_string(),
            ),
        ];
        let patched = call("PATCH", url.clone(), headers, Some(chunk)).await?;
        let reported = header_u64(&patched, "upload-offset");
        match core::tus::on_patch(
            patched.status(),
            offset,
            end,
            reported,
            retry_after(&patched),
        ) {
            Step::Resume(confirmed) => {
                offset = confirmed;
                progress(store, task, offset).await;
                last = patched;
            }
            Step::End(outcome) => return Ok(ended(outcome, &patched).await),
            Step::Created(_) | Step::Restart => unreachable!("PATCH neither creates nor restarts"),
        }
    }
    Ok(answer(&last).await)
}

/// An outcome `core` decided, with what the response said attached for the event.
async fn ended(outcome: Outcome, response: &web_sys::Response) -> (Outcome, Option<ResponseInfo>) {
    let (_, info) = transport::read_response(response).await;
    (outcome, Some(info))
}

fn retry_after(response: &web_sys::Response) -> Option<String> {
    response.headers().get("retry-after").ok().flatten()
}

/// Persists the confirmed offset (which resets the attempt budget) and tells the pages.
async fn progress(store: &Store, task: &Task, offset: u64) {
    let _ = resumable::confirm(store, task, Box::new(|t| Ok((t.clone(), offset)))).await;
}

/// Ends a cancelled tus upload at the server (Termination extension: "`DELETE` ... the Server SHOULD
/// free any resources"), so it does not keep the partial bytes. `extra`: what an attempt adds to the
/// task's headers (`scheduler::termination_headers`); the task's own are those it was queued with.
pub async fn terminate(task: &Task, extra: &[(String, String)]) {
    if let Some(url) = upload_url(task) {
        delete(task, url, extra).await;
    }
}

/// The upload a tus task has at its server, if any.
pub fn upload_url(task: &Task) -> Option<&str> {
    match &task.request.protocol {
        Protocol::Tus {
            upload_url: Some(url),
            ..
        } => Some(url),
        _ => None,
    }
}

/// After an upload URL could not be recorded: ends the upload at the server if its task is gone or
/// cancelled (not if the lease only moved on, since another attempt may resume it).
async fn end_if_gone(store: &Store, task: &Task, url: &str, extra: &[(String, String)]) {
    let gone = match store.get(&task.id).await {
        Ok(None) => true,
        Ok(Some(t)) => t.state == core::State::Cancelled,
        Err(_) => false,
    };
    if gone {
        delete(task, url, extra).await;
    }
}

async fn delete(task: &Task, url: &str, extra: &[(String, String)]) {
    if let Ok(controller) = web_sys::AbortController::new() {
        let timeout = core::scheduler::TIMEOUT_BASE_MS;
        let _ = timed(task, "DELETE", url, &[], extra, None, &controller, timeout).await;
    }
}

async fn answer(response: &web_sys::Response) -> (Outcome, Option<ResponseInfo>) {
    let (outcome, info) = transport::read_response(response).await;
    (outcome, Some(info))
}

#[allow(clippy::too_many_arguments)]
async fn timed(
    task: &Task,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    extra: &[(String, String)],
    body: Option<&web_sys::Blob>,
    controller: &web_sys::AbortController,
    timeout_ms: u64,
) -> Result<web_sys::Response, Failure> {
    let more = [extra, headers].concat();
    let mut all = [&task.request.headers[..], &more].concat();
    all.push(("Tus-Resumable".into(), TUS_VERSION.into()));
    let body = body.map(|b| JsValue::from(b.clone()));
    let fixed = ["tus-resumable"];
    let deadline = transport::Deadline::new(controller, timeout_ms);
    resumable::request(
        task,
        method,
        url,
        &all,
        body.as_ref(),
        controller,
        &deadline,
        (&more, &fixed),
    )
    .await
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
