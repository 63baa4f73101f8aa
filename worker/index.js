// ferry-upload, page entry. Importing it fetches and compiles nothing (no top-level await): it is safe to
// import during server-side rendering, and a wasm that cannot load never breaks the app's module graph.
// The wasm loads on the first `Ferry.register`; a failed load rejects that call with `FerryWasmLoad`,
// and the next call tries again.
import init, { Ferry as WasmFerry } from './ferry.js';

let loading = null;

// The worker keeps this build's wasm in Cache Storage under this name (install.js): a page of a returning
// visitor, or one opened offline, takes it from there instead of the network. Another build's copy is never
// used (its name differs), and a cache that cannot be read is simply passed over.
const CACHE = 'ferry-wasm-__FERRY_BUILD__';

async function cached(url) {
  if (typeof caches === 'undefined') return url;
  const hit = await caches.match(url.href, { cacheName: CACHE }).catch(() => undefined);
  return hit ?? url;
}

function load() {
  if (!loading) {
    // Written as `new URL('./…wasm', import.meta.url)` so that Vite, webpack and Rollup emit the file.
    const url = new URL('./ferry_bg.wasm', import.meta.url);
    loading = cached(url).then((source) => init({ module_or_path: source })).then(
      () => undefined,
      (cause) => {
        loading = null;
        throw wasmLoadError(url, cause);
      },
    );
  }
  return loading;
}

function wasmLoadError(url, cause) {
  const browser = typeof window !== 'undefined' && typeof navigator !== 'undefined';
  const why = cause instanceof Error ? cause.message : String(cause);
  const e = new Error(
    browser
      ? `Ferry could not load its WebAssembly from ${url} (${why}). Check that this URL serves ferry_bg.wasm ` +
          "with Content-Type application/wasm (a bundler that does not emit it, like esbuild, needs it copied " +
          "next to the bundle), and that the page's Content-Security-Policy allows 'wasm-unsafe-eval' in script-src."
      : `Ferry runs in browsers only: call Ferry.register in the page, not during server-side rendering (${why}).`,
    { cause },
  );
  e.name = 'FerryWasmLoad';
  return e;
}

/** Entry point of the page API: `Ferry.register(tag, options)` resolves with the tag's session. */
export class Ferry {
  constructor() {
    throw new TypeError('Ferry is not constructed: call Ferry.register(tag, options)');
  }

  /** Registers a session for `tag` (same tag later = same session: missed events are replayed). */
  static async register(tag, options) {
    await load();
    const session = new Session(made);
    attach(session, await WasmFerry.register(tag, options, session));
    return session;
  }
}

const made = Symbol('made by Ferry.register');
let attach;

/**
 * A tag's session, an `EventTarget`: its events are dispatched on it (`e.target === session`), their
 * `detail` the FerryEvent. Every method is the engine's.
 */
class Session extends EventTarget {
  #engine;

  static {
    attach = (session, engine) => { session.#engine = engine; };
  }

  constructor(key) {
    if (key !== made) throw new TypeError('Session is not constructed: call Ferry.register(tag, options)');
    super();
  }

  get tag() { return this.#engine.tag; }
  upload(body, request) { return this.#engine.upload(reframe(body), request); }
  uploadAll(items) {
    return this.#engine.uploadAll(Array.isArray(items)
      ? items.map((i) => (i && typeof i === 'object' ? { ...i, blob: reframe(i.blob) } : i))
      : items);
  }
  list() { return this.#engine.list(); }
  get(id) { return this.#engine.get(id); }
  cancel(id) { return this.#engine.cancel(id); }
  clear() { return this.#engine.clear(); }
  pause() { return this.#engine.pause(); }
  resume() { return this.#engine.resume(); }
  ack(seq) { return this.#engine.ack(seq); }
  close() { this.#engine.close(); }
  addEventListener(type, listener, options) { this.#engine.addEventListener(type, listener, options); }
  removeEventListener(type, listener, options) { this.#engine.removeEventListener(type, listener, options); }
}

// Chromium's Background Fetch sends an EMPTY body for the File object the browser makes for a picked file
// (Chromium 156: 0 bytes sent, and the fetch reports success), while a File composed over it sends every
// byte. Composing copies nothing (the new File refers to the same bytes) and keeps name, type and date.
function reframe(body) {
  return typeof File === 'function' && body instanceof File
    ? new File([body], body.name, { type: body.type, lastModified: body.lastModified })
    : body;
}
