// ferry-upload, module service-worker entry: `import { installFerry } from 'ferry-upload/worker'`.
// Static imports only (a module service worker may not use `import()`); the wasm URL is written as
// `new URL('./…wasm', import.meta.url)` so that bundlers emit the file.
import init, * as wasm from './ferry.js';
import { enqueueRequest, install } from './install.js';

// Set by installFerry: what enqueue waits for (it starts Ferry again if the last start failed).
let started = null;

/** Installs Ferry in a service worker: call it synchronously at the top of the worker script. */
export function installFerry(scope, options = {}) {
  started = install(scope, options, init, wasm, new URL('./ferry_bg.wasm', import.meta.url));
  return started();
}

/**
 * Hands a request to Ferry from the worker (e.g. one the app's own fetch failed to deliver): the body
 * becomes a Blob stored with the task in one IndexedDB transaction (its bytes never enter wasm memory);
 * resolves with the task id once stored. `options.tag` names the session whose pages hear the outcome.
 */
export async function enqueue(request, options) {
  return enqueueRequest(started, wasm, request, options);
}

export { FerryPlugin, ferryPlugin } from './workbox.js';
