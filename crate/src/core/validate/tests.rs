//! Upload validation: one test per rule, each asserting the exact error.

use super::*;
use crate::core::task::{Method, Protocol};

pub(super) const NOW: u64 = 1_700_000_000_000;

pub(super) fn input() -> UploadInput {
    UploadInput {
        raw_url: "/upload".into(),
        resolved_url: Some("https://example.com/upload".into()),
        method: None,
        headers: vec![],
        protocol: None,
        field: None,
        filename: None,
        fields: vec![],
        chunk_size: None,
        metadata: vec![],
        body: BodyInput::Blob {
            size: 10.0,
            mime: "image/png".into(),
            name: Some("cat.png".into()),
        },
        expires_at: None,
        earliest_begin: None,
        retry: None,
        discretionary: None,
        app_data: None,
        credentials: None,
    }
}

pub(super) fn with(f: impl FnOnce(&mut UploadInput)) -> UploadInput {
    let mut i = input();
    f(&mut i);
    i
}

pub(super) fn run(i: &UploadInput) -> Result<ValidUpload> {
    validate_upload(i, &RetryPolicy::default(), &Limits::default(), NOW)
}

pub(super) fn err(i: &UploadInput) -> Error {
    run(i).expect_err("should be rejected")
}

pub(super) fn header(name: &str, value: &str) -> UploadInput {
    with(|i| i.headers = vec![(name.into(), value.into())])
}

// --- the happy path -------------------------------------------------------------------------------

#[test]
fn minimal_upload_gets_defaults() {
    let v = run(&input()).unwrap();
    assert_eq!(v.request.url, "https://example.com/upload");
    assert_eq!(
        (v.request.method, &v.request.protocol),
        (Method::Post, &Protocol::Http)
    );
    assert_eq!(
        v.body,
        BodyMeta {
            size: 10,
            mime: "image/png".into(),
            name: Some("cat.png".into())
        }
    );
    assert_eq!(
        (v.expires_at, v.earliest_begin, v.retry),
        (None, None, RetryPolicy::default())
    );
}

#[test]
fn fragment_is_kept_as_given() {
    let v = run(&with(|i| {
        i.resolved_url = Some("https://example.com/u?a=1#frag".into())
    }))
    .unwrap();
    assert_eq!(v.request.url, "https://example.com/u?a=1#frag");
}

#[test]
fn method_is_case_insensitive() {
    assert_eq!(
        run(&with(|i| i.method = Some("put".into())))
            .unwrap()
            .request
            .method,
        Method::Put
    );
    assert_eq!(
        run(&with(|i| i.method = Some("Patch".into())))
            .unwrap()
            .request
            .method,
        Method::Patch
    );
}

#[test]
fn header_values_are_trimmed_and_names_lower_cased() {
    let v = run(&header("X-Trace", "  abc\t")).unwrap();
    assert_eq!(
        v.request.headers,
        vec![("x-trace".to_string(), "abc".to_string())]
    );
}

#[test]
fn upload_retry_overrides_session_retry() {
    let session = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let i = with(|i| {
        i.retry = Some(RetryInput {
            base_ms: Some(50.0),
            ..RetryInput::default()
        })
    });
    let v = validate_upload(&i, &session, &Limits::default(), NOW).unwrap();
    assert_eq!((v.retry.max_attempts, v.retry.base_ms), (3, 50));
}

#[test]
fn times_are_accepted_when_consistent() {
    let v = run(&with(|i| {
        i.earliest_begin = Some((NOW + 1000) as f64);
        i.expires_at = Some((NOW + 5000) as f64);
    }))
    .unwrap();
    assert_eq!(
        (v.earliest_begin, v.expires_at),
        (Some(NOW + 1000), Some(NOW + 5000))
    );
}

#[test]
fn multipart_defaults_field_and_takes_file_name() {
    let v = run(&with(|i| i.protocol = Some("multipart".into()))).unwrap();
    assert_eq!(
        v.request.protocol,
        Protocol::Multipart {
            field: "file".into(),
            filename: "cat.png".into(),
            fields: vec![]
        }
    );
}

#[test]
fn multipart_filename_falls_back_to_blob() {
    let v = run(&with(|i| {
        i.protocol = Some("multipart".into());
        i.body = BodyInput::Blob {
            size: 1.0,
            mime: String::new(),
            name: None,
        };
    }))
    .unwrap();
    assert!(
        matches!(v.request.protocol, Protocol::Multipart { ref filename, .. } if filename == "blob")
    );
}

#[test]
fn tus_defaults_to_five_mib_chunks() {
    let v = run(&with(|i| i.protocol = Some("tus".into()))).unwrap();
    assert_eq!(
        v.request.protocol,
        Protocol::Tus {
            chunk_size: 5 * 1024 * 1024,
            metadata: vec![],
            upload_url: None
        }
    );
}

