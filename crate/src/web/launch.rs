//! Launch events, the web's `sessionSendsLaunchEvents`: when a task of a session ends and no page of
//! its tag is open, `launch: 'notify' | 'open'` shows a notification; clicking it (or the Background
//! Fetch UI) focuses or opens the page that registered the session.

use crate::core::{EventKind, FerryEvent, Launch};
use crate::web::js;
use crate::web::messaging::channel_name;
use crate::web::store::Store;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// How long the worker waits for an open page of the tag to answer its ping.
const PING_MS: i32 = 300;

/// Shows a notification for each task that just ended, if its session asked for launch events and
/// no page of the tag is listening.
pub async fn task_events(store: &Store, events: &[FerryEvent]) {
    task_events_of(store, events, true).await
}

/// `task_events` knowing whether the session launches anything (`launches: false`, read with the
/// lease: nothing to read again, the decision is "no notification").
pub async fn task_events_of(store: &Store, events: &[FerryEvent], launches: bool) {
    let ended = events.iter().filter(|e| e.kind.launches());
    if !launches {
        for ev in ended {
            decided(&ev.tag, &ev.task_id, false);
        }
        return;
    }
    // Each event is decided once per instance: the marks a start reads (`owed`) may name one this
    // instance is deciding or has decided already.
    let ended: Vec<&FerryEvent> = ended.filter(|e| first_time(&e.tag, e.seq)).collect();
    let mut done = Vec::with_capacity(ended.len());
    // Whether a page of the tag is open, asked once per tag and call (each ask waits for an answer).
    let mut open: Vec<(&str, bool)> = Vec::new();
    for ev in ended {
        let Ok(Some(session)) = store.session(&ev.tag).await else {
            continue;
        };
        let page = match open.iter().find(|(t, _)| *t == ev.tag) {
            Some((_, o)) => *o,
            None if session.options.launch == Launch::None => false,
            None => {
                let o = page_open(&ev.tag).await;
                open.push((&ev.tag, o));
                o
            }
        };
        if session.options.launch == Launch::None || page {
            decided(&ev.tag, &ev.task_id, false);
            done.push((ev.tag.clone(), ev.seq));
            continue;
        }
        let shown = notify(store, ev).await;
        decided(&ev.tag, &ev.task_id, shown);
        done.push((ev.tag.clone(), ev.seq));
    }
    if !done.is_empty() {
        let _ = store.launches_decided(&done).await;
    }
}

/// Makes the launch decisions a stopped instance owed (its marks, `Store::launches_owed`): run at
/// every worker start.
pub async fn owed(store: &Store) {
    if let Ok(events) = store.launches_owed().await {
        task_events(store, &events).await;
    }
}

thread_local! {
    /// The events (tag, seq) this instance took up to decide, kept sorted.
    static TAKEN: std::cell::RefCell<Vec<(String, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether this instance has not taken up `(tag, seq)` before; takes it up.
fn first_time(tag: &str, seq: u64) -> bool {
    TAKEN.with(|taken| {
        let mut taken = taken.borrow_mut();
        let at = taken.binary_search_by(|(t, s)| (t.as_str(), *s).cmp(&(tag, seq)));
        match at {
            Ok(_) => false,
            Err(i) => {
                taken.insert(i, (tag.to_string(), seq));
                true
            }
        }
    })
}

/// Shows the notification of a task that ended; whether it was shown.
async fn notify(store: &Store, ev: &FerryEvent) -> bool {
    let title = match ev.kind {
        EventKind::Completed => "Upload complete",
        EventKind::Failed => "Upload failed",
        _ => "Upload expired",
    };
    let name = store
        .get(&ev.task_id)
        .await
        .ok()
        .flatten()
        .and_then(|t| t.body.name)
        .unwrap_or_else(|| "Your file".into());
    let options = web_sys::NotificationOptions::new();
    options.set_body(&match &ev.reason {
        Some(reason) => format!("{name}: {reason}"),
        None => format!("{name} was delivered."),
    });
    options.set_tag(&channel_name(&ev.tag));
    let data = js_sys::Object::new();
    js::set(&data, "ferryTag", &JsValue::from_str(&ev.tag));
    js::set(&data, "taskId", &JsValue::from_str(&ev.task_id));
    options.set_data(&data);
    match registration().show_notification_with_options(title, &options) {
        Ok(p) => JsFuture::from(p).await.is_ok(),
        // No permission: nothing to show; the outbox still holds the event for the next page.
        Err(_) => false,
    }
}

/// Closes the tag's notification (a page of the tag is reading its events: it tells the user itself).
/// Not awaited by the caller; nothing to do without notification permission (nothing was shown).
pub fn dismiss(tag: &str) {
    let granted = js::get(&js::get(&js::global(), "Notification"), "permission").as_string();
    if granted.as_deref() != Some("granted") {
        return;
    }
    let Ok(shown) = registration().get_notifications() else {
        return;
    };
    let tag = channel_name(tag);
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(list) = JsFuture::from(shown).await {
            for n in js_sys::Array::from(&list).iter() {
                let n: web_sys::Notification = n.unchecked_into();
                if n.tag().as_deref() == Some(tag.as_str()) {
                    n.close();
                }
            }
        }
    });
}

