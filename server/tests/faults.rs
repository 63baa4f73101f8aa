//! Injected faults: statuses with Retry-After, dropped connections, hangs, slow reads, path filters.

mod common;

use std::time::{Duration, Instant};

use common::{files_in, payload, sha256, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn status_fault_with_retry_after_then_success() {
    let s = Server::start();
    s.fault(json!({ "count": 2, "status": 503, "retryAfter": "2" }))
        .await;
    assert_eq!(
        s.get_json("/__ferry/faults").await,
        json!([{ "count": 2, "status": 503, "retryAfter": "2" }])
    );
    for remaining in [1, 0] {
        let res = s.upload("/upload", payload(10_000, 1)).await;
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["retry-after"], "2");
        assert_eq!(
            s.get_json("/__ferry/faults")
                .await
                .as_array()
                .unwrap()
                .len(),
            remaining
        );
    }
    assert_eq!(s.upload("/upload", payload(10_000, 1)).await.status(), 201);
    let records = s.records().await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().unwrap(),
                r["applied"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(503, false), (503, false), (201, true)]);
    // A faulted request is still read whole and recorded as such.
    assert_eq!(
        (records[0]["bytes"].clone(), records[0]["complete"].clone()),
        (json!(10_000), json!(true))
    );
    assert_eq!(records[0]["fault"]["status"], 503);
    assert_eq!(records[2]["fault"], Value::Null);
    assert_eq!(files_in(&s.uploads_dir()), [records[2]["id"].to_string()]);
}

#[tokio::test]
async fn rules_run_in_order_and_can_target_a_path() {
    let s = Server::start();
    s.fault(json!([{ "count": 1, "path": "/upload/b", "status": 500 }, { "count": 1 }, { "status": 429, "retryAfter": 1 }])).await;
    // "/upload/a" skips the rule for /upload/b and takes the pass-through rule.
    assert_eq!(s.upload("/upload/a", "x").await.status(), 201);
    assert_eq!(s.upload("/upload/b", "x").await.status(), 500);
    let res = s.upload("/upload/a", "x").await;
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "1")
    );
    assert_eq!(s.upload("/upload/b", "x").await.status(), 201);
    let bad = s
        .post_json("/__ferry/faults", json!({ "count": 1, "stat": 500 }))
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("stat"));
}

#[tokio::test]
async fn drop_after_closes_the_connection_without_a_response() {
    let s = Server::start();
    s.fault(json!({ "count": 2, "dropAfter": 1000 })).await;
    let err = s
        .client
        .post(s.url("/upload/x"))
        .body(payload(1 << 20, 5))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_request() || err.is_body() || err.is_connect(),
        "{err:?}"
    );
    let records = s
        .records_until("the dropped upload", |r| {
            r.len() == 1 && r[0]["outcome"] != "receiving"
        })
        .await;
    let r = &records[0];
    assert_eq!(r["outcome"], "dropped");
    assert_eq!(r["bytes"], 1000);
    assert_eq!(r["sha256"], sha256(&payload(1 << 20, 5)[..1000]));
    assert_eq!(
        (
            r["complete"].clone(),
            r["applied"].clone(),
            r["status"].clone()
        ),
        (json!(false), json!(false), Value::Null)
    );

    // On the wire: a whole small request, and not one byte of HTTP comes back, just the close.
    let mut tcp = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    tcp.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("closed");
    assert!(
        read.is_err() || answer.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(s.upload("/upload", "after").await.status(), 201);
    assert!(s
        .records()
        .await
        .iter()
        .all(|r| r["applied"] == (r["outcome"] == "answered")));
}

#[tokio::test]
async fn hang_never_answers_until_reset() {
    let s = Server::start();
    s.fault(json!({ "hang": true })).await;
    let client = s.client.clone();
    let url = s.url("/upload/h");
    let pending = tokio::spawn(async move { client.post(url).body("waiting").send().await });
    s.records_until("the hanging upload", |r| {
        r.len() == 1 && r[0]["outcome"] == "hanging"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "a hung request gets no answer");
    let started = Instant::now();
    s.reset().await;
    let result = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("reset ends the hang")
        .unwrap();
    assert!(
        result.is_err(),
        "the client sees a network error, not a response: {result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(s.records().await.len(), 0);
    assert_eq!(s.upload("/upload", "x").await.status(), 201);
}

#[tokio::test]
async fn hang_ends_when_the_client_gives_up() {
    let s = Server::start();
    s.fault(json!({ "hang": true })).await;
    let res = s
        .client
        .post(s.url("/upload"))
        .timeout(Duration::from_millis(500))
        .body("x")
        .send()
        .await;
    assert!(res.unwrap_err().is_timeout());
    let records = s
        .records_until("clientGone", |r| r[0]["outcome"] == "clientGone")
        .await;
    assert_eq!(records[0]["complete"], true);
}

#[tokio::test]
async fn slow_reads_throttle_the_body() {
    let s = Server::start();
    s.fault(json!([{ "slowBytesPerSec": 40_000 }, { "slowBytesPerSec": 40_000, "status": 502 }]))
        .await;
    let body = payload(20_000, 2);
    let started = Instant::now();
    assert_eq!(s.upload("/upload", body.clone()).await.status(), 201);
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(s.upload("/upload", body.clone()).await.status(), 502);
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    let records = s.records().await;
    assert_eq!(records[0]["applied"], true);
    assert_eq!(records[0]["sha256"], sha256(&body));
    assert_eq!(records[1]["applied"], false);
}

#[tokio::test]
async fn reset_cuts_off_uploads_in_flight() {
    let s = Server::start();
    s.fault(json!({ "slowBytesPerSec": 1000 })).await;
    let client = s.client.clone();
    let url = s.url("/upload");
    let pending =
        tokio::spawn(async move { client.post(url).body(payload(100_000, 1)).send().await });
    s.records_until("the slow upload", |r| {
        r.len() == 1 && r[0]["rawBytes"].as_u64() > Some(0)
    })
    .await;
    s.reset().await;
    let result = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("cut off")
        .unwrap();
    assert!(result.is_err(), "{result:?}");
    assert_eq!(s.records().await.len(), 0);
}
