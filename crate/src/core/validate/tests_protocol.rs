//! Upload validation of the protocol options (multipart, tus): one test per rule, each asserting the
//! exact error.

use super::tests::{err, with};
use super::*;

// --- protocol -------------------------------------------------------------------------------------

#[test]
fn unknown_protocol_is_invalid_protocol() {
    let e = err(&with(|i| i.protocol = Some("ftp".into())));
    assert!(
        matches!(&e, Error::InvalidProtocol { protocol, .. } if protocol == "ftp"),
        "{e}"
    );
}

#[test]
fn multipart_with_put_is_invalid_protocol() {
    let e = err(&with(|i| {
        i.protocol = Some("multipart".into());
        i.method = Some("PUT".into());
    }));
    assert_eq!(e.name(), "FerryInvalidProtocol");
}

#[test]
fn multipart_with_empty_field_is_invalid_protocol() {
    let e = err(&with(|i| {
        i.protocol = Some("multipart".into());
        i.field = Some(String::new());
    }));
    assert_eq!(e.name(), "FerryInvalidProtocol");
}

#[test]
fn tus_with_bad_chunk_size_is_invalid_protocol() {
    for c in [f64::NAN, 0.0, -1.0, 1.5, f64::INFINITY] {
        let e = err(&with(|i| {
            i.protocol = Some("tus".into());
            i.chunk_size = Some(c);
        }));
        assert_eq!(e.name(), "FerryInvalidProtocol", "{c}");
    }
}

#[test]
fn tus_with_patch_is_invalid_protocol() {
    let e = err(&with(|i| {
        i.protocol = Some("tus".into());
        i.method = Some("PATCH".into());
    }));
    assert!(
        matches!(&e, Error::InvalidProtocol { reason, .. } if reason.contains("creation")),
        "{e}"
    );
}

#[test]
fn tus_metadata_key_with_space_is_invalid_protocol() {
    let e = err(&with(|i| {
        i.protocol = Some("tus".into());
        i.metadata = vec![("file name".into(), "x".into())];
    }));
    assert_eq!(e.name(), "FerryInvalidProtocol");
}

#[test]
fn chunk_size_without_tus_is_invalid_protocol() {
    let e = err(&with(|i| i.chunk_size = Some(1024.0)));
    assert!(
        matches!(&e, Error::InvalidProtocol { reason, .. } if reason.contains("chunkSize")),
        "{e}"
    );
}
