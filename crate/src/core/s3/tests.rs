//! S3 multipart: the parts a body makes, what each answer means, what is recorded of it.

use super::*;
use crate::core::retry::{classify, Class};
use crate::core::scheduler::tests::task;

const MIB: u64 = 1024 * 1024;

fn s3_task(size: u64, chunk_size: u64) -> Task {
    let mut t = task("1", "a", 1);
    t.body.size = size;
    t.request.protocol = Protocol::S3Multipart {
        chunk_size,
        upload_id: Some("u-1".into()),
        etags: Vec::new(),
    };
    t.state = State::InFlight;
    t.lease_no = 3;
    t
}

#[test]
fn a_body_makes_whole_parts_and_a_shorter_last_one() {
    assert_eq!(part_count(11 * MIB, 5 * MIB), 3);
    assert_eq!(part_range(11 * MIB, 5 * MIB, 1), (0, 5 * MIB));
    assert_eq!(part_range(11 * MIB, 5 * MIB, 3), (10 * MIB, 11 * MIB));
    assert_eq!(
        part_count(10 * MIB, 5 * MIB),
        2,
        "no empty part after a whole one"
    );
    assert_eq!(part_count(0, 5 * MIB), 1, "an empty body is one empty part");
    assert_eq!(part_range(0, 5 * MIB, 1), (0, 0));
}

#[test]
fn creation_reads_the_upload_id_of_the_xml_answer() {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE&amp;x</UploadId></InitiateMultipartUploadResult>"#;
    assert_eq!(
        on_create(200, body, None),
        Step::Created("VXBsb2FkIElE&x".into())
    );
    let Step::End(o) = on_create(200, "<Ok/>", None) else {
        panic!("no UploadId must end the attempt")
    };
    assert_eq!(classify(&o), Class::Final);
    assert!(crate::core::describe(&o).contains("without an UploadId"));
    let Step::End(o) = on_create(200, "", None) else {
        panic!("a cut-off answer must end the attempt")
    };
    assert_eq!(classify(&o), Class::Retryable, "asked again");
    for (status, class) in [(403, Class::Final), (503, Class::Retryable)] {
        let Step::End(o) = on_create(status, "<Error><Code>X</Code></Error>", None) else {
            panic!("{status} must end the attempt")
        };
        assert_eq!(classify(&o), class, "{status}");
    }
}

#[test]
fn a_part_is_stored_under_its_etag_which_cors_must_expose() {
    assert_eq!(
        on_part(1, 200, Some(" \"abc\" "), "", None),
        Step::Part("\"abc\"".into())
    );
    let Step::End(o) = on_part(1, 200, None, "", None) else {
        panic!("an unreadable ETag must end the attempt")
    };
    assert_eq!(classify(&o), Class::Final);
    assert!(crate::core::describe(&o).contains("ExposeHeaders"));
    let forgotten = "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>";
    assert_eq!(on_part(1, 404, None, forgotten, None), Step::Restart);
    assert!(matches!(
        on_part(
            1,
            404,
            None,
            "<Error><Code>NoSuchBucket</Code></Error>",
            None
        ),
        Step::End(Outcome::StepResponse { status: 404, .. })
    ));
    assert!(matches!(
        on_part(1, 500, None, "", Some("2".into())),
        Step::End(Outcome::StepResponse { status: 500, .. })
    ));
}

#[test]
fn completion_succeeds_only_with_its_result_and_reads_an_error_s3_answers_with_200() {
    let ok =
        "  \n <CompleteMultipartUploadResult><ETag>\"x-3\"</ETag></CompleteMultipartUploadResult>";
    assert_eq!(on_complete(200, ok, None), Step::Done);
    // The 200 came and the body was cut off before the result: asked again.
    for cut in ["", "   \n  "] {
        let Step::End(o) = on_complete(200, cut, None) else {
            panic!("{cut:?}")
        };
        assert_eq!(classify(&o), Class::Retryable, "{cut:?}");
    }
    let internal = "<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>";
    let Step::End(o) = on_complete(200, internal, None) else {
        panic!()
    };
    assert_eq!(
        classify(&o),
        Class::Retryable,
        "S3 says to retry an InternalError"
    );
    // An answer, not a network error: the reason says what S3 said.
    assert_eq!(
        crate::core::describe(&o),
        "CompleteMultipartUpload answered 200 with error InternalError: We encountered an internal error"
    );
    let too_small = "<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed size</Message></Error>";
    let Step::End(o) = on_complete(200, too_small, None) else {
        panic!()
    };
    assert_eq!(classify(&o), Class::Final);
    assert!(crate::core::describe(&o).contains("EntityTooSmall: Your proposed upload"));
}

#[test]
fn a_completion_of_an_upload_the_bucket_no_longer_knows_sends_nothing_again() {
    let gone = "<Error><Code>NoSuchUpload</Code></Error>";
    let Step::End(o) = on_complete(404, gone, None) else {
        panic!("an earlier completion may have assembled the object: no new upload")
    };
    assert_eq!(classify(&o), Class::Final);
    assert!(crate::core::describe(&o).contains("nothing is sent again"));
}

