//! What to start now: each tag's due tasks in enqueue order, as far as concurrency leaves slots.

use super::outage::{origin_of, outage_hold, Outages};
use super::{hold, serves_task, waits_for_page, Env, Hold, SessionView, MAX_PARALLEL};
use crate::core::task::{State, Task, Transport};
use litemap::LiteMap;

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Tasks to lease and send now, in this order.
    pub start: Vec<String>,
    /// When to look again if nothing else happens first; always later than now.
    pub wake_at: Option<u64>,
    /// Queued tasks that will want a send later (not held by a pause): a sync event must not report
    /// success while there are some.
    pub work_left: bool,
    /// A large task that waits for an open page of its tag to start it as a Background Fetch
    /// (`waits_for_page`), now that the origin has none in flight and the tag a free slot: offered to
    /// the tag's pages, one of which asks for it.
    pub offer: Option<String>,
    /// Every task that waits for a page's Background Fetch (`waits_for_page`): their tags' pages keep
    /// waking the worker, so that it goes on hearing them while they are open.
    pub for_pages: Vec<String>,
    /// The tags with a slot left that a task not read could take (this worker has a lane free and is
    /// online, and the tag, served here and not paused, has fewer attempts than its concurrency), in
    /// tag order:
    /// see [`Plan::reads_further`] and [`Plan::tag_reads`].
    pub room: Vec<String>,
}

impl Plan {
    /// The tasks of `read` that the plan starts, in the plan's order (each tag's in enqueue order, the
    /// tags in turn): the order their leases are written, their `started` events numbered and their
    /// attempts begun. `read` is in the store's index order (due time, then id), which is not it.
    pub fn chosen(&self, read: &[Task]) -> Vec<Task> {
        self.start
            .iter()
            .filter_map(|id| read.iter().find(|t| &t.id == id).cloned())
            .collect()
    }

    /// Whether the look that read `read` due tasks (at most `limit`) and made this plan reads more of
    /// them before acting: only when it started nothing, the read filled the limit (more may follow,
    /// hidden behind held ones, a paused tag's say) and a slot is left that one of them could take.
    /// With every lane busy, reading further would find nothing to start, only cost reads.
    pub fn reads_further(&self, read: u32, limit: u32) -> bool {
        self.start.is_empty() && read >= limit && !self.room.is_empty()
    }

    /// What a look that reads further reads (`reads_further`): the due tasks of each tag with a slot
    /// left (`room`), on their own (a tag's due tasks, in due order), `first` of them, then four
    /// times as many while its last read came back full. A tag read to its end is not read again: a
    /// tag with nothing queued costs one read that finds nothing, not the whole queue of the others.
    /// `read`: per tag, how many its last read asked for and how many it found.
    pub fn tag_reads(&self, read: &LiteMap<String, (u32, u32)>, first: u32) -> Vec<(String, u32)> {
        self.room
            .iter()
            .filter_map(|tag| match read.get(tag) {
                None => Some((tag.clone(), first)),
                Some(&(asked, found)) if found >= asked => {
                    Some((tag.clone(), asked.saturating_mul(4)))
                }
                Some(_) => None,
            })
            .collect()
    }
}

/// What a worker instance knows beyond the records: its origin (its pages'), which decides what a
/// page's Background Fetch may carry, and the outages it heard of.
#[derive(Debug, Clone, Copy)]
pub struct Heard<'a> {
    /// The worker's origin; `""`: no task waits for a page.
    pub origin: &'a str,
    /// Origins whose attempts end in network errors.
    pub outages: &'a Outages,
}

static NO_OUTAGES: Outages = LiteMap::new();

impl Default for Heard<'_> {
    fn default() -> Self {
        Heard {
            origin: "",
            outages: &NO_OUTAGES,
        }
    }
}

