use super::*;
use crate::core::retry::{Outcome, RetryPolicy};
use crate::core::state::{apply, new_task, Input, NewTask};
use crate::core::task::{BodyMeta, Method, Protocol, Request};
use serde_json::json;

fn task() -> Task {
    new_task(NewTask {
        id: "t9".into(),
        tag: "docs".into(),
        seq: 4,
        request: Request {
            url: "https://x.test/u".into(),
            method: Method::Put,
            headers: vec![],
            protocol: Protocol::Http,
            credentials: Default::default(),
        },
        body: BodyMeta {
            size: 42,
            mime: "text/plain".into(),
            name: None,
        },
        idempotency_key: "k".into(),
        now_ms: 0,
        expires_at: None,
        earliest_begin: None,
        retry: RetryPolicy::default(),
    })
}

fn leased() -> Task {
    apply(
        &task(),
        Input::Lease {
            lease_ms: 10,
            transport: Transport::BackgroundSync,
        },
        0,
        0,
    )
    .unwrap()
    .0
}

#[test]
fn send_becomes_started_with_attempt_and_transport() {
    let (t, eff) = apply(
        &task(),
        Input::Lease {
            lease_ms: 10,
            transport: Transport::BackgroundSync,
        },
        0,
        0,
    )
    .unwrap();
    let ev = events_for(&t, &eff, None);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].kind, ev[0].attempt, ev[0].transport),
        (EventKind::Started, Some(1), Some(Transport::BackgroundSync))
    );
    assert_eq!(
        (ev[0].task_id.as_str(), ev[0].tag.as_str(), ev[0].seq),
        ("t9", "docs", 0)
    );
}

#[test]
fn retry_becomes_retrying_with_delay_and_reason() {
    let o = Outcome::Response {
        status: 503,
        retry_after: Some("3".into()),
    };
    let (t, eff) = apply(&leased(), Input::Outcome(o), 5, 0).unwrap();
    let ev = events_for(&t, &eff, None);
    assert_eq!(ev[0].kind, EventKind::Retrying);
    assert_eq!((ev[0].attempt, ev[0].delay_ms), (Some(1), Some(3000)));
    assert_eq!(ev[0].reason.as_deref(), Some("503 Service Unavailable"));
}

#[test]
fn completion_carries_the_response_and_skips_delete_blob() {
    let o = Outcome::Response {
        status: 201,
        retry_after: None,
    };
    let (t, eff) = apply(&leased(), Input::Outcome(o), 5, 0).unwrap();
    let resp = ResponseInfo {
        status: 201,
        headers: vec![("etag".into(), "\"a\"".into())],
        body: "{}".into(),
    };
    let ev = events_for(&t, &eff, Some(resp.clone()));
    assert_eq!(ev.len(), 2, "DeleteBlob makes no event");
    assert_eq!(
        (ev[1].kind, ev[1].response.as_ref()),
        (EventKind::Completed, Some(&resp))
    );
}

#[test]
fn a_single_request_success_reports_progress_at_the_total_just_before_completed() {
    let ok = Input::Outcome(Outcome::Response {
        status: 201,
        retry_after: None,
    });
    let (t, eff) = apply(&leased(), ok, 5, 0).unwrap();
    let ev = events_for(&t, &eff, None);
    let kinds: Vec<_> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Progress, EventKind::Completed]);
    assert_eq!((ev[0].bytes_sent, ev[0].bytes_total), (Some(42), Some(42)));
    assert_eq!(ev[0].attempt, ev[1].attempt);
}

#[test]
fn tus_success_gets_no_extra_progress_and_failures_get_none() {
    let mut tus = leased();
    tus.request.protocol = Protocol::Tus {
        chunk_size: 1024,
        metadata: vec![],
        upload_url: None,
    };
    let ok = Input::Outcome(Outcome::Response {
        status: 204,
        retry_after: None,
    });
    let (t, eff) = apply(&tus, ok, 5, 0).unwrap();
    let kinds: Vec<_> = events_for(&t, &eff, None).iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Completed]);
    for status in [400, 503] {
        let bad = Input::Outcome(Outcome::Response {
            status,
            retry_after: None,
        });
        let (t, eff) = apply(&leased(), bad, 5, 0).unwrap();
        let ev = events_for(&t, &eff, None);
        assert!(ev.iter().all(|e| e.kind != EventKind::Progress), "{status}");
    }
}

#[test]
fn completion_without_response_still_reports_status() {
    let (t, eff) = apply(
        &leased(),
        Input::Outcome(Outcome::Response {
            status: 204,
            retry_after: None,
        }),
        5,
        0,
    )
    .unwrap();
    let ev = events_for(&t, &eff, None);
    assert_eq!(ev[1].response.as_ref().map(|r| r.status), Some(204));
}

#[test]
fn failure_carries_reason_and_response() {
    let (t, eff) = apply(
        &leased(),
        Input::Outcome(Outcome::Response {
            status: 400,
            retry_after: None,
        }),
        5,
        0,
    )
    .unwrap();
    let resp = ResponseInfo {
        status: 400,
        headers: vec![],
        body: "bad".into(),
    };
    let ev = events_for(&t, &eff, Some(resp));
    assert_eq!(ev[0].kind, EventKind::Failed);
    assert!(ev[0]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("400 Bad Request"));
    assert_eq!(ev[0].response.as_ref().unwrap().body, "bad");
    assert!(ev[0]
        .reason
        .as_deref()
        .unwrap()
        .ends_with("retrying cannot help (the server said: bad)"));
}

