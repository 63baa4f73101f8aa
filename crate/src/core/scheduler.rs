//! The scheduler's decisions: what to start or hold back, when to wake, which transport and what an
//! attempt uses, when it times out, what worker start does with tasks in flight, whether to reject a sync.
//!
//! Every function here is a pure function of (now, tasks, sessions, what is in flight), and the pump's
//! turns a machine without I/O ([`Pump`]). The web layer reads the records, calls these, and carries
//! out what they return; `sim` (tests) drives them through
//! random schedules of enqueues, pauses, worker stops, updates and late Background Fetch outcomes and
//! checks the invariants after every step.
//!
//! Ownership of an attempt: each lease takes the next `lease_no`, and outcomes are applied through
//! [`settle`], which refuses an outcome whose lease is not the task's current one. A worker instance
//! records itself as the lease `holder` and renews the lease while its attempt runs; another instance
//! (an update installing while the old version uploads) leaves a task alone while its holder answers
//! and its lease runs.

use crate::core::error::{Error, Result};
use crate::core::retry::Outcome;
use crate::core::state::{apply, Effect, Input};
use crate::core::task::{State, Task, Transport};
use crate::core::validate::{HeaderFallback, SessionOptions};
use litemap::LiteMap;

/// How long a worker's attempt holds its task without a renewal.
pub const LEASE_MS: u64 = 60_000;
/// How often a running attempt renews its lease.
pub const RENEW_EVERY_MS: u64 = 15_000;
/// A Background Fetch's lease: the browser owns the attempt (it survives restarts and resends after
/// dropped connections); worker start asks the browser about it before taking it back. Its timeout is
/// apart (`Task::timeout_at`): a look after that time ends it.
pub const BACKGROUND_FETCH_LEASE_MS: u64 = 24 * 60 * 60 * 1000;
/// What a Background Fetch's timeout adds to the attempt timeout: the browser takes seconds to begin
/// one (Chromium here: 4 to 8 s before the first byte leaves), and a healthy fetch must not be ended
/// before it could send.
pub const BACKGROUND_FETCH_START_MS: u64 = 15_000;
/// How long the page a Background Fetch was handed to has to start it and say so (`announce`): its
/// lease runs this long until then. A page closed, navigated away or frozen before it could start the
/// fetch leaves the task to the worker once this has passed (`recover`: released, no attempt counted),
/// instead of for the day-long lease of a fetch the browser runs. Chromium resolves a page's
/// `backgroundFetch.fetch()` within a second here; twice the start allowance is left for a loaded machine.
pub const BACKGROUND_FETCH_START_WINDOW_MS: u64 = 2 * BACKGROUND_FETCH_START_MS;
/// How long a Background Fetch the browser no longer lists may still settle: the spec removes the id
/// from `getIds()` before it fires `backgroundfetchsuccess`/`fail`, so "not listed" is not "gone".
pub const SETTLE_GRACE_MS: u64 = 60_000;
/// Attempts running at once in one worker, whatever the sessions ask.
pub const MAX_PARALLEL: u32 = 6;
/// Default attempt timeout: this long for the answer, plus the time to send the body at the
/// slowest rate Ferry still calls progress.
pub const TIMEOUT_BASE_MS: u64 = 30_000;
/// The slowest upload rate Ferry waits for under the default timeout (bytes per second).
pub const TIMEOUT_MIN_BYTES_PER_SEC: u64 = 64 * 1024;

