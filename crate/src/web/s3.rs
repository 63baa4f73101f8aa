//! S3 multipart uploads: create the upload, PUT each part (a `Blob.slice` of the stored Blob, no copy),
//! complete it; every request signed by the worker's `beforeSend` for its step. Each confirmed part is
//! persisted with its `ETag` (it resets the attempt budget) and becomes a `progress` event, so a cut-off
//! upload resumes at the first part the bucket has not confirmed. What each answer means is
//! `core::s3`'s.

use crate::core::s3::{self as decide, Step};
use crate::core::scheduler::{merge_headers, Prepared, SessionView};
use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::scheduler::before_send;
use crate::web::resumable::{self, Failure};
use crate::web::store::Store;
use crate::web::{js, messaging, transport};
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::JsValue;

/// A future boxed so that one copy of its code serves every caller.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// One attempt of an S3 multipart task. `extra`: a header provider's headers (sent, with the task's, on
/// the request that creates the upload, which sets the object's headers).
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

/// A request of the upload, by step.
enum Request<'a> {
    Create,
    Part(u64, &'a str),
    Complete(&'a str),
    Abort(&'a str),
}

impl Request<'_> {
    /// What `beforeSend` is asked with.
    fn step(&self) -> JsValue {
        let step = js_sys::Object::new();
        let (name, id, part) = match self {
            Request::Create => ("create", None, None),
            Request::Part(n, id) => ("part", Some(*id), Some(*n)),
            Request::Complete(id) => ("complete", Some(*id), None),
            Request::Abort(id) => ("abort", Some(*id), None),
        };
        js::set(&step, "step", &JsValue::from_str(name));
        if let Some(id) = id {
            js::set(&step, "uploadId", &JsValue::from_str(id));
        }
        if let Some(n) = part {
            js::set(&step, "partNumber", &JsValue::from_f64(n as f64));
        }
        step.into()
    }

    fn method(&self) -> &'static str {
        match self {
            Request::Create | Request::Complete(_) => "POST",
            Request::Part(..) => "PUT",
            Request::Abort(_) => "DELETE",
        }
    }

    /// The task's URL with S3's query for this request, for a `beforeSend` that gave no URL (the app's
    /// own endpoint that speaks S3's API, say).
    fn url_from(&self, base: &str) -> String {
        let enc = |v: &str| String::from(js_sys::encode_uri_component(v));
        let query = match self {
            Request::Create => "uploads".to_string(),
            Request::Part(n, id) => format!("partNumber={n}&uploadId={}", enc(id)),
            Request::Complete(id) | Request::Abort(id) => format!("uploadId={}", enc(id)),
        };
        let (base, _) = base.split_once('#').unwrap_or((base, ""));
        let joint = if base.contains('?') { '&' } else { '?' };
        format!("{base}{joint}{query}")
    }
}

async fn run(
    store: &Store,
    task: &Task,
    blob: &web_sys::Blob,
    extra: &[(String, String)],
    controller: &web_sys::AbortController,
    view: &SessionView,
) -> Result<(Outcome, Option<ResponseInfo>), Failure> {
    let Protocol::S3Multipart {
        chunk_size,
        upload_id,
        etags,
    } = &task.request.protocol
    else {
        return Err(js::error("FerryInvalidProtocol", "not an S3 multipart task").into());
    };
    let size = task.body.size;
    let parts = decide::part_count(size, *chunk_size);
    let mut upload = upload_id.clone();
    let mut etags = etags.clone();
    let mut restarted = false;
    loop {
        let id = match upload.take() {
            Some(id) => id,
            None => {
                let mut headers = task.request.headers.clone();
                headers.extend(extra.iter().cloned());
                headers.push(("idempotency-key".into(), task.idempotency_key.clone()));
                if !task.body.mime.is_empty()
                    && !headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), task.body.mime.clone()));
                }
                let created =
                    call(task, &Request::Create, headers, None, controller, view, 0).await?;
                let (outcome, info) = transport::read_response(&created).await;
                match decide::on_create(created.status(), &info.body, retry_after(&outcome)) {
                    Step::Created(id) => {
                        let recorded = store
                            .modify(
                                &task.id,
                                Box::new(|t| {
                                    Ok((
                                        decide::record_upload(t, task.lease_no, Some(&id))?,
                                        vec![],
                                    ))
                                }),
                            )
                            .await;
                        if let Err(e) = recorded {
                            // Cancelled, cleared or taken over while the creation was answered:
                            // nobody knows this upload, so it is ended at the bucket.
                            abort_upload(task, &id).await;
                            return Err(Failure::Network(format!(
                                "the created upload could not be recorded: {e}"
                            )));
                        }
                        etags.clear();
                        id
                    }
                    Step::End(outcome) => return Ok((outcome, Some(info))),
                    _ => unreachable!("creation only creates or ends"),
                }
            }
        };
        // Parts the bucket has not confirmed, in order.
        let mut forgotten = false;
        while (etags.len() as u64) < parts {
            let number = etags.len() as u64 + 1;
            let (from, to) = decide::part_range(size, *chunk_size, number);
            let chunk = blob.slice_with_f64_and_f64(from as f64, to as f64)?;
            let put = call(
                task,
                &Request::Part(number, &id),
                Vec::new(),
                Some(chunk.into()),
                controller,
                view,
                to - from,
            )
            .await?;
            let etag = put.headers().get("etag").ok().flatten();
            let (outcome, info) = transport::read_response(&put).await;
            match decide::on_part(
                put.status(),
                etag.as_deref(),
                &info.body,
                retry_after(&outcome),
            ) {
                Step::Part(etag) => {
                    record_part(store, task, number, &etag).await?;
                    etags.push(etag);
                }
                Step::Restart => {
                    forgotten = true;
                    break;
                }
                Step::End(outcome) => return Ok((outcome, Some(info))),
                _ => unreachable!("a part is stored, forgotten or ends"),
            }
        }
        if !forgotten {
            let body = JsValue::from_str(&decide::complete_body(&etags));
            let headers = vec![("content-type".to_string(), "application/xml".to_string())];
            let done = call(
                task,
                &Request::Complete(&id),
                headers,
                Some(body),
                controller,
                view,
                0,
            )
            .await?;
            let (outcome, info) = transport::read_response(&done).await;
            match decide::on_complete(done.status(), &info.body, retry_after(&outcome)) {
                Step::Done => return Ok((outcome, Some(info))),
                Step::Restart => {}
                Step::End(outcome) => return Ok((outcome, Some(info))),
                _ => unreachable!("completion completes, restarts or ends"),
            }
        }
        // The bucket forgot the upload (expired, aborted, or completed by an attempt whose answer was
        // lost): a new one, once per attempt.
        if restarted {
            return Err(Failure::Network(
                "the bucket forgot the multipart upload again; retrying".into(),
            ));
        }
        restarted = true;
        store
            .modify(
                &task.id,
                Box::new(|t| Ok((decide::record_upload(t, task.lease_no, None)?, vec![]))),
            )
            .await
            .map_err(|e| {
                Failure::Network(format!("the forgotten upload could not be recorded: {e}"))
            })?;
        etags.clear();
    }
}

