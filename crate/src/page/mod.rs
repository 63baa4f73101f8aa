//! The page API: `Ferry.register(tag, options)` returns a `Session` (an EventTarget) that first replays
//! the tag's unacknowledged events, then delivers live ones; `upload` resolves once the Blob is committed.

use crate::core::scheduler::{Env, SessionView};
use crate::core::{self, Error, FerryEvent, SessionOptions, Task};
use crate::web::js::{self, core_error, now_ms};
use crate::web::store::{SessionRecord, Store};
use crate::web::{bgfetch, externs, messaging, request};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

/// Entry point of the page API.
#[wasm_bindgen]
pub struct Ferry;

#[wasm_bindgen]
impl Ferry {
    /// Registers a session for `tag` (same tag later = same session: missed events are replayed).
    /// `target`: the `EventTarget` events are dispatched on (the page entry's `Session`, so that
    /// `e.target` is the session); another value, a new one.
    pub async fn register(
        tag: JsValue,
        options: JsValue,
        target: JsValue,
    ) -> Result<Session, JsValue> {
        console_error_panic_hook::set_once();
        register(tag, options, target)
            .await
            .map_err(|e| core_error(&e))
    }
}

/// A session: one tag's uploads and events. Dispatches `queued`, `started`, `progress`, `retrying`,
/// `completed`, `failed`, `cancelled` and `expired` events whose `detail` is the FerryEvent.
#[must_use]
#[wasm_bindgen]
pub struct Session {
    inner: Rc<Inner>,
}

type MessageHandler = Closure<dyn FnMut(web_sys::MessageEvent)>;

struct Inner {
    tag: String,
    store: Store,
    registration: web_sys::ServiceWorkerRegistration,
    options: SessionOptions,
    target: web_sys::EventTarget,
    channel: web_sys::BroadcastChannel,
    /// `close()` was called: every later call is refused.
    closed: Cell<bool>,
    /// Highest seq dispatched: replay and live delivery overlap, each event is dispatched once.
    delivered: Cell<u64>,
    /// Live events held back until the replay (started by the first listener) has run.
    pending: RefCell<Option<Vec<FerryEvent>>>,
    replay_scheduled: Cell<bool>,
    /// Set by every listener wrapper when it runs: whether a listener heard the event dispatched.
    heard: Rc<Cell<bool>>,
    /// The page's listeners, each wrapped so a dispatch knows whether one ran.
    listeners: RefCell<Vec<delivery::Listener>>,
    /// Events dispatched when no listener of their kind was there: kept (and not acknowledged) for a
    /// listener added later.
    unheard: RefCell<Vec<FerryEvent>>,
    on_message: RefCell<Option<MessageHandler>>,
    /// Wakes the worker when the page comes back online: Chromium fires no `online` event in a
    /// service worker, so without this an upload held back offline waits for the next page call.
    on_online: RefCell<Option<Closure<dyn FnMut()>>>,
    /// A sync registration of this page is under way.
    sync_pending: Cell<bool>,
    /// `upload()` calls waiting for the enqueue transaction that will take them together.
    waiting: RefCell<Vec<session::Waiting>>,
    /// An enqueue transaction of `upload()` calls is under way.
    committing: Cell<bool>,
    /// The Background Fetch manager where granted, asked once per session (`None` inside: not granted).
    bgfetch: RefCell<Option<Option<externs::BackgroundFetchManager>>>,
    /// The page's header provider, asked by the worker at send time.
    provider: Option<js_sys::Function>,
    /// Wakes the worker when work of the tag falls due while this page is open.
    alarm: RefCell<alarm::Alarm>,
}

