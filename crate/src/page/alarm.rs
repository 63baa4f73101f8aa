//! While a page is open, it wakes the worker when work of its tag falls due later: an upload with
//! `earliestBegin`, a retry after a delay (`Retry-After` included), an `expiresAt` reached while the tag
//! is paused. A worker cannot hold a timer (the browser stops it when idle) and Background Sync, where
//! it exists, retries only minutes later; a page's timer is what a user waiting in front of it has.
//! One timer per page, set for the earliest time it knows of.

use super::{wake, Inner};
use std::rc::{Rc, Weak};
use wasm_bindgen_futures::spawn_local;

/// Past the due time, so the worker's look finds the task due (clocks agree; timers fire late, never
/// early, but a millisecond of rounding is not worth a second look).
const MARGIN_MS: u64 = 20;
/// The longest one timer waits (setTimeout's limit); a later time is re-armed when it fires.
const LONGEST_MS: u64 = i32::MAX as u64;

/// The page's pending wake times and the timer set for the earliest.
#[derive(Default)]
pub(super) struct Alarm {
    /// Few at a time (one per upload due later or retry waiting, gone once passed): a plain list.
    times: Vec<u64>,
    timer: Option<(u64, gloo_timers::callback::Timeout)>,
}

/// Wakes the worker at `at` (ms since the epoch) unless the page closes first; a time already past
/// is the caller's to act on and is ignored.
pub(super) fn at(inner: &Rc<Inner>, at: u64, now_ms: u64) {
    if at <= now_ms || inner.closed.get() {
        return;
    }
    let mut alarm = inner.alarm.borrow_mut();
    if !alarm.times.contains(&at) {
        alarm.times.push(at);
    }
    drop(alarm);
    arm(inner, now_ms);
}

/// Sets the timer for the earliest pending time, unless it is set for that time already.
fn arm(inner: &Rc<Inner>, now_ms: u64) {
    let mut alarm = inner.alarm.borrow_mut();
    let Some(first) = alarm.times.iter().copied().min() else {
        alarm.timer = None;
        return;
    };
    if alarm.timer.as_ref().is_some_and(|(t, _)| *t == first) {
        return;
    }
    let weak: Weak<Inner> = Rc::downgrade(inner);
    let delay = (first.saturating_sub(now_ms) + MARGIN_MS).min(LONGEST_MS);
    let timeout = gloo_timers::callback::Timeout::new(delay as u32, move || {
        let Some(inner) = weak.upgrade().filter(|i| !i.closed.get()) else {
            return;
        };
        let now = crate::web::js::now_ms();
        let fired = {
            let mut alarm = inner.alarm.borrow_mut();
            alarm.timer = None;
            let before = alarm.times.len();
            alarm.times.retain(|&t| t > now);
            alarm.times.len() < before
        };
        arm(&inner, now);
        if fired {
            spawn_local(async move { wake(&inner).await });
        }
    });
    alarm.timer = Some((first, timeout));
}

/// Drops the timer (the page closed its session).
pub(super) fn stop(inner: &Inner) {
    let mut alarm = inner.alarm.borrow_mut();
    alarm.times.clear();
    alarm.timer = None;
}
