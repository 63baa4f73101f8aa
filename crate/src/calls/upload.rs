//! `upload()` and `uploadAll()`: validated here, committed in one strict transaction with their
//! `queued` events, then answered with what the page does next (wake times, a Background Fetch to
//! start, which only a page may).

use super::{background_fetch, options_of, Failed};
use crate::core::{self, Error, SessionOptions, Task};
use crate::web::js::{self, core_error, now_ms};
use crate::web::store::Store;
use crate::web::{externs, messaging, request};
use litemap::LiteMap;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `upload()` calls waiting for the enqueue transaction that will take them together, and whether
/// one runs, per tag.
type Waiting = (Task, web_sys::Blob, js::Reply<Result<Committed, Error>>);

/// A tag's `upload()` calls waiting for its next enqueue transaction.
#[derive(Default)]
struct Queue {
    /// An enqueue transaction of the tag runs (it takes the waiting calls when it ends).
    running: bool,
    waiting: Vec<Waiting>,
    /// A waiting call's page could start a Background Fetch: the transaction reads what is in flight.
    background_fetch: bool,
}

thread_local! {
    static WAITING: RefCell<LiteMap<String, Queue>> =
        const { RefCell::new(LiteMap::new()) };
}

/// `{ op: 'upload', tag, options, items: [{ id, blob, bodyType, request }], all, base, origin, retry,
/// backgroundFetch }`: resolves with `{ ids, wakeAt, paused, backgroundFetch }` (the tasks' ids in
/// order, the times the page wakes the worker at while it is open, whether the tag is paused, and the
/// fetch it starts, if any).
pub(super) async fn upload(store: &Store, tag: &str, call: &JsValue) -> Result<JsValue, Failed> {
    let options = options_of(call)?;
    let items: js_sys::Array = js::get(call, "items")
        .dyn_into()
        .map_err(|_| Error::options("uploadAll", "pass an array of { blob, request } items"))?;
    let all = js::get(call, "all").as_bool() == Some(true);
    let base = js::get(call, "base").as_string();
    let blob_of = |item: &JsValue| js::get(item, "blob").dyn_into::<web_sys::Blob>().ok();
    let available = {
        let total: u64 = items
            .iter()
            .filter_map(|i| blob_of(&i))
            .map(|b| b.size() as u64)
            .sum();
        if core::validate::wants_quota_estimate(total) {
            request::quota_available().await
        } else {
            None
        }
    };
    let mut batch = Vec::with_capacity(items.length() as usize);
    let mut used = 0u64;
    for (index, item) in items.iter().enumerate() {
        let left = available.map(|a| a.saturating_sub(used));
        let task = prepare(tag, &options, &item, base.as_deref(), left).map_err(|e| {
            let err = core_error(&e);
            if all {
                js::set(&err, "index", &JsValue::from(index as u32));
            }
            Failed::Js(err)
        })?;
        used += task.body.size;
        let blob = blob_of(&item).ok_or_else(|| Error::options("blob", "is missing"))?;
        batch.push((task, blob));
    }
    // One small upload commits with the others made meanwhile; a batch, or a large Blob (checked
    // against the storage estimate: its own answer to a full disk), commits on its own.
    let ids: Vec<String> = batch.iter().map(|(t, _)| t.id.clone()).collect();
    // Only a page that can start a Background Fetch needs to know whether one is in flight.
    let background_fetch = background_fetch::page_can_start(call, &options);
    if background_fetch {
        crate::scheduler::heard_page(tag, true);
    }
    let stored = match batch.pop() {
        Some((task, blob))
            if batch.is_empty() && !core::validate::wants_quota_estimate(task.body.size) =>
        {
            together(store, task, blob, background_fetch).await
        }
        Some(last) => {
            batch.push(last);
            commit(store, batch, background_fetch).await
        }
        None => Ok(Committed::default()),
    };
    let done = match stored {
        // The call sent again after its worker was replaced, which had stored it: the same tasks.
        Err(Error::DuplicateTask { id }) if js::get(call, "retry").as_bool() == Some(true) => {
            stored_before(store, tag, &ids)
                .await?
                .ok_or(Error::DuplicateTask { id })?
        }
        other => other?,
    };
    let tasks = &done.tasks;
    let answer = js_sys::Object::new();
    let ids: js_sys::Array = tasks.iter().map(|t| JsValue::from_str(&t.id)).collect();
    js::set(&answer, "ids", &ids);
    let wake_at: js_sys::Array = tasks
        .iter()
        .flat_map(|t| [core::scheduler::due_at(t), t.deadline()])
        .map(|at| JsValue::from_f64(at as f64))
        .collect();
    js::set(&answer, "wakeAt", &wake_at);
    // Nothing to start for a paused tag (`resume()` wakes the worker).
    js::set(&answer, "paused", &JsValue::from_bool(done.paused));
    if !done.paused {
        // A sync where Background Sync exists, asked before the page hears "stored": the work then
        // has an event of its own even if the page closes at once.
        externs::register_sync(&crate::scheduler::registration(), "ferry").await;
    }
    if let Some(start) = background_fetch::lease(store, &done, &options, call).await? {
        js::set(&answer, "backgroundFetch", &start);
    }
    if !done.paused {
        // A pump running here looks again (else it waits for the page's wake, which may not come,
        // or for an attempt's end; a sync asked while one runs fires only after it). After the
        // lease above: the page's Background Fetch comes first.
        crate::scheduler::news();
    }
    Ok(answer.into())
}

