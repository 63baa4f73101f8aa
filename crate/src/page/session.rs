//! The `Session` methods pages call: upload, list, get, cancel, clear, pause/resume, ack, close and the
//! EventTarget surface.

use super::*;

#[wasm_bindgen]
impl Session {
    /// The session's tag.
    #[wasm_bindgen(getter)]
    pub fn tag(&self) -> String {
        self.inner.tag.clone()
    }

    /// Stores `blob` with `request` and resolves with the task id once both are committed to IndexedDB.
    pub fn upload(&self, blob: JsValue, request: JsValue) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let task = prepare(&inner, &blob, &request, None).await?;
            // A large Blob (checked against the storage estimate) commits on its own: its own
            // answer to a full disk, and no small upload waits behind its write.
            let id = if core::validate::wants_quota_estimate(task.body.size) {
                let ids = commit(&inner, vec![(task, blob.unchecked_into())]).await?;
                ids.into_iter().next().unwrap_or_default()
            } else {
                commit_together(&inner, task, blob.unchecked_into()).await?
            };
            Ok(JsValue::from_str(&id))
        })
    }

    /// Stores many uploads (`[{ blob, request }, ...]`, all of this tag) in ONE transaction and
    /// resolves with their ids, in order, once all are committed. Every item is checked first: one bad
    /// item rejects the call with its error (its `index` says which) and stores nothing.
    #[wasm_bindgen(js_name = uploadAll)]
    pub fn upload_all(&self, items: JsValue) -> js_sys::Promise {
        if let Err(e) = open(&self.inner) {
            return js_sys::Promise::reject(&core_error(&e));
        }
        let inner = self.inner.clone();
        future_to_promise(async move {
            let items = items.dyn_into::<js_sys::Array>().map_err(|_| {
                core_error(&Error::options(
                    "uploadAll",
                    "pass an array of { blob, request } items",
                ))
            })?;
            let available = {
                let total: u64 = items
                    .iter()
                    .filter_map(|i| js::get(&i, "blob").dyn_into::<web_sys::Blob>().ok())
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
                let blob = js::get(&item, "blob");
                let left = available.map(|a| a.saturating_sub(used));
                let task = prepare(&inner, &blob, &js::get(&item, "request"), Some(left))
                    .await
                    .map_err(|e| {
                        let err = core_error(&e);
                        js::set(&err, "index", &JsValue::from(index as u32));
                        err
                    })?;
                used += task.body.size;
                batch.push((task, blob.unchecked_into()));
            }
            let ids = commit(&inner, batch).await.map_err(|e| core_error(&e))?;
            Ok(ids
                .iter()
                .map(|id| JsValue::from_str(id))
                .collect::<js_sys::Array>()
                .into())
        })
    }

    /// The tag's tasks in enqueue order.
    pub fn list(&self) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let tasks = inner.store.list(&inner.tag).await?;
            let out = js_sys::Array::new();
            for t in &tasks {
                out.push(&js::to_js(t)?);
            }
            Ok(out.into())
        })
    }

    /// One task of this tag, or `null`.
    pub fn get(&self, id: JsValue) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let task = match id.as_string() {
                Some(id) => own(&inner, inner.store.get(&id).await?),
                None => None,
            };
            task.map(|t| js::to_js(&t))
                .transpose()
                .map(|v| v.unwrap_or(JsValue::NULL))
        })
    }

    /// Cancels a task: `true` if it was still pending, `false` if it had already ended.
    pub fn cancel(&self, id: JsValue) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let id = id.as_string().unwrap_or_default();
            let Some(task) = own(&inner, inner.store.get(&id).await?) else {
                return Err(Error::UnknownTask { id });
            };
            if task.state.is_terminal() {
                return Ok(JsValue::FALSE);
            }
            let (_, events) = inner
                .store
                .transition(&id, core::Input::Cancel, now_ms(), 0, None)
                .await?;
            messaging::broadcast(&events);
            stop_attempt(&inner, &task).await;
            Ok(JsValue::TRUE)
        })
    }

    /// Removes every task, payload and pending event of the tag, and any headers kept for it (a logout
    /// leaves nothing behind); resolves with the number of tasks removed. The session stays usable.
    pub fn clear(&self) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let running: Vec<Task> = inner
                .store
                .list(&inner.tag)
                .await?
                .into_iter()
                .filter(|t| t.state == core::State::InFlight)
                .collect();
            let n = inner.store.clear(&inner.tag).await?;
            for t in running {
                stop_attempt(&inner, &t).await;
            }
            Ok(JsValue::from(n))
        })
    }

    /// Stops new attempts for the tag (in-flight ones finish); survives restarts.
    pub fn pause(&self) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            set_paused(&inner, true).await.map(|_| JsValue::UNDEFINED)
        })
    }

    /// Sends again at once.
    pub fn resume(&self) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            set_paused(&inner, false).await?;
            wake(&inner).await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Acknowledges events up to `seq` (with `ack: 'manual'`): they will not be replayed again.
    pub fn ack(&self, seq: JsValue) -> js_sys::Promise {
        promise(&self.inner, |inner| async move {
            let seq = seq.as_f64().unwrap_or(f64::NAN);
            if !(seq.is_finite() && seq >= 0.0 && seq.fract() == 0.0) {
                return Err(Error::options(
                    "seq",
                    "pass the seq of a delivered event (a whole number)",
                ));
            }
            inner
                .store
                .ack(&inner.tag, seq as u64)
                .await
                .map(|_| JsValue::UNDEFINED)
        })
    }

    /// Stops delivering events to this page; uploads go on in the worker.
    pub fn close(&self) {
        self.inner.closed.set(true);
        alarm::stop(&self.inner);
        self.inner.channel.set_onmessage(None);
        self.inner.channel.close();
        if let Some(on_online) = self.inner.on_online.borrow_mut().take() {
            let global: web_sys::EventTarget = js::global().unchecked_into();
            let _ = global
                .remove_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        }
    }

    /// `EventTarget.addEventListener` (options optional); the first listener starts the replay of
    /// missed events.
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(
        &self,
        kind: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> Result<(), JsValue> {
        delivery::add_checked(&self.inner, &kind, &listener, &options).map_err(|e| core_error(&e))
    }

    /// `EventTarget.removeEventListener`.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(
        &self,
        kind: JsValue,
        listener: JsValue,
        options: JsValue,
    ) -> Result<(), JsValue> {
        delivery::remove_checked(&self.inner, &kind, &listener, &options)
            .map_err(|e| core_error(&e))
    }
}