/// What the scheduler needs to know of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionView {
    /// `pause()`d: nothing new starts.
    pub paused: bool,
    /// Attempts of the tag at once, whatever transport carries them.
    pub concurrency: u32,
    /// Pages of the tag may hand tasks to Background Fetch.
    pub background_fetch: bool,
    /// The smallest body they hand it (`backgroundFetch: { minBytes }`; 0: any).
    pub background_fetch_min_bytes: u64,
    /// Until when an open page of the tag that can start a Background Fetch counts as there (ms; 0:
    /// none heard). The web layer sets it from the pages' calls, as it sets `before_send`.
    pub background_fetch_page_until: u64,
    /// Headers come from an open page at send time.
    pub header_provider: bool,
    /// The worker prepares each request at send time (`beforeSend`; the web layer sets it, not a session).
    pub before_send: bool,
    /// What to do when no page answers for headers.
    pub header_fallback: HeaderFallback,
    /// A fixed attempt timeout, if the session set one.
    pub attempt_timeout_ms: Option<u64>,
    /// A finished upload may show a notification or open a page (`launch` is not `'none'`).
    pub launches: bool,
    /// Its pages registered it with another Ferry worker of the origin (see [`serves`]): that worker
    /// sends its tasks, recovers their leases and records their expiry; this one leaves them alone.
    pub elsewhere: bool,
}

impl Default for SessionView {
    /// A tag with no session record (its tasks came from a worker-side enqueue): the defaults.
    fn default() -> Self {
        SessionView::of(&SessionOptions::default(), false)
    }
}

impl SessionView {
    /// The view of stored session options.
    pub fn of(options: &SessionOptions, paused: bool) -> SessionView {
        SessionView {
            paused,
            concurrency: options.concurrency.max(1),
            background_fetch: options.background_fetch,
            background_fetch_min_bytes: options.background_fetch_min_bytes,
            background_fetch_page_until: 0,
            header_provider: options.header_provider,
            before_send: false,
            header_fallback: options.header_fallback,
            attempt_timeout_ms: options.attempt_timeout_ms,
            launches: options.launch != crate::core::validate::Launch::None,
            elsewhere: false,
        }
    }
}

/// Whether the worker of registration scope `scope` acts on a tag whose pages last registered it with
/// the worker of scope `owner`. The Ferry workers of an origin (two apps under `/a/` and `/b/`, each
/// with its own worker and `beforeSend`) share one database: each sends only its own tags, so one app's
/// credentials never go with the other's uploads. A tag no page registered (a worker's `enqueue` alone),
/// or registered before owners were kept, is any worker's.
pub fn serves(owner: Option<&str>, scope: &str) -> bool {
    owner.is_none_or(|o| o == scope)
}

/// Whether a task is this worker's to act on (recover, lease), given the session views of the look.
pub fn serves_task(sessions: &LiteMap<String, SessionView>, task: &Task) -> bool {
    !sessions.get(&task.tag).is_some_and(|v| v.elsewhere)
}

/// The world outside the records, as the worker sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// Now, in ms since the Unix epoch.
    pub now_ms: u64,
    /// `navigator.onLine` (false: attempts would only burn retries).
    pub online: bool,
    /// `navigator.connection.saveData` (discretionary tasks wait).
    pub save_data: bool,
}

/// Why a task that is queued does not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Its tag is paused.
    Paused,
    /// Discretionary, and the user asks to save data.
    SaveData,
    /// Not due before this time.
    NotDue(u64),
    /// The browser is offline.
    Offline,
    /// Its headers must come from a page and none answered.
    AwaitingHeaders,
    /// Not queued.
    NotQueued,
}

/// Whether `task` must wait now, and why (concurrency is [`plan`]'s business).
pub fn hold(task: &Task, session: &SessionView, env: &Env, awaiting_headers: bool) -> Option<Hold> {
    if task.state != State::Queued {
        return Some(Hold::NotQueued);
    }
    if session.paused {
        return Some(Hold::Paused);
    }
    if crate::core::discretionary::held_back(task, env.save_data) {
        return Some(Hold::SaveData);
    }
    if !task.is_due(env.now_ms) {
        return Some(Hold::NotDue(due_at(task)));
    }
    if !env.online {
        return Some(Hold::Offline);
    }
    if awaiting_headers {
        return Some(Hold::AwaitingHeaders);
    }
    None
}

