//! Attempts of sessions with a header provider: each asks an open page for its headers first, then is
//! leased on its own, in the order the plan chose them.

use super::attempt::run_leased;
use super::*;

thread_local! {
    /// Per tag, what the tag's latest attempt that asks headers first signals once it has leased or
    /// given up: the next one, of this look or a later one, waits for it.
    static LAST_TURN: RefCell<LiteMap<String, js::Replied<()>>> = const { RefCell::new(LiteMap::new()) };
}

/// Starts the attempts chosen whose headers are asked first (a session has a header provider), each
/// on its own: the pump does not wait for them, only wakes when one ends. Their headers are asked at
/// once, but each is leased only once the tag's attempt before it (chosen by this look or an earlier
/// one) has leased or given up, so a tag's attempts start in enqueue order however long each answer
/// takes.
pub(super) fn start_asking(store: &Store, tasks: Vec<Task>, via: Transport) {
    for task in tasks {
        let (mine, next) = js::reply();
        let turn = Turn {
            before: LAST_TURN.with(|l| l.borrow_mut().insert(task.tag.clone(), next)),
            mine: Some(mine),
        };
        let id = task.id.clone();
        STARTED.with(|s| s.borrow_mut().insert(id.clone(), task));
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let began = now_ms();
            if let Err(e) = attempt(&store, &id, via, turn).await {
                web_sys::console::warn_1(&format!("ferry: attempt of {id}: {e}").into());
                SKIP.with(|s| s.borrow_mut().insert(id.clone(), began));
            }
            super::attempt::ended(&id);
        });
    }
}

/// An attempt's place in the order of leases: it waits for the one before it (`before`), and tells
/// the next one (`mine`) once it has leased, or when it is dropped having given up.
struct Turn {
    before: Option<js::Replied<()>>,
    mine: Option<js::Reply<()>>,
}

impl Turn {
    async fn wait(&mut self) {
        if let Some(before) = self.before.take() {
            before.wait().await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(mine) = self.mine.take() {
            mine.send(());
        }
    }
}

/// One attempt whose headers are asked first: headers, then (at its `turn`) the lease, re-checked in
/// its transaction, then `run_leased`.
async fn attempt(store: &Store, id: &str, via: Transport, mut turn: Turn) -> Result<(), Error> {
    let began = now_ms();
    let skip = || SKIP.with(|s| s.borrow_mut().insert(id.to_string(), began));
    let Some(task) = store.get(id).await? else {
        skip();
        return Ok(());
    };
    let extra = match header_plan(store, &task).await? {
        HeaderPlan::Wait => {
            skip();
            return Ok(());
        }
        HeaderPlan::Send(h) => Ok(h),
        HeaderPlan::SendAndKeep(h) => {
            store.keep_headers(&task.tag, &task.id, &h).await?;
            Ok(h)
        }
        HeaderPlan::Refuse(why) => Err(why),
    };
    turn.wait().await;
    // Not now (paused meanwhile, or the tag filled up): offered again when the plan says so.
    let leased = store.lease(id, via, Some(&instance_id()), env()).await;
    // Leased or not, the next attempt's lease may go.
    drop(turn);
    let Some(leased) = leased? else {
        return Ok(());
    };
    messaging::broadcast(&leased.events);
    run_leased(store, leased, extra).await
}

/// The headers a tus upload's termination adds to the task's own: those an attempt of it would add
/// (`core::scheduler::termination_headers`), the page's provider asked as for an attempt.
pub(crate) async fn termination_headers(store: &Store, task: &Task) -> Vec<(String, String)> {
    let provided = header_plan(store, task).await.unwrap_or(HeaderPlan::Wait);
    let given = super::before_send::given(task).await;
    decide::termination_headers(provided, given)
}

/// What the headers of a request of `task` go by: its session's provider, asked through an open page
/// of its tag when it has one, and the headers the session kept (`headerFallback: 'last'`).
async fn header_plan(store: &Store, task: &Task) -> Result<HeaderPlan, Error> {
    let record = store.session(&task.tag).await?;
    let view = record
        .as_ref()
        .map(|s| SessionView::of(&s.options, s.paused))
        .unwrap_or_default();
    let answer = if view.header_provider {
        ask_headers(task).await
    } else {
        None
    };
    Ok(decide::headers(
        &view,
        answer,
        record.and_then(|r| r.last_headers),
    ))
}

/// Asks an open page of the task's tag for headers (`None`: no page answered in time; `Some(Err)`:
/// the page's provider failed, or gave headers that cannot be sent, and why). The question carries the
/// task, which the page's provider is called with.
async fn ask_headers(task: &Task) -> Option<Result<Vec<(String, String)>, String>> {
    let question = messaging::message("headers?", Some(&task.tag), Some(&task.id));
    js::set(&question, "taskId", &JsValue::from_str(&task.id));
    js::set(&question, "task", &js::to_js(task).ok()?);
    let reply = messaging::ask(&task.tag, &question, decide::HEADER_WAIT_MS as i32).await?;
    if let Some(why) = js::get(&reply, "error").as_string() {
        return Some(Err(why));
    }
    Some(
        crate::web::request::header_pairs(&js::get(&reply, "headers"))
            .and_then(|h| crate::core::validate_provided_headers(&h, &task.request.protocol))
            .map_err(|e| e.to_string()),
    )
}