#[test]
fn request_timeout_and_s3s_own_trouble_are_retried_at_every_step() {
    let timeout = "<Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or written to within the timeout period.</Message></Error>";
    let slow = "<Error><Code>SlowDown</Code></Error>";
    for (status, body) in [(400, timeout), (503, slow)] {
        for step in [
            on_create(status, body, None),
            on_part(1, status, None, body, None),
            on_complete(status, body, None),
        ] {
            let Step::End(o) = step else { panic!() };
            assert_eq!(classify(&o), Class::Retryable, "{status} {body}");
        }
    }
    // Other errors go by their status: a 403 is final.
    let denied = "<Error><Code>AccessDenied</Code></Error>";
    let Step::End(o) = on_part(1, 403, None, denied, None) else {
        panic!()
    };
    assert_eq!(classify(&o), Class::Final);
}

#[test]
fn a_refused_step_is_named_and_keeps_its_status_and_retry_after() {
    let denied = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
    let Step::End(o) = on_part(2, 403, None, denied, None) else {
        panic!()
    };
    assert_eq!(
        crate::core::describe(&o),
        "UploadPart 2 answered 403 Forbidden"
    );
    assert_eq!(o.status(), Some(403));
    let Step::End(o) = on_create(503, "", Some("7".into())) else {
        panic!()
    };
    assert_eq!(classify(&o), Class::Retryable);
    assert_eq!(
        crate::core::describe(&o),
        "CreateMultipartUpload answered 503 Service Unavailable"
    );
    assert_eq!(o.retry_after(), Some("7"));
    let Step::End(o) = on_complete(400, "<Error><Code>InvalidPart</Code></Error>", None) else {
        panic!()
    };
    assert_eq!(
        crate::core::describe(&o),
        "CompleteMultipartUpload answered 400 Bad Request"
    );
}

#[test]
fn the_completion_lists_every_part_in_order() {
    let etags = vec!["\"a\"".to_string(), "b<&>".to_string()];
    assert_eq!(
        complete_body(&etags),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>b&lt;&amp;&gt;</ETag></Part></CompleteMultipartUpload>"
    );
}

#[test]
fn parts_are_recorded_in_order_by_the_running_attempt_only() {
    let t = s3_task(11 * MIB, 5 * MIB);
    let (t, bytes) = record_part(&t, 3, 1, "e1").unwrap();
    assert_eq!(bytes, 5 * MIB);
    let (t, bytes) = record_part(&t, 3, 2, "e2").unwrap();
    assert_eq!(bytes, 10 * MIB);
    assert!(record_part(&t, 3, 2, "again").is_err(), "part 2 twice");
    assert!(
        record_part(&t, 2, 3, "e3").is_err(),
        "an earlier lease's part"
    );
    let (t, bytes) = record_part(&t, 3, 3, "e3").unwrap();
    assert_eq!(bytes, 11 * MIB);
    let Protocol::S3Multipart { etags, .. } = &t.request.protocol else {
        panic!()
    };
    assert_eq!(etags, &["e1", "e2", "e3"]);
    let mut queued = t.clone();
    queued.state = State::Queued;
    assert!(record_part(&queued, 3, 4, "e4").is_err(), "no attempt runs");
}

#[test]
fn a_new_or_forgotten_upload_has_no_confirmed_part() {
    let t = s3_task(11 * MIB, 5 * MIB);
    let (t, _) = record_part(&t, 3, 1, "e1").unwrap();
    let created = record_upload(&t, 3, Some("u-2")).unwrap();
    assert_eq!(
        created.request.protocol,
        Protocol::S3Multipart {
            chunk_size: 5 * MIB,
            upload_id: Some("u-2".into()),
            etags: vec![]
        }
    );
    let forgotten = record_upload(&t, 3, None).unwrap();
    assert!(matches!(
        forgotten.request.protocol,
        Protocol::S3Multipart {
            upload_id: None,
            ..
        }
    ));
    assert!(record_upload(&t, 4, None).is_err(), "another lease");
    let mut http = t.clone();
    http.request.protocol = Protocol::Http;
    assert!(record_upload(&http, 3, None).is_err());
}

#[test]
fn the_protocol_record_round_trips_and_needs_its_parts() {
    let t = s3_task(11 * MIB, 5 * MIB);
    let (t, _) = record_part(&t, 3, 1, "\"e1\"").unwrap();
    let stored = serde_json::to_value(&t.request.protocol).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({ "kind": "s3-multipart", "chunkSize": 5 * MIB, "uploadId": "u-1", "etags": ["\"e1\""] })
    );
    let back: Protocol = serde_json::from_value(stored).unwrap();
    assert_eq!(back, t.request.protocol);
    let missing =
        serde_json::json!({ "kind": "s3-multipart", "chunkSize": 5 * MIB, "uploadId": null });
    assert!(serde_json::from_value::<Protocol>(missing).is_err());
}
