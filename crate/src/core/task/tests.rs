use super::*;

#[test]
fn state_serializes_as_camel_case_strings() {
    for s in State::ALL {
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            serde_json::json!(s.as_str())
        );
    }
}

#[test]
fn only_queued_and_in_flight_are_not_terminal() {
    assert!(!State::Queued.is_terminal() && !State::InFlight.is_terminal());
    assert!(State::Done.is_terminal() && State::Failed.is_terminal());
    assert!(State::Cancelled.is_terminal() && State::Expired.is_terminal());
}

#[test]
fn method_serializes_upper_case() {
    assert_eq!(
        serde_json::to_value(Method::Patch).unwrap(),
        serde_json::json!("PATCH")
    );
    assert_eq!(Method::Put.as_str(), "PUT");
}

#[test]
fn transport_serializes_camel_case() {
    assert_eq!(
        serde_json::to_value(Transport::BackgroundFetch).unwrap(),
        serde_json::json!("backgroundFetch")
    );
}

#[test]
fn protocol_is_internally_tagged_with_camel_case_fields() {
    let p = Protocol::Tus {
        chunk_size: 5,
        metadata: vec![("a".into(), "b".into())],
        upload_url: None,
    };
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"kind": "tus", "chunkSize": 5, "metadata": [["a", "b"]], "uploadUrl": null})
    );
    assert_eq!(
        serde_json::to_value(Protocol::Http).unwrap(),
        serde_json::json!({"kind": "http"})
    );
    let back: Protocol = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}

#[test]
fn a_stored_protocol_is_read_by_its_kind_and_refused_without_what_the_kind_needs() {
    let read =
        |v: serde_json::Value| serde_json::from_value::<Protocol>(v).map_err(|e| e.to_string());
    for p in [
        Protocol::Http,
        Protocol::Multipart {
            field: "file".into(),
            filename: "a.jpg".into(),
            fields: vec![("album".into(), "7".into())],
        },
        Protocol::Tus {
            chunk_size: 5_242_880,
            metadata: vec![],
            upload_url: Some("http://127.0.0.1/files/1".into()),
        },
    ] {
        assert_eq!(read(serde_json::to_value(&p).unwrap()), Ok(p));
    }
    // What another kind would carry is ignored; an upload URL not learned yet is none.
    assert_eq!(
        read(serde_json::json!({"kind": "http", "field": "x", "later": 1})),
        Ok(Protocol::Http)
    );
    assert_eq!(
        read(serde_json::json!({"kind": "tus", "chunkSize": 1, "metadata": []})),
        Ok(Protocol::Tus {
            chunk_size: 1,
            metadata: vec![],
            upload_url: None
        })
    );
    for (bad, says) in [
        (serde_json::json!({"field": "f"}), "missing field `kind`"),
        (
            serde_json::json!({"kind": "ftp"}),
            "unknown protocol kind `ftp`",
        ),
        (
            serde_json::json!({"kind": "multipart", "field": "f", "fields": []}),
            "missing field `filename`",
        ),
        (
            serde_json::json!({"kind": "tus", "metadata": []}),
            "missing field `chunkSize`",
        ),
        (
            serde_json::json!({"kind": "tus", "chunkSize": -1, "metadata": []}),
            "invalid value",
        ),
    ] {
        let err = read(bad.clone()).expect_err(&bad.to_string());
        assert!(err.contains(says), "{bad}: {err}");
    }
}
