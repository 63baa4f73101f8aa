//! Worker start, or any later look: what to do with tasks found in flight that this instance does not
//! run (`core::scheduler::recover` decides; this asks the other instances and the browser).

use super::{ask_wake, instance_id, registration, RUNNING};
use crate::core::scheduler as decide;
use crate::core::{Error, Task, Transport};
use crate::web::js::random_u64;
use crate::web::store::Store;
use crate::web::{bgfetch, launch, messaging};

/// How long worker instances have to answer "who is alive?" before their leases count as orphaned.
const PING_MS: i32 = 1_000;

/// Applies `core::scheduler::recover` to the in-flight tasks this instance does not run: a task
/// whose holder (another instance) answers is left alone; one whose holder is gone goes back to the
/// queue; a Background Fetch the browser no longer lists gets time to settle. Returns whether it
/// changed anything.
pub(super) async fn recover(store: &Store, in_flight: &[Task], now: u64) -> Result<bool, Error> {
    let mine = RUNNING.with(|r| r.borrow().clone());
    let others: Vec<&Task> = in_flight
        .iter()
        .filter(|t| mine.get(&t.id) != Some(&t.lease_no))
        .collect();
    if others.is_empty() {
        return Ok(false);
    }
    let me = instance_id();
    let ask = others.iter().any(|t| {
        t.transport != Some(Transport::BackgroundFetch)
            && t.holder.as_deref().is_some_and(|h| h != me)
            && t.lease_until.is_some_and(|u| u > now)
    });
    let mut live = if ask {
        // The pages of these tasks' tags wake the worker again should the browser stop it while the
        // other instances are asked (a second): nothing else may be left to (`lifetime::ask_wake`).
        ask_wake(others.iter().copied(), now);
        messaging::live_workers(PING_MS).await
    } else {
        Vec::new()
    };
    live.push(me);
    let registration = registration();
    let mut changed = false;
    for t in others {
        let listed = if t.transport == Some(Transport::BackgroundFetch) {
            Some(bgfetch::alive(&registration, &t.id).await)
        } else {
            None
        };
        let Some(input) = decide::recover(t, now, &live, listed) else {
            continue;
        };
        // A Background Fetch past its timeout: the retry is recorded first, then the browser's fetch
        // is aborted (its abort event then finds the task queued and changes nothing).
        let timed_out = listed == Some(true) && decide::recovery_aborts_fetch(&input);
        match store
            .settle(&t.id, t.lease_no, input, now, random_u64(), None)
            .await
        {
            Ok((_, events)) => {
                changed = true;
                if timed_out {
                    bgfetch::abort(&registration, t).await;
                }
                messaging::broadcast(&events);
                launch::task_events(store, &events).await;
            }
            Err(Error::IllegalTransition { .. } | Error::UnknownTask { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}
