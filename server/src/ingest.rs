//! Streaming a request body to disk: counts, hashes, optionally parses multipart, and applies the
//! body-level faults (throttling, dropping after K bytes) plus cancellation by `/__ferry/reset`.
//!
//! Bodies can be hundreds of MiB, so nothing here holds more than one chunk; hyper only reads from the
//! socket when we ask for the next frame, which is what makes `slowBytesPerSec` real TCP back-pressure.

use std::io;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::multipart::Multipart;

/// Where body bytes go.
pub struct Sink {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
    multipart: Option<Multipart>,
}

/// What a sink knew once the body stopped.
pub struct Drained {
    pub bytes: u64,
    pub hasher: Sha256,
    pub multipart: Option<Multipart>,
    pub file: File,
}

impl Sink {
    /// `hasher` lets a resumed upload (tus) continue the hash of the bytes it already has.
    pub fn new(file: File, hasher: Sha256, multipart: Option<Multipart>) -> Sink {
        Sink {
            file: BufWriter::with_capacity(256 * 1024, file),
            hasher,
            bytes: 0,
            multipart,
        }
    }

    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data).await?;
        self.hasher.update(data);
        if let Some(m) = &mut self.multipart {
            m.feed(data);
        }
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Flushes to disk (so a rename or a later append sees every byte) and hands back the totals.
    pub async fn finish(mut self) -> io::Result<Drained> {
        self.file.flush().await?;
        let mut file = self.file.into_inner();
        file.flush().await?;
        Ok(Drained {
            bytes: self.bytes,
            hasher: self.hasher,
            multipart: self.multipart,
            file,
        })
    }
}

/// Body-level behaviour for one request.
#[derive(Default, Clone, Copy)]
pub struct Limits {
    /// Stop once this many bytes were read (the caller then drops the connection).
    pub drop_after: Option<u64>,
    /// Never read faster than this.
    pub bytes_per_sec: Option<u64>,
    /// Accept at most this many bytes (tus: what is left of `Upload-Length`).
    pub max: Option<u64>,
}

/// Why reading stopped.
#[derive(Debug)]
pub enum Ended {
    /// The body ended normally.
    Complete,
    /// `drop_after` bytes were read.
    DropPoint,
    /// The body went past `max` (what fit was kept).
    Overflow,
    /// The client closed or broke the connection mid-body.
    ClientGone(String),
    /// `/__ferry/reset` was called.
    Cancelled,
    /// Writing to disk failed.
    Io(io::Error),
}

/// Reads `body` into `sink` until it ends or a limit is hit; `progress` sees the running byte count.
pub async fn ingest(
    mut body: Body,
    limits: Limits,
    sink: &mut Sink,
    reset: &mut watch::Receiver<u64>,
    mut progress: impl FnMut(u64),
) -> Ended {
    let start = Instant::now();
    if limits.drop_after == Some(0) {
        return Ended::DropPoint;
    }
    loop {
        let frame = tokio::select! {
            biased;
            _ = reset.changed() => return Ended::Cancelled,
            frame = body.frame() => frame,
        };
        let data = match frame {
            None => return Ended::Complete,
            Some(Err(e)) => return Ended::ClientGone(e.to_string()),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_trailers) => continue,
            },
        };
        let mut chunk = &data[..];
        let mut stop = None;
        if let Some(k) = limits.drop_after {
            let room = k.saturating_sub(sink.bytes);
            if chunk.len() as u64 >= room {
                chunk = &chunk[..room as usize];
                stop = Some(Ended::DropPoint);
            }
        }
        if let Some(max) = limits.max {
            let room = max.saturating_sub(sink.bytes);
            if chunk.len() as u64 > room {
                chunk = &chunk[..room as usize];
                stop = Some(Ended::Overflow);
            }
        }
        if let Err(e) = sink.write(chunk).await {
            return Ended::Io(e);
        }
        progress(sink.bytes);
        if let Some(rate) = limits.bytes_per_sec {
            let due = start + Duration::from_secs_f64(sink.bytes as f64 / rate as f64);
            tokio::select! {
                biased;
                _ = reset.changed() => return Ended::Cancelled,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
        if let Some(stop) = stop {
            return stop;
        }
    }
}