fn retry_after(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Response { retry_after, .. } => retry_after.clone(),
        _ => None,
    }
}

/// Persists a confirmed part (which resets the attempt budget) and tells the pages. A part that cannot
/// be recorded (the task was cancelled, or its lease moved on) ends the attempt.
async fn record_part(store: &Store, task: &Task, number: u64, etag: &str) -> Result<(), Failure> {
    let (_, events) = store
        .modify(
            &task.id,
            Box::new(|t| {
                let (t, bytes) = decide::record_part(t, task.lease_no, number, etag)?;
                let (next, _) = core::scheduler::settle(
                    &t,
                    task.lease_no,
                    core::Input::Progress {
                        bytes_confirmed: bytes,
                    },
                    js::now_ms(),
                    0,
                )?;
                let event = core::progress_event(&next, bytes);
                Ok((next, vec![event]))
            }),
        )
        .await
        .map_err(|e| Failure::Network(format!("part {number} could not be recorded: {e}")))?;
    messaging::broadcast(&events);
    Ok(())
}

/// Ends a cancelled upload at the bucket (AbortMultipartUpload), so it does not keep the parts.
pub async fn abort(task: &Task) {
    if let Protocol::S3Multipart {
        upload_id: Some(id),
        ..
    } = &task.request.protocol
    {
        abort_upload(task, id).await;
    }
}

async fn abort_upload(task: &Task, id: &str) {
    if let Ok(controller) = web_sys::AbortController::new() {
        let view = SessionView::default();
        let _ = call(
            task,
            &Request::Abort(id),
            Vec::new(),
            None,
            &controller,
            &view,
            0,
        )
        .await;
    }
}

/// Makes one request: signed by `beforeSend` for its step (its URL, else the task's with S3's query;
/// its headers added to `headers`), with its own timeout (that of a body of `bytes`). Boxed: one copy of
/// its code serves every step, instead of one inlined per call site.
fn call<'a>(
    task: &'a Task,
    request: &'a Request<'a>,
    headers: Vec<(String, String)>,
    body: Option<JsValue>,
    controller: &'a web_sys::AbortController,
    view: &'a SessionView,
    bytes: u64,
) -> Boxed<'a, Result<web_sys::Response, Failure>> {
    Box::pin(call_now(
        task, request, headers, body, controller, view, bytes,
    ))
}

async fn call_now(
    task: &Task,
    request: &Request<'_>,
    headers: Vec<(String, String)>,
    body: Option<JsValue>,
    controller: &web_sys::AbortController,
    view: &SessionView,
    bytes: u64,
) -> Result<web_sys::Response, Failure> {
    let Prepared {
        url,
        headers: given,
    } = before_send::prepare_step(task, &request.step())
        .await
        .map_err(Failure::NotSent)?;
    let url = url.unwrap_or_else(|| request.url_from(&task.request.url));
    let headers = merge_headers(headers, given);
    let timeout = core::scheduler::attempt_timeout_ms(view, bytes);
    resumable::request(
        task,
        request.method(),
        &url,
        &headers,
        body.as_ref(),
        controller,
        timeout,
        (&headers, &[]),
    )
    .await
}
