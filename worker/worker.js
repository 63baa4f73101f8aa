// ferry-upload, module service-worker entry: `import { installFerry } from 'ferry-upload/worker'`.
// Static imports only (a module service worker may not use `import()`); the wasm URL is written as
// `new URL('./…wasm', import.meta.url)` so that bundlers emit the file.
import init, * as wasm from './ferry.js';
import { install } from './install.js';

/** Installs Ferry in a service worker: call it synchronously at the top of the worker script. */
export function installFerry(scope, options = {}) {
  return install(scope, options, init, wasm, new URL('./ferry_bg.wasm', import.meta.url))();
}

// `enqueue(request, options)`: hands a request to Ferry from the worker (e.g. one the app's own fetch
// failed to deliver); resolves with the task id once stored (see install.js).
export { enqueue } from './install.js';
export { FerryPlugin, ferryPlugin } from './workbox.js';
