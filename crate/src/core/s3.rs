//! S3 multipart uploads (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html>), each request presigned by the
//! worker's `beforeSend`: a cut-off upload resumes at the first part the bucket has not confirmed
//! instead of byte 0. The web layer makes the requests; what each answer means, and what is recorded
//! of it, is decided here.

use crate::core::error::Result;
use crate::core::retry::Outcome;
use crate::core::state::illegal;
use crate::core::task::{Protocol, State, Task};

/// Smallest part S3 takes (every part but the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// Largest part S3 takes.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Part size when none is given, for bodies up to 10,000 of them (78 GiB): 8 MiB, what the AWS CLI uses.
pub const DEFAULT_PART: u64 = 8 * 1024 * 1024;
/// Most parts one upload may have (S3's limit, kept by S3-compatible stores too).
pub const MAX_PARTS: u64 = 10_000;

/// The part size of a body of `size` bytes when the upload names none: [`DEFAULT_PART`], or for a body
/// too large for [`MAX_PARTS`] of those, the smallest whole number of MiB that keeps within them (as the
/// AWS CLI grows its parts). Above [`MAX_PART`] for bodies no part size can carry (over 48 TiB).
pub fn default_part_size(size: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    DEFAULT_PART.max(size.div_ceil(MAX_PARTS).div_ceil(MIB).saturating_mul(MIB))
}

/// How many parts a body of `size` bytes makes (at least one: an empty body is one empty part).
pub fn part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size.max(1)).max(1)
}

/// The bytes `[from, to)` of part `number` (1-based).
pub fn part_range(size: u64, part_size: u64, number: u64) -> (u64, u64) {
    let from = (number - 1).saturating_mul(part_size).min(size);
    (from, from.saturating_add(part_size).min(size))
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The upload exists under this `UploadId`: send the parts.
    Created(String),
    /// The part is stored under this `ETag`.
    Part(String),
    /// The bucket no longer knows the upload a part was sent to (`NoSuchUpload`): create a new one.
    Restart,
    /// The object is assembled.
    Done,
    /// The attempt ends with this outcome.
    End(Outcome),
}

/// Error codes S3 asks clients to retry (its own trouble, or a request it timed out on a slow network),
/// whatever the status they come with (`RequestTimeout` is a 400).
const RETRIED: [&str; 4] = [
    "InternalError",
    "SlowDown",
    "ServiceUnavailable",
    "RequestTimeout",
];

/// A non-2xx answer (or a 2xx one carrying an `<Error>`): retried when S3's error code says to, else as
/// its status says.
fn failed(step: &str, status: u16, body: &str, retry_after: Option<String>) -> Outcome {
    match error_code(body) {
        Some(code) if RETRIED.contains(&code.as_str()) => Outcome::Again(format!(
            "{step} answered {status} with error {code}: {}",
            element(body, "Message").unwrap_or_default()
        )),
        Some(code) if (200..300).contains(&status) => Outcome::Refused(format!(
            "{step} answered {status} with error {code}: {}",
            element(body, "Message").unwrap_or_default()
        )),
        _ => Outcome::StepResponse {
            step: step.to_string(),
            status,
            retry_after,
        },
    }
}

/// The CreateMultipartUpload `POST ?uploads`: a 2xx answer carries the `UploadId` in its XML body.
pub fn on_create(status: u16, body: &str, retry_after: Option<String>) -> Step {
    if !(200..300).contains(&status) || error_code(body).is_some() {
        return Step::End(failed("CreateMultipartUpload", status, body, retry_after));
    }
    match element(body, "UploadId").filter(|id| !id.is_empty()) {
        Some(id) => Step::Created(id),
        // A body cut off on its way: asked again.
        None if body.trim().is_empty() => Step::End(Outcome::NetworkError(format!(
            "CreateMultipartUpload answered {status} with an empty or cut-off body"
        ))),
        None => Step::End(Outcome::Refused(format!(
            "the multipart upload URL answered {status} without an UploadId; sign a CreateMultipartUpload \
             (POST ?uploads) of the object for the 'create' step"
        ))),
    }
}