/// When a queued task becomes due.
pub fn due_at(task: &Task) -> u64 {
    task.next_attempt_at
        .unwrap_or(u64::MAX)
        .max(task.earliest_begin.unwrap_or(0))
}

/// Leases `task` for an attempt, re-checking at the moment of the lease (inside the transaction that
/// writes it) everything that may have changed since the plan: the tag may have been paused, or filled
/// by another instance or a Background Fetch. `in_flight_of_tag` counts the tag's in-flight tasks.
/// `Ok(None)`: not now (the task stays as it is).
pub fn lease(
    task: &Task,
    session: &SessionView,
    in_flight_of_tag: u32,
    env: &Env,
    transport: Transport,
    holder: Option<&str>,
) -> Result<Option<(Task, Vec<Effect>)>> {
    if task.state == State::Queued && task.is_expired_at(env.now_ms) {
        // Its time ran out: recorded `expired` whatever holds it back, and nothing is sent.
        return apply(task, Input::Expire, env.now_ms, 0).map(Some);
    }
    if hold(task, session, env, false).is_some() || in_flight_of_tag >= session.concurrency {
        return Ok(None);
    }
    let lease_ms = match transport {
        // Until its page says the browser began it (`announce`), then a day.
        Transport::BackgroundFetch => BACKGROUND_FETCH_START_WINDOW_MS,
        _ => LEASE_MS,
    };
    let (mut t, effects) = apply(
        task,
        Input::Lease {
            lease_ms,
            transport,
        },
        env.now_ms,
        0,
    )?;
    t.holder = holder.map(str::to_string);
    if transport == Transport::BackgroundFetch {
        // A worker's own timer ends its fetch; the browser's fetch is ended by a look after this.
        let timeout = attempt_timeout_ms(session, t.body.size);
        t.timeout_at = Some(env.now_ms + BACKGROUND_FETCH_START_MS + timeout);
    }
    Ok(Some((t, effects)))
}

/// Applies an input that belongs to an attempt (an outcome, progress, a renewal, a release) only if
/// `lease_no` is the task's current lease and the task is still in flight; an outcome of an older
/// attempt changes nothing and is an `IllegalTransition`.
pub fn settle(
    task: &Task,
    lease_no: u64,
    input: Input,
    now_ms: u64,
    rand: u64,
) -> Result<(Task, Vec<Effect>)> {
    if task.state != State::InFlight || task.lease_no != lease_no {
        return Err(Error::IllegalTransition {
            task_id: task.id.clone(),
            state: task.state,
            attempt: task.attempt,
            input: input.name().to_string(),
            reason: format!(
                "it belongs to lease {lease_no}, and the task is {} on lease {}",
                task.state, task.lease_no
            ),
        });
    }
    apply(task, input, now_ms, rand)
}

/// The page that started a task's Background Fetch says the browser began it: its `started` is told
/// (`state::announce`) and the lease, which ran for the start window, now runs for a day (the browser
/// owns the attempt). Anything else changes nothing.
pub fn announce(task: &Task, lease_no: u64) -> (Task, Vec<Effect>) {
    let (mut t, effects) = crate::core::state::announce(task, lease_no);
    if t.announced && !task.announced {
        t.lease_until = t
            .lease_until
            .map(|u| u.saturating_add(BACKGROUND_FETCH_LEASE_MS));
    }
    (t, effects)
}

