//! What the attempts of resumable uploads (tus, S3 multipart) share: one abort handle for all the
//! requests of an attempt (a cancel aborts whichever runs), each request with its own timeout, and a
//! request that got no answer turned into the attempt's outcome.

use crate::core::{self, Error, Outcome, ResponseInfo, Task};
use crate::web::store::Store;
use crate::web::{js, messaging, transport};
use litemap::LiteMap;
use std::cell::RefCell;
use std::future::Future;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An attempt's outcome, with what the response said for the event.
pub type Answer = (Outcome, Option<ResponseInfo>);

thread_local! {
    /// The progress throttle of each running attempt (task id: lease number and throttle): a chunk or
    /// part confirmed is always recorded, but it is told as a `progress` event only as often as the
    /// throttle lets (small tus chunks would otherwise make an event, a write and a message each).
    static THROTTLES: RefCell<LiteMap<String, (u64, core::ProgressThrottle)>> =
        const { RefCell::new(LiteMap::new()) };
}

/// Why a request of an attempt has no answer to read.
pub enum Failure {
    /// Its time ran out.
    Timeout,
    /// A call the browser refused.
    Js(JsValue),
    /// The request did not reach an answer, or what it answered could not be recorded: why.
    Network(String),
    /// The worker's `beforeSend` gave nothing that can be sent: why.
    NotSent(String),
    /// An answer that ends the attempt (`core` said how), with what it said for the event.
    Ended(Outcome, ResponseInfo),
    /// An answer that ends the attempt with nothing to read (a redirect, not followed).
    Bare(Outcome),
}

impl From<JsValue> for Failure {
    fn from(e: JsValue) -> Self {
        Failure::Js(e)
    }
}

/// Runs one attempt of `task` under an abort handle registered for it (`transport::abort` stops it).
pub async fn attempt<F>(task: &Task, run: impl FnOnce(web_sys::AbortController) -> F) -> Answer
where
    F: Future<Output = Result<Answer, Failure>>,
{
    let controller = match web_sys::AbortController::new() {
        Ok(c) => c,
        Err(e) => return (Outcome::NetworkError(transport::describe(&e)), None),
    };
    transport::track(&task.id, controller.clone());
    let result = run(controller).await;
    transport::untrack(&task.id);
    THROTTLES.with(|t| t.borrow_mut().remove(&task.id));
    match result {
        Ok(r) => r,
        Err(Failure::Timeout) => (Outcome::Timeout, None),
        Err(Failure::Js(e)) => (Outcome::NetworkError(transport::describe(&e)), None),
        Err(Failure::Network(why)) => (Outcome::NetworkError(why), None),
        Err(Failure::NotSent(why)) => (Outcome::NotSent(why), None),
        Err(Failure::Ended(outcome, info)) => (outcome, Some(info)),
        Err(Failure::Bare(outcome)) => (outcome, None),
    }
}

/// A change of the stored task that says how many bytes the server now holds.
pub type Confirmed<'a> = Box<dyn FnOnce(&Task) -> Result<(Task, u64), Error> + 'a>;

/// Records bytes the server confirmed: `change` moves the stored task on and says how many bytes it now
/// holds; the `Progress` input (for this attempt's lease only) resets the attempt budget when they grew,
/// and the pages hear a `progress` event, throttled (`core::ProgressThrottle`).
pub async fn confirm(store: &Store, task: &Task, change: Confirmed<'_>) -> Result<(), Error> {
    let (_, events) = store
        .modify(
            &task.id,
            Box::new(|t| {
                let (t, bytes) = change(t)?;
                let (next, _) = core::scheduler::settle(
                    &t,
                    task.lease_no,
                    core::Input::Progress {
                        bytes_confirmed: bytes,
                    },
                    js::now_ms(),
                    0,
                )?;
                // Told when the throttle of this attempt lets it: every 500 ms or 5 % of the
                // file, and the total always.
                let told = THROTTLES.with(|all| {
                    let mut all = all.borrow_mut();
                    let size = next.body.size;
                    let entry = all.entry(task.id.clone()).or_insert_with(|| {
                        (task.lease_no, core::ProgressThrottle::with_defaults(size))
                    });
                    if entry.0 != task.lease_no {
                        *entry = (task.lease_no, core::ProgressThrottle::with_defaults(size));
                    }
                    entry.1.offer(bytes, js::now_ms())
                });
                let events = told
                    .map(|bytes| core::progress_event(&next, bytes))
                    .into_iter()
                    .collect();
                Ok((next, events))
            }),
        )
        .await?;
    messaging::broadcast(&events);
    Ok(())
}

/// One request of an attempt of `task`, with `headers` exactly, aborted when `deadline` passes (the
/// caller keeps it while it reads the body). Why it got no answer says which of the headers beyond the
/// task's (`more`) and Ferry's own (`fixed`) a CORS preflight may have refused.
#[allow(clippy::too_many_arguments)]
pub async fn request(
    task: &Task,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&JsValue>,
    controller: &web_sys::AbortController,
    deadline: &transport::Deadline,
    (more, fixed): (&[(String, String)], &[&str]),
) -> Result<web_sys::Response, Failure> {
    let sent = async {
        let h = web_sys::Headers::new()?;
        for (name, value) in headers {
            h.set(name, value)?;
        }
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        init.set_headers(&h);
        init.set_signal(Some(&controller.signal()));
        // A redirect ends the attempt (`core::redirected`), not followed.
        init.set_redirect(web_sys::RequestRedirect::Manual);
        transport::credentials(&init, task);
        if let Some(body) = body {
            init.set_body(body);
        }
        let request = web_sys::Request::new_with_str_and_init(url, &init)?;
        JsFuture::from(transport::fetch(&request))
            .await?
            .dyn_into::<web_sys::Response>()
    };
    match sent.await {
        Ok(r) if r.type_() == web_sys::ResponseType::Opaqueredirect => {
            Err(Failure::Bare(core::redirected(method, url)))
        }
        Ok(r) => Ok(r),
        Err(_) if deadline.passed() => Err(Failure::Timeout),
        Err(e) => Err(Failure::Network(
            transport::network_error(task, url, method, more, fixed, &e).await,
        )),
    }
}
