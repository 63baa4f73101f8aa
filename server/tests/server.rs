//! The process and the static side: startup line, static headers, clean exit on SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::json;

#[tokio::test]
async fn static_files_have_the_right_headers() {
    let s = Server::start();
    let index = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(index.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(index.text().await.unwrap().contains("<title>demo</title>"));

    let app = s.client.get(s.url("/app.js")).send().await.unwrap();
    assert_eq!(app.headers()["content-type"], "text/javascript");
    assert!(
        app.headers().get("service-worker-allowed").is_none(),
        "only the package's scripts get it"
    );

    let js = s.client.get(s.url("/ferry/ferry.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert_eq!(js.headers()["service-worker-allowed"], "/");
    assert_eq!(js.headers()["cache-control"], "no-cache");

    let wasm = s
        .client
        .get(s.url("/ferry/ferry_bg.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(wasm.bytes().await.unwrap().as_ref(), b"\0asm");

    assert_eq!(
        s.client
            .get(s.url("/nope.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        s.client
            .get(s.url("/ferry/nope.wasm"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let health = s.client.get(s.url("/__ferry/health")).send().await.unwrap();
    assert_eq!(
        (health.status().as_u16(), health.text().await.unwrap()),
        (200, "ok".to_string())
    );
}

#[tokio::test]
async fn sigterm_exits_zero_promptly_even_with_a_hung_request() {
    let mut s = Server::start();
    s.fault(json!({ "hang": true })).await;
    let client = s.client.clone();
    let url = s.url("/upload");
    let pending = tokio::spawn(async move { client.post(url).body("x").send().await });
    s.records_until("the hang", |r| r.len() == 1 && r[0]["outcome"] == "hanging")
        .await;

    let started = Instant::now();
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert!(pending.await.unwrap().is_err());
}

#[test]
fn help_lists_the_options() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for option in ["--port", "--www", "--pkg", "--uploads", "--quiet"] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}
