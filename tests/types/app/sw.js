// The worker entry as a module service worker loads it; what it exports is read by types.test.mjs.
import * as entry from '/ferry/worker.js';

entry.installFerry(self, {});
// For types.test.mjs, which calls the entry's functions in this worker.
self.ferryEntry = entry;

/** Every property name of `obj` and its prototypes (methods live on the prototype). */
function members(obj) {
  const names = new Set();
  for (let o = obj; o && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    for (const k of Object.getOwnPropertyNames(o)) names.add(k);
  }
  return [...names];
}

// A missing export must show up as tsc's error naming it, not as a worker that fails to start.
const make = (f) => (typeof f === 'function' ? members(f()) : []);
self.ferryRuntime = {
  worker: Object.keys(entry),
  FerryPlugin: make(() => new entry.FerryPlugin({ tag: 'types' })),
  ferryPlugin: make(entry.ferryPlugin && (() => entry.ferryPlugin({ tag: 'types' }))),
};
