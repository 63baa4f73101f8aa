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

const GIB: u64 = 1 << 30;

fn sized(size: u64, chunk: Option<u64>) -> Result<ValidUpload> {
    signed(&s3(|i| {
        i.chunk_size = chunk.map(|c| c as f64);
        if let BodyInput::Blob { size: s, .. } = &mut i.body {
            *s = size as f64;
        }
    }))
}

fn part_size(v: &ValidUpload) -> u64 {
    match v.request.protocol {
        Protocol::S3Multipart { chunk_size, .. } => chunk_size,
        ref p => panic!("not s3-multipart: {p:?}"),
    }
}

#[test]
fn s3_multipart_parts_grow_so_that_a_large_body_keeps_within_ten_thousand() {
    // 10,000 parts of 8 MiB: the largest body the default part carries.
    assert_eq!(
        part_size(&sized(10_000 * s3::DEFAULT_PART, None).unwrap()),
        s3::DEFAULT_PART
    );
    // One byte more: whole MiB parts, as few as keep within 10,000.
    let v = sized(10_000 * s3::DEFAULT_PART + 1, None).unwrap();
    assert_eq!(part_size(&v), 9 * 1024 * 1024);
    for size in [100 * GIB, 1024 * GIB, 40 * 1024 * GIB] {
        let chunk = part_size(&sized(size, None).unwrap());
        assert!(
            s3::part_count(size, chunk) <= s3::MAX_PARTS,
            "{size}: {chunk}"
        );
        assert!(
            s3::part_count(size, chunk - 1024 * 1024) > s3::MAX_PARTS,
            "{size}: {chunk} is not the least"
        );
        assert_eq!(chunk % (1024 * 1024), 0);
    }
}

#[test]
fn s3_multipart_a_named_part_size_that_makes_over_ten_thousand_parts_is_refused_naming_the_least() {
    let size = 60 * GIB;
    let e = sized(size, Some(s3::MIN_PART)).unwrap_err();
    let least = size.div_ceil(s3::MAX_PARTS);
    assert!(
        matches!(&e, Error::InvalidProtocol { protocol, reason } if protocol == "s3-multipart"
            && reason.contains("makes 12288 parts") && reason.contains(&format!("pass chunkSize {least} or more"))),
        "{e}"
    );
    assert_eq!(part_size(&sized(size, Some(least)).unwrap()), least);
}

#[test]
fn s3_multipart_a_body_no_part_size_can_carry_is_body_too_large() {
    let size = s3::MAX_PARTS * s3::MAX_PART + 1;
    for chunk in [None, Some(s3::MAX_PART)] {
        assert_eq!(
            sized(size, chunk).unwrap_err(),
            Error::BodyTooLarge {
                size,
                max: s3::MAX_PARTS * s3::MAX_PART
            }
        );
    }
}