#[test]
fn a_retry_or_failure_notes_what_the_server_said_in_the_task_as_in_its_event() {
    let said = ResponseInfo {
        status: 503,
        headers: vec![],
        body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
    };
    let outcome = Input::Outcome(Outcome::Response {
        status: 503,
        retry_after: None,
    });
    let (mut t, eff) = apply(&leased(), outcome, 5, 0).unwrap();
    note_said(&mut t, &eff, Some(&said));
    let ev = events_for(&t, &eff, Some(said.clone()));
    assert_eq!(ev[0].kind, EventKind::Retrying);
    let expected =
        "503 Service Unavailable (the server said: SlowDown: Please reduce your request rate.)";
    assert_eq!(t.last_error.as_deref(), Some(expected));
    assert_eq!(ev[0].reason.as_deref(), Some(expected));
    // A success notes nothing; nor does an outcome without an answer.
    let done = apply(
        &leased(),
        Input::Outcome(Outcome::Response {
            status: 201,
            retry_after: None,
        }),
        5,
        0,
    )
    .unwrap();
    let mut after = done.0.clone();
    note_said(&mut after, &done.1, Some(&said));
    assert_eq!(after, done.0);
    let (mut timed_out, eff) = apply(&leased(), Input::Outcome(Outcome::Timeout), 5, 0).unwrap();
    note_said(&mut timed_out, &eff, None);
    assert_eq!(timed_out.last_error.as_deref(), Some("timeout"));
}

#[test]
fn cancel_and_expiry_become_their_events() {
    let (t, eff) = apply(&task(), Input::Cancel, 1, 0).unwrap();
    assert_eq!(events_for(&t, &eff, None)[0].kind, EventKind::Cancelled);
    let late = task().deadline();
    let (t, eff) = apply(&task(), Input::Expire, late, 0).unwrap();
    let ev = events_for(&t, &eff, None);
    assert_eq!(
        (ev[0].kind, ev[0].reason.as_deref()),
        (EventKind::Expired, Some("deadline passed"))
    );
}

#[test]
fn queued_and_progress_events_carry_sizes() {
    let q = queued_event(&task());
    assert_eq!((q.kind, q.bytes_total), (EventKind::Queued, Some(42)));
    let p = progress_event(&leased(), 21);
    assert_eq!(
        (p.kind, p.bytes_sent, p.bytes_total, p.attempt),
        (EventKind::Progress, Some(21), Some(42), Some(1))
    );
}

#[test]
fn event_serializes_camel_case_without_empty_fields() {
    let mut e = FerryEvent::new(EventKind::Retrying, &task());
    e.delay_ms = Some(7);
    e.seq = 3;
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"kind": "retrying", "taskId": "t9", "tag": "docs", "seq": 3, "delayMs": 7})
    );
}

#[test]
fn event_kinds_serialize_lowercase() {
    assert_eq!(
        serde_json::to_value(EventKind::Completed).unwrap(),
        json!("completed")
    );
    assert_eq!(
        serde_json::to_value(EventKind::Retrying).unwrap(),
        json!("retrying")
    );
}

#[test]
fn response_headers_serialize_as_an_object() {
    let r = ResponseInfo {
        status: 200,
        headers: vec![
            ("x-b".into(), "2".into()),
            ("x-a".into(), "1".into()),
            ("x-b".into(), "3".into()),
        ],
        body: String::new(),
    };
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({"status": 200, "headers": {"x-a": "1", "x-b": "2, 3"}, "body": ""})
    );
    let back: ResponseInfo = serde_json::from_value(v).unwrap();
    assert_eq!(
        back.headers,
        vec![
            ("x-a".to_string(), "1".to_string()),
            ("x-b".to_string(), "2, 3".to_string())
        ]
    );
}

#[test]
fn event_round_trips_through_json() {
    let mut e = progress_event(&leased(), 5);
    e.response = Some(ResponseInfo {
        status: 500,
        headers: vec![("a".into(), "b".into())],
        body: "x".into(),
    });
    let back: FerryEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn excerpt_keeps_short_bodies_whole() {
    assert_eq!(excerpt("hello"), "hello");
    let exact = "a".repeat(BODY_EXCERPT_MAX);
    assert_eq!(excerpt(&exact), exact);
}

#[test]
fn excerpt_truncates_on_a_char_boundary() {
    let long = "a".repeat(BODY_EXCERPT_MAX - 1) + "é" + "tail";
    let cut = excerpt(&long);
    assert_eq!(
        cut.len(),
        BODY_EXCERPT_MAX - 1,
        "the 2-byte é straddles the limit and is dropped"
    );
    let emoji = "😀".repeat(2000);
    assert_eq!(excerpt(&emoji).len(), BODY_EXCERPT_MAX);
}

#[test]
fn only_a_tasks_end_by_completion_failure_or_expiry_calls_for_a_launch_decision() {
    use EventKind::*;
    let launching: Vec<EventKind> = [
        Queued, Started, Progress, Retrying, Completed, Failed, Cancelled, Expired,
    ]
    .into_iter()
    .filter(|k| k.launches())
    .collect();
    // A page's own cancel() needs no telling; every other kind is mid-way.
    assert_eq!(launching, [Completed, Failed, Expired]);
}
