//! Reading what a page passes (any JS value) into core's validation inputs. Type mismatches are typed
//! errors here; everything else is judged by `core::validate`.

use crate::core::{
    self, BodyInput, Error, RetryInput, SessionOptionsInput, Task, UploadInput, ValidUpload,
};
use crate::web::js::{self, now_ms, uuid};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An option given as `null`: refused like any value that is not the option's (`fetch` refuses a `null`
/// method or credentials too). Only `expiresAt`, `earliestBegin` and `appData` take `null` (none).
fn null_given(option: &str) -> Error {
    Error::options(option, "is null; leave it out for its default")
}

fn number(obj: &JsValue, key: &str, option: &str) -> Result<Option<f64>, Error> {
    if js::get(obj, key).is_null() {
        return Err(null_given(option));
    }
    nullable_number(obj, key, option)
}

/// A number, or `null` or nothing for none.
fn nullable_number(obj: &JsValue, key: &str, option: &str) -> Result<Option<f64>, Error> {
    let v = js::get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .ok_or_else(|| Error::options(option, "must be a number"))
}

fn string(obj: &JsValue, key: &str, option: &str) -> Result<Option<String>, Error> {
    let v = js::get(obj, key);
    if v.is_undefined() {
        return Ok(None);
    }
    if v.is_null() {
        return Err(null_given(option));
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Error::options(option, "must be a string"))
}

/// The method as given: a string, else `FerryInvalidMethod` (as every wrong method is).
fn method_of(request: &JsValue) -> Result<Option<String>, Error> {
    let v = js::get(request, "method");
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| Error::InvalidMethod {
        method: js::js_string(&v),
        reason: "must be a string; use POST, PUT or PATCH".into(),
    })
}

fn boolean(obj: &JsValue, key: &str, option: &str) -> Result<Option<bool>, Error> {
    let v = js::get(obj, key);
    if v.is_undefined() {
        return Ok(None);
    }
    if v.is_null() {
        return Err(null_given(option));
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| Error::options(option, "must be true or false"))
}

/// Whether `v` has a `Symbol.iterator` method (an array, a `Map`, a `Headers`, a generator...).
pub fn iterable(v: &JsValue) -> bool {
    js_sys::Reflect::get(v, &js_sys::Symbol::iterator()).is_ok_and(|f| f.is_function())
}

/// String pairs from a plain object, or from anything iterable that yields `[name, value]` pairs.
/// `err(name, reason)`: the error of one pair (`Some(name)`) or of the whole value (`None`).
fn pairs(
    obj: &JsValue,
    key: &str,
    err: &dyn Fn(Option<&str>, &str) -> Error,
) -> Result<Vec<(String, String)>, Error> {
    let v = js::get(obj, key);
    if v.is_undefined() {
        return Ok(Vec::new());
    }
    if v.is_null() {
        return Err(err(None, "is null; leave it out for none"));
    }
    if !v.is_object() {
        return Err(err(None, "must be an object of string values"));
    }
    // What `fetch` takes as headers: anything iterable (a `Headers`, a `Map`, an array) as
    // `[name, value]` pairs, else an object's own properties.
    let listed = iterable(&v);
    let entries = if listed {
        js_sys::Array::from(&v)
    } else {
        js_sys::Object::entries(v.unchecked_ref())
    };
    let mut out = Vec::new();
    for entry in entries.iter() {
        let pair = js_sys::Array::is_array(&entry) && js_sys::Array::from(&entry).length() == 2;
        if listed && !pair {
            return Err(err(None, "must list [name, value] pairs"));
        }
        let entry: js_sys::Array = entry.unchecked_into();
        let (k, val) = (entry.get(0), entry.get(1));
        let k = k.as_string().unwrap_or_default();
        let val = val
            .as_string()
            .ok_or_else(|| err(Some(&k), "has a value that is not a string; pass strings"))?;
        out.push((k, val));
    }
    Ok(out)
}

fn retry(obj: &JsValue, prefix: &str) -> Result<Option<RetryInput>, Error> {
    let r = js::get(obj, "retry");
    if r.is_undefined() {
        return Ok(None);
    }
    if r.is_null() {
        return Err(null_given(prefix));
    }
    if !r.is_object() {
        return Err(Error::options(
            prefix,
            "must be an object like { maxAttempts, baseMs, capMs }",
        ));
    }
    Ok(Some(RetryInput {
        max_attempts: number(&r, "maxAttempts", "retry.maxAttempts")?,
        base_ms: number(&r, "baseMs", "retry.baseMs")?,
        cap_ms: number(&r, "capMs", "retry.capMs")?,
        max_retention_ms: number(&r, "maxRetentionMs", "retry.maxRetentionMs")?,
    }))
}

