//! Plain uploads: what gets recorded and stored, idempotency, multipart, auth, reset.

mod common;

use common::{files_in, payload, sha256, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn upload_is_recorded_stored_and_answered() {
    let s = Server::start();
    let body = payload(100_000, 7);
    let res = s
        .client
        .post(s.url("/upload/photos?album=a%20b"))
        .header("x-test", "yes")
        .header("content-type", "image/jpeg")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.headers()["x-ferry-upload-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(res.headers()["location"], format!("/uploads/{id}").as_str());
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer,
        json!({ "id": id.parse::<u64>().unwrap(), "bytes": 100_000, "sha256": sha256(&body) })
    );

    let records = s.records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["id"], answer["id"]);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/upload/photos");
    assert_eq!(r["query"], "album=a%20b");
    assert_eq!(r["headers"]["x-test"], "yes");
    assert_eq!(r["headers"]["content-type"], "image/jpeg");
    assert_eq!(r["bytes"], 100_000);
    assert_eq!(r["rawBytes"], 100_000);
    assert_eq!(r["sha256"], sha256(&body));
    assert_eq!(r["idempotencyKey"], Value::Null);
    assert_eq!(r["applied"], true);
    assert_eq!(r["status"], 201);
    assert_eq!(r["complete"], true);
    assert_eq!(r["outcome"], "answered");
    assert!(r["receivedAt"].as_u64().unwrap() > 1_600_000_000_000);

    // Stored under its id, and downloadable where Location points.
    assert_eq!(std::fs::read(s.uploads_dir().join(&id)).unwrap(), body);
    let stored = s
        .client
        .get(s.url(&format!("/uploads/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.bytes().await.unwrap().as_ref(), &body[..]);

    // PUT and PATCH to /upload count too; other methods don't.
    assert_eq!(
        s.client
            .put(s.url("/upload"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        s.client
            .patch(s.url("/upload/a/b/c?x"))
            .body("")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        s.client
            .get(s.url("/upload"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    let records = s.records().await;
    assert_eq!(
        records
            .iter()
            .map(|r| r["method"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["POST", "PUT", "PATCH"]
    );
    assert_eq!(records[2]["sha256"], sha256(b""));
}

#[tokio::test]
async fn large_streamed_body() {
    let s = Server::start();
    let chunk = payload(1 << 20, 3);
    let n = 24;
    let mut whole = Vec::with_capacity(n << 20);
    for _ in 0..n {
        whole.extend_from_slice(&chunk);
    }
    let res = s
        .client
        .post(s.url("/upload/big"))
        .body(chunks(chunk, n))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let r = &s.records().await[0];
    assert_eq!(r["bytes"], (n as u64) << 20);
    assert_eq!(r["sha256"], sha256(&whole));
    assert_eq!(r["headers"]["transfer-encoding"], "chunked");
}

/// A chunked body of `n` copies of `chunk`, sent as it is produced.
fn chunks(chunk: Vec<u8>, n: usize) -> reqwest::Body {
    let items = (0..n).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    reqwest::Body::wrap_stream(futures_util::stream::iter(items))
}

#[tokio::test]
async fn idempotent_duplicate_is_answered_the_same_and_not_applied() {
    let s = Server::start();
    let send = |body: &'static str| {
        s.client
            .post(s.url("/upload/doc"))
            .header("Idempotency-Key", "k-1")
            .body(body)
            .send()
    };
    let first = send("hello").await.unwrap();
    assert_eq!(first.status(), 201);
    let (first_location, first_body) = (
        first.headers()["location"].clone(),
        first.text().await.unwrap(),
    );
    let second = send("hello").await.unwrap();
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["location"], first_location);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.text().await.unwrap(), first_body);

    let keys = s.get_json("/__ferry/keys").await;
    assert_eq!(keys, json!({ "k-1": { "arrived": 2, "applied": 1 } }));
    let records = s.get_json("/__ferry/uploads?key=k-1").await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0]["applied"].clone(), records[1]["applied"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(records[1]["duplicateOf"], records[0]["id"]);
    assert_eq!(
        records[1]["bytes"], 5,
        "a duplicate's body is still counted"
    );
    // Only the applied upload keeps a file.
    assert_eq!(files_in(&s.uploads_dir()), [records[0]["id"].to_string()]);
    assert_eq!(s.get_json("/__ferry/uploads?key=other").await, json!([]));
}

#[tokio::test]
async fn concurrent_duplicates_apply_once() {
    let s = Server::start();
    let sends = (0..6).map(|i| {
        s.client
            .post(s.url("/upload"))
            .header("Idempotency-Key", "same")
            .body(payload(200_000, i + 1))
            .send()
    });
    let responses = futures_util::future::join_all(sends).await;
    let mut bodies = Vec::new();
    for res in responses {
        let res = res.unwrap();
        assert_eq!(res.status(), 201);
        bodies.push(res.text().await.unwrap());
    }
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every duplicate gets the first answer: {bodies:?}"
    );
    assert_eq!(
        s.get_json("/__ferry/keys").await["same"],
        json!({ "arrived": 6, "applied": 1 })
    );
}

#[tokio::test]
async fn failed_attempts_do_not_apply_a_key() {
    let s = Server::start();
    s.fault(json!({ "status": 500 })).await;
    let send = || {
        s.client
            .post(s.url("/upload"))
            .header("Idempotency-Key", "k")
            .body("x")
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 500);
    assert_eq!(send().await.unwrap().status(), 201);
    assert_eq!(
        send().await.unwrap().headers()["idempotent-replayed"],
        "true"
    );
    assert_eq!(
        s.get_json("/__ferry/keys").await["k"],
        json!({ "arrived": 3, "applied": 1 })
    );
}

#[tokio::test]
async fn multipart_parts_are_recorded() {
    let s = Server::start();
    let file = payload(70_000, 9);
    let mut body =
        b"--b0undary\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHoliday\r\n".to_vec();
    body.extend_from_slice(b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"beach.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n");
    body.extend_from_slice(&file);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let res = s
        .client
        .post(s.url("/upload/form"))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["bytes"], 70_000);
    assert_eq!(answer["sha256"], sha256(&file));
    let r = &s.records().await[0];
    assert_eq!(r["bytes"], 70_000);
    assert_eq!(r["sha256"], sha256(&file));
    assert_eq!(r["rawBytes"], body.len());
    assert_eq!(r["rawSha256"], sha256(&body));
    assert_eq!(r["multipartError"], Value::Null);
    assert_eq!(
        r["parts"],
        json!([
            { "name": "title", "filename": null, "contentType": null, "bytes": 7, "sha256": sha256(b"Holiday") },
            { "name": "file", "filename": "beach.jpg", "contentType": "image/jpeg", "bytes": 70_000, "sha256": sha256(&file) },
        ])
    );
}

#[tokio::test]
async fn bearer_token_is_required_once_set() {
    let s = Server::start();
    assert_eq!(
        s.post_json("/__ferry/auth", json!({ "token": "abc" }))
            .await
            .status(),
        204
    );
    let no_auth = s.upload("/upload", "x").await;
    assert_eq!(no_auth.status(), 401);
    assert_eq!(no_auth.headers()["www-authenticate"], "Bearer");
    let wrong = s
        .client
        .post(s.url("/upload"))
        .bearer_auth("abd")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = s
        .client
        .post(s.url("/upload"))
        .bearer_auth("abc")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 201);
    assert_eq!(
        s.post_json("/__ferry/auth", json!({ "token": null }))
            .await
            .status(),
        204
    );
    assert_eq!(s.upload("/upload", "x").await.status(), 201);
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
    assert_eq!(seen, [(401, false), (401, false), (201, true), (201, true)]);
    assert_eq!(
        s.post_json("/__ferry/auth", json!({ "tokn": 1 }))
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn reset_forgets_everything() {
    let s = Server::start();
    s.client
        .post(s.url("/upload"))
        .header("Idempotency-Key", "k")
        .body("x")
        .send()
        .await
        .unwrap();
    s.fault(json!({ "count": 3, "status": 503 })).await;
    s.post_json("/__ferry/auth", json!({ "token": "t" })).await;
    assert_eq!(files_in(&s.uploads_dir()).len(), 1);
    s.reset().await;
    assert_eq!(s.records().await.len(), 0);
    assert_eq!(s.get_json("/__ferry/keys").await, json!({}));
    assert_eq!(s.get_json("/__ferry/faults").await, json!([]));
    assert!(
        files_in(&s.uploads_dir()).is_empty(),
        "stored files are deleted"
    );
    // Auth is off again and the key is free again; ids keep increasing.
    let res = s
        .client
        .post(s.url("/upload"))
        .header("Idempotency-Key", "k")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-ferry-upload-id"], "2");
}

#[tokio::test]
async fn client_going_away_mid_body_is_recorded() {
    use tokio::io::AsyncWriteExt;
    let s = Server::start();
    let mut tcp = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    tcp.write_all(
        b"POST /upload/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let records = s
        .records_until("the first bytes", |r| {
            r.len() == 1 && r[0]["rawBytes"] == 10
        })
        .await;
    assert_eq!(records[0]["outcome"], "receiving");
    drop(tcp);
    let records = s
        .records_until("clientGone", |r| r[0]["outcome"] == "clientGone")
        .await;
    let r = &records[0];
    assert_eq!(
        (
            r["bytes"].clone(),
            r["complete"].clone(),
            r["applied"].clone()
        ),
        (json!(10), json!(false), json!(false))
    );
    assert_eq!(r["status"], Value::Null);
    assert!(files_in(&s.uploads_dir()).is_empty());
}