/// Stops a task's running attempt wherever it runs (the worker aborts its fetch or the task's
/// Background Fetch).
async fn stop_attempt(inner: &Inner, task: &Task) {
    tell(
        inner,
        messaging::message("cancel", Some(&inner.tag), Some(&task.id)),
    );
}

fn tell(inner: &Inner, msg: JsValue) {
    if let Some(worker) = inner.registration.active() {
        let _ = worker.post_message(&msg);
    }
}

/// Pauses or resumes the tag in one transaction with reading its record (a `clear()` racing it never
/// gets dropped headers written back).
async fn set_paused(inner: &Inner, paused: bool) -> Result<(), Error> {
    let page_url = page_url();
    let (tag, options) = (inner.tag.clone(), inner.options);
    inner
        .store
        .update_session(&inner.tag, move |previous| {
            Some(SessionRecord {
                tag,
                options,
                paused,
                page_url,
                last_headers: previous.and_then(|s| s.last_headers),
            })
        })
        .await
}

/// Validates one upload into a task of this session. `quota`: the free space already estimated for a
/// batch (`None`: estimate here if the body is large enough to be worth it).
async fn prepare(
    inner: &Inner,
    blob: &JsValue,
    request: &JsValue,
    quota: Option<Option<u64>>,
) -> Result<Task, Error> {
    let input = request::upload_input(blob, request)?;
    let size = blob
        .dyn_ref::<web_sys::Blob>()
        .map_or(0, |b| b.size() as u64);
    let quota_available = match quota {
        Some(known) => known,
        None if core::validate::wants_quota_estimate(size) => request::quota_available().await,
        None => None,
    };
    let limits = core::Limits {
        quota_available,
        ..core::Limits::default()
    };
    let valid = core::validate_upload(&input, &inner.options.retry, &limits, now_ms())?;
    Ok(request::new_task(
        &inner.tag,
        valid,
        inner.options.batch_window_ms,
    ))
}

