// Ferry service-worker glue. A service worker must add its listeners during its first evaluation, but the
// wasm loads asynchronously: so every listener is added here, at once, and forwards into Rust once ready.
import init, * as wasm from './ferry.js';

const WASM_URL = new URL('./ferry_bg.wasm', import.meta.url);
// The wasm is kept in Cache Storage: a worker woken by a sync event is often offline.
const CACHE = 'ferry-wasm-__FERRY_BUILD__';

async function load() {
  const cache = await caches.open(CACHE);
  let res = await cache.match(WASM_URL);
  if (!res) {
    res = await fetch(WASM_URL);
    if (res.ok) await cache.put(WASM_URL, res.clone());
  }
  await init({ module_or_path: res });
}

const EVENTS = ['install', 'activate', 'message', 'sync', 'backgroundfetchsuccess', 'backgroundfetchfail',
  'backgroundfetchabort', 'backgroundfetchclick', 'notificationclick', 'online'];

// Set by installFerry: what enqueue waits for.
let ready = null;

/** Installs Ferry in a service worker: call it synchronously at the top of the worker script. */
export function installFerry(scope, options = {}) {
  ready = load().then(() => wasm.worker_start(scope, options));
  for (const type of EVENTS) {
    scope.addEventListener(type, (event) => {
      const done = ready.then(() => wasm.worker_event(type, event));
      if (typeof event.waitUntil === 'function') event.waitUntil(done);
    });
  }
  return ready;
}

/**
 * Hands a request to Ferry from the worker (e.g. one the app's own fetch failed to deliver): the body
 * becomes a Blob stored with the task in one IndexedDB transaction (its bytes never enter wasm memory);
 * resolves with the task id once stored. `options.tag` names the session whose pages hear the outcome.
 */
export async function enqueue(request, options) {
  if (!(request instanceof Request)) {
    throw Object.assign(new Error('enqueue(request, { tag }): pass a Request, e.g. event.request.clone()'),
      { name: 'FerryInvalidOptions' });
  }
  if (!ready) {
    throw Object.assign(new Error('enqueue(request, { tag }): call installFerry(self) at the top of the worker script first'),
      { name: 'FerryInvalidOptions' });
  }
  if (request.bodyUsed) {
    throw Object.assign(new Error('enqueue(request, { tag }): the body of this request was already read; pass request.clone() before reading it'),
      { name: 'FerryInvalidBody' });
  }
  const { tag, retry, expiresAt, earliestBegin, discretionary } = options ?? {};
  const headers = {};
  let idempotencyKey;
  request.headers.forEach((value, name) => {
    if (name === 'idempotency-key') idempotencyKey = value;
    else if (!BROWSER_SET.test(name)) headers[name] = value;
  });
  const blob = await request.blob();
  await ready;
  return wasm.worker_enqueue(tag, { url: request.url, method: request.method, headers, idempotencyKey, retry,
    expiresAt, earliestBegin, discretionary }, blob);
}

// Headers a worker sees on a page's request that the browser set itself (client hints, User-Agent, the
// Fetch standard's forbidden names): the browser sets them again when Ferry sends, and refuses them from code.
const BROWSER_SET = /^(sec-.*|proxy-.*|user-agent|accept-charset|accept-encoding|access-control-request-(headers|method)|connection|content-length|cookie2?|date|dnt|expect|host|keep-alive|origin|referer|set-cookie|te|trailer|transfer-encoding|upgrade|via)$/;

export { FerryPlugin, ferryPlugin } from './workbox.js';
