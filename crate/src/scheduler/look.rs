//! One look of the pump: what dead instances left in flight taken back, the due tasks read (a window,
//! then each tag with a slot left on its own), and `core`'s plan of what to start.

use super::*;
use recover::recover;

pub(super) type Look = (Plan, LiteMap<String, SessionView>, Vec<Task>, Vec<Task>);

/// One look: takes back what dead instances left in flight, then asks `core` what to start (with the
/// session views it read, keyed by tag, and the queued tasks it saw). Its reads are one transaction.
pub(super) async fn look(store: &Store) -> Result<Look, Error> {
    let env = env();
    let scope = scope();
    let views = |snap: &crate::web::store::Snapshot| -> LiteMap<String, SessionView> {
        // The same keys in the same order: no sort needed.
        with_pages(LiteMap::from_sorted_store_unchecked(
            snap.sessions
                .iter()
                .map(|(tag, s)| {
                    let view = SessionView {
                        elsewhere: !decide::serves(s.owner.as_deref(), &scope),
                        ..SessionView::of(&s.options, s.paused)
                    };
                    (tag.clone(), view)
                })
                .collect(),
        ))
    };
    // Tasks in flight of the tags this worker serves (another worker of the origin recovers its own).
    let ours = |snap: &crate::web::store::Snapshot| -> Vec<Task> {
        let views = views(snap);
        snap.in_flight
            .iter()
            .filter(|t| decide::serves_task(&views, t))
            .cloned()
            .collect()
    };
    let mut snap = store.snapshot(env.now_ms, BATCH).await?;
    if recover(store, &ours(&snap), env.now_ms).await? {
        snap = store.snapshot(env.now_ms, BATCH).await?;
    }
    // Attempts spawned whose lease is not committed yet hold their slot already. An attempt whose
    // settle has planned what follows it (`attempt::ending`) holds none: its request is over, and what
    // its settle started in its place holds the slot.
    let in_flight_of = |in_flight: &[Task]| -> Vec<Task> {
        let starting = STARTED.with(|s| {
            s.borrow()
                .values()
                .filter(|t| !in_flight.iter().any(|f| f.id == t.id) && !attempt::ending(&t.id))
                .map(|t| {
                    let mut t = t.clone();
                    t.state = core::State::InFlight;
                    t.lease_until = None;
                    t
                })
                .collect::<Vec<_>>()
        });
        in_flight
            .iter()
            .filter(|t| !attempt::ending(&t.id))
            .cloned()
            .chain(starting)
            .collect()
    };
    let news = NEWS.with(|n| n.get());
    let mut skip: Vec<String> = SKIP.with(|s| {
        let mut s = s.borrow_mut();
        s.retain(|_, began| *began >= news);
        s.keys().cloned().collect()
    });
    skip.extend(STARTED.with(|s| s.borrow().keys().cloned().collect::<Vec<_>>()));
    let here = STARTED.with(|s| s.borrow().keys().filter(|id| !attempt::ending(id)).count()) as u32;
    let (origin, outages) = (origin(), outages());
    let heard = decide::Heard {
        origin: &origin,
        outages: &outages,
    };
    // Read past held tasks (a paused tag's, say): they must not hide the others behind them. Each tag
    // with a slot left is read on its own (`Plan::tag_reads`).
    let mut per_tag = LiteMap::new();
    loop {
        let in_flight = in_flight_of(&snap.in_flight);
        let p = decide::plan(
            &env,
            &snap.due,
            &in_flight,
            &views(&snap),
            &skip,
            here,
            &heard,
        );
        if !p.reads_further(snap.due_read, BATCH) {
            break;
        }
        let reads = p.tag_reads(&per_tag, BATCH);
        if reads.is_empty() {
            break;
        }
        let found = store.due_of_tags(env.now_ms, &reads).await?;
        for ((tag, asked), (n, tasks)) in reads.into_iter().zip(found) {
            per_tag.insert(tag, (asked, n));
            for t in tasks {
                if !snap.due.iter().any(|d| d.id == t.id) {
                    snap.due.push(t);
                }
            }
        }
    }
    let in_flight = in_flight_of(&snap.in_flight);
    let sessions = views(&snap);
    let mine = instance_id();
    let others = ours(&snap)
        .into_iter()
        .filter(|t| t.holder.as_deref() != Some(mine.as_str()))
        .collect();
    let mut queued = snap.due;
    // The first due after now of all may be held (a paused tag's, another worker's): then each tag
    // that sends here is read for its own, or the next due time would be missed.
    let tags = decide::later_reads(snap.later.as_ref(), &sessions);
    if !tags.is_empty() {
        queued.extend(store.later_of_tags(env.now_ms, &tags).await?);
    }
    queued.extend(snap.later);
    let plan = decide::plan(&env, &queued, &in_flight, &sessions, &skip, here, &heard);
    Ok((plan, sessions, queued, others))
}
