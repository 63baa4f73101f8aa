//! The scheduler's queries over 10,000 queued tasks, inside a real service worker.
//!
//! The store is seeded in bulk: 9,999 task records and their Blobs written the way `Store::enqueue` writes
//! them, in one raw IndexedDB transaction (10,000 enqueues, one strict-durability transaction each, took
//! minutes on a loaded machine), then one task through `enqueue` itself. That the index reads do not scan
//! is asserted on the number of records IndexedDB handed out during each query, never on a duration: the
//! worker's `IDBIndex`/`IDBObjectStore` read methods are wrapped to count the records their requests
//! return (the real methods still do the reading).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod common;

use common::*;
use ferry::core::{Input, State, Task, Transport};
use ferry::web::js::to_js;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

const N: u64 = 10_000;
/// The task due long before all the others, enqueued through the `Store` after the bulk seed.
const MIDDLE: u64 = N / 2;
/// Every other task is due at `FIRST_DUE + 10 * perm(i)`: distinct times, unrelated to enqueue order.
const FIRST_DUE: u64 = T0 + 60_000;

fn perm(i: u64) -> u64 {
    (i * 7919 + 1234) % N // 7919 is prime and coprime with N: a permutation of 0..N
}

fn id(i: u64) -> String {
    format!("t{i:05}")
}

fn tag(i: u64) -> &'static str {
    if i % 3 == 0 {
        "docs"
    } else {
        "photos"
    }
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

fn ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

/// Installs (once per worker) wrappers around the IndexedDB read methods that add up how many records
/// (values or keys) their requests returned; returns a function that reads the running total.
fn record_reads_counter() -> js_sys::Function {
    let install = js_sys::Function::new_no_args(
        r#"
        if (!self.__ferryRecordsRead) {
          const count = { n: 0 };
          const wrap = (proto, name, records) => {
            const real = proto[name];
            proto[name] = function (...args) {
              const request = real.apply(this, args);
              request.addEventListener('success', () => { count.n += records(request.result); });
              return request;
            };
          };
          const all = (r) => r.length;
          const one = (r) => (r === undefined ? 0 : 1);
          const step = (cursor) => (cursor ? 1 : 0);
          for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
            wrap(proto, 'getAll', all);
            wrap(proto, 'getAllKeys', all);
            wrap(proto, 'get', one);
            wrap(proto, 'getKey', one);
            // A cursor's request fires `success` once per record it steps onto.
            wrap(proto, 'openCursor', step);
            wrap(proto, 'openKeyCursor', step);
          }
          self.__ferryRecordsRead = () => count.n;
        }
        return self.__ferryRecordsRead;
        "#,
    );
    install
        .call0(&JsValue::UNDEFINED)
        .expect("install the read counter")
        .unchecked_into()
}

fn records_read(counter: &js_sys::Function) -> u64 {
    counter
        .call0(&JsValue::UNDEFINED)
        .expect("read the counter")
        .as_f64()
        .expect("a number") as u64
}

/// Runs `query`, asserting IndexedDB handed out at most `max` records meanwhile.
async fn reading_at_most<T>(
    counter: &js_sys::Function,
    max: u64,
    what: &str,
    query: impl std::future::Future<Output = T>,
) -> T {
    let before = records_read(counter);
    let value = query.await;
    let read = records_read(counter) - before;
    log(&format!("scale: {what} read {read} record(s)"));
    assert!(
        read <= max,
        "{what} read {read} records out of {N}: an index read must stop at what it returns (at most {max})"
    );
    value
}

/// Writes every task but `MIDDLE` (with its Blob) as `enqueue` would, and the per-tag event counters,
/// in one transaction.
async fn seed(name: &str, blob: &web_sys::Blob) {
    let db = raw_open(name, None, None).await;
    let tx = raw_tx(&db, &["tasks", "blobs", "meta"], true);
    let tasks = tx.object_store("tasks").unwrap();
    let blobs = tx.object_store("blobs").unwrap();
    let meta = tx.object_store("meta").unwrap();
    let mut seqs = std::collections::HashMap::<&str, u64>::new();
    for i in (0..N).filter(|&i| i != MIDDLE) {
        let mut t = task_due(&id(i), tag(i), Some(due(i)), 4);
        let seq = seqs.entry(tag(i)).or_default();
        *seq += 1;
        t.seq = *seq;
        tasks.put(&to_js(&t).expect("task record")).unwrap();
        blobs.put_with_key(blob, &JsValue::from_str(&t.id)).unwrap();
    }
    for (tag, seq) in seqs {
        meta.put_with_key(
            &JsValue::from_f64(seq as f64),
            &JsValue::from_str(&format!("eventseq:{tag}")),
        )
        .unwrap();
    }
    assert!(tx_done(&tx).await, "the bulk seed committed");
    db.close();
}

