//! The scheduler's queries over 10,000 queued tasks, inside a real service worker.
//!
//! Its own test binary, because `WASM_BINDGEN_TEST_TIMEOUT` bounds a whole binary: filling the store
//! through `enqueue` (one strict-durability transaction per task, as in production) takes ~36 s in
//! Chromium and ~18 s in Firefox here.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{Input, State, Transport};
use wasm_bindgen_test::*;

const N: u64 = 10_000;
/// The task enqueued in the middle of the run that is due long before all the others.
const MIDDLE: u64 = N / 2;
/// Every other task is due at `FIRST_DUE + 10 * perm(i)`: distinct times, unrelated to enqueue order.
const FIRST_DUE: u64 = T0 + 60_000;

fn perm(i: u64) -> u64 {
    (i * 7919 + 1234) % N // 7919 is prime and coprime with N: a permutation of 0..N
}

fn id(i: u64) -> String {
    format!("t{i:05}")
}

fn due(i: u64) -> u64 {
    if i == MIDDLE {
        T0
    } else {
        FIRST_DUE + 10 * perm(i)
    }
}

/// The task due at `FIRST_DUE + 10 * p`.
fn with_perm(p: u64) -> u64 {
    (0..N)
        .find(|&i| i != MIDDLE && perm(i) == p)
        .expect("perm is a bijection")
}

fn log(msg: &str) {
    web_sys::console::log_1(&msg.into());
}

/// Runs `f`, returning its value and the milliseconds it took.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, f64) {
    let start = js_sys::Date::now();
    let v = f.await;
    (v, js_sys::Date::now() - start)
}

#[wasm_bindgen_test]
async fn next_due_stays_exact_over_ten_thousand_queued_tasks() {
    let started = js_sys::Date::now();
    let f = Fixture::new("scale").await;
    let tiny = blob(b"tiny");
    let (_, fill_ms) = timed(async {
        for i in 0..N {
            let t = task_due(
                &id(i),
                if i % 3 == 0 { "docs" } else { "photos" },
                Some(due(i)),
                4,
            );
            f.store.enqueue(&t, &tiny).await.expect("enqueue");
        }
    })
    .await;
    log(&format!(
        "scale: {N} enqueues in {fill_ms:.0} ms ({:.2} ms each)",
        fill_ms / N as f64
    ));
    assert_eq!(count(&f.name, "tasks").await, N as u32);
    assert_eq!(count(&f.name, "blobs").await, N as u32);

    // Only the middle task is due before FIRST_DUE.
    let (first, first_ms) = timed(f.store.next_due(FIRST_DUE - 1, 10)).await;
    let first = first.unwrap();
    log(&format!("scale: next_due(early, 10) in {first_ms:.0} ms"));
    assert_eq!(
        first.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        [id(MIDDLE)]
    );
    let (one, one_ms) = timed(f.store.next_due(u64::MAX >> 12, 1)).await;
    log(&format!("scale: next_due(far future, 1) in {one_ms:.0} ms"));
    assert_eq!(
        one.unwrap()
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        [id(MIDDLE)],
        "the earliest-due task, wherever it was enqueued"
    );
    assert!(
        first_ms < 2_000.0 && one_ms < 2_000.0,
        "index reads must not scan: {first_ms} / {one_ms} ms"
    );
    assert_eq!(f.store.next_wake().await.unwrap(), Some(T0));

    // Lease it: now the earliest of the others is first, and a window comes back in due order.
    let lease_ms = 100_005; // T0 + 100_005 = FIRST_DUE + 40_005: between perm 4000 and perm 4001
    let (leased, _) = f
        .store
        .transition(
            &id(MIDDLE),
            Input::Lease {
                lease_ms,
                transport: Transport::Fallback,
            },
            T0,
            0,
            None,
        )
        .await
        .unwrap();
    assert_eq!(f.store.next_wake().await.unwrap(), Some(FIRST_DUE));
    let (one, one_ms) = timed(f.store.next_due(u64::MAX >> 12, 1)).await;
    log(&format!(
        "scale: next_due(far future, 1) after lease in {one_ms:.0} ms"
    ));
    assert_eq!(
        one.unwrap()
            .iter()
            .map(|t| t.id.clone())
            .collect::<Vec<_>>(),
        [id(with_perm(0))]
    );
    let window = f.store.next_due(FIRST_DUE + 10 * 49, 1_000).await.unwrap();
    let expected: Vec<String> = (0..50).map(|p| id(with_perm(p))).collect();
    assert_eq!(
        window.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        expected,
        "exactly the 50 due by then, in due order"
    );
    assert!(window
        .iter()
        .all(|t| t.state == State::Queued && t.next_attempt_at.unwrap() <= FIRST_DUE + 490));
    assert_eq!(f.store.in_flight().await.unwrap(), vec![leased.clone()]);

    // Abandon the lease; recovered, the task is due in the middle of the others and is found there.
    let until = leased.lease_until.unwrap();
    assert_eq!(until, FIRST_DUE + 10 * 4000 + 5);
    let (back, _) = f
        .store
        .transition(&id(MIDDLE), Input::LeaseExpired, until, 0, None)
        .await
        .unwrap();
    assert_eq!(back.next_attempt_at, Some(until));
    let (upto, upto_ms) = timed(f.store.next_due(until, N as u32)).await;
    let upto = upto.unwrap();
    log(&format!(
        "scale: next_due(middle, {N}) -> {} tasks in {upto_ms:.0} ms",
        upto.len()
    ));
    assert_eq!(upto.len(), 4002, "perm 0..=4000 plus the recovered task");
    assert_eq!(upto[4000].id, id(with_perm(4000)));
    assert_eq!(
        upto[4001].id,
        id(MIDDLE),
        "the recovered task sits between the tasks due just before and after it"
    );
    assert!(
        upto.windows(2)
            .all(|w| w[0].next_attempt_at <= w[1].next_attempt_at),
        "ordered by due time"
    );
    assert_blob_intact_bytes(&f, &id(MIDDLE), b"tiny").await;
    log(&format!(
        "scale: whole test {:.0} ms",
        js_sys::Date::now() - started
    ));
    f.finish().await;
}

async fn assert_blob_intact_bytes(f: &Fixture, id: &str, bytes: &[u8]) {
    let b = f
        .store
        .blob(id)
        .await
        .unwrap()
        .expect("Blob kept through lease and recovery");
    assert_eq!(bytes_of(&b).await, bytes);
}
