//! Protocol selection and its settings: plain HTTP, multipart/form-data, tus resumable uploads, or S3
//! multipart uploads.
//!
//! Settings that belong to another protocol are rejected rather than ignored: a `chunkSize` on a
//! plain upload means the developer expected resumability they are not getting.

use super::numbers::{js, whole};
use super::UploadInput;
use crate::core::error::{Error, Result};
use crate::core::s3;
use crate::core::task::{Method, Protocol};

/// Default tus chunk: 5 MiB, a common server minimum (S3-backed tus servers need it for all but the
/// last part) and small enough to lose little on a dropped connection.
pub const DEFAULT_TUS_CHUNK: u64 = 5 * 1024 * 1024;
/// Multipart field name used when none is given (what most upload endpoints expect).
pub const DEFAULT_MULTIPART_FIELD: &str = "file";

pub(super) fn validate_protocol(
    input: &UploadInput,
    method: Method,
    before_send: bool,
) -> Result<Protocol> {
    let name = input.protocol.as_deref().unwrap_or("http");
    let bad = |reason: String| Err(Error::protocol(name, reason));
    let is_multipart = name == "multipart";
    let is_tus = name == "tus";
    let is_s3 = name == "s3-multipart";
    if !matches!(name, "http" | "multipart" | "tus" | "s3-multipart") {
        return bad(
            "is not one of \"http\", \"multipart\", \"tus\", \"s3-multipart\"; pass one of them"
                .into(),
        );
    }
    let stray = [
        (!is_multipart && input.field.is_some(), "field", "multipart"),
        (
            !is_multipart && input.filename.is_some(),
            "filename",
            "multipart",
        ),
        (
            !is_multipart && !input.fields.is_empty(),
            "fields",
            "multipart",
        ),
        (
            !is_tus && !is_s3 && input.chunk_size.is_some(),
            "chunkSize",
            "tus\" or \"s3-multipart",
        ),
        (!is_tus && !input.metadata.is_empty(), "metadata", "tus"),
    ];
    if let Some((_, option, owner)) = stray.iter().find(|(present, _, _)| *present) {
        return bad(format!("does not use {option}, which only applies to protocol \"{owner}\"; remove it or switch protocol"));
    }
    if (is_multipart || is_tus) && method != Method::Post {
        return bad(format!(
            "needs method POST ({}), got {}; remove the method option",
            if is_tus {
                "the tus creation request"
            } else {
                "HTML form uploads"
            },
            method.as_str()
        ));
    }
    if is_multipart {
        return multipart(input, bad);
    }
    if is_tus {
        return tus(input, bad);
    }
    if is_s3 {
        if input.method.is_some() {
            return bad("sets each request's method itself (POST to create and complete the upload, PUT for each part); remove the method option".into());
        }
        if !before_send {
            return bad("needs the worker's beforeSend to sign each request (create, every part, complete); pass installFerry(self, { beforeSend })".into());
        }
        let chunk_size = match input.chunk_size {
            None => s3::DEFAULT_PART,
            Some(v) => match whole(v) {
                Some(n) if (s3::MIN_PART..=s3::MAX_PART).contains(&n) => n,
                _ => return bad(format!("needs chunkSize to be a whole number of bytes from 5 MiB (5242880, S3's smallest part) to 5 GiB, got {}; pass e.g. 8388608", js(v))),
            },
        };
        return Ok(Protocol::S3Multipart {
            chunk_size,
            upload_id: None,
            etags: Vec::new(),
        });
    }
    Ok(Protocol::Http)
}

/// An S3 multipart upload's parts fitted to the body: a part size the upload did not name grows with the
/// body ([`s3::default_part_size`]); one it named must keep the body within [`s3::MAX_PARTS`] parts.
pub(super) fn fit_parts(protocol: Protocol, named: bool, size: u64) -> Result<Protocol> {
    let Protocol::S3Multipart {
        chunk_size,
        upload_id,
        etags,
    } = protocol
    else {
        return Ok(protocol);
    };
    let chunk_size = if named {
        chunk_size
    } else {
        s3::default_part_size(size)
    };
    let parts = s3::part_count(size, chunk_size);
    if parts <= s3::MAX_PARTS && chunk_size <= s3::MAX_PART {
        return Ok(Protocol::S3Multipart {
            chunk_size,
            upload_id,
            etags,
        });
    }
    let least = size.div_ceil(s3::MAX_PARTS).max(s3::MIN_PART);
    if least > s3::MAX_PART {
        return Err(Error::BodyTooLarge {
            size,
            max: s3::MAX_PARTS * s3::MAX_PART,
        });
    }
    Err(Error::protocol(
        "s3-multipart",
        format!(
            "makes {parts} parts of chunkSize {chunk_size} from a body of {size} bytes, more than S3's {max}; pass chunkSize {least} or more, or leave it out (Ferry then sizes the parts)",
            max = s3::MAX_PARTS
        ),
    ))
}

fn multipart(input: &UploadInput, bad: impl Fn(String) -> Result<Protocol>) -> Result<Protocol> {
    let field = input
        .field
        .clone()
        .unwrap_or_else(|| DEFAULT_MULTIPART_FIELD.to_string());
    if field.is_empty() {
        return bad(
            "needs a non-empty field name for the file part; pass field, e.g. \"file\"".into(),
        );
    }
    if let Some((name, _)) = input.fields.iter().find(|(n, _)| n.is_empty()) {
        return bad(format!(
            "has an extra field with an empty name {name:?}; give every field a name"
        ));
    }
    let filename = match &input.filename {
        Some(f) if !f.is_empty() => f.clone(),
        _ => match &input.body {
            super::BodyInput::Blob { name: Some(n), .. } if !n.is_empty() => n.clone(),
            _ => "blob".to_string(),
        },
    };
    Ok(Protocol::Multipart {
        field,
        filename,
        fields: input.fields.clone(),
    })
}

fn tus(input: &UploadInput, bad: impl Fn(String) -> Result<Protocol>) -> Result<Protocol> {
    let chunk_size = match input.chunk_size {
        None => DEFAULT_TUS_CHUNK,
        Some(v) => match whole(v) {
            Some(n) if n >= 1 => n,
            _ => return bad(format!("needs chunkSize to be a whole number of bytes of at least 1, got {}; pass e.g. 5242880", js(v))),
        },
    };
    // tus: keys are non-empty ASCII without spaces or commas (the header is "key b64, key b64").
    for (key, _) in &input.metadata {
        let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if !ok {
            return bad(format!("cannot use metadata key {key:?}; keys must be non-empty ASCII without spaces or commas"));
        }
    }
    Ok(Protocol::Tus {
        chunk_size,
        metadata: input.metadata.clone(),
        upload_url: None,
    })
}