/// `Ferry.register` options.
pub fn session_options(options: &JsValue) -> Result<SessionOptionsInput, Error> {
    if !(options.is_undefined() || options.is_null() || options.is_object()) {
        return Err(Error::options("options", "must be an object"));
    }
    Ok(SessionOptionsInput {
        concurrency: number(options, "concurrency", "concurrency")?,
        launch: string(options, "launch", "launch")?,
        retry: retry(options, "retry")?,
        ack: string(options, "ack", "ack")?,
        background_fetch: background_fetch(options)?,
        background_fetch_min_bytes: number(
            &js::get(options, "backgroundFetch"),
            "minBytes",
            "backgroundFetch.minBytes",
        )?,
        header_provider: provider(options)?,
        header_fallback: string(options, "headerFallback", "headerFallback")?,
        batch_window_ms: number(options, "batchWindowMs", "batchWindowMs")?,
        attempt_timeout_ms: number(options, "attemptTimeoutMs", "attemptTimeoutMs")?,
    })
}

/// The `backgroundFetch` option: `true`, `false`, or `{ minBytes }` (allowed, for bodies of at least
/// that many bytes, read beside it).
fn background_fetch(options: &JsValue) -> Result<Option<bool>, Error> {
    let v = js::get(options, "backgroundFetch");
    if v.is_object() && !js_sys::Array::is_array(&v) && !v.is_function() {
        return Ok(Some(true));
    }
    boolean(options, "backgroundFetch", "backgroundFetch")
        .map_err(|_| Error::options("backgroundFetch", "must be true, false or { minBytes }"))
}

/// The `headerProvider` option: a function the worker asks (through an open page) for headers at send
/// time. The page entry keeps the function and passes `true` for it.
pub fn provider(options: &JsValue) -> Result<Option<bool>, Error> {
    let v = js::get(options, "headerProvider");
    if v.is_undefined() {
        return Ok(None);
    }
    if v.as_bool() == Some(true) || v.is_function() {
        return Ok(Some(true));
    }
    Err(Error::options(
        "headerProvider",
        "must be a function returning headers (or a Promise of them)",
    ))
}

/// Header pairs from what a header provider returned (a plain object or a `Headers`).
pub fn header_pairs(value: &JsValue) -> Result<Vec<(String, String)>, Error> {
    // (A provider that gives `null` gives no headers.)
    if value.is_null() {
        return Ok(Vec::new());
    }
    let holder = js_sys::Object::new();
    js::set(&holder, "headers", value);
    pairs(&holder, "headers", &header_error)
}

/// A header is named by its own name (`headers` for the whole value).
fn header_error(name: Option<&str>, reason: &str) -> Error {
    Error::header(name.unwrap_or("headers"), reason)
}

/// A protocol setting of the wrong type (`fields.note`, `chunkSize`), as `FerryInvalidProtocol`.
fn setting_error(protocol: &str, option: &str, name: Option<&str>, reason: &str) -> Error {
    match name {
        Some(name) => Error::protocol(protocol, format!("{option}.{name} {reason}")),
        None => Error::protocol(protocol, format!("{option} {reason}")),
    }
}

fn setting_string(obj: &JsValue, key: &str, protocol: &str) -> Result<Option<String>, Error> {
    string(obj, key, key).map_err(|_| setting_error(protocol, key, None, "must be a string"))
}

/// `upload(blob, request)` arguments, read where they were made (a worker's `enqueue`): URLs
/// resolve against this global's base URL.
pub fn upload_input(blob: &JsValue, request: &JsValue) -> Result<UploadInput, Error> {
    // Like `fetch`: against the document's base URL in a page (a `<base href>` counts), against the
    // worker's location in a worker.
    let global = js::global();
    let base = js::get(&js::get(&global, "document"), "baseURI")
        .as_string()
        .or_else(|| js::get(&js::get(&global, "location"), "href").as_string())
        .unwrap_or_default();
    let body = match blob.dyn_ref::<web_sys::Blob>() {
        Some(b) => blob_input(b),
        None => BodyInput::NotABlob {
            js_type: js_type(blob),
        },
    };
    read_upload(body, request, &base)
}

/// One upload as the page entry passes it to the worker: `{ blob, bodyType, request }` (`blob` when
/// the body is a Blob, else `bodyType` names what it was), URLs resolving against `base` (the
/// page's base URL).
pub fn upload_input_from_page(item: &JsValue, base: Option<&str>) -> Result<UploadInput, Error> {
    let body = match js::get(item, "blob").dyn_ref::<web_sys::Blob>() {
        Some(b) => blob_input(b),
        None => BodyInput::NotABlob {
            js_type: js::get(item, "bodyType")
                .as_string()
                .unwrap_or_else(|| "undefined".into()),
        },
    };
    read_upload(body, &js::get(item, "request"), base.unwrap_or_default())
}

