//! tus 1.0: creation, offsets, conflicts, termination, completion records, faults on PATCH.

mod common;

use common::{payload, sha256, Server};
use reqwest::{Method, Response};
use serde_json::json;

async fn create(s: &Server, length: usize, key: Option<&str>) -> String {
    let mut req = s
        .client
        .post(s.url("/tus"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", "filename YS50eHQ=,private");
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    res.headers()["location"].to_str().unwrap().to_string()
}

async fn patch(s: &Server, location: &str, offset: usize, data: &[u8]) -> Response {
    s.client
        .patch(s.url(location))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(data.to_vec())
        .send()
        .await
        .unwrap()
}

async fn offset(s: &Server, location: &str) -> u64 {
    let res = s
        .client
        .head(s.url(location))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn tus_happy_path_and_conflicts() {
    let s = Server::start();
    let options = s
        .client
        .request(Method::OPTIONS, s.url("/tus"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert_eq!(options.headers()["tus-extension"], "creation,termination");

    let data = payload(300_000, 4);
    let location = create(&s, data.len(), Some("tus-key")).await;
    assert!(location.starts_with("/tus/"), "{location}");
    let head = s
        .client
        .head(s.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["upload-length"], "300000");
    assert_eq!(offset(&s, &location).await, 0);

    let first = patch(&s, &location, 0, &data[..100_000]).await;
    assert_eq!(first.status(), 204);
    assert_eq!(first.headers()["upload-offset"], "100000");
    // The wrong offset is a conflict that changes nothing.
    let conflict = patch(&s, &location, 0, &data[..10]).await;
    assert_eq!(conflict.status(), 409);
    assert_eq!(offset(&s, &location).await, 100_000);
    assert_eq!(
        s.records().await.len(),
        0,
        "no record before the upload is complete"
    );

    let last = patch(&s, &location, 100_000, &data[100_000..]).await;
    assert_eq!(
        (
            last.status().as_u16(),
            last.headers()["upload-offset"].to_str().unwrap()
        ),
        (204, "300000")
    );
    let records = s.records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["method"], "TUS");
    assert_eq!(r["path"], location);
    assert_eq!(r["bytes"], 300_000);
    assert_eq!(r["sha256"], sha256(&data));
    assert_eq!(r["idempotencyKey"], "tus-key");
    assert_eq!(
        (r["applied"].clone(), r["complete"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        r["metadata"],
        json!({ "filename": "a.txt", "private": null })
    );
    let stored = s
        .client
        .get(s.url(&format!("/uploads/{}", r["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), &data[..]);
    assert_eq!(
        s.get_json("/__ferry/keys").await,
        json!({ "tus-key": { "arrived": 1, "applied": 1 } })
    );

    // Termination.
    let delete = s
        .client
        .delete(s.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let gone = s
        .client
        .head(s.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn tus_protocol_errors() {
    let s = Server::start();
    let no_version = s
        .client
        .post(s.url("/tus"))
        .header("Upload-Length", "5")
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 412);
    let no_length = s
        .client
        .post(s.url("/tus"))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(no_length.status(), 400);
    let location = create(&s, 5, None).await;
    let wrong_type = s
        .client
        .patch(s.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/octet-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(
        patch(&s, &location, 0, b"hello world").await.status(),
        400,
        "past Upload-Length"
    );
    assert_eq!(offset(&s, &location).await, 5, "what fit was kept");
    assert_eq!(patch(&s, "/tus/999", 0, b"x").await.status(), 404);
}

#[tokio::test]
async fn tus_faults_and_resume() {
    let s = Server::start();
    let data = payload(50_000, 8);
    let location = create(&s, data.len(), None).await;
    s.fault(json!([{ "status": 500, "path": "/tus/" }, { "dropAfter": 10_000, "path": "/tus/" }]))
        .await;
    // A failed PATCH keeps nothing.
    assert_eq!(patch(&s, &location, 0, &data).await.status(), 500);
    assert_eq!(offset(&s, &location).await, 0);
    // A dropped PATCH keeps what arrived; the client resumes from HEAD.
    let dropped = s
        .client
        .patch(s.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(data.clone())
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    let resume = offset(&s, &location).await as usize;
    assert_eq!(resume, 10_000);
    assert_eq!(
        patch(&s, &location, resume, &data[resume..]).await.status(),
        204
    );
    let tus = s.get_json("/__ferry/tus").await;
    assert_eq!(tus[0]["patches"], 3);
    let r = &s.records().await[0];
    assert_eq!(
        (
            r["sha256"].as_str().unwrap(),
            r["applied"].as_bool().unwrap()
        ),
        (sha256(&data).as_str(), true)
    );
}

#[tokio::test]
async fn zero_length_tus_upload_completes_at_creation() {
    let s = Server::start();
    let location = create(&s, 0, Some("empty")).await;
    assert_eq!(offset(&s, &location).await, 0);
    let r = &s.records().await[0];
    assert_eq!(
        (r["bytes"].as_u64(), r["sha256"].as_str()),
        (Some(0), Some(sha256(b"").as_str()))
    );
}
