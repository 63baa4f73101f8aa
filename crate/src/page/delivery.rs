//! Event delivery in a page: replay of the outbox, then live events, each dispatched once and in
//! `seq` order. With `ack: 'auto'`, an event is acknowledged only once a listener of its kind ran for
//! it; an event nobody listened to stays in the outbox (and is dispatched again to a listener of its
//! kind added later). A live event past a gap in `seq` (events come from the worker and from pages)
//! waits until the missing ones are read from the outbox.

use super::Inner;
use crate::core::{Error, EventKind, FerryEvent};
use crate::web::js;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// A page's listener and the wrapper registered in its place.
pub(super) struct Listener {
    kind: String,
    listener: JsValue,
    capture: bool,
    wrapper: Closure<dyn FnMut(web_sys::Event)>,
}

fn capture_of(options: &JsValue) -> bool {
    options
        .as_bool()
        .unwrap_or_else(|| js::get(options, "capture").as_bool() == Some(true))
}

/// `addEventListener` as the page calls it: the type converted as `EventTarget` does, a listener that is
/// neither a function nor an object (nor null) refused with a typed error.
pub(super) fn add_checked(
    inner: &Rc<Inner>,
    kind: &JsValue,
    listener: &JsValue,
    options: &JsValue,
) -> Result<(), Error> {
    let kind = event_type(kind)?;
    if !(listener.is_null()
        || listener.is_undefined()
        || listener.is_object()
        || listener.is_function())
    {
        return Err(Error::options(
            "listener",
            "pass a function or an object with a handleEvent method",
        ));
    }
    add(inner, &kind, listener, options);
    Ok(())
}

/// `removeEventListener` as the page calls it.
pub(super) fn remove_checked(
    inner: &Rc<Inner>,
    kind: &JsValue,
    listener: &JsValue,
    options: &JsValue,
) -> Result<(), Error> {
    remove(inner, &event_type(kind)?, listener, options);
    Ok(())
}

/// An event type as `EventTarget` reads it (`String(type)`); a Symbol, which has no string form
/// there, is refused with a typed error.
fn event_type(kind: &JsValue) -> Result<String, Error> {
    if let Some(kind) = kind.as_string() {
        return Ok(kind);
    }
    if kind.is_symbol() {
        return Err(Error::options(
            "type",
            "pass an event type as a string, such as 'completed'",
        ));
    }
    Ok(js::js_string(kind))
}

/// Adds `listener` for `kind`: a wrapper marks the dispatch as heard, then calls it (a function, or
/// an object's `handleEvent`). The first listener starts the replay; a later one hears the events of
/// its kind that nobody heard yet. Adding a listener already added registers its wrapper again, so one
/// the platform dropped (`once`, an aborted `signal`) comes back, and one still there is not doubled.
fn add(inner: &Rc<Inner>, kind: &str, listener: &JsValue, options: &JsValue) {
    if listener.is_null() || listener.is_undefined() {
        return;
    }
    let capture = capture_of(options);
    let add = platform("addEventListener");
    let mut list = inner.listeners.borrow_mut();
    let known = list
        .iter()
        .find(|l| l.kind == kind && l.capture == capture && l.listener == *listener);
    if let Some(known) = known {
        let _ = add.call3(
            inner.target.as_ref(),
            &JsValue::from_str(kind),
            known.wrapper.as_ref(),
            options,
        );
    } else {
        let (heard, target) = (inner.heard.clone(), listener.clone());
        let wrapper = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            // Like EventTarget: a function is called, else the object's `handleEvent` as it is now.
            let (callee, this) = match target.dyn_ref::<js_sys::Function>() {
                Some(f) => (Some(f.clone()), JsValue::UNDEFINED),
                None => (
                    js::get(&target, "handleEvent")
                        .dyn_into::<js_sys::Function>()
                        .ok(),
                    target.clone(),
                ),
            };
            let Some(callee) = callee else {
                // Nothing ran, so nobody heard it: the event stays for a listener that can.
                web_sys::console::error_1(&JsValue::from_str(
                    "Ferry: a listener object without a handleEvent method did not receive the event",
                ));
                return;
            };
            heard.set(true);
            if let Err(err) = callee.call1(&this, &e) {
                // A throwing listener still heard the event; report the error like the platform does.
                web_sys::console::error_1(&err);
            }
        });
        let _ = add.call3(
            inner.target.as_ref(),
            &JsValue::from_str(kind),
            wrapper.as_ref(),
            options,
        );
        list.push(Listener {
            kind: kind.to_string(),
            listener: listener.clone(),
            capture,
            wrapper,
        });
    }
    drop(list);
    if inner.replay_scheduled.get() {
        redeliver(inner, kind);
    }
    schedule_replay(inner);
}

/// `EventTarget.prototype[name]`: the target may be the page entry's `Session`, whose own
/// `addEventListener` is the one that calls into here.
fn platform(name: &str) -> js_sys::Function {
    let class = js::get(&js::global(), "EventTarget");
    js::get(&js::get(&class, "prototype"), name).unchecked_into()
}