/// An `upload()` waiting for its enqueue: the task, its Blob, and where its answer goes.
pub(super) type Waiting = (Task, web_sys::Blob, js::Reply<Result<String, Error>>);

/// `upload()`'s commit of a small Blob. Calls that arrive while an enqueue transaction runs wait and
/// share the next one, so `Promise.all(files.map((f) => session.upload(f, request)))` costs a few transactions, not
/// one per file, and a call made alone costs what it did. Each call keeps its own answer: when a
/// shared transaction fails, its uploads are committed again one by one, each failing on its own.
async fn commit_together(
    inner: &Rc<Inner>,
    task: Task,
    blob: web_sys::Blob,
) -> Result<String, Error> {
    let (answer, answered) = js::reply();
    inner.waiting.borrow_mut().push((task, blob, answer));
    if !inner.committing.replace(true) {
        let inner = inner.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let batch = std::mem::take(&mut *inner.waiting.borrow_mut());
                if batch.is_empty() {
                    break;
                }
                let (items, answers): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|(task, blob, answer)| ((task, blob), answer))
                    .unzip();
                let one = |ids: Vec<String>| {
                    ids.into_iter().next().ok_or_else(|| Error::Storage {
                        op: "enqueue".into(),
                        message: "the enqueue answered no task id".into(),
                    })
                };
                let results: Vec<Result<String, Error>> = match commit(&inner, items.clone()).await
                {
                    Ok(ids) => ids.into_iter().map(Ok).collect(),
                    Err(e) if items.len() == 1 => vec![Err(e)],
                    Err(_) => {
                        let mut out = Vec::with_capacity(items.len());
                        for item in items {
                            out.push(commit(&inner, vec![item]).await.and_then(one));
                        }
                        out
                    }
                };
                for (answer, result) in answers.into_iter().zip(results) {
                    answer.send(result);
                }
            }
            inner.committing.set(false);
        });
    }
    answered.wait().await.unwrap_or_else(|| {
        Err(Error::Storage {
            op: "enqueue".into(),
            message: "no answer from the enqueue transaction".into(),
        })
    })
}

/// Commits validated uploads in one transaction, tells the pages, then gets them sending: a
/// Background Fetch for the first due task when one fits, and a wake for the worker; neither for a
/// paused tag (`resume()` wakes it). Resolves once committed, whatever the Background Fetch start does.
async fn commit(
    inner: &Rc<Inner>,
    batch: Vec<(Task, web_sys::Blob)>,
) -> Result<Vec<String>, Error> {
    let size: u64 = batch.iter().map(|(t, _)| t.body.size).sum();
    let done = match inner.store.enqueue_all(&batch).await {
        // The write itself hit the quota (the estimate is coarse): say how much is free now.
        Err(Error::QuotaExceeded { .. }) => {
            return Err(Error::QuotaExceeded {
                size,
                available: request::quota_available().await.unwrap_or(0),
            });
        }
        other => other?,
    };
    messaging::broadcast(&done.events);
    let ids = done.tasks.iter().map(|t| t.id.clone()).collect();
    let now = now_ms();
    for t in &done.tasks {
        // Due later (`earliestBegin`), or to expire while the tag is paused: this page wakes the
        // worker then.
        alarm::at(inner, core::scheduler::due_at(t), now);
        if let Some(e) = t.expires_at {
            alarm::at(inner, e, now);
        }
    }
    if done.paused {
        return Ok(ids);
    }
    if !done.background_fetch_busy {
        if let Some(task) = done.tasks.iter().find(|t| t.is_due(now_ms())) {
            if let Err(e) = background_fetch(inner, task).await {
                web_sys::console::warn_1(
                    &format!("ferry: Background Fetch not started: {e}").into(),
                );
            }
        }
    }
    wake(inner).await;
    Ok(ids)
}