async fn register(tag: JsValue, options: JsValue, target: JsValue) -> Result<Session, Error> {
    let tag = tag.as_string().ok_or_else(|| Error::InvalidTag {
        tag: js::js_string(&tag),
        reason: "the tag must be a string".into(),
    })?;
    core::validate_tag(&tag)?;
    let session_options = core::validate_session_options(&request::session_options(&options)?)?;
    let registration = request::service_worker(&js::get(&options, "serviceWorker")).await?;
    let store = Store::open().await?;
    let page_url = page_url();
    // One transaction: a `clear()` elsewhere cannot slip between reading and writing the record.
    store
        .update_session(&tag, |previous| {
            let paused = previous.as_ref().is_some_and(|s| s.paused);
            // Headers are kept only while the session opts in to it.
            let last_headers = previous
                .and_then(|s| s.last_headers)
                .filter(|_| session_options.header_fallback == core::HeaderFallback::Last);
            Some(SessionRecord {
                tag: tag.clone(),
                options: session_options,
                paused,
                page_url,
                last_headers,
            })
        })
        .await?;

    let channel = web_sys::BroadcastChannel::new(&messaging::channel_name(&tag))
        .map_err(|e| js::storage_error("open channel", format!("{e:?}")))?;
    let inner = Rc::new(Inner {
        tag,
        store,
        registration,
        options: session_options,
        target: match target.dyn_into::<web_sys::EventTarget>() {
            Ok(target) => target,
            Err(_) => web_sys::EventTarget::new()
                .map_err(|e| js::storage_error("create EventTarget", format!("{e:?}")))?,
        },
        channel,
        closed: Cell::new(false),
        delivered: Cell::new(0),
        pending: RefCell::new(Some(Vec::new())),
        replay_scheduled: Cell::new(false),
        heard: Rc::new(Cell::new(false)),
        listeners: RefCell::new(Vec::new()),
        unheard: RefCell::new(Vec::new()),
        on_message: RefCell::new(None),
        on_online: RefCell::new(None),
        sync_pending: Cell::new(false),
        waiting: RefCell::new(Vec::new()),
        committing: Cell::new(false),
        bgfetch: RefCell::new(None),
        provider: request::provider(&options)?,
        alarm: RefCell::new(alarm::Alarm::default()),
    });
    let weak = Rc::downgrade(&inner);
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            match js::get(&e.data(), "ferry").as_string().as_deref() {
                Some("ping") => {
                    // The worker asks whether a page of the tag is open (launch events): this one is.
                    let pong = messaging::message("pong", Some(&inner.tag), None);
                    js::set(&pong, "requestId", &js::get(&e.data(), "requestId"));
                    let _ = inner.channel.post_message(&pong);
                    return;
                }
                Some("headers?") => {
                    answer_headers(&inner, e.data());
                    return;
                }
                Some("alarm") => {
                    // The worker ends its event before work of the tag is due: wake it then.
                    if let Some(at) = js::get(&e.data(), "at").as_f64() {
                        alarm::at(&inner, at as u64, now_ms());
                    }
                    return;
                }
                Some(_) => return,
                None => {}
            }
            let Ok(ev) = js::from_js::<FerryEvent>(e.data()) else {
                return;
            };
            delivery::live(&inner, ev);
        });
    inner
        .channel
        .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    *inner.on_message.borrow_mut() = Some(on_message);
    let weak = Rc::downgrade(&inner);
    let on_online = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade().filter(|i| !i.closed.get()) {
            spawn_local(async move { wake(&inner).await });
        }
    });
    let global: web_sys::EventTarget = js::global().unchecked_into();
    let _ = global.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
    *inner.on_online.borrow_mut() = Some(on_online);
    wake(&inner).await;
    Ok(Session { inner })
}

/// The worker is about to send a task of this tag and asks for fresh headers: call the page's
/// provider with the task and answer `{ferry: 'headers', requestId, headers}` or `{..., error}`.
fn answer_headers(inner: &Rc<Inner>, question: JsValue) {
    let Some(provider) = inner.provider.clone() else {
        return;
    };
    let inner = inner.clone();
    spawn_local(async move {
        let reply = messaging::message("headers", Some(&inner.tag), None);
        js::set(&reply, "requestId", &js::get(&question, "requestId"));
        // An error is said as the worker's `retrying` reason will show it, after
        // "the page's headerProvider failed: ".
        let result: Result<Vec<(String, String)>, String> = async {
            let id = js::get(&question, "taskId").as_string().unwrap_or_default();
            let task = own(
                &inner,
                inner.store.get(&id).await.map_err(|e| e.to_string())?,
            )
            .ok_or_else(|| format!("this page does not know task {id}"))?;
            let given = provider
                .call1(
                    &JsValue::NULL,
                    &js::to_js(&task).map_err(|e| e.to_string())?,
                )
                .map_err(|e| format!("threw {}", js::js_message(&e)))?;
            let given = match given.dyn_into::<js_sys::Promise>() {
                Ok(p) => JsFuture::from(within(p, core::scheduler::PROVIDER_WAIT_MS))
                    .await
                    .map_err(|e| match e.as_string().as_deref() {
                        Some(LATE) => format!(
                            "did not settle within {} ms",
                            core::scheduler::PROVIDER_WAIT_MS
                        ),
                        _ => format!("rejected with {}", js::js_message(&e)),
                    })?,
                Err(v) => v,
            };
            request::header_pairs(&given)
                .and_then(|h| core::validate_provided_headers(&h, &task.request.protocol))
                .map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(headers) => js::set(
                &reply,
                "headers",
                &js::to_js(&headers).unwrap_or(JsValue::NULL),
            ),
            Err(why) => js::set(&reply, "error", &JsValue::from_str(&why)),
        }
        let _ = inner.channel.post_message(&reply);
    });
}

/// What `within` rejects with when the promise did not settle in time.
const LATE: &str = "ferry: too late";

/// `p`, or a rejection with `LATE` once `ms` have passed.
fn within(p: js_sys::Promise, ms: u64) -> js_sys::Promise {
    let late = js_sys::Promise::new(&mut |_, reject| {
        gloo_timers::callback::Timeout::new(ms as u32, move || {
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(LATE));
        })
        .forget();
    });
    js_sys::Promise::race(&js_sys::Array::of2(&p, &late))
}