/// Tells listeners of the tag's channel what was decided for a finished task (`{ferry: 'launch',
/// taskId, notified}`): sessions ignore it; it makes the decision observable to tools and tests.
fn decided(tag: &str, task_id: &str, notified: bool) {
    tell(tag, task_id, "notified", &JsValue::from_bool(notified));
}

/// Posts `{ferry: 'launch', taskId, [key]: value}` on the tag's channel.
fn tell(tag: &str, task_id: &str, key: &str, value: &JsValue) {
    let msg = js_sys::Object::new();
    js::set(&msg, "ferry", &JsValue::from_str("launch"));
    js::set(&msg, "taskId", &JsValue::from_str(task_id));
    js::set(&msg, key, value);
    crate::web::messaging::post(tag, &msg);
}

/// Whether a page with a session of `tag` answers a ping on the tag's channel.
async fn page_open(tag: &str) -> bool {
    let ping = crate::web::messaging::message("ping", Some(tag), None);
    crate::web::messaging::ask(tag, &ping, PING_MS)
        .await
        .is_some()
}

/// A click on a Ferry notification, or on a Background Fetch's UI, about `task_id`: with `launch:
/// 'open'`, focus the window showing the page that registered the session, or open that page. Tells the
/// tag's channel what it did (`{ferry: 'launch', taskId, clicked: 'focused' | 'opened' | 'none' |
/// 'refused'}`; `refused` when the browser did not allow it).
pub async fn open_page(store: &Store, tag: &str, task_id: &str) {
    let clicked = match store.session(tag).await {
        Ok(Some(session)) if session.options.launch == Launch::Open => match session.page_url {
            Some(url) => focus_or_open(&url).await,
            None => "none",
        },
        _ => "none",
    };
    tell(tag, task_id, "clicked", &JsValue::from_str(clicked));
}

async fn focus_or_open(url: &str) -> &'static str {
    let clients: web_sys::Clients = js::get(&js::global(), "clients").unchecked_into();
    let options = web_sys::ClientQueryOptions::new();
    options.set_type(web_sys::ClientType::Window);
    if let Ok(list) = JsFuture::from(clients.match_all_with_options(&options)).await {
        for client in js_sys::Array::from(&list).iter() {
            if js::get(&client, "url").as_string().as_deref() == Some(url) {
                let focused = match client.unchecked_into::<web_sys::WindowClient>().focus() {
                    Ok(p) => JsFuture::from(p).await.is_ok(),
                    Err(_) => false,
                };
                return if focused { "focused" } else { "refused" };
            }
        }
    }
    match JsFuture::from(clients.open_window(url)).await {
        Ok(_) => "opened",
        Err(_) => "refused",
    }
}

fn registration() -> web_sys::ServiceWorkerRegistration {
    js::get(&js::global(), "registration").unchecked_into()
}