/// Removes a listener added with `add`.
fn remove(inner: &Rc<Inner>, kind: &str, listener: &JsValue, options: &JsValue) {
    let capture = capture_of(options);
    let mut list = inner.listeners.borrow_mut();
    let Some(i) = list
        .iter()
        .position(|l| l.kind == kind && l.capture == capture && l.listener == *listener)
    else {
        return;
    };
    let gone = list.remove(i);
    let remove = platform("removeEventListener");
    let _ = remove.call3(
        inner.target.as_ref(),
        &JsValue::from_str(kind),
        gone.wrapper.as_ref(),
        options,
    );
}

/// A live event from the channel: held while the replay has not run; past a gap, the outbox is read
/// first.
pub(super) fn live(inner: &Rc<Inner>, ev: FerryEvent) {
    if let (EventKind::Retrying, Some(delay)) = (ev.kind, ev.delay_ms) {
        // The next attempt is due then: this page wakes the worker, in case nothing else does
        // (listeners or not).
        let now = js::now_ms();
        super::alarm::at(inner, now.saturating_add(delay), now);
    }
    if let Some(buffer) = inner.pending.borrow_mut().as_mut() {
        buffer.push(ev);
        return;
    }
    if ev.seq <= inner.delivered.get() + 1 {
        deliver(inner, vec![ev]);
        return;
    }
    // A gap: buffer live events until the outbox read fills it.
    *inner.pending.borrow_mut() = Some(vec![ev]);
    let inner = inner.clone();
    spawn_local(async move { catch_up(&inner).await });
}

async fn catch_up(inner: &Rc<Inner>) {
    let missed = inner
        .store
        .events(&inner.tag, inner.delivered.get())
        .await
        .unwrap_or_default();
    deliver(inner, missed);
    let live = inner.pending.borrow_mut().take().unwrap_or_default();
    deliver(inner, live);
}

/// Replays the outbox once the page has had a chance to add its listeners, then goes live.
pub(super) fn schedule_replay(inner: &Rc<Inner>) {
    if inner.replay_scheduled.replace(true) {
        return;
    }
    let inner = inner.clone();
    spawn_local(async move {
        // A macrotask: listeners added right after the first one (same task) hear the replay too.
        let (resolve, later) = {
            let mut resolve = None;
            let p = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
            (resolve.expect("the executor runs at once"), p)
        };
        let _timer = gloo_timers::callback::Timeout::new(0, move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let _ = JsFuture::from(later).await;
        catch_up(&inner).await;
    });
}

/// Dispatches events not yet dispatched, in seq order; acknowledges (auto mode) those a listener heard.
fn deliver(inner: &Rc<Inner>, mut events: Vec<FerryEvent>) {
    events.sort_by_key(|e| e.seq);
    let mut heard = Vec::new();
    for ev in events {
        if ev.seq <= inner.delivered.get() || inner.closed.get() {
            continue;
        }
        inner.delivered.set(ev.seq);
        if dispatch(inner, &ev) {
            heard.push(ev.seq);
        } else {
            inner.unheard.borrow_mut().push(ev);
        }
    }
    acknowledge(inner, heard);
}

/// Dispatches one event; whether a listener ran for it.
fn dispatch(inner: &Inner, ev: &FerryEvent) -> bool {
    let (Ok(detail), Some(kind)) = (
        js::to_js(ev),
        js::to_js(&ev.kind).ok().and_then(|k| k.as_string()),
    ) else {
        return false;
    };
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(&kind, &init) else {
        return false;
    };
    inner.heard.set(false);
    let _ = inner.target.dispatch_event(&event);
    inner.heard.replace(false)
}

/// Events of `kind` nobody heard, dispatched again now that a listener of that kind exists (after a
/// macrotask, like the replay).
fn redeliver(inner: &Rc<Inner>, kind: &str) {
    let inner = inner.clone();
    let kind = kind.to_string();
    spawn_local(async move {
        let _ = JsFuture::from(js_sys::Promise::resolve(&JsValue::UNDEFINED)).await;
        let waiting: Vec<FerryEvent> = {
            let mut unheard = inner.unheard.borrow_mut();
            let (of_kind, rest): (Vec<_>, Vec<_>) = unheard.drain(..).partition(|e| {
                js::to_js(&e.kind)
                    .ok()
                    .and_then(|k| k.as_string())
                    .as_deref()
                    == Some(&kind)
            });
            *unheard = rest;
            of_kind
        };
        let mut heard = Vec::new();
        for ev in waiting {
            if inner.closed.get() {
                break;
            }
            if dispatch(&inner, &ev) {
                heard.push(ev.seq);
            } else {
                inner.unheard.borrow_mut().push(ev);
            }
        }
        acknowledge(&inner, heard);
    });
}

fn acknowledge(inner: &Inner, seqs: Vec<u64>) {
    if seqs.is_empty() || inner.options.manual_ack {
        return;
    }
    let (store, tag) = (inner.store.clone(), inner.tag.clone());
    spawn_local(async move {
        let _ = store.ack_each(&tag, &seqs).await;
    });
}
