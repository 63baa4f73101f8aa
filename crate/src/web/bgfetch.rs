//! Background Fetch as a transport: a page hands a leased task to the browser (`calls::background_fetch`
//! leases it and answers the page what to start), which sends it even after every tab closed and
//! across browser restarts; the worker maps the outcome events onto the same state machine. Background Fetch never retries an upload itself: a retryable outcome goes back
//! to Ferry's queue like any other attempt.

use crate::core::{self, Outcome, ResponseInfo};
use crate::web::externs::{BackgroundFetchEvent, BackgroundFetchManager};
use crate::web::{js, transport};
use litemap::LiteMap;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The outcome a `backgroundfetchsuccess` / `backgroundfetchfail` event reports for its task.
pub async fn outcome(event: &BackgroundFetchEvent) -> (String, Outcome, Option<ResponseInfo>) {
    let registration = event.registration();
    let id = registration.id();
    let mut asked = None;
    let response = async {
        let records = JsFuture::from(registration.match_all()).await.ok()?;
        let first = js_sys::Array::from(&records).get(0);
        asked = js::get(&first, "request")
            .dyn_into::<web_sys::Request>()
            .ok();
        let ready: js_sys::Promise = js::get(&first, "responseReady").dyn_into().ok()?;
        JsFuture::from(ready)
            .await
            .ok()?
            .dyn_into::<web_sys::Response>()
            .ok()
    }
    .await;
    let answer = response.map(|r| Answer {
        redirected: r.redirected(),
        url: r.url(),
        response: r,
    });
    let asked = asked.map_or((String::new(), String::new()), |q| (q.method(), q.url()));
    let (outcome, info) = outcome_of(answer, &asked, &registration.failure_reason()).await;
    (id, outcome, info)
}

/// What the browser's fetch got back: its response (`redirected` and `url` as the browser saw them).
pub struct Answer {
    /// The response (its body still to read).
    pub response: web_sys::Response,
    /// Whether the browser followed a redirect to get it.
    pub redirected: bool,
    /// The URL it came from (after any redirect).
    pub url: String,
}

/// The outcome of a fetch of `asked` (method, URL) that got `answer` (none: the browser reached no
/// server), whether its event or the page that started it tells it.
pub async fn outcome_of(
    answer: Option<Answer>,
    asked: &(String, String),
    failure_reason: &str,
) -> (Outcome, Option<ResponseInfo>) {
    match answer {
        // Chromium's Background Fetch follows a redirect whatever the request says (a POST answered
        // 301, 302 or 303 went on as a GET without its body): the attempt's answer is the redirect.
        Some(a) if a.redirected => {
            let status = a.response.status();
            let outcome = crate::core::redirect_followed(&asked.0, &asked.1, &a.url, status);
            (outcome, None)
        }
        // A Response of type "error" (status 0) is no answer: the browser reached no server (it
        // gave up on its own retries), which is a network error like a `fetch` that rejects.
        Some(a) if a.response.status() != 0 => {
            let (outcome, info) = transport::read_response(&a.response).await;
            (outcome, Some(info))
        }
        _ => (
            Outcome::NetworkError(format!(
                "the browser's Background Fetch got no answer from the server \
                 (its failureReason: {failure_reason})"
            )),
            None,
        ),
    }
}

/// Whether the browser still owns a fetch for this task (it survives worker restarts).
pub async fn alive(registration: &web_sys::ServiceWorkerRegistration, id: &str) -> bool {
    let Some(manager) = manager_of(registration) else {
        return false;
    };
    match manager.get(id) {
        Ok(p) => JsFuture::from(p)
            .await
            .map(|r| !r.is_undefined() && !r.is_null())
            .unwrap_or(false),
        Err(_) => false,
    }
}

thread_local! {
    /// The most of each fetch's body a page saw sent (`note_sent`): the worker's own view of a
    /// registration says 0 throughout (Chromium 156).
    static SENT: RefCell<LiteMap<String, u64>> = const { RefCell::new(LiteMap::new()) };
}

/// Records what the page that started a task's fetch saw of it sent.
pub fn note_sent(id: &str, uploaded: u64) {
    SENT.with(|s| {
        let mut s = s.borrow_mut();
        let seen = s.get(id).copied().unwrap_or(0);
        s.insert(id.to_string(), seen.max(uploaded));
    });
}

/// Aborts the browser-owned fetch of a task, if there is one and it is known not to be sending its
/// body (`core::scheduler::background_fetch_abortable`: it is left to end on its own otherwise).
pub async fn abort(registration: &web_sys::ServiceWorkerRegistration, task: &core::Task) {
    let Some(manager) = manager_of(registration) else {
        return;
    };
    let Ok(found) = manager.get(&task.id) else {
        return;
    };
    if let Ok(reg) = JsFuture::from(found).await {
        if let Some(reg) = reg
            .dyn_ref::<crate::web::externs::BackgroundFetchRegistration>()
            .filter(|_| reg.is_object())
        {
            let uploaded = SENT.with(|s| s.borrow().get(&task.id).copied());
            if core::scheduler::background_fetch_abortable(task, uploaded) {
                let _ = JsFuture::from(reg.abort()).await;
            }
            SENT.with(|s| s.borrow_mut().remove(&task.id));
        }
    }
}

fn manager_of(registration: &web_sys::ServiceWorkerRegistration) -> Option<BackgroundFetchManager> {
    let has =
        js_sys::Reflect::has(registration, &JsValue::from_str("backgroundFetch")).unwrap_or(false);
    has.then(|| {
        registration
            .unchecked_ref::<crate::web::externs::BackgroundFetchHost>()
            .background_fetch()
    })
    .flatten()
}
