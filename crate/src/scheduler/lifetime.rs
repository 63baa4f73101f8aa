//! How long the work lives in the browser's events, the web side of `core::scheduler::lifetime`: an
//! event lets go of the work at its hold, open pages are asked to wake the worker while attempts run
//! or when work falls due, and a new version of the worker waiting to take over is noticed.

use super::{registration, wake, KEEPALIVE, STARTED};
use crate::core::scheduler as decide;
use crate::core::Task;
use crate::web::js::now_ms;
use crate::web::{js, messaging};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Waits for `work`, or for `ms` if it has not settled by then: the event that waits for it lets go
/// (`decide::event_hold_ms`) while the work goes on.
pub(super) async fn held(work: js_sys::Promise, ms: u64) -> Result<JsValue, JsValue> {
    let mut resolve = None;
    let timer = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
    let resolve = resolve.expect("the executor runs at once");
    // Cleared when this returns (dropped), whichever settled first.
    let _timeout = gloo_timers::callback::Timeout::new(ms.min(i32::MAX as u64) as u32, move || {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    });
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::race(&js_sys::Array::of2(&work, &timer)))
        .await
}

/// Work is due at `at` and this event ends before then: the open pages of the tags queued wake the
/// worker then (a worker holds no timer once the browser stops it).
pub(super) fn tell_pages_when<'a>(tasks: impl Iterator<Item = &'a Task>, at: u64) {
    let mut told: Vec<&str> = Vec::new();
    for t in tasks {
        if !told.contains(&t.tag.as_str()) {
            told.push(&t.tag);
            let msg = messaging::message("alarm", Some(&t.tag), None);
            js::set(&msg, "at", &JsValue::from_f64(at as f64));
            messaging::post(&t.tag, &msg);
        }
    }
}

/// Asks the open pages of `tasks`' tags to wake the worker one keep-alive period from `now`, while it
/// takes back attempts another instance ran: a browser that stops it meanwhile (before its own attempts
/// run and ask) would otherwise leave the pages nothing to wake it for.
pub(super) fn ask_wake<'a>(tasks: impl Iterator<Item = &'a Task>, now: u64) {
    // The attempts taken back run here soon, and this instance has asked for nothing yet.
    let Some(at) = decide::keepalive_at(now, true, None, false) else {
        return;
    };
    KEEPALIVE.with(|k| k.set(Some(at)));
    // The one standing ask covers this instance's own attempts too: their pages hear it as well, or,
    // while another instance's attempts are in flight at every look, they would never be asked.
    let mut asked: Vec<Task> = tasks.cloned().collect();
    STARTED.with(|s| asked.extend(s.borrow().values().cloned()));
    tell_pages_when(asked.iter(), at);
}

/// The wake a page that registers `tag` is asked for while attempts of the tag run here, or are about
/// to (taken back from a stopped worker), told in its `register` answer (no race with a broadcast it
/// may not hear yet): the pages that heard the standing ask may have closed, and a worker the browser
/// stops mid-attempt needs a page to wake it.
pub(crate) async fn wake_for_new_page(store: &crate::web::store::Store, tag: &str) -> Option<u64> {
    let here = STARTED.with(|s| s.borrow().values().any(|t| t.tag == tag));
    let in_flight = if here {
        Vec::new()
    } else {
        store.in_flight().await.unwrap_or_default()
    };
    let runs = decide::runs_for_new_page(tag, here, &in_flight, &super::instance_id());
    decide::keepalive_at(now_ms(), runs, KEEPALIVE.with(|k| k.get()), true)
}

/// A new version of this worker is installed and waits for this one's events to end.
pub(super) fn update_waiting() -> bool {
    registration().waiting().is_some()
}

/// Wakes the pump when a new version of the worker has installed, so that a pump waiting for a retry
/// lets go of its event and the new version takes over (`core::scheduler::waits_for_retry`).
pub(crate) fn watch_updates() {
    let on_found = Closure::<dyn FnMut()>::new(move || {
        let Some(installing) = registration().installing() else {
            return;
        };
        let worker = installing.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            if js::get(&worker, "state").as_string().as_deref() == Some("installed") {
                wake();
            }
        });
        let _ = installing
            .add_event_listener_with_callback("statechange", on_state.as_ref().unchecked_ref());
        on_state.forget();
    });
    // Listeners, not the `on…` properties an app's own worker code may set.
    let _ = registration()
        .add_event_listener_with_callback("updatefound", on_found.as_ref().unchecked_ref());
    // One listener for the worker's life.
    on_found.forget();
}
