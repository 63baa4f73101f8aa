// ferry-upload, page entry: what a page hands over. An upload's Blob goes to the worker by reference and
// its options as plain data a structured clone can carry; a Background Fetch the worker leased is started
// here (only a page may start one).
import { alarmAt, wake } from './page-link.js';

/** What a structured clone can carry of an upload: the Blob by reference, the request with its URL and
 * header lists as plain values (a `URL`, `Headers` or `Map` is not cloneable). */
export async function uploads(s, items, all) {
  const wire = items.map(({ blob, request }) => {
    const isBlob = typeof Blob === 'function' && blob instanceof Blob;
    // The task's id is chosen here, so a call sent again after its worker was replaced (which may have
    // stored it before going) is answered with the stored task instead of storing it twice.
    return {
      id: crypto.randomUUID(), blob: isBlob ? reframe(blob) : undefined, bodyType: isBlob ? undefined : typeName(blob),
      request: plainRequest(request),
    };
  });
  const call = {
    op: 'upload', items: wire, all, options: s.options,
    base: typeof document === 'object' ? document.baseURI : undefined,
    origin: typeof location === 'object' ? location.origin : undefined,
    backgroundFetch: await backgroundFetchGranted(s),
  };
  const answer = await s.ask(call);
  for (const at of answer.wakeAt) alarmAt(s, at);
  if (answer.backgroundFetch) await startBackgroundFetch(s, answer.backgroundFetch);
  // The worker sends what is due from an event of its own (and a sync where Background Sync exists,
  // so the work survives this page closing); a paused tag waits for `resume()`.
  if (!answer.paused) wake(s);
  return answer.ids;
}

// The options and request fields the engine reads, copied into plain data a structured clone can carry
// (a `URL`, `Headers`, `Map`, a class instance or a framework's reactive Proxy cannot be posted as they are).
const RETRY_KEYS = ['maxAttempts', 'baseMs', 'capMs', 'maxRetentionMs'];
export const SESSION_KEYS = ['concurrency', 'launch', 'retry', 'ack', 'backgroundFetch', 'headerProvider', 'headerFallback',
  'batchWindowMs', 'attemptTimeoutMs'];
const REQUEST_KEYS = ['url', 'method', 'headers', 'protocol', 'field', 'filename', 'fields', 'chunkSize', 'metadata',
  'expiresAt', 'earliestBegin', 'retry', 'discretionary', 'appData', 'credentials'];
const PAIRS = ['headers', 'fields', 'metadata'];

/** The `keys` of `from` that are set, as plain data (what is not an object passes as it is, for the engine to refuse). */
export function copy(from, keys, what, alsoKnown = []) {
  unknownKeys(from, [...keys, ...alsoKnown], what);
  const out = {};
  for (const key of keys) {
    const v = from[key];
    if (v === undefined) continue;
    if (key === 'retry') out.retry = v && typeof v === 'object' ? copy(v, RETRY_KEYS, `${what}.retry`) : typeof v === 'function' ? 'function' : cloneable(v);
    else if (key === 'url' && typeof URL === 'function' && v instanceof URL) out.url = v.href;
    else if (PAIRS.includes(key) && v && typeof v === 'object') out[key] = pairs(v);
    else out[key] = cloneable(v);
  }
  return out;
}

const warned = new Set();

/** Says `text` once per page for `key` (a console warning). */
export function warnOnce(key, text) {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(text);
}

/** Says (once per page and name) which keys given are no option of Ferry's: like `fetch`'s, they are
 * ignored, and a misspelt one (`metod`) would otherwise change what is sent without a word. */
function unknownKeys(from, keys, what) {
  for (const key of Object.keys(from)) {
    if (!keys.includes(key)) {
      warnOnce(`${what}.${key}`, `ferry: ${what} has no option ${JSON.stringify(key)}; it is ignored (the options: ${keys.join(', ')})`);
    }
  }
}

/** A value as it can be posted; a function or Symbol, which cannot, becomes a stand-in that fails the
 * engine's checks the same way (it is neither a number, a string, a boolean nor a pair). */
function cloneable(v) {
  return typeof v === 'function' || typeof v === 'symbol' ? [typeof v] : v;
}

/** What `fetch` takes as headers, as plain data: anything iterable as its [name, value] entries, else an
 * object's own properties. */
export function pairs(v) {
  if (typeof v[Symbol.iterator] === 'function') {
    return Array.from(v, (e) => (Array.isArray(e) ? e.map(cloneable) : cloneable(e)));
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneable(x)]));
}

function typeName(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor?.name ?? 'object';
  return typeof v;
}

function plainRequest(request) {
  if (typeof request === 'function') return undefined;
  if (!request || typeof request !== 'object') return request;
  return copy(request, REQUEST_KEYS, 'upload');
}