/// Validates one upload into a task of this session. `quota`: the free space already estimated for
/// the call (`None`: unknown, or too small to be worth asking).
fn prepare(
    tag: &str,
    options: &SessionOptions,
    item: &JsValue,
    base: Option<&str>,
    quota_available: Option<u64>,
) -> Result<Task, Error> {
    let input = request::upload_input_from_page(item, base)?;
    let limits = core::Limits {
        quota_available,
        before_send: crate::scheduler::before_send::installed(),
        ..core::Limits::default()
    };
    let valid = core::validate_upload(&input, &options.retry, &limits, now_ms())?;
    // The id the page chose (it sends a call again with the same ids).
    let id = js::get(item, "id")
        .as_string()
        .filter(|id| (1..=64).contains(&id.len()));
    Ok(request::new_task(tag, id, valid, options.batch_window_ms))
}

/// The tasks of `ids`, when every one is stored already under this tag: a call its replaced worker
/// committed before it could answer. `None` when any is missing or another tag's.
async fn stored_before(
    store: &Store,
    tag: &str,
    ids: &[String],
) -> Result<Option<Committed>, Error> {
    let mut tasks = Vec::with_capacity(ids.len());
    for id in ids {
        match store.get(id).await? {
            Some(task) if task.tag == tag => tasks.push(task),
            _ => return Ok(None),
        }
    }
    Ok(Some(Committed {
        tasks,
        ..Committed::default()
    }))
}

/// What a commit wrote and saw.
#[derive(Default)]
pub(super) struct Committed {
    pub tasks: Vec<Task>,
    /// The tag is paused: nothing is started for it.
    pub paused: bool,
    /// A Background Fetch of the origin is in flight already.
    pub background_fetch_busy: bool,
}

/// Commits uploads in one transaction and tells the pages of the tag.
async fn commit(
    store: &Store,
    batch: Vec<(Task, web_sys::Blob)>,
    background_fetch: bool,
) -> Result<Committed, Error> {
    let size: u64 = batch.iter().map(|(t, _)| t.body.size).sum();
    let done = match store.enqueue_all(&batch, background_fetch).await {
        // The write itself hit the quota (the estimate is coarse): say how much is free now.
        Err(Error::QuotaExceeded { .. }) => {
            return Err(Error::quota_refused(size, request::quota_available().await));
        }
        other => other?,
    };
    messaging::broadcast(&done.events);
    Ok(Committed {
        tasks: done.tasks,
        paused: done.paused,
        background_fetch_busy: done.background_fetch_busy,
    })
}

/// The commit of one small upload. Calls that arrive while an enqueue transaction of their tag runs
/// wait and share the next one, so `Promise.all(files.map((f) => session.upload(f, request)))` costs a
/// few transactions, not one per file, and a call made alone costs what it did. Each call keeps its
/// own answer: when a shared transaction fails, its uploads are committed again one by one, each
/// failing on its own.
async fn together(
    store: &Store,
    task: Task,
    blob: web_sys::Blob,
    background_fetch: bool,
) -> Result<Committed, Error> {
    let tag = task.tag.clone();
    let (answer, answered) = js::reply();
    let run = WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let q = w.entry(tag.clone()).or_default();
        q.waiting.push((task, blob, answer));
        q.background_fetch |= background_fetch;
        !std::mem::replace(&mut q.running, true)
    });
    if run {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let (batch, background_fetch) = WAITING.with(|w| {
                    w.borrow_mut()
                        .get_mut(&tag)
                        .map(|q| {
                            let bf = std::mem::take(&mut q.background_fetch);
                            (std::mem::take(&mut q.waiting), bf)
                        })
                        .unwrap_or_default()
                });
                if batch.is_empty() {
                    break;
                }
                let (items, answers): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|(task, blob, answer)| ((task, blob), answer))
                    .unzip();
                let results: Vec<Result<Committed, Error>> =
                    match commit(&store, items.clone(), background_fetch).await {
                        Ok(done) => {
                            let (paused, busy) = (done.paused, done.background_fetch_busy);
                            done.tasks
                                .into_iter()
                                .map(|t| {
                                    Ok(Committed {
                                        tasks: vec![t],
                                        paused,
                                        background_fetch_busy: busy,
                                    })
                                })
                                .collect()
                        }
                        Err(e) if items.len() == 1 => vec![Err(e)],
                        Err(_) => {
                            let mut out = Vec::with_capacity(items.len());
                            for item in items {
                                out.push(commit(&store, vec![item], background_fetch).await);
                            }
                            out
                        }
                    };
                for (answer, result) in answers.into_iter().zip(results) {
                    answer.send(result);
                }
            }
            WAITING.with(|w| w.borrow_mut().remove(&tag));
        });
    }
    answered.wait().await.unwrap_or_else(|| Err(no_answer()))
}

fn no_answer() -> Error {
    Error::Storage {
        op: "enqueue".into(),
        message: "no answer from the enqueue transaction".into(),
    }
}
