//! Benchmark entry points (`cargo xtask bench`, feature `bench`): Ferry's next-due selection through the
//! `by_due` index, side by side with the approach of queues that keep no due-time index (read every
//! record, filter and sort: what a queue built on a plain object store does), on the same database.

use crate::core::{self, BodyMeta, Method, Protocol, Request, RetryPolicy, State, Task};
use crate::web::js::{self, core_error};
use crate::web::store::Store;
use wasm_bindgen::prelude::*;

/// Fills a fresh database `name` with `n` queued tasks (due times spread over the next day, a few
/// in-flight and finished ones mixed in), 1000 per transaction. Resolves when committed.
#[wasm_bindgen]
pub async fn bench_fill(name: String, n: u32) -> Result<(), JsValue> {
    let store = Store::open_named(&name).await.map_err(|e| core_error(&e))?;
    let now = js::now_ms();
    let mut rng = core::Rng::new(7);
    let mut i = 0;
    while i < n {
        let tx = store.tx(&["tasks"], true).map_err(|e| core_error(&e))?;
        let tasks = tx
            .object_store("tasks")
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        for _ in 0..1000.min(n - i) {
            let mut t = task(i, now + 60_000 + rng.below(86_400_000));
            if i % 10 == 0 {
                t.state = State::Done;
                t.next_attempt_at = None;
            }
            tasks
                .put(&js::to_js(&t).map_err(|e| core_error(&e))?, None)
                .map_err(|e| JsValue::from_str(&e.to_string()))?;
            i += 1;
        }
        crate::web::store::commit(tx, "bench fill")
            .await
            .map_err(|e| core_error(&e))?;
    }
    store.close();
    Ok(())
}

/// Milliseconds per call of Ferry's `next_due(now + 1 day, 1)`, averaged over `reps` calls.
#[wasm_bindgen]
pub async fn bench_next_due(name: String, reps: u32) -> Result<f64, JsValue> {
    let store = Store::open_named(&name).await.map_err(|e| core_error(&e))?;
    let at = js::now_ms() + 2 * 86_400_000;
    let start = js_sys::Date::now();
    let mut found = 0;
    for _ in 0..reps {
        found += store
            .next_due(at, 1)
            .await
            .map_err(|e| core_error(&e))?
            .len();
    }
    let per = (js_sys::Date::now() - start) / f64::from(reps);
    store.close();
    if found != reps as usize {
        return Err(JsValue::from_str("next_due found nothing"));
    }
    Ok(per)
}

/// Milliseconds per call of the index-less approach: read every task, keep the due queued ones, take
/// the earliest. Same database, same answer.
#[wasm_bindgen]
pub async fn bench_scan(name: String, reps: u32) -> Result<f64, JsValue> {
    let store = Store::open_named(&name).await.map_err(|e| core_error(&e))?;
    let at = js::now_ms() + 2 * 86_400_000;
    let start = js_sys::Date::now();
    for _ in 0..reps {
        let tx = store.tx(&["tasks"], false).map_err(|e| core_error(&e))?;
        let all = tx
            .object_store("tasks")
            .and_then(|s| s.get_all(None, None))
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let all = all.await.map_err(|e| JsValue::from_str(&e.to_string()))?;
        let first = all
            .into_iter()
            .filter_map(|v| js::from_js::<Task>(v).ok())
            .filter(|t| t.state == State::Queued && t.next_attempt_at.is_some_and(|d| d <= at))
            .min_by_key(|t| t.next_attempt_at);
        if first.is_none() {
            return Err(JsValue::from_str("scan found nothing"));
        }
    }
    let per = (js_sys::Date::now() - start) / f64::from(reps);
    store.close();
    Ok(per)
}

fn task(i: u32, due: u64) -> Task {
    let mut t = core::new_task(core::NewTask {
        id: format!("bench-{i:08}"),
        tag: format!("tag-{}", i % 8),
        seq: u64::from(i),
        request: Request {
            url: "http://127.0.0.1/upload".into(),
            method: Method::Post,
            headers: Vec::new(),
            protocol: Protocol::Http,
            credentials: Default::default(),
        },
        body: BodyMeta {
            size: 1024,
            mime: "application/octet-stream".into(),
            name: None,
        },
        idempotency_key: format!("key-{i}"),
        now_ms: due - 60_000,
        expires_at: None,
        earliest_begin: None,
        retry: RetryPolicy::default(),
    });
    t.next_attempt_at = Some(due);
    t
}