/// An UploadPart `PUT ?partNumber&uploadId`: a 2xx answer carries the part's `ETag` header. A part the
/// bucket refuses as `NoSuchUpload` belongs to an upload that was aborted or expired (it was never
/// completed: a completion is sent only once every part is confirmed): a new one is made.
pub fn on_part(
    number: u64,
    status: u16,
    etag: Option<&str>,
    body: &str,
    retry_after: Option<String>,
) -> Step {
    match (status, etag.map(str::trim).filter(|e| !e.is_empty())) {
        (200..=299, Some(etag)) => Step::Part(etag.to_string()),
        (200..=299, None) => Step::End(Outcome::Refused(
            "the bucket stored a part but its ETag header cannot be read; the bucket's CORS rules must \
             expose it (ExposeHeaders: [\"ETag\"])"
                .into(),
        )),
        (404, _) if error_code(body).as_deref() == Some("NoSuchUpload") => Step::Restart,
        _ => Step::End(failed(&format!("UploadPart {number}"), status, body, retry_after)),
    }
}

/// The CompleteMultipartUpload `POST ?uploadId`. S3 answers 200 at once and the result (or an error)
/// only when done, so success is the result element itself; a body without it was cut off, and the
/// completion is asked again. `NoSuchUpload` here may mean an earlier completion whose answer was lost
/// assembled the object: nothing is sent again (the bytes may be in the bucket), the task fails saying so.
pub fn on_complete(status: u16, body: &str, retry_after: Option<String>) -> Step {
    if (200..300).contains(&status) && error_code(body).is_none() {
        return if body.contains("<CompleteMultipartUploadResult") {
            Step::Done
        } else {
            Step::End(Outcome::NetworkError(format!(
                "CompleteMultipartUpload answered {status} without its result (the answer was cut off)"
            )))
        };
    }
    if error_code(body).as_deref() == Some("NoSuchUpload") {
        return Step::End(Outcome::Refused(
            "the bucket no longer knows this multipart upload: an earlier completion whose answer was \
             lost may have assembled the object, or the upload was aborted (a lifecycle rule); nothing is \
             sent again, check the object"
                .into(),
        ));
    }
    Step::End(failed("CompleteMultipartUpload", status, body, retry_after))
}

/// The CompleteMultipartUpload body: every part in order with its `ETag`.
pub fn complete_body(etags: &[String]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            escape(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// Records the upload the running attempt created (`Some`), or that the bucket forgot it (`None`):
/// either way no part is confirmed under it yet.
pub fn record_upload(task: &Task, lease_no: u64, id: Option<&str>) -> Result<Task> {
    let mut t = running(task, lease_no, "recordS3Upload")?;
    if let Protocol::S3Multipart {
        upload_id, etags, ..
    } = &mut t.request.protocol
    {
        *upload_id = id.map(str::to_string);
        etags.clear();
    }
    Ok(t)
}

/// Records part `number` as stored under `etag` by the attempt of lease `lease_no`: parts are confirmed
/// in order, so it is the next one. Returns the task and the bytes now confirmed (for the `Progress`
/// input, which resets the attempt budget).
pub fn record_part(task: &Task, lease_no: u64, number: u64, etag: &str) -> Result<(Task, u64)> {
    let mut t = running(task, lease_no, "recordS3Part")?;
    let size = t.body.size;
    let Protocol::S3Multipart {
        chunk_size, etags, ..
    } = &mut t.request.protocol
    else {
        unreachable!("checked by running()")
    };
    if etags.len() as u64 + 1 != number {
        return Err(illegal(
            task,
            "recordS3Part",
            &format!("part {number} confirmed after {} parts", etags.len()),
        ));
    }
    etags.push(etag.to_string());
    let (_, to) = part_range(size, *chunk_size, number);
    Ok((t, to))
}

fn running(task: &Task, lease_no: u64, input: &str) -> Result<Task> {
    if task.state != State::InFlight || task.lease_no != lease_no {
        return Err(illegal(
            task,
            input,
            "parts are confirmed by the task's running attempt",
        ));
    }
    if !matches!(task.request.protocol, Protocol::S3Multipart { .. }) {
        return Err(illegal(task, input, "only S3 multipart uploads have parts"));
    }
    Ok(task.clone())
}

/// The `Code` of an S3 `<Error>` body, if the body is one.
pub(crate) fn error_code(body: &str) -> Option<String> {
    body.contains("<Error>")
        .then(|| element(body, "Code"))
        .flatten()
}

/// The text of the first `<name>` element of an S3 answer, its entities decoded. S3's answers are flat
/// and fixed (no attributes or CDATA on these elements), and a service worker has no `DOMParser`.
pub(crate) fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(unescape(xml[start..start + len].trim()))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