/// The tags whose first queued task due after now a look reads on its own, given the first due after
/// now of all (`later`, from the due index): none when that one is not held, as it comes first; when
/// it is (its tag paused, or another worker's), every other tag that sends here, so that the next due
/// time a plan wakes for is not the held task's (or none at all) while another's falls due earlier.
pub fn later_reads<'a>(
    later: Option<&Task>,
    sessions: &'a LiteMap<String, SessionView>,
) -> Vec<&'a str> {
    let Some(later) = later else {
        return Vec::new();
    };
    let sends = |v: &SessionView| !v.paused && !v.elsewhere;
    if sessions.get(&later.tag).is_none_or(sends) {
        return Vec::new();
    }
    sessions
        .iter()
        .filter(|(tag, v)| sends(v) && **tag != later.tag)
        .map(|(tag, _)| tag.as_str())
        .collect()
}

/// Decides what to start: each tag's due tasks in enqueue order, as many as its concurrency leaves
/// once every attempt in flight (any transport, any worker instance) is counted, and no more than
/// `MAX_PARALLEL` running in this worker. `queued` are the queued tasks read (due ones and the next
/// not yet due), `in_flight` every in-flight task, `running_here` this worker's running attempts.
/// With what the worker instance `heard` (`Heard::default()`: nothing), a large task that an open
/// page of its tag can start as a Background Fetch waits for it (`waits_for_page`) and is offered to
/// it, and the uploads to an origin that is down wait, then go one at a time (`outage_hold`).
pub fn plan(
    env: &Env,
    queued: &[Task],
    in_flight: &[Task],
    sessions: &LiteMap<String, SessionView>,
    awaiting_headers: &[String],
    running_here: u32,
    heard: &Heard,
) -> Plan {
    let view = |tag: &str| sessions.get(tag).copied().unwrap_or_default();
    // Another worker's tags are not this one's to start, expire or wait for.
    let queued: Vec<&Task> = queued.iter().filter(|t| serves_task(sessions, t)).collect();
    let in_flight: Vec<&Task> = in_flight
        .iter()
        .filter(|t| serves_task(sessions, t))
        .collect();
    let mut busy: LiteMap<&str, u32> = LiteMap::new();
    for t in in_flight.iter().filter(|t| t.state == State::InFlight) {
        *busy.entry(t.tag.as_str()).or_default() += 1;
    }
    let mut wake: Option<u64> = None;
    let mut later = |at: u64| {
        if at > env.now_ms {
            wake = Some(wake.map_or(at, |w: u64| w.min(at)));
        }
    };
    let mut work_left = false;
    // Queued tasks whose time ran out are leased first, whatever holds them (a pause, no network, a
    // full tag): the lease records them `expired` and sends nothing, so they take no slot.
    let mut start: Vec<String> = queued
        .iter()
        .filter(|t| t.state == State::Queued && t.is_expired_at(env.now_ms))
        .map(|t| t.id.clone())
        .collect();
    // A tag whose headers come from a page: behind a task of it waiting for them, its later tasks
    // wait too (they would ask the same pages), so that whichever answer comes first, the tag's
    // attempts start in enqueue order.
    let mut asking: LiteMap<&str, u64> = LiteMap::new();
    for t in queued.iter().filter(|t| awaiting_headers.contains(&t.id)) {
        if view(&t.tag).header_provider {
            let first = asking.entry(t.tag.as_str()).or_insert(t.seq);
            *first = (*first).min(t.seq);
        }
    }
    let behind = |t: &Task| {
        asking
            .get(t.tag.as_str())
            .is_some_and(|&first| t.seq > first)
    };
    // Per tag, the startable tasks in enqueue order: kept ordered as they are added (keyed by
    // `(seq, position read)`, unique even for a damaged record), so no sort is needed.
    let mut ready: LiteMap<&str, LiteMap<(u64, usize), &Task>> = LiteMap::new();
    let mut for_page: Vec<&Task> = Vec::new();
    // Origins that are down and have an upload asking already (one at a time).
    let mut probes: Vec<&str> = in_flight
        .iter()
        .filter(|t| t.state == State::InFlight)
        .map(|t| origin_of(&t.request.url))
        .filter(|o| heard.outages.contains_key(*o))
        .collect();
    for (read, t) in queued.iter().enumerate() {
        if start.contains(&t.id) {
            continue;
        }
        if t.state == State::Queued {
            // A held task still expires on time: at its `expiresAt` or at the end of its retention
            // (`retry.maxRetentionMs`, which may be short).
            later(t.deadline());
        }
        match hold(
            t,
            &view(&t.tag),
            env,
            awaiting_headers.contains(&t.id) || behind(t),
        ) {
            None => {
                let origin = origin_of(&t.request.url);
                let probing = probes.contains(&origin);
                if let Some(until) = outage_hold(t, heard.outages, env.now_ms, probing) {
                    // Looked at again when the hold ends (or when the probe ends).
                    work_left = true;
                    later(until);
                } else if waits_for_page(t, &view(&t.tag), env.now_ms, heard.origin) {
                    // Looked at again once no page is heard: then the worker sends it.
                    work_left = true;
                    later(view(&t.tag).background_fetch_page_until);
                    for_page.push(t);
                } else {
                    if heard.outages.contains_key(origin) {
                        probes.push(origin);
                    }
                    ready
                        .entry(t.tag.as_str())
                        .or_default()
                        .insert((t.seq, read), t);
                }
            }
            Some(Hold::NotDue(at)) => {
                work_left = true;
                later(at);
            }
            // Offline, saving data, or waiting for a page to give headers: the browser's next
            // chance (a sync retry, `online`, a page's message) looks again; no timer does.
            Some(Hold::Offline | Hold::SaveData | Hold::AwaitingHeaders) => work_left = true,
            Some(Hold::Paused | Hold::NotQueued) => {}
        }
    }
    // An in-flight task whose lease ends may have to be taken back then (its holder died); a
    // Background Fetch is ended at its timeout.
    for t in &in_flight {
        for at in [t.lease_until, t.timeout_at].into_iter().flatten() {
            later(at);
        }
    }
    let mut slots = MAX_PARALLEL.saturating_sub(running_here);
    let mut queues: Vec<(&str, std::collections::VecDeque<&Task>)> = ready
        .into_iter()
        .map(|(tag, ts)| {
            (
                tag,
                ts.into_tuple_vec().into_iter().map(|(_, t)| t).collect(),
            )
        })
        .collect();
    // Round-robin over tags so one busy tag does not starve another.
    loop {
        let mut progressed = false;
        for (tag, q) in queues.iter_mut() {
            if slots == 0 {
                break;
            }
            let used = busy.entry(tag).or_default();
            if *used >= view(tag).concurrency || q.is_empty() {
                continue;
            }
            let t = q.pop_front().expect("not empty");
            *used += 1;
            slots -= 1;
            start.push(t.id.clone());
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    // A tag with no session record (none is read) has the defaults.
    let free = |tag: &str, v: &SessionView| {
        !v.paused && !v.elsewhere && busy.get(tag).copied().unwrap_or(0) < v.concurrency
    };
    let mut room: Vec<String> = Vec::new();
    // (Offline, no task starts, whatever is behind: a look then reads no further.)
    if slots > 0 && env.online {
        // (Sessions come in tag order, and the tags seen without one are added in place: no sort.)
        for (tag, v) in sessions.iter() {
            if free(tag, v) {
                room.push(tag.clone());
            }
        }
        for t in queued.iter().chain(&in_flight) {
            if !sessions.contains_key(&t.tag) && free(&t.tag, &SessionView::default()) {
                if let Err(at) = room.binary_search(&t.tag) {
                    room.insert(at, t.tag.clone());
                }
            }
        }
    }
    // Due tasks left waiting for a slot start when an attempt ends; that is work left too.
    if queues.iter().any(|(_, q)| !q.is_empty()) {
        work_left = true;
    }
    // One Background Fetch per origin at a time: the first waiting task (per tag, in enqueue order)
    // of a tag with a free slot is offered, when none is in flight.
    let background_fetch_busy = in_flight
        .iter()
        .any(|t| t.state == State::InFlight && t.transport == Some(Transport::BackgroundFetch));
    let offer = for_page
        .iter()
        .filter(|_| !background_fetch_busy)
        .filter(|t| busy.get(t.tag.as_str()).copied().unwrap_or(0) < view(&t.tag).concurrency)
        .min_by_key(|t| (t.tag.as_str(), t.seq))
        .map(|t| t.id.clone());
    Plan {
        start,
        wake_at: wake,
        work_left,
        offer,
        for_pages: for_page.iter().map(|t| t.id.clone()).collect(),
        room,
    }
}