/// What worker start (or any later look) does with a task it finds in flight. `live_holders` are
/// the worker instances that answered (this one included); `browser_has_it` whether the browser
/// still lists the task's Background Fetch (`None` where there is no Background Fetch).
pub fn recover(
    task: &Task,
    now_ms: u64,
    live_holders: &[String],
    browser_has_it: Option<bool>,
) -> Option<Input> {
    if task.state != State::InFlight {
        return None;
    }
    let until = task.lease_until.unwrap_or(0);
    if task.transport == Some(Transport::BackgroundFetch) {
        if browser_has_it == Some(true) {
            // Still running at the attempt's timeout: the server never answered. The worker records
            // the timeout (a retry) and then aborts the browser's fetch.
            if task.timeout_at.is_some_and(|at| at <= now_ms) {
                return Some(Input::Outcome(Outcome::Timeout));
            }
            // The browser began it though its page never said so (the page went first): the
            // browser owns the attempt, for a day like any it runs.
            return (until <= now_ms).then_some(Input::Renew {
                until: now_ms.saturating_add(BACKGROUND_FETCH_LEASE_MS),
            });
        }
        if !task.announced {
            // Handed to a page that has not said it started it: past the start window the page is
            // gone (closed, navigated away, frozen) and the browser does not list the fetch. The
            // attempt never reached the network: the task is the worker's to send, no attempt
            // counted. (A fetch begun and finished within the window, its page gone before saying
            // so, would have had its event by now; one later still is covered by the Idempotency-Key.)
            let window_end = now_ms.saturating_add(BACKGROUND_FETCH_START_WINDOW_MS);
            return if until <= now_ms {
                Some(Input::Release)
            } else if until > window_end {
                // A lease longer than any start window, from a version that gave one a day at once:
                // the window starts now.
                Some(Input::Renew { until: window_end })
            } else {
                None
            };
        }
        // Not listed: it may be settling right now. Wait a grace period for its event.
        return if until <= now_ms {
            Some(Input::LeaseExpired)
        } else if until > now_ms.saturating_add(SETTLE_GRACE_MS) {
            Some(Input::Renew {
                until: now_ms + SETTLE_GRACE_MS,
            })
        } else {
            None
        };
    }
    if until <= now_ms {
        return Some(Input::LeaseExpired);
    }
    match &task.holder {
        Some(h) if live_holders.contains(h) => None,
        // Its holder did not answer: that worker instance is gone, and its fetch with it.
        _ => Some(Input::Abandoned),
    }
}

/// Whether recovering a Background Fetch with `input` ends the browser's fetch too (after the input is
/// recorded): only its timeout does. A renewal of one its page never announced runs on; an abort
/// mid-body crashes Chromium (see `background_fetch_abortable`).
pub fn recovery_aborts_fetch(input: &Input) -> bool {
    *input == Input::Outcome(Outcome::Timeout)
}

/// What a `backgroundfetchabort` means for its task: the user (or `cancel()`) stopped the attempt in
/// flight, so the task is cancelled. An abort of an attempt that already ended (Ferry aborts a fetch
/// it timed out, after recording the retry) changes nothing.
pub fn background_fetch_aborted(task: &Task) -> Option<Input> {
    (task.state == State::InFlight && task.transport == Some(Transport::BackgroundFetch))
        .then_some(Input::Cancel)
}

mod lifetime;
pub use lifetime::{
    event_hold_ms, joined_deadline, keepalive_at, running_pump_until, runs_for_new_page,
    stays_for_a_start, sync_resolves, waits_for_retry, EVENT_HOLD_MS, KEEPALIVE_MS, SYNC_HOLD_MS,
};
mod plan;
mod pump;
pub use plan::{later_reads, plan, Heard, Plan};
pub use pump::{Here, Looks, Pump, Turn, HAND_OVER_MS};
mod outage;
pub use outage::{origin_of, outage_after, outage_hold, Outage, Outages, OUTAGE_CAP_MS};
mod prepare;
pub use prepare::{
    before_send, merge_headers, termination_headers, BeforeSend, Prepared, BEFORE_SEND_WAIT_MS,
};
mod send;
pub use send::{
    attempt_timeout_ms, background_fetch_abortable, background_fetch_fits, background_fetch_free,
    headers, waits_for_page, HeaderPlan, HEADER_WAIT_MS, PAGE_HEARD_MS, PROVIDER_WAIT_MS,
};

#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_background_fetch;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_outage;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_owner;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests_window;
