//! The server's memory: records, applied idempotency keys, queued faults, the auth token and tus uploads.
//!
//! One plain mutex guards it all: every critical section is a few field updates (never held across an
//! `.await`), and a single lock makes "is this key already applied?" and "apply it" one atomic step, so two
//! concurrent requests with the same key can never both be applied.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::sync::watch;

use crate::faults::Faults;
use crate::record::Record;
use crate::tus::TusUpload;

/// The first answer given for an idempotency key, replayed verbatim to duplicates.
#[derive(Clone, Debug)]
pub struct Stored {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub record_id: u64,
}

pub struct AppState {
    pub uploads_dir: PathBuf,
    pub quiet: bool,
    inner: Mutex<Inner>,
    /// Bumped by `/__ferry/reset`: every request in flight watches it and gives up (drops its connection).
    reset_tx: watch::Sender<u64>,
}

#[derive(Default)]
pub struct Inner {
    /// In arrival order (ids are assigned under the lock, so also in id order).
    pub records: Vec<Record>,
    pub applied: HashMap<String, Stored>,
    pub faults: Faults,
    pub token: Option<String>,
    pub tus: BTreeMap<u64, TusUpload>,
    /// Ids keep increasing across resets, so a straggler from before a reset can never be confused with a
    /// new record, and stored files are never overwritten.
    next_id: u64,
    next_tus: u64,
}

impl Inner {
    pub fn next_record_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn next_tus_id(&mut self) -> u64 {
        self.next_tus += 1;
        self.next_tus
    }

    pub fn record_mut(&mut self, id: u64) -> Option<&mut Record> {
        let i = self.records.binary_search_by_key(&id, |r| r.id).ok()?;
        Some(&mut self.records[i])
    }

    /// With no token set, everyone is; otherwise `Authorization: Bearer <token>` must match exactly.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t == token)
    }
}

impl AppState {
    pub fn new(uploads_dir: PathBuf, quiet: bool) -> AppState {
        AppState {
            uploads_dir,
            quiet,
            inner: Mutex::new(Inner::default()),
            reset_tx: watch::channel(0).0,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge the test server: the data is still consistent enough to serve.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A receiver that fires at the next reset. Take it with the lock held (`inner`), so that a request
    /// registered under the lock cannot miss a reset that clears its record.
    pub fn watch_reset(&self, _inner: &Inner) -> watch::Receiver<u64> {
        self.reset_tx.subscribe()
    }

    /// Forgets everything a test set up or caused; returns the stored files to delete.
    pub fn reset(&self) -> Vec<PathBuf> {
        let mut inner = self.lock();
        let mut files: Vec<PathBuf> = inner
            .records
            .iter()
            .filter(|r| r.applied)
            .map(|r| self.uploads_dir.join(r.id.to_string()))
            .collect();
        files.extend(inner.tus.keys().map(|id| self.tus_file(*id)));
        inner.records.clear();
        inner.applied.clear();
        inner.faults.clear();
        inner.token = None;
        inner.tus.clear();
        self.reset_tx.send_modify(|generation| *generation += 1);
        files
    }

    pub fn tus_file(&self, tus_id: u64) -> PathBuf {
        self.uploads_dir.join(format!("tus-{tus_id}"))
    }

    /// One line per finished upload on stderr, so a human running the demo sees what arrived.
    pub fn log(&self, r: &Record) {
        if self.quiet {
            return;
        }
        let query = r
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let key = r
            .idempotency_key
            .as_deref()
            .map(|k| format!(" key={k}"))
            .unwrap_or_default();
        let status = r.status.map_or("-".to_string(), |s| s.to_string());
        let sha = r.sha256.as_deref().map_or("-", |s| &s[..12.min(s.len())]);
        let applied = if r.applied { " applied" } else { "" };
        eprintln!(
            "ferry-server: #{} {} {}{query}{key} {} B sha256={sha}… {} {status}{applied}",
            r.id,
            r.method,
            r.path,
            r.bytes,
            r.outcome.as_str()
        );
    }
}
