//! What a tus 1.0 server's answers mean (<https://tus.io/protocols/resumable-upload>). The web layer
//! makes the requests; every decision about an answer is here.

use crate::core::retry::{classify, Class, Outcome};

/// What to do after a tus answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The upload resource exists at this URL (relative URLs still to be resolved); send from 0.
    Created(String),
    /// The server holds this many bytes: send from there.
    Resume(u64),
    /// The server forgot the upload: create a new one.
    Restart,
    /// The attempt ends with this outcome.
    End(Outcome),
}

/// What a tus server on another origin must do for its answers' headers to reach the worker.
const EXPOSE: &str = "a tus server on another origin must expose its headers \
     (Access-Control-Expose-Headers: Location, Upload-Offset)";

fn response(status: u16, retry_after: Option<String>) -> Outcome {
    Outcome::Response {
        status,
        retry_after,
    }
}

/// The creation `POST` (Creation extension: "The Server MUST acknowledge a successful upload creation
/// with the `201 Created` status. The Server MUST set the `Location` header"). Anything else that is not
/// a "try again later" status is a server that does not speak tus at this URL: a final failure, since
/// treating a plain endpoint's `200` as success would report an upload of which no byte was sent.
pub fn on_create(status: u16, location: Option<&str>, retry_after: Option<String>) -> Step {
    let answer = response(status, retry_after);
    match (status, location.map(str::trim).filter(|l| !l.is_empty())) {
        (201, Some(loc)) => Step::Created(loc.to_string()),
        _ if classify(&answer) == Class::Retryable => Step::End(answer),
        (201, None) => Step::End(Outcome::Refused(format!(
            "the tus endpoint answered 201 without a Location header Ferry can read; {EXPOSE}, and \
             a server that sends none is not a tus server"
        ))),
        _ => Step::End(Outcome::Refused(format!(
            "the upload endpoint answered {status} to a tus creation request (tus needs 201 with a \
             Location); it is not a tus server, or the request was refused"
        ))),
    }
}

/// The `HEAD` that learns the offset of an upload created earlier (core protocol, "HEAD": the Server
/// MUST include `Upload-Offset`; "If the resource is not found, the Server SHOULD return either the
/// `404 Not Found`, `410 Gone` or `403 Forbidden` status without the `Upload-Offset` header").
/// 404 and 410 mean the server forgot the upload (expired, or restarted without storage): Ferry starts
/// a new one instead of failing a task whose bytes it still holds.
///
/// `sent` is the most the server can hold: what it confirmed before, plus the one chunk that may have
/// been in flight when the last answer was lost (`most_sent`). What it confirmed is what a PATCH's
/// answer or an earlier HEAD's said: the offset of a `Resume` is recorded as confirmed, or a second
/// PATCH cut before its answer would leave the server holding more than this allows. An offset past
/// it is bytes Ferry never sent: resuming there would leave a hole in the file and report it
/// complete, so the task fails.
pub fn on_head(
    status: u16,
    offset: Option<u64>,
    size: u64,
    sent: u64,
    retry_after: Option<String>,
) -> Step {
    match (status, offset) {
        (200..=299, Some(o)) if o <= size.min(sent) => Step::Resume(o),
        (200..=299, Some(o)) if o <= size => Step::End(Outcome::Refused(format!(
            "the tus server's HEAD answer says it holds {o} bytes, but at most {sent} were sent to it; \
             it does not keep this upload correctly"
        ))),
        (200..=299, Some(o)) => Step::End(Outcome::Refused(format!(
            "the tus server's HEAD answer says it holds {o} bytes of an upload of {size}, more than \
             the file; it does not keep this upload correctly"
        ))),
        (200..=299, None) => Step::End(Outcome::Refused(format!(
            "the tus server's HEAD answer has no valid Upload-Offset Ferry can read (size {size}); \
             {EXPOSE}"
        ))),
        (404 | 410, _) => Step::Restart,
        // Named: a refused HEAD comes only after an interruption, and its answer has no body to quote.
        _ => Step::End(Outcome::StepResponse {
            step: "the tus HEAD asking where to resume".into(),
            status,
            retry_after,
        }),
    }
}

