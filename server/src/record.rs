//! What the server saw: one `Record` per upload request, serialized as the JSON that tests assert on.
//!
//! Tests must never trust what the client *thinks* it sent, so a record is created the moment a request
//! arrives and is updated as its body streams in; its final fields say exactly how it ended.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{request, HeaderMap};
use serde::Serialize;

use crate::faults::Rule;
use crate::multipart::Part;

/// How a request ended, so a test can tell a server-side drop from a client abort from a hang.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The body is still arriving.
    Receiving,
    /// A response was sent (`status` says which).
    Answered,
    /// The server closed the connection without answering (a `dropAfter` fault, or a hang cancelled by reset).
    Dropped,
    /// The whole body was read and the server is deliberately not answering (a `hang` fault).
    Hanging,
    /// The client went away (connection closed or errored) before the exchange finished.
    ClientGone,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Receiving => "receiving",
            Outcome::Answered => "answered",
            Outcome::Dropped => "dropped",
            Outcome::Hanging => "hanging",
            Outcome::ClientGone => "clientGone",
        }
    }
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Every request header, lowercased; repeated headers are joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// Size of the payload: the whole body, or for multipart the first part that has a filename.
    pub bytes: u64,
    /// SHA-256 (hex) matching `bytes`; null while the body is still arriving.
    pub sha256: Option<String>,
    /// Size of the whole request body as received (equals `bytes` unless multipart).
    pub raw_bytes: u64,
    pub raw_sha256: Option<String>,
    pub idempotency_key: Option<String>,
    /// True only for a complete body answered 2xx that was not a duplicate of an applied key.
    pub applied: bool,
    /// The status answered; null if none was (yet): receiving, dropped, hanging or client gone.
    pub status: Option<u16>,
    pub received_at: u64,
    pub finished_at: Option<u64>,
    /// The whole body was received.
    pub complete: bool,
    pub outcome: Outcome,
    /// Multipart only: every part, in order.
    pub parts: Option<Vec<Part>>,
    pub multipart_error: Option<String>,
    /// The fault rule applied to this request, if any.
    pub fault: Option<Rule>,
    /// For a duplicate of an already-applied idempotency key: the id of the applied record.
    pub duplicate_of: Option<u64>,
    /// tus only: the decoded `Upload-Metadata` of the creation request.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    /// Why the exchange did not complete normally (client error, disk error), when known.
    pub error: Option<String>,
}

impl Record {
    /// The record of a request that has just arrived (nothing of its body read yet).
    pub fn arrived(id: u64, head: &request::Parts) -> Record {
        let headers = headers_map(&head.headers);
        Record {
            id,
            method: head.method.to_string(),
            path: head.uri.path().to_string(),
            query: head.uri.query().map(str::to_string),
            idempotency_key: headers.get("idempotency-key").cloned(),
            headers,
            bytes: 0,
            sha256: None,
            raw_bytes: 0,
            raw_sha256: None,
            applied: false,
            status: None,
            received_at: now_ms(),
            finished_at: None,
            complete: false,
            outcome: Outcome::Receiving,
            parts: None,
            multipart_error: None,
            fault: None,
            duplicate_of: None,
            metadata: None,
            error: None,
        }
    }
}

/// All headers as `{lowercased-name: value}`; non-UTF-8 bytes are replaced rather than dropped.
pub fn headers_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
