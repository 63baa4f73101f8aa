//! S3 multipart uploads: create the upload, PUT each part (a `Blob.slice` of the stored Blob, no copy),
//! complete it; every request signed by the worker's `beforeSend` for its step. Each confirmed part is
//! persisted with its `ETag` (it resets the attempt budget) and becomes a `progress` event, so a cut-off
//! upload resumes at the first part the bucket has not confirmed. What each answer means is
//! `core::s3`'s.

use crate::core::s3::{self as decide, Step};
use crate::core::scheduler::{merge_headers, Prepared, SessionView};
use crate::core::{self, Outcome, Protocol, ResponseInfo, Task};
use crate::scheduler::before_send;
use crate::web::resumable::{self, Answer, Failure};
use crate::web::store::Store;
use crate::web::{js, transport};
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
) -> Result<Answer, Failure> {
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
    let id = loop {
        let id = match upload.take() {
            Some(id) => id,
            None => {
                let id = create(store, task, extra, controller, view).await?;
                etags.clear();
                id
            }
        };
        // Parts the bucket has not confirmed, in order.
        let mut forgotten = false;
        while (etags.len() as u64) < parts {
            let number = etags.len() as u64 + 1;
            let (from, to) = decide::part_range(size, *chunk_size, number);
            let chunk = blob.slice_with_f64_and_f64(from as f64, to as f64)?;
            let request = Request::Part(number, &id);
            let timeout = core::scheduler::attempt_timeout_ms(view, to - from);
            let put = call(
                task,
                &request,
                Vec::new(),
                Some(chunk.into()),
                controller,
                timeout,
            )
            .await?;
            match decide::on_part(
                number,
                put.status,
                put.etag.as_deref(),
                &put.info.body,
                put.retry_after(),
            ) {
                Step::Part(etag) => {
                    record_part(store, task, number, &etag).await?;
                    etags.push(etag);
                }
                Step::Restart => {
                    forgotten = true;
                    break;
                }
                Step::End(outcome) => return Ok((outcome, Some(put.info))),
                _ => unreachable!("a part is stored, forgotten or ends"),
            }
        }
        if !forgotten {
            break id;
        }
        // The bucket forgot the upload (aborted, or expired by a lifecycle rule): a new one, once per
        // attempt; its parts are sent again.
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
    };
    // S3 may take minutes to assemble a large object: the completion is given the time of the whole body.
    let body = JsValue::from_str(&decide::complete_body(&etags));
    let headers = vec![("content-type".to_string(), "application/xml".to_string())];
    let timeout = core::scheduler::attempt_timeout_ms(view, size);
    let done = call(
        task,
        &Request::Complete(&id),
        headers,
        Some(body),
        controller,
        timeout,
    )
    .await?;
    match decide::on_complete(done.status, &done.info.body, done.retry_after()) {
        Step::Done => Ok((done.outcome, Some(done.info))),
        Step::End(outcome) => Ok((outcome, Some(done.info))),
        _ => unreachable!("completion completes or ends"),
    }
}

/// Creates the upload and records its id (the task's headers and a header provider's, `extra`, set
/// the object's headers here).
async fn create(
    store: &Store,
    task: &Task,
    extra: &[(String, String)],
    controller: &web_sys::AbortController,
    view: &SessionView,
) -> Result<String, Failure> {
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
    let timeout = core::scheduler::attempt_timeout_ms(view, 0);
    let created = call(task, &Request::Create, headers, None, controller, timeout).await?;
    let id = match decide::on_create(created.status, &created.info.body, created.retry_after()) {
        Step::Created(id) => id,
        Step::End(outcome) => return Err(Failure::Ended(outcome, created.info)),
        _ => unreachable!("creation only creates or ends"),
    };
    let recorded = store
        .modify(
            &task.id,
            Box::new(|t| Ok((decide::record_upload(t, task.lease_no, Some(&id))?, vec![]))),
        )
        .await;
    if let Err(e) = recorded {
        // Cancelled, cleared or taken over while the creation was answered: nobody knows this
        // upload, so it is ended at the bucket.
        abort_upload(task, &id).await;
        return Err(Failure::Network(format!(
            "the created upload could not be recorded: {e}"
        )));
    }
    Ok(id)
}

/// Persists a confirmed part (which resets the attempt budget) and tells the pages. A part that cannot
/// be recorded (the task was cancelled, or its lease moved on) ends the attempt.
async fn record_part(store: &Store, task: &Task, number: u64, etag: &str) -> Result<(), Failure> {
    resumable::confirm(
        store,
        task,
        Box::new(|t| decide::record_part(t, task.lease_no, number, etag)),
    )
    .await
    .map_err(|e| Failure::Network(format!("part {number} could not be recorded: {e}")))
}

/// Ends a cancelled or failed upload at the bucket (AbortMultipartUpload), so it does not keep the parts.
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
        let timeout = core::scheduler::TIMEOUT_BASE_MS;
        let _ = call(
            task,
            &Request::Abort(id),
            Vec::new(),
            None,
            &controller,
            timeout,
        )
        .await;
    }
}

/// What one request answered, its body read within the request's time.
struct Answered {
    status: u16,
    etag: Option<String>,
    outcome: Outcome,
    info: ResponseInfo,
}

impl Answered {
    fn retry_after(&self) -> Option<String> {
        self.outcome.retry_after().map(str::to_string)
    }
}

/// Makes one request: signed by `beforeSend` for its step (its URL, else the task's with S3's query;
/// its headers added to `headers`), answered and read within `timeout_ms`. Boxed: one copy of its code
/// serves every step, instead of one inlined per call site.
fn call<'a>(
    task: &'a Task,
    request: &'a Request<'a>,
    headers: Vec<(String, String)>,
    body: Option<JsValue>,
    controller: &'a web_sys::AbortController,
    timeout_ms: u64,
) -> Boxed<'a, Result<Answered, Failure>> {
    Box::pin(call_now(
        task, request, headers, body, controller, timeout_ms,
    ))
}

async fn call_now(
    task: &Task,
    request: &Request<'_>,
    headers: Vec<(String, String)>,
    body: Option<JsValue>,
    controller: &web_sys::AbortController,
    timeout_ms: u64,
) -> Result<Answered, Failure> {
    // A cancel (or a lease that moved on) stopped the attempt: no step is signed after it.
    if controller.signal().aborted() {
        return Err(Failure::Network("the attempt was stopped".into()));
    }
    let Prepared {
        url,
        headers: given,
    } = before_send::prepare_step(task, &request.step())
        .await
        .map_err(Failure::NotSent)?;
    let url = url.unwrap_or_else(|| request.url_from(&task.request.url));
    let headers = merge_headers(headers, given);
    let deadline = transport::Deadline::new(controller, timeout_ms);
    let response = resumable::request(
        task,
        request.method(),
        &url,
        &headers,
        body.as_ref(),
        controller,
        &deadline,
        (&headers, &[]),
    )
    .await?;
    let etag = response.headers().get("etag").ok().flatten();
    let completion = matches!(request, Request::Complete(_));
    let (outcome, info) = transport::read_response_after(&response, completion).await;
    if deadline.passed() {
        return Err(Failure::Timeout);
    }
    Ok(Answered {
        status: response.status(),
        etag,
        outcome,
        info,
    })
}
