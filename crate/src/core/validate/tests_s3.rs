//! `protocol: 's3-multipart'`: its part size, its methods, and the worker's `beforeSend` it needs.

use super::tests::{err, with, NOW};
use super::*;
use crate::core::s3;
use crate::core::task::Protocol;

fn signed(i: &UploadInput) -> Result<ValidUpload> {
    let limits = Limits {
        before_send: true,
        ..Limits::default()
    };
    validate_upload(i, &RetryPolicy::default(), &limits, NOW)
}

fn s3(f: impl FnOnce(&mut UploadInput)) -> UploadInput {
    with(|i| {
        i.protocol = Some("s3-multipart".into());
        f(i);
    })
}

#[test]
fn s3_multipart_defaults_to_eight_mib_parts_and_no_upload_yet() {
    let v = signed(&s3(|_| {})).unwrap();
    assert_eq!(
        v.request.protocol,
        Protocol::S3Multipart {
            chunk_size: 8 * 1024 * 1024,
            upload_id: None,
            etags: vec![],
        }
    );
    let v = signed(&s3(|i| i.chunk_size = Some(s3::MIN_PART as f64))).unwrap();
    assert!(
        matches!(v.request.protocol, Protocol::S3Multipart { chunk_size, .. } if chunk_size == s3::MIN_PART)
    );
}

#[test]
fn s3_multipart_parts_are_between_five_mib_and_five_gib() {
    for c in [
        (s3::MIN_PART - 1) as f64,
        (s3::MAX_PART + 1) as f64,
        1.5e7 + 0.5,
        f64::NAN,
    ] {
        let e = signed(&s3(|i| i.chunk_size = Some(c))).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidProtocol { reason, .. } if reason.contains("5 MiB (5242880, S3's smallest part)")),
            "{c}: {e}"
        );
    }
}

#[test]
fn s3_multipart_needs_the_workers_before_send_and_no_method() {
    let e = err(&s3(|_| {}));
    assert!(
        matches!(&e, Error::InvalidProtocol { protocol, reason } if protocol == "s3-multipart" && reason.contains("installFerry(self, { beforeSend })")),
        "{e}"
    );
    let e = signed(&s3(|i| i.method = Some("PUT".into()))).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidProtocol { reason, .. } if reason.contains("remove the method option")),
        "{e}"
    );
    let e = signed(&s3(|i| i.metadata = vec![("k".into(), "v".into())])).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidProtocol { reason, .. } if reason.contains("metadata")),
        "{e}"
    );
}
