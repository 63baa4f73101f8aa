// The service-worker half of Ferry, shared by the module entry (worker.js) and the classic build
// (ferry-sw.js, which `cargo xtask build` assembles from this file, wasm-bindgen's no-modules glue,
// workbox.js and classic.js). A service worker must add its listeners during its first evaluation, but the wasm loads
// asynchronously: so every listener is added at once and forwards into Rust once the wasm is ready.

const EVENTS = ['install', 'activate', 'message', 'sync', 'backgroundfetchsuccess', 'backgroundfetchfail',
  'backgroundfetchabort', 'backgroundfetchclick', 'notificationclick', 'online'];

// The wasm is kept in Cache Storage (a worker woken by a sync event is often offline), under a name that
// changes with each build, so a new worker never runs an old wasm with new glue or the reverse.
const CACHE_PREFIX = 'ferry-wasm-';
const CACHE = `${CACHE_PREFIX}__FERRY_BUILD__`;

function wasmLoadError(url, cause) {
  const why = cause instanceof Error ? cause.message : String(cause);
  const e = new Error(`Ferry's service worker could not load its WebAssembly from ${url} (${why}). Check that ` +
    'this URL serves ferry_bg.wasm with Content-Type application/wasm (a bundler that does not emit it, like ' +
    "esbuild, needs it copied next to the worker bundle), and that the worker's Content-Security-Policy " +
    "allows 'wasm-unsafe-eval'.", { cause });
  e.name = 'FerryWasmLoad';
  return e;
}

async function fetchWasm(url) {
  // Cache Storage is best-effort: some private modes refuse it, and a full quota must not stop uploads.
  const cache = await caches.open(CACHE).catch(() => null);
  const hit = cache && await cache.match(url).catch(() => undefined);
  if (hit) return hit;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  if (cache) await cache.put(url, res.clone()).catch(() => {});
  return res;
}

/** Once this version is active no older one runs again: drop the wasm caches of earlier builds. */
async function dropOldCaches() {
  const names = await caches.keys().catch(() => []);
  await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE)
    .map((n) => caches.delete(n).catch(() => false)));
}

// Set by `install`: what `enqueue` waits for (it starts Ferry again if the last start failed) and the
// wasm's exports. Null before `installFerry`.
let engine = null;

/** The options of `installFerry` (the classic build also reads `wasmUrl`, and passes the rest here). */
const OPTIONS = ['beforeSend'];

/** The options of `enqueue`. */
const ENQUEUE_OPTIONS = ['tag', 'retry', 'expiresAt', 'earliestBegin', 'discretionary', 'appData'];

/** Says which keys given are no option of `call` (`installFerry` or `enqueue`): ignored, like the page
 * entry's, but a misspelt `beforeSend` would otherwise send every upload unsigned without a word. */
function warnUnknown(options, known = OPTIONS, call = 'installFerry') {
  if (!options || typeof options !== 'object') return;
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    console.warn(`ferry: ${call} has no option ${JSON.stringify(key)}; it is ignored (its options: ${known.join(', ')})` +
      (key === 'wasmUrl' ? ". wasmUrl is the classic build's (ferry-sw.js); this entry loads the ferry_bg.wasm beside it, which a bundler emits" : ''));
  }
}

/**
 * Adds Ferry's listeners to `scope` now; `init` loads the wasm whose exports `wasm` holds. Returns
 * `started`: a function whose promise resolves once Ferry runs in this worker (the first call's promise
 * is what `installFerry` resolves with); after a failed start, the next call starts again.
 */
export function install(scope, options, init, wasm, url) {
  warnUnknown(options);
  // A start that failed (the wasm URL briefly unreachable, storage busy) is tried again by the next
  // event (or enqueue) instead of failing every event until the worker dies.
  let ready;
  const start = () => {
    ready = fetchWasm(url).then((res) => init({ module_or_path: res }))
      .catch((cause) => { throw wasmLoadError(url, cause); })
      .then(() => wasm.worker_start(scope, options));
    ready.catch(() => { ready = null; });
    return ready;
  };
  const started = () => ready || start();
  engine = { started, wasm };
  start();
  for (const type of EVENTS) {
    scope.addEventListener(type, (event) => {
      if (type === 'message' && event.data?.ferry === 'call') return answer(event, started, wasm);
      let done = started().then(() => wasm.worker_event(type, event));
      // A first install goes on without the wasm, so that the page's calls reach this worker and hear
      // why (FerryWasmLoad), each trying again; an update that cannot load it fails, keeping the old version.
      if (type === 'install' && !scope.registration?.active) done = done.catch(() => {});
      const all = type === 'activate' ? Promise.all([done, dropOldCaches()]) : done;
      if (typeof event.waitUntil === 'function') event.waitUntil(all);
    });
  }
  return started;
}