// Chromium's Background Fetch sends an EMPTY body for the File object the browser makes for a picked file
// (Chromium 156: 0 bytes sent, and the fetch reports success), while a File composed over it sends every
// byte. Composing copies nothing (the new File refers to the same bytes) and keeps name, type and date.
function reframe(body) {
  return typeof File === 'function' && body instanceof File
    ? new File([body], body.name, { type: body.type, lastModified: body.lastModified })
    : body;
}

// ---- Background Fetch (only a page may start one) ----

/** Whether this page can start a Background Fetch (the API exists and is granted), asked once. */
async function backgroundFetchGranted(s) {
  if (s.backgroundFetch === undefined) {
    s.backgroundFetch = (async () => {
      if (!s.worker.registration.backgroundFetch || !navigator.permissions) return false;
      const status = await navigator.permissions.query({ name: 'background-fetch' }).catch(() => null);
      return status?.state === 'granted';
    })();
  }
  return s.backgroundFetch;
}

/** The Background Fetches this page started that have not ended. */
const watched = new Set();

/** What a page leaves of the worker's start window for starting a fetch and saying it began. */
const START_MARGIN_MS = 5000;

/** Starts the fetch the worker leased; a refusal releases the lease (the worker sends the task then). */
async function startBackgroundFetch(s, f) {
  if (typeof f.startBy === 'number' && Date.now() > f.startBy - START_MARGIN_MS) {
    // This page was away (frozen, in the back/forward cache) until the worker's start window ran
    // out: the worker takes the task back then, so starting it now could send it twice.
    await s.ask({ op: 'bgfetchRefused', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
    return;
  }
  let registration;
  try {
    let body = f.body;
    if (f.form) {
      // FormData keeps a reference to the Blob: still streamed from disk, never copied.
      body = new FormData();
      for (const [k, v] of f.form.fields) body.append(k, v);
      body.append(f.form.field, f.body, f.form.filename);
    }
    // A redirect is the attempt's answer, not followed (as in the worker's own requests).
    const request = new Request(f.url, { method: f.method, headers: f.headers, body, redirect: 'manual', credentials: f.credentials });
    const options = { title: f.title };
    if (f.uploadTotal !== undefined) options.uploadTotal = f.uploadTotal;
    registration = await s.worker.registration.backgroundFetch.fetch(f.taskId, [request], options);
  } catch (e) {
    console.warn(`ferry: Background Fetch not started: ${e?.message ?? e}`);
    // Refused once (Chromium refuses a page's later fetches without the user's leave to download
    // several files): this session's uploads go through the worker from now on.
    s.backgroundFetch = false;
    await s.ask({ op: 'bgfetchRefused', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
    return;
  }
  // The attempt's `started` is told once the browser began it (a refused one is no attempt).
  const began = s.ask({ op: 'bgfetchStarted', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
  // While this page is open, the fetch's progress becomes the task's progress events. The browser
  // keeps no hold on the registration for the page: held only by this listener, it would be collected,
  // listener and all, and its reports would stop (Chromium: at the next full collection, mid-body).
  watched.add(registration);
  registration.addEventListener('progress', () => {
    if (registration.result && watched.delete(registration)) {
      began.then(() => tellOutcome(s, f, registration));
      return;
    }
    began.then(() => s.ask({ op: 'bgfetchProgress', taskId: f.taskId, leaseNo: f.leaseNo, uploaded: registration.uploaded, size: f.size }))
      .catch(() => {});
  });
  // No worker timer outlives the worker: this page wakes it when the attempt times out.
  if (f.timeoutAt !== undefined) alarmAt(s, f.timeoutAt);
}

/** How much of a response body the worker keeps (its excerpt is 4 KB), read at most. */
const BODY_READ = 8192;

/** Tells the worker how the fetch ended, as its outcome event does: Chromium dispatches that event once,
 * so a worker stopped while it handles it would lose it (and send the body again once the lease ran
 * out). The worker applies whichever of the two comes first; an abort is the abort event's alone. */
async function tellOutcome(s, f, registration) {
  if (registration.failureReason === 'aborted') return;
  let call;
  try {
    const [record] = await registration.matchAll();
    const res = await record.responseReady;
    call = {
      op: 'bgfetchDone', taskId: f.taskId, leaseNo: f.leaseNo, method: record.request.method, url: record.request.url,
      failureReason: registration.failureReason,
      answer: { status: res.status, statusText: res.statusText, headers: [...res.headers], body: await bodyStart(res), redirected: res.redirected, url: res.url },
    };
  } catch {
    return; // the answer is no longer there to read: the event told it
  }
  await s.ask(call).catch(() => {});
  // What waited for this fetch to end goes now.
  wake(s);
}

/** The start of a body as text, reading no more than the worker keeps of it. */
async function bodyStart(res) {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  while (n < BODY_READ) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
  }
  reader.cancel().catch(() => {});
  return new TextDecoder().decode(await new Blob(parts).arrayBuffer());
}