#[wasm_bindgen_test]
async fn next_due_stays_exact_over_ten_thousand_queued_tasks() {
    let started = js_sys::Date::now();
    let f = Fixture::new("scale").await;
    let tiny = blob(b"tiny");
    seed(&f.name, &tiny).await;
    // The last one through the Store: its sequence number continues the seeded counter.
    let (middle, _) = f
        .store
        .enqueue(
            &task_due(&id(MIDDLE), tag(MIDDLE), Some(due(MIDDLE)), 4),
            &tiny,
        )
        .await
        .expect("enqueue into a store of 9,999 tasks");
    let seeded_of_tag = (0..N)
        .filter(|&i| i != MIDDLE && tag(i) == tag(MIDDLE))
        .count() as u64;
    assert_eq!(
        middle.seq,
        seeded_of_tag + 1,
        "the next sequence number of its tag"
    );
    log(&format!(
        "scale: {N} tasks stored in {:.0} ms",
        js_sys::Date::now() - started
    ));
    assert_eq!(count(&f.name, "tasks").await, N as u32);
    assert_eq!(count(&f.name, "blobs").await, N as u32);

    let reads = record_reads_counter();
    // Only the middle task is due before FIRST_DUE.
    let first = reading_at_most(
        &reads,
        1,
        "next_due(early, 10)",
        f.store.next_due(FIRST_DUE - 1, 10),
    )
    .await
    .unwrap();
    assert_eq!(ids(&first), [id(MIDDLE)]);
    let one = reading_at_most(
        &reads,
        1,
        "next_due(far future, 1)",
        f.store.next_due(u64::MAX >> 12, 1),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&one),
        [id(MIDDLE)],
        "the earliest-due task, wherever it was enqueued"
    );
    let wake = reading_at_most(&reads, 1, "next_wake()", f.store.next_wake())
        .await
        .unwrap();
    assert_eq!(wake, Some(T0));

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
    let wake = reading_at_most(
        &reads,
        1,
        "next_wake() after the lease",
        f.store.next_wake(),
    )
    .await
    .unwrap();
    assert_eq!(wake, Some(FIRST_DUE));
    let one = reading_at_most(
        &reads,
        1,
        "next_due(far future, 1) after the lease",
        f.store.next_due(u64::MAX >> 12, 1),
    )
    .await
    .unwrap();
    assert_eq!(ids(&one), [id(with_perm(0))]);
    let window = reading_at_most(
        &reads,
        50,
        "next_due(50 due, 1000)",
        f.store.next_due(FIRST_DUE + 10 * 49, 1_000),
    )
    .await
    .unwrap();
    let expected: Vec<String> = (0..50).map(|p| id(with_perm(p))).collect();
    assert_eq!(
        ids(&window),
        expected,
        "exactly the 50 due by then, in due order"
    );
    assert!(window
        .iter()
        .all(|t| t.state == State::Queued && t.next_attempt_at.unwrap() <= FIRST_DUE + 490));
    let in_flight = reading_at_most(&reads, 1, "in_flight()", f.store.in_flight())
        .await
        .unwrap();
    assert_eq!(in_flight, vec![leased.clone()]);

    // Abandon the lease; recovered, the task is due in the middle of the others and is found there.
    let until = leased.lease_until.unwrap();
    assert_eq!(until, FIRST_DUE + 10 * 4000 + 5);
    let (back, _) = f
        .store
        .transition(&id(MIDDLE), Input::LeaseExpired, until, 0, None)
        .await
        .unwrap();
    assert_eq!(back.next_attempt_at, Some(until));
    let upto = reading_at_most(
        &reads,
        4002,
        "next_due(4002 due, 10000)",
        f.store.next_due(until, N as u32),
    )
    .await
    .unwrap();
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
