//! What this worker instance heard beyond the records, for `core::scheduler::plan`:
//! - pages that can start a Background Fetch: the worker cannot start one, so with
//!   `backgroundFetch: { minBytes }` a large task that could not start when it was queued waits for
//!   an open page of its tag (`core::scheduler::waits_for_page`) and is offered to the tag's pages;
//!   one of them asks for it (`bgfetchNext`) and starts it;
//! - origins whose attempts end in network errors (`core::scheduler::outage_after`): their uploads
//!   wait, then go one at a time, instead of each spending an attempt while the server is down.

use super::lifetime::tell_pages_when;
use super::*;

thread_local! {
    /// Per tag, until when a page that can start a Background Fetch counts as open (its last call
    /// or wake that said so, plus `decide::PAGE_HEARD_MS`).
    static BACKGROUND_FETCH_PAGES: RefCell<LiteMap<String, u64>> = const { RefCell::new(LiteMap::new()) };
    /// The outages heard, by origin.
    static OUTAGES: RefCell<decide::Outages> = const { RefCell::new(LiteMap::new()) };
    /// The wake last asked of the pages whose tags have tasks waiting for them.
    static PAGES_ASKED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// An attempt this instance made of `task` ended with `outcome` (it reached the point of sending).
pub(super) fn heard_outcome(task: &Task, outcome: &core::Outcome) {
    let env = super::env();
    OUTAGES.with(|o| decide::outage_after(&mut o.borrow_mut(), task, outcome, &env));
}

/// The outages heard now (a few origins at most).
pub(super) fn outages() -> decide::Outages {
    OUTAGES.with(|o| o.borrow().clone())
}

/// A page of `tag` said whether it can start a Background Fetch (a call or wake of its own): while
/// one that can is heard, the tag's large bodies wait for it (`decide::waits_for_page`). A page whose
/// browser refused one (`can` false) stops that at once.
pub(crate) fn heard_page(tag: &str, can: bool) {
    BACKGROUND_FETCH_PAGES.with(|p| {
        let mut p = p.borrow_mut();
        if can {
            p.insert(tag.to_string(), now_ms() + decide::PAGE_HEARD_MS);
        } else {
            p.remove(tag);
        }
    });
}

/// The session views with what only this instance knows: whether its `beforeSend` prepares each
/// request, and what it heard of their pages (`heard_page`).
pub(super) fn with_pages(mut views: LiteMap<String, SessionView>) -> LiteMap<String, SessionView> {
    let before_send = before_send::installed();
    BACKGROUND_FETCH_PAGES.with(|p| {
        let p = p.borrow();
        for (tag, v) in views.iter_mut() {
            v.before_send = before_send;
            v.background_fetch_page_until = p.get(tag).copied().unwrap_or(0);
        }
    });
    views
}

/// Asks the pages of the tags whose tasks wait for a page's Background Fetch to wake the worker
/// within a keep-alive period: their wakes say they are still open (`heard_page`), however long the
/// origin's Background Fetch in flight takes, and while no attempt of their own tag runs to be kept
/// alive. A page that closed wakes nothing, and its tasks go by the worker once it is not heard.
pub(super) fn keep_hearing(plan: &Plan, tasks: &[Task]) {
    let now = now_ms();
    let waiting: Vec<&Task> = tasks
        .iter()
        .filter(|t| plan.for_pages.contains(&t.id))
        .collect();
    let asked = PAGES_ASKED.with(|a| a.get());
    let Some(at) = decide::keepalive_at(now, !waiting.is_empty(), asked, false) else {
        return;
    };
    PAGES_ASKED.with(|a| a.set(Some(at)));
    tell_pages_when(waiting.into_iter(), at);
}

/// Offers the task the plan keeps for a page's Background Fetch to the pages of its tag: one that
/// can start it asks for it (`bgfetchNext`).
pub(super) fn offer(plan: &Plan, tasks: &[Task]) {
    let Some(task) = plan
        .offer
        .as_ref()
        .and_then(|id| tasks.iter().find(|t| &t.id == id))
    else {
        return;
    };
    let msg = messaging::message("bgfetch-offer", Some(&task.tag), Some(&task.id));
    messaging::post(&task.tag, &msg);
}

/// This worker's origin (its pages').
pub(super) fn origin() -> String {
    js::get(&js::get(&js::global(), "location"), "origin")
        .as_string()
        .unwrap_or_default()
}
