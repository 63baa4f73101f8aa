// ferry-upload, classic service-worker build (for `importScripts`):
//   importScripts('/ferry/ferry-sw.js');
//   ferry.installFerry(self, {});
// Assembled by `cargo xtask build` from wasm-bindgen's no-modules glue, install.js and workbox.js; it
// defines one global, `ferry` (`installFerry`, `enqueue`, `FerryPlugin`, `ferryPlugin`, as the module
// entry exports them). The wasm is looked up next to this script (ferry_bg.wasm), or at `options.wasmUrl`.
(function () {
  'use strict';
  /* __FERRY_GLUE__ */
  /* __FERRY_INSTALL__ */
  /* __FERRY_WORKBOX__ */

  // importScripts gives a script no `currentScript`: its own URL is the top frame of a stack trace taken
  // while it is being evaluated (Chromium, Firefox and Safari all print it).
  function ownUrl() {
    // A frame ends with `<url>:<line>:<column>`, optionally inside parentheses (Chromium). Firefox, once
    // restarted (and for a new version of the worker), names the script by its path alone (`@/ferry/ferry-sw.js:16:20`).
    const m = /((?:https?|file):\/\/[^\s()'"]+?|@\/[^\s()'"]*?):\d+:\d+\)?$/m.exec(String(new Error().stack));
    if (!m) return null;
    return m[1].startsWith('@') ? new URL(m[1].slice(1), self.location.origin).href : m[1];
  }
  const here = ownUrl();

  /** Installs Ferry in a service worker: call it synchronously at the top of the worker script. */
  function installFerry(scope, options = {}) {
    // Options that are not an object go to the engine as they are, which refuses them.
    const object = typeof options === 'object' && options !== null;
    const { wasmUrl, ...rest } = object ? options : {};
    const url = new URL(wasmUrl || 'ferry_bg.wasm', here || scope.location.href);
    return install(scope, object ? rest : options, wasm_bindgen, wasm_bindgen, url)();
  }

  self.ferry = Object.freeze({ installFerry, enqueue, FerryPlugin, ferryPlugin });
})();