/** The calls this worker instance is answering, by `callId`: a copy the page posted again joins its call. */
const answering = new Map();

/**
 * A page's call (`{ ferry: 'call', op, callId, ... }` with a reply port, from the page entry): the port
 * hears `{ value }` or `{ error }`, and `{ received: true }` first if that takes more than a second (the
 * page then knows Ferry runs here and waits on). A copy of a call still being answered (the page posts a
 * call again while it has no answer) hears the same answer.
 */
function answer(event, started, wasm) {
  const port = event.ports && event.ports[0];
  if (!port) return;
  const id = event.data.callId;
  let outcome = answering.get(id);
  if (!outcome) {
    outcome = started().then(() => wasm.worker_call(event.data)).then(
      (value) => ({ value }),
      (error) => ({ error: plain(error) }),
    );
    if (id !== undefined) {
      answering.set(id, outcome);
      outcome.then(() => answering.delete(id));
    }
  }
  const received = setTimeout(() => port.postMessage({ received: true }), 1000);
  const done = outcome.then((message) => {
    clearTimeout(received);
    port.postMessage(message);
  }).catch((error) => port.postMessage({ error: plain(error) }));
  if (typeof event.waitUntil === 'function') event.waitUntil(done);
}

/** An error as a page can receive it (structured clone keeps no custom `name`). */
function plain(error) {
  if (error && typeof error === 'object') {
    const { name, message, index } = error;
    return { name: String(name || 'Error'), message: String(message ?? error), index };
  }
  return { name: 'Error', message: String(error) };
}

function invalid(name, message) {
  return Object.assign(new Error(`enqueue(request, { tag }): ${message}`), { name });
}

/**
 * `enqueue(request, options)` of both worker entries: hands a request to Ferry from the worker (e.g. one
 * the app's own fetch failed to deliver). The body becomes a Blob stored with the task in one IndexedDB
 * transaction (its bytes never enter wasm memory); resolves with the task id once stored.
 * `options.tag` names the session whose pages hear the outcome.
 */
export async function enqueue(request, options) {
  if (!(typeof Request === 'function' && request instanceof Request)) {
    throw invalid('FerryInvalidOptions', 'pass a Request, e.g. event.request.clone()');
  }
  if (!engine) {
    throw invalid('FerryInvalidOptions', 'call installFerry(self) at the top of the worker script first');
  }
  if (request.bodyUsed) {
    throw invalid('FerryInvalidBody', 'the body of this request was already read; pass request.clone() before reading it');
  }
  warnUnknown(options, ENQUEUE_OPTIONS, 'enqueue');
  const { tag, retry, expiresAt, earliestBegin, discretionary, appData } = options ?? {};
  const headers = {};
  let idempotencyKey;
  request.headers.forEach((value, name) => {
    if (name === 'idempotency-key') idempotencyKey = value;
    else if (!BROWSER_SET.test(name)) headers[name] = value;
  });
  const blob = await request.blob();
  const { started, wasm } = engine;
  await started();
  return wasm.worker_enqueue(tag, { url: request.url, method: request.method, headers, idempotencyKey, retry,
    expiresAt, earliestBegin, discretionary, appData, credentials: request.credentials }, blob);
}

// Headers a worker sees on a page's request that the browser set itself (client hints, User-Agent, the
// Fetch standard's forbidden names): the browser sets them again when Ferry sends, and refuses them from code.
const BROWSER_SET = /^(sec-.*|proxy-.*|user-agent|accept-charset|accept-encoding|access-control-request-(headers|method)|connection|content-length|cookie2?|date|dnt|expect|host|keep-alive|origin|referer|set-cookie|te|trailer|transfer-encoding|upgrade|via)$/;