/// Tells the worker there is work (wakes it where nothing else would, e.g. Firefox) and asks for a
/// sync where Background Sync exists, so the work survives this page closing.
async fn wake(inner: &Rc<Inner>) {
    let reg = &inner.registration;
    if let Some(worker) = reg
        .active()
        .or_else(|| reg.waiting())
        .or_else(|| reg.installing())
    {
        let _ = worker.post_message(&messaging::message("wake", Some(&inner.tag), None));
    }
    // One sync registration at a time per session: a burst of uploads shares it (the browser coalesces
    // registrations of one tag anyway), and no upload waits for it.
    if !inner.sync_pending.replace(true) {
        let inner = inner.clone();
        spawn_local(async move {
            externs::register_sync(&inner.registration, "ferry").await;
            inner.sync_pending.set(false);
        });
    }
}

/// With a page present and Background Fetch granted, the browser itself may carry the task, when
/// `core::scheduler::background_fetch_fits` says so (one at a time per origin, never tus or headers
/// asked at each send). The lease is taken in the transaction that re-checks pause and concurrency; a
/// fetch the browser refuses to start is released: it was not an attempt, and the worker sends it.
async fn background_fetch(inner: &Rc<Inner>, task: &Task) -> Result<(), Error> {
    // The options of this page's session; a pause is re-checked by the lease transaction.
    let view = SessionView::of(&inner.options, false);
    let origin = js::get(&js::get(&js::global(), "location"), "origin")
        .as_string()
        .unwrap_or_default();
    if !core::scheduler::background_fetch_fits(task, &view, &[], &origin) {
        return Ok(());
    }
    let known = inner.bgfetch.borrow().clone();
    let manager = match known {
        Some(m) => m,
        None => {
            let m = externs::background_fetch(&inner.registration).await;
            *inner.bgfetch.borrow_mut() = Some(m.clone());
            m
        }
    };
    let Some(manager) = manager else {
        return Ok(());
    };
    let in_flight = inner.store.in_flight().await?;
    if !core::scheduler::background_fetch_fits(task, &view, &in_flight, &origin) {
        return Ok(());
    }
    let env = Env {
        now_ms: now_ms(),
        online: true,
        save_data: false,
    };
    let Some(leased) = inner
        .store
        .lease(&task.id, core::Transport::BackgroundFetch, None, env)
        .await?
    else {
        return Ok(());
    };
    messaging::broadcast(&leased.events);
    // The Blob read back from IndexedDB, not the page's: Chromium's Background Fetch sends an empty
    // body for a File picked through <input type=file>, while the stored copy streams in full.
    let started = match &leased.blob {
        Some(blob) => bgfetch::start(&manager, &leased.task, blob).await,
        None => Err(JsValue::from_str("the stored payload is missing")),
    };
    match started {
        Ok(registration) => {
            bgfetch::relay_progress(&inner.store, &leased.task, registration);
            // No worker timer outlives the worker: this page wakes it when the attempt times out.
            if let Some(at) = leased.task.timeout_at {
                alarm::at(inner, at, now_ms());
            }
        }
        Err(_) => {
            let (_, events) = inner
                .store
                .settle(
                    &task.id,
                    leased.task.lease_no,
                    core::Input::Release,
                    now_ms(),
                    0,
                    None,
                )
                .await?;
            messaging::broadcast(&events);
        }
    }
    Ok(())
}

/// The page's address without its fragment (what `launch: 'open'` opens; a fragment is page state).
fn page_url() -> Option<String> {
    let href = js::get(&js::get(&js::global(), "location"), "href").as_string()?;
    Some(match href.split_once('#') {
        Some((url, _)) => url.to_string(),
        None => href,
    })
}

/// Runs a Session method as a Promise; on a closed session it rejects with `FerryClosed` at once.
fn promise<F>(inner: &Rc<Inner>, f: impl FnOnce(Rc<Inner>) -> F) -> js_sys::Promise
where
    F: std::future::Future<Output = Result<JsValue, Error>> + 'static,
{
    if let Err(e) = open(inner) {
        return js_sys::Promise::reject(&core_error(&e));
    }
    let fut = f(inner.clone());
    future_to_promise(async move { fut.await.map_err(|e| core_error(&e)) })
}

/// Every call on a closed session is refused (a typed error, never a silent no-op).
fn open(inner: &Inner) -> Result<(), Error> {
    if inner.closed.get() {
        return Err(Error::Closed {
            what: format!("session {:?}", inner.tag),
        });
    }
    Ok(())
}

/// A task only belongs to the session of its tag.
fn own(inner: &Inner, task: Option<Task>) -> Option<Task> {
    task.filter(|t| t.tag == inner.tag)
}

mod alarm;
mod delivery;
mod session;