fn blob_input(b: &web_sys::Blob) -> BodyInput {
    BodyInput::Blob {
        size: b.size(),
        mime: b.type_(),
        name: b
            .dyn_ref::<web_sys::File>()
            .map(|f| f.name())
            .filter(|n| !n.is_empty()),
    }
}

fn read_upload(body: BodyInput, request: &JsValue, base: &str) -> Result<UploadInput, Error> {
    if !request.is_object() {
        return Err(Error::options(
            "request",
            "pass an object like { url: '/upload' }",
        ));
    }
    let raw = js::get(request, "url");
    // A string, or a `URL` (which `fetch` takes too).
    let raw_url = raw
        .as_string()
        .or_else(|| raw.dyn_ref::<web_sys::Url>().map(|u| u.href()))
        .ok_or_else(|| Error::InvalidUrl {
            url: js::js_string(&raw),
            reason: "url must be a string or a URL".into(),
        })?;
    let resolved_url = web_sys::Url::new_with_base(&raw_url, base)
        .ok()
        .map(|u| u.href());
    // A protocol's settings of the wrong type are refused as that protocol's, like their values.
    let protocol = string(request, "protocol", "protocol")?;
    let named = protocol.clone().unwrap_or_else(|| "http".into());
    Ok(UploadInput {
        raw_url,
        resolved_url,
        method: method_of(request)?,
        headers: pairs(request, "headers", &header_error)?,
        field: setting_string(request, "field", &named)?,
        filename: setting_string(request, "filename", &named)?,
        fields: pairs(request, "fields", &|n, r| {
            setting_error(&named, "fields", n, r)
        })?,
        chunk_size: number(request, "chunkSize", "chunkSize")
            .map_err(|_| setting_error(&named, "chunkSize", None, "must be a number of bytes"))?,
        metadata: pairs(request, "metadata", &|n, r| {
            setting_error(&named, "metadata", n, r)
        })?,
        protocol,
        body,
        expires_at: nullable_number(request, "expiresAt", "expiresAt")?,
        earliest_begin: nullable_number(request, "earliestBegin", "earliestBegin")?,
        retry: retry(request, "retry")?,
        credentials: string(request, "credentials", "credentials")?,
        discretionary: boolean(request, "discretionary", "discretionary")?,
        app_data: app_data(request)?,
    })
}

/// `appData`: a string (an object is the app's to `JSON.stringify`: Ferry keeps it as given).
fn app_data(request: &JsValue) -> Result<Option<String>, Error> {
    let v = js::get(request, "appData");
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| {
        Error::options(
            "appData",
            format!(
                "must be a string, got {}; pass JSON.stringify(data) and read it with JSON.parse(task.appData)",
                js_type(&v)
            ),
        )
    })
}

fn js_type(v: &JsValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    let ctor = js::get(&js::get(v, "constructor"), "name").as_string();
    ctor.filter(|_| v.is_object())
        .unwrap_or_else(|| v.js_typeof().as_string().unwrap_or_default())
}

/// Free storage for this origin (`quota - usage`), when the browser tells.
pub async fn quota_available() -> Option<u64> {
    let storage = js::get(&js::get(&js::global(), "navigator"), "storage");
    let manager = storage.dyn_into::<web_sys::StorageManager>().ok()?;
    let estimate = JsFuture::from(manager.estimate().ok()?).await.ok()?;
    let quota = js::get(&estimate, "quota").as_f64()?;
    let usage = js::get(&estimate, "usage").as_f64().unwrap_or(0.0);
    Some((quota - usage).max(0.0) as u64)
}

/// A new queued task for a validated upload: the id given (the page's choice) or a fresh one, a fresh
/// idempotency key; a discretionary one starts with its session's next batch window.
pub fn new_task(tag: &str, id: Option<String>, valid: ValidUpload, batch_window_ms: u64) -> Task {
    let now = now_ms();
    let discretionary = valid.discretionary;
    let earliest_begin = if discretionary {
        Some(
            core::discretionary::batch_begin(now, batch_window_ms)
                .max(valid.earliest_begin.unwrap_or(0)),
        )
    } else {
        valid.earliest_begin
    };
    let mut task = core::new_task(core::NewTask {
        id: id.unwrap_or_else(uuid),
        tag: tag.to_string(),
        seq: 0,
        request: valid.request,
        body: valid.body,
        idempotency_key: uuid(),
        now_ms: now,
        expires_at: valid.expires_at,
        earliest_begin,
        retry: valid.retry,
    });
    task.discretionary = discretionary;
    task.app_data = valid.app_data;
    task
}
