// ferry-upload, page entry: what a page hands over. An upload's Blob goes to the worker by reference and
// its options as plain data a structured clone can carry; a Background Fetch the worker leased is started
// by page-bgfetch.js (only a page may start one).
import { alarmAt, unknownKeys, wake } from './page-link.js';

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
  if (answer.backgroundFetch) {
    // Starting one is a module of its own, loaded by the pages that start one.
    await import('./page-bgfetch.js').then(
      (m) => m.startBackgroundFetch(s, answer.backgroundFetch),
      () => s.ask({ op: 'bgfetchRefused', taskId: answer.backgroundFetch.taskId, leaseNo: answer.backgroundFetch.leaseNo }).catch(() => {}),
    );
  }
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
    else if (key === 'backgroundFetch' && v && typeof v === 'object' && !Array.isArray(v)) out.backgroundFetch = copy(v, ['minBytes'], `${what}.backgroundFetch`);
    else if (key === 'url' && typeof URL === 'function' && v instanceof URL) out.url = v.href;
    else if (PAIRS.includes(key) && v && typeof v === 'object') out[key] = pairs(v);
    else out[key] = cloneable(v);
  }
  return out;
}

/** A value as it can be posted; a function or Symbol, which cannot, becomes a stand-in that fails the
 * engine's checks the same way (it is neither a number, a string, a boolean nor a pair), and so does an
 * object that cannot be posted (one with a method of its own, say `{ toString() { … } }`). */
function cloneable(v) {
  if (typeof v === 'function' || typeof v === 'symbol') return [typeof v];
  if (v && typeof v === 'object' && typeof structuredClone === 'function') {
    try {
      structuredClone(v);
    } catch {
      return ['object'];
    }
  }
  return v;
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

/** Whether this page can start a Background Fetch (the API exists and is granted), asked once; the
 * answer then stands in `s.backgroundFetch` (false once the browser refused one). */
export async function backgroundFetchGranted(s) {
  if (s.backgroundFetch === undefined) {
    s.backgroundFetch = (async () => {
      if (!s.worker.registration.backgroundFetch || !navigator.permissions) return false;
      const status = await navigator.permissions.query({ name: 'background-fetch' }).catch(() => null);
      return status?.state === 'granted';
    })().then((granted) => {
      if (typeof s.backgroundFetch !== 'boolean') s.backgroundFetch = granted;
      return s.backgroundFetch;
    });
  }
  return s.backgroundFetch;
}