#[test]
fn an_empty_blob_is_a_body_like_any_other() {
    // The contract refuses what is not a Blob or File; an empty file (a `.gitkeep`, a placeholder) is one.
    let i = with(|i| {
        i.body = BodyInput::Blob {
            size: 0.0,
            mime: String::new(),
            name: Some("empty.txt".into()),
        }
    });
    let v = validate_upload(&i, &RetryPolicy::default(), &Limits::default(), NOW).unwrap();
    assert_eq!(v.body.size, 0);
}

// --- body -----------------------------------------------------------------------------------------

#[test]
fn string_body_is_invalid_body() {
    let e = err(&with(|i| {
        i.body = BodyInput::NotABlob {
            js_type: "string".into(),
        }
    }));
    assert!(
        matches!(&e, Error::InvalidBody { reason } if reason.starts_with("pass a Blob or File, got string")),
        "{e}"
    );
}

#[test]
fn nonsense_body_size_is_invalid_body() {
    for size in [f64::NAN, -1.0, 1.5, f64::INFINITY] {
        let e = err(&with(|i| {
            i.body = BodyInput::Blob {
                size,
                mime: String::new(),
                name: None,
            }
        }));
        assert_eq!(e.name(), "FerryInvalidBody", "{size}");
    }
}

#[test]
fn oversized_body_is_body_too_large() {
    let limits = Limits {
        max_body_bytes: 9,
        ..Limits::default()
    };
    let e = validate_upload(&input(), &RetryPolicy::default(), &limits, NOW).unwrap_err();
    assert_eq!(e, Error::BodyTooLarge { size: 10, max: 9 });
}

#[test]
fn body_over_free_quota_is_quota_exceeded() {
    let limits = Limits {
        quota_available: Some(5),
        ..Limits::default()
    };
    let e = validate_upload(&input(), &RetryPolicy::default(), &limits, NOW).unwrap_err();
    assert_eq!(
        e,
        Error::QuotaExceeded {
            size: 10,
            available: 5
        }
    );
    assert!(e.to_string().contains("navigator.storage.persist()"));
}

// --- times ----------------------------------------------------------------------------------------

#[test]
fn expiry_in_the_past_is_invalid_options() {
    let e = err(&with(|i| i.expires_at = Some(NOW as f64)));
    assert!(
        matches!(&e, Error::InvalidOptions { option, .. } if option == "expiresAt"),
        "{e}"
    );
}

#[test]
fn nan_earliest_begin_is_invalid_options() {
    let e = err(&with(|i| i.earliest_begin = Some(f64::NAN)));
    assert!(
        matches!(&e, Error::InvalidOptions { option, reason } if option == "earliestBegin" && reason.starts_with("NaN"))
    );
}

#[test]
fn negative_earliest_begin_is_invalid_options() {
    assert_eq!(
        err(&with(|i| i.earliest_begin = Some(-5.0))).name(),
        "FerryInvalidOptions"
    );
}

#[test]
fn expiry_before_earliest_begin_is_invalid_options() {
    let e = err(&with(|i| {
        i.earliest_begin = Some((NOW + 5000) as f64);
        i.expires_at = Some((NOW + 5000) as f64);
    }));
    assert!(
        matches!(&e, Error::InvalidOptions { reason, .. } if reason.contains("never run")),
        "{e}"
    );
}

#[test]
fn earliest_begin_after_retention_is_invalid_options() {
    let e = err(&with(|i| {
        i.earliest_begin = Some((NOW + RetryPolicy::default().max_retention_ms) as f64)
    }));
    assert_eq!(e.name(), "FerryInvalidOptions");
}

#[test]
fn bad_per_upload_retry_is_invalid_options() {
    let e = err(&with(|i| {
        i.retry = Some(RetryInput {
            max_attempts: Some(0.0),
            ..RetryInput::default()
        })
    }));
    assert!(matches!(&e, Error::InvalidOptions { option, .. } if option == "retry.maxAttempts"));
}

#[test]
fn discretionary_is_carried_through_validation() {
    assert!(!run(&input()).unwrap().discretionary);
    assert!(
        run(&with(|i| i.discretionary = Some(true)))
            .unwrap()
            .discretionary
    );
}

#[test]
fn a_body_past_four_gib_is_taken_ferry_sets_no_limit_of_its_own() {
    for size in [(4u64 << 30) + 1, 5 << 40, MAX_BODY_BYTES] {
        let v = validate_upload(
            &with(|i| {
                if let BodyInput::Blob { size: s, .. } = &mut i.body {
                    *s = size as f64;
                }
            }),
            &RetryPolicy::default(),
            &Limits::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(v.body.size, size);
    }
}
