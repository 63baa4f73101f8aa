//! Test harness: runs the real `ferry-server` binary on a free loopback port with its own temporary
//! directories, exactly as the end-to-end tests do, and talks to it over HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-server-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, content) in [
            ("www/index.html", "<!doctype html><title>demo</title>"),
            ("www/app.js", "console.log(1)"),
            ("pkg/ferry.js", "export default 1"),
            ("pkg/ferry_bg.wasm", "\0asm"),
        ] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-server"))
            .args(["--port", "0", "--quiet"])
            .arg("--www")
            .arg(dir.join("www"))
            .arg("--pkg")
            .arg(dir.join("pkg"))
            .arg("--uploads")
            .arg(dir.join("uploads"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ferry-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("Ferry demo: ")
            .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{url}"
        );
        // No connection reuse: a test that drops a connection must not poison the next request.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Server {
            child,
            url,
            dir,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path.trim_start_matches('/'))
    }

    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.dir.join("uploads")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn fault(&self, rule: Value) {
        let res = self.post_json("/__ferry/faults", rule).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    pub async fn records(&self) -> Vec<Value> {
        self.get_json("/__ferry/uploads")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn upload(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn reset(&self) {
        let res = self
            .client
            .post(self.url("/__ferry/reset"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }

    /// Polls the records until `pred` holds for them (the server finishes a record just after answering).
    pub async fn records_until(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let records = self.records().await;
            if pred(&records) {
                return records;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; records: {records:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deterministic bytes, so that truncation or corruption changes the hash.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
