// A Workbox plugin that hands a failed upload to Ferry: the one line an app using Workbox adds to the
// route of its uploads.
import { enqueue } from './install.js';

const UPLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** `new FerryPlugin({ tag })`: a POST/PUT/PATCH whose fetch failed goes into the Ferry session `tag`. */
export class FerryPlugin {
  constructor(options) {
    if (typeof options?.tag !== 'string') {
      throw Object.assign(new Error("new FerryPlugin({ tag }): pass the session tag, e.g. { tag: 'photos' }"),
        { name: 'FerryInvalidOptions' });
    }
    this.options = { ...options };
    // Workbox calls plugin callbacks detached from the instance: keep `this` bound.
    this.fetchDidFail = this.fetchDidFail.bind(this);
  }

  /** Workbox calls it when the network request failed; the task is stored before it returns. */
  async fetchDidFail({ request }) {
    if (!UPLOAD_METHODS.has(request.method)) return;
    await enqueue(request.clone(), this.options);
  }
}

/** `ferryPlugin({ tag })` is `new FerryPlugin({ tag })`. */
export function ferryPlugin(options) {
  return new FerryPlugin(options);
}
