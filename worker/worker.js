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

/** Installs Ferry in a service worker: call it synchronously at the top of the worker script. */
export function installFerry(scope, options = {}) {
  // A start that failed (storage briefly unavailable, say) is tried again by the next event.
  let ready;
  const start = () => (ready = load().then(() => wasm.worker_start(scope, options)).catch((e) => {
    ready = null;
    throw e;
  }));
  start();
  for (const type of EVENTS) {
    scope.addEventListener(type, (event) => {
      const done = (ready || start()).then(() => wasm.worker_event(type, event));
      if (type === 'activate') done.then(dropOldCaches, () => {});
      if (typeof event.waitUntil === 'function') event.waitUntil(done);
    });
  }
  return ready;
}

/** Caches of earlier Ferry builds' wasm go when this version activates. */
async function dropOldCaches() {
  for (const name of await caches.keys()) {
    if (name.startsWith('ferry-wasm-') && name !== CACHE) await caches.delete(name);
  }
}