/// The most bytes a tus server can hold of an upload whose confirmed offset is `confirmed`: one chunk
/// more (a `PATCH` whose answer was lost), never more than the file.
pub fn most_sent(confirmed: u64, chunk_size: u64, size: u64) -> u64 {
    confirmed.saturating_add(chunk_size).min(size)
}

/// A `PATCH` of the bytes `[from, to)` (core protocol, "PATCH": the Server MUST acknowledge successful
/// PATCH requests with `204 No Content` and the new `Upload-Offset`; "If the offsets do not match, the
/// Server MUST respond with the `409 Conflict` status"). 423 Locked: the server still holds an earlier
/// PATCH of ours. These, and a 404/410, go back through HEAD on the next attempt.
///
/// A success without an offset Ferry can read (a server on another origin that does not expose it, or
/// a URL that is no tus upload answering 200) confirms nothing: taken as accepted, the upload would be
/// reported complete unchecked, and the first interrupted one would fail at its HEAD with most of its
/// bytes sent. It fails at once, saying what the server must do.
pub fn on_patch(
    status: u16,
    from: u64,
    to: u64,
    reported: Option<u64>,
    retry_after: Option<String>,
) -> Step {
    match status {
        200..=299 => {
            let Some(confirmed) = reported else {
                return Step::End(Outcome::Refused(format!(
                    "the tus server answered {status} to a PATCH without an Upload-Offset Ferry can \
                     read (tus answers 204 with the new offset); {EXPOSE}"
                )));
            };
            if confirmed > to {
                // Bytes Ferry never sent: resuming there would leave a hole in the file.
                Step::End(Outcome::Refused(format!(
                    "the tus server reported offset {confirmed} after a PATCH of bytes {from}..{to}, \
                     past what was sent to it; it does not keep this upload correctly"
                )))
            } else if confirmed <= from {
                Step::End(Outcome::Again(format!(
                    "tus server reported offset {confirmed} after a PATCH of bytes {from}..{to}"
                )))
            } else {
                Step::Resume(confirmed)
            }
        }
        // Chromium sends a PATCH again after a connection cut mid-body: the server, which kept what
        // arrived, then holds a later offset than the repeat began at. The reason says so.
        409 => Step::End(Outcome::Again(format!(
            "tus offset mismatch: the server's offset is not {from}, where this PATCH began (409 \
             Conflict; a connection cut mid-PATCH, which the browser may send again, does this); \
             resuming from the server's offset"
        ))),
        423 => Step::End(Outcome::Again(
            "tus upload locked by an earlier request; retrying".into(),
        )),
        // The upload URL does not take PATCH (a plain endpoint's Location, or gone since the HEAD):
        // the next attempt asks with HEAD, which restarts a forgotten upload.
        404 | 410 => Step::End(Outcome::Again(format!(
            "the tus upload URL answered {status} to PATCH; asking the server again"
        ))),
        _ => Step::End(Outcome::StepResponse {
            step: format!("the tus PATCH of bytes {from}..{to}"),
            status,
            retry_after,
        }),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::retry::{classify, Class};

    #[test]
    fn creation_needs_201_and_a_location() {
        assert_eq!(
            on_create(201, Some("/files/1"), None),
            Step::Created("/files/1".into())
        );
        for (status, loc) in [
            (200, Some("/x")),
            (204, None),
            (201, None),
            (201, Some(" ")),
        ] {
            let Step::End(o) = on_create(status, loc, None) else {
                panic!("{status} {loc:?} must end the attempt")
            };
            assert_eq!(classify(&o), Class::Final, "{status}");
            assert!(crate::core::describe(&o).contains("not a tus server"));
            if status == 201 {
                // The Location may be there, hidden by CORS: the reason says what to expose.
                assert!(crate::core::describe(&o)
                    .contains("Access-Control-Expose-Headers: Location, Upload-Offset"));
            }
        }
    }

    #[test]
    fn creation_retries_what_a_plain_upload_retries() {
        let Step::End(o) = on_create(503, None, Some("3".into())) else {
            panic!()
        };
        assert_eq!(classify(&o), Class::Retryable);
        let Step::End(o) = on_create(403, None, None) else {
            panic!()
        };
        assert_eq!(classify(&o), Class::Final);
    }

    #[test]
    fn a_forgotten_upload_restarts() {
        assert_eq!(on_head(404, None, 10, 10, None), Step::Restart);
        assert_eq!(on_head(410, None, 10, 10, None), Step::Restart);
        assert_eq!(on_head(200, Some(4), 10, 10, None), Step::Resume(4));
        assert!(matches!(on_head(200, None, 10, 10, None), Step::End(_)));
        assert!(matches!(
            on_head(200, Some(11), 10, 10, None),
            Step::End(Outcome::Refused(why)) if why.contains("holds 11 bytes of an upload of 10, more than the file")
                && !why.contains("Access-Control-Expose-Headers")
        ));
        assert!(matches!(
            on_head(503, None, 10, 10, None),
            Step::End(Outcome::StepResponse { status: 503, .. })
        ));
        // A server that refuses the HEAD (some want metadata it did not get): the reason names the HEAD.
        let Step::End(o) = on_head(400, None, 10, 10, None) else {
            panic!("a 400 to HEAD must end the attempt")
        };
        assert_eq!(classify(&o), Class::Final);
        assert_eq!(
            crate::core::describe(&o),
            "the tus HEAD asking where to resume answered 400 Bad Request"
        );
    }

    #[test]
    fn a_server_that_holds_more_than_was_sent_fails_the_task() {
        // Confirmed 4 of 100 in chunks of 3: a lost PATCH answer may leave the server at 7, not more.
        let sent = most_sent(4, 3, 100);
        assert_eq!(sent, 7);
        assert_eq!(on_head(200, Some(7), 100, sent, None), Step::Resume(7));
        assert_eq!(on_head(200, Some(2), 100, sent, None), Step::Resume(2));
        for claimed in [8, 100] {
            let Step::End(o) = on_head(200, Some(claimed), 100, sent, None) else {
                panic!("{claimed} must end the attempt")
            };
            assert_eq!(classify(&o), Class::Final, "{claimed}");
            assert!(crate::core::describe(&o).contains("at most 7 were sent"));
        }
        assert_eq!(most_sent(98, 3, 100), 100);
        // A PATCH of 0..5 answered with offset 6: past what was sent.
        let Step::End(o) = on_patch(204, 0, 5, Some(6), None) else {
            panic!()
        };
        assert_eq!(classify(&o), Class::Final);
    }

    #[test]
    fn patch_answers() {
        assert_eq!(on_patch(204, 0, 5, Some(5), None), Step::Resume(5));
        // No offset Ferry can read: nothing is confirmed, and retrying cannot help.
        let Step::End(o) = on_patch(204, 0, 5, None, None) else {
            panic!("a PATCH answer without Upload-Offset was taken as accepted")
        };
        assert_eq!(classify(&o), Class::Final);
        assert!(crate::core::retry::describe(&o).contains("Access-Control-Expose-Headers"));
        assert!(matches!(on_patch(200, 0, 5, None, None), Step::End(_)));
        assert!(matches!(on_patch(204, 5, 10, Some(5), None), Step::End(_)));
        assert!(matches!(
            on_patch(409, 7, 12, None, None),
            Step::End(Outcome::Again(why)) if why.contains("offset is not 7, where this PATCH began")
                && why.contains("a connection cut mid-PATCH")
        ));
        assert!(matches!(
            on_patch(404, 0, 5, None, None),
            Step::End(Outcome::Again(_))
        ));
        let Step::End(o) = on_patch(500, 0, 5, None, None) else {
            panic!("a 500 to PATCH must end the attempt")
        };
        assert_eq!(classify(&o), Class::Retryable);
        assert_eq!(
            crate::core::describe(&o),
            "the tus PATCH of bytes 0..5 answered 500 Internal Server Error"
        );
    }
}
