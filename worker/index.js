// ferry-upload, page entry. Plain JavaScript that asks the service worker: the engine (validation,
// storage, scheduling, sending) runs there, in WebAssembly, and a page downloads none of it. Importing
// this module does nothing (safe during server-side rendering); `Ferry.register` registers or finds the
// worker and asks it from then on. A Blob passed to `upload` goes to the worker by reference (a
// structured clone of a Blob copies no bytes), and from there into IndexedDB.

/** How long the worker may take to answer a call, or to say it received it (starting it included). */
const RECEIVED_MS = 15000;
/** How long it may then take to answer: far more than any call needs, less than forever if it died. */
const ANSWER_MS = 120000;
/** How long a page's header provider may take (the worker waits 5 s for the page's answer). */
const PROVIDER_WAIT_MS = 4000;
/** Past a due time, so the worker's look finds the task due. */
const MARGIN_MS = 20;
/** setTimeout's longest delay; a later time is re-armed when the timer fires. */
const LONGEST_MS = 2 ** 31 - 1;
const KINDS = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'];

function ferryError(name, message, extra) {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, extra);
}

const invalidOption = (option, reason) => ferryError('FerryInvalidOptions', `invalid option ${option}: ${reason}`);

/** Entry point of the page API: `Ferry.register(tag, options)` resolves with the tag's session. */
export class Ferry {
  constructor() {
    throw new TypeError('Ferry is not constructed: call Ferry.register(tag, options)');
  }

  /** Registers a session for `tag` (same tag later = same session: missed events are replayed). */
  static async register(tag, options) {
    checkTag(tag);
    if (!(options === undefined || options === null || typeof options === 'object')) {
      throw invalidOption('options', "must be an object, e.g. { serviceWorker: '/sw.js' }");
    }
    if (typeof window !== 'object' || typeof navigator !== 'object') {
      throw ferryError('FerryNoWorker', 'Ferry.register runs in a browser page: call it there, not during ' +
        'server-side rendering or in a worker');
    }
    const registration = await serviceWorkerOf(options?.serviceWorker);
    const provider = options?.headerProvider;
    const wire = options == null ? options : copy(options, SESSION_KEYS, 'register', ['serviceWorker']);
    // The function stays in this page (the worker asks it through the page); the worker hears whether there is one.
    if (wire) wire.headerProvider = typeof provider === 'function' ? true : provider == null ? undefined : typeof provider;
    const worker = new Link(registration);
    const answer = await worker.call({ op: 'register', tag, options: wire, pageUrl: pageUrl() });
    const session = new Session(made);
    start(session, { tag, worker, options: answer.options, manualAck: answer.manualAck, provider });
    return session;
  }
}

const TAG_RULE = "use 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

/**
 * The tag, checked before anything else as the worker checks it again (`core::validate_tag`): a bad tag
 * is the caller's first mistake to hear of, before any service worker is registered.
 */
function checkTag(tag) {
  const bad = (what) => ferryError('FerryInvalidTag',
    `invalid tag ${JSON.stringify(typeof tag === 'string' ? tag : String(tag))}: ${what}; ${TAG_RULE}`);
  if (typeof tag !== 'string') throw bad('the tag must be a string');
  if (tag === '') throw bad('it is empty');
  const length = [...tag].length;
  if (length > 64) throw bad(`it is ${length} characters long`);
  const c = [...tag].find((ch) => !/[A-Za-z0-9._-]/.test(ch));
  if (c !== undefined) throw bad(`it contains ${JSON.stringify(c)}`);
  if (!/^[A-Za-z0-9]/.test(tag)) throw bad('it starts with a punctuation character');
}

/** The `serviceWorker` option: a registration, a URL (registered as a module worker) or `{ url, type }`. */
async function serviceWorkerOf(option) {
  if (typeof ServiceWorkerRegistration === 'function' && option instanceof ServiceWorkerRegistration) return option;
  if (typeof option?.then === 'function') {
    throw invalidOption('serviceWorker', 'is a Promise: pass what it resolves to ' +
      '(`serviceWorker: await navigator.serviceWorker.ready`), or the worker\'s URL');
  }
  let url;
  let type = 'module';
  if (typeof option === 'string' || (typeof URL === 'function' && option instanceof URL)) {
    url = String(option);
  } else if (option && typeof option === 'object') {
    if (typeof URL === 'function' && option.url instanceof URL) url = option.url.href;
    else if (typeof option.url === 'string') url = option.url;
    else if (option.url == null) throw invalidOption('serviceWorker.url', 'is required');
    else throw invalidOption('serviceWorker.url', 'must be a string');
    if (option.type != null) {
      if (typeof option.type !== 'string') throw invalidOption('serviceWorker.type', 'must be a string');
      type = option.type;
    }
  } else {
    throw invalidOption('serviceWorker', "pass the worker's URL (e.g. '/sw.js') or a ServiceWorkerRegistration");
  }
  if (type !== 'module' && type !== 'classic') {
    throw invalidOption('serviceWorker.type', "must be 'module' or 'classic'");
  }
  if (url.trim() === '') throw invalidOption('serviceWorker', "is an empty URL; pass the worker's, e.g. '/sw.js'");
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1].toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw invalidOption('serviceWorker', `${JSON.stringify(url)} is a ${scheme}: URL; a service worker is a script ` +
      'of the page\'s own origin, e.g. \'/sw.js\'');
  }
  if (typeof location === 'object' && location.protocol === 'file:') {
    throw invalidOption('serviceWorker', 'a page opened from a file:// URL cannot have a service worker: serve it ' +
      'over http(s), e.g. from http://localhost');
  }
  const container = typeof navigator === 'object' ? navigator.serviceWorker : undefined;
  if (!container) {
    throw invalidOption('serviceWorker', 'service workers are not available here (' + (globalThis.isSecureContext
      ? 'this browser has them turned off, as some private windows do)' : 'a secure context is needed)'));
  }
  try {
    return await container.register(url, { type });
  } catch (e) {
    throw invalidOption('serviceWorker', `registering ${JSON.stringify(url)} failed: ${e?.message ?? e}` +
      await scriptAnswer(url));
  }
}

/**
 * What a worker URL the browser refused answers when fetched (the browser's own reason rarely says): its
 * status, or its type when that is not JavaScript, or what else stops a script that loads. '' if unknown.
 */
async function scriptAnswer(url) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  } catch {
    return '';
  }
  res.body?.cancel().catch(() => {});
  const was = `; ${url} answers ${res.status}`;
  if (!res.ok) return `${was}: is the file served at that URL?`;
  const mime = (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
  if (!/^(text|application)\/(x-)?(javascript|ecmascript)$/.test(mime)) {
    return `${was} with Content-Type ${mime || 'none'}, not JavaScript: is the file served at that URL? (a dev ` +
      'server answers a path it does not know with its index.html)';
  }
  return `${was} as JavaScript, so it failed as it was first run: a module worker (type 'module') can import ` +
    "only URLs the browser resolves (a bare 'ferry-upload/worker' needs a bundler), a classic one (importScripts) " +
    "needs { url, type: 'classic' }, and no top-level statement may throw";
}

/** The page's address without its fragment (what `launch: 'open'` opens; a fragment is page state). */
function pageUrl() {
  return typeof location === 'object' ? location.href.split('#')[0] : undefined;
}

/** The link to the service worker of a registration: calls asked through a reply port, and wake-ups. */
class Link {
  constructor(registration) {
    this.registration = registration;
  }

  /** The active worker (during the first install, once it is active). */
  async active() {
    const reg = this.registration;
    // A version just replaced can still be `active` here until the page hears of its successor.
    for (let waited = 0; reg.active?.state === 'redundant' && waited < RECEIVED_MS; waited += 50) {
      await new Promise((resolve) => { setTimeout(resolve, 50); });
    }
    while (!reg.active) {
      const next = reg.installing || reg.waiting;
      if (!next) {
        throw ferryError('FerryNoWorker', `the service worker of ${reg.scope} did not install: its script failed ` +
          "to load or threw (see the worker's console), or it was unregistered");
      }
      await new Promise((resolve) => {
        const changed = () => {
          if (next.state === 'activated' || next.state === 'redundant' || reg.active) {
            next.removeEventListener('statechange', changed);
            resolve();
          }
        };
        next.addEventListener('statechange', changed);
        changed();
      });
    }
    return reg.active;
  }

  /**
   * Resolves with the worker's answer to `call`, or rejects with the typed error it gave. A worker that
   * becomes redundant before answering (a new version activated as it went idle) was either never given
   * the call (the browser drops messages to a version it is replacing) or had answered already, since
   * activation waits for the old version's events: the call goes to the new active worker.
   */
  async call(call) {
    for (let tries = 1; ; tries++) {
      const worker = await this.active();
      const answer = await this.#ask(worker, tries > 1 ? { ...call, retry: true } : call);
      if (answer === REPLACED && tries < 5) continue;
      if (answer === REPLACED) {
        throw ferryError('FerryNoWorker', `the service worker of ${this.registration.scope} was replaced ` +
          `${tries} times while ${call.op}() waited for it`);
      }
      return answer.value;
    }
  }

  #ask(worker, call) {
    return new Promise((resolve, reject) => {
      const { port1, port2 } = new MessageChannel();
      let stopped;
      const done = () => {
        clearTimeout(silent);
        clearTimeout(stopped);
        worker.removeEventListener('statechange', replaced);
        port1.close();
      };
      const silent = setTimeout(() => {
        done();
        const next = this.registration.waiting || this.registration.installing;
        reject(ferryError('FerryNoWorker', `the service worker ${worker.scriptURL} did not answer within ` +
          `${RECEIVED_MS / 1000} s: does it call installFerry(self) (or ferry.installFerry(self)) at its top?` +
          (next && next.scriptURL !== worker.scriptURL ? ` ${next.scriptURL} waits behind it: a scope runs one ` +
            `service worker, so call installFerry(self) in ${worker.scriptURL}, or register that script's URL` : '')));
      }, RECEIVED_MS);
      const replaced = () => {
        if (worker.state !== 'redundant') return;
        done();
        resolve(REPLACED);
      };
      worker.addEventListener('statechange', replaced);
      port1.onmessage = ({ data }) => {
        if (data.received) {
          clearTimeout(silent);
          stopped = setTimeout(() => {
            done();
            reject(ferryError('FerryNoWorker', `the service worker ${worker.scriptURL} stopped before answering ` +
              `${call.op}() within ${ANSWER_MS / 1000} s`));
          }, ANSWER_MS);
          return;
        }
        done();
        if (data.error) reject(ferryError(data.error.name, data.error.message, data.error.index === undefined ? {} : { index: data.error.index }));
        else resolve({ value: data.value });
      };
      try {
        worker.postMessage({ ferry: 'call', ...call }, [port2]);
      } catch (e) {
        done();
        // A function, a DOM node or the like among the options or the request.
        reject(e?.name === 'DataCloneError'
          ? invalidOption(call.op === 'register' ? 'options' : 'request',
            `holds a value that cannot be stored (${e.message}); pass strings, numbers and plain objects`)
          : e);
        return;
      }
      replaced();
    });
  }

  /** Tells the worker there is work, without waiting (it wakes where nothing else would, e.g. Firefox). */
  tell(message) {
    const w = this.registration.active || this.registration.waiting || this.registration.installing;
    if (w) w.postMessage(message);
  }
}

const made = Symbol('made by Ferry.register');
/** What `#ask` resolves with when the worker asked was replaced before it answered. */
const REPLACED = Symbol('replaced');
let start;

/**
 * A tag's session, an `EventTarget`: its events are dispatched on it (`e.target === session`), their
 * `detail` the FerryEvent. Every method asks the service worker.
 */
class Session extends EventTarget {
  #s;

  static {
    start = (session, state) => { session.#s = begin(session, state); };
  }

  constructor(key) {
    if (key !== made) throw new TypeError('Session is not constructed: call Ferry.register(tag, options)');
    super();
  }

  get tag() { return this.#s.tag; }

  upload(body, request) {
    return this.#call(() => uploads(this.#s, [{ blob: body, request }], false).then((ids) => ids[0]));
  }

  uploadAll(items) {
    return this.#call(() => {
      if (!Array.isArray(items)) throw invalidOption('uploadAll', 'pass an array of { blob, request } items');
      return uploads(this.#s, items.map((i) => ({ blob: i?.blob, request: i?.request })), true);
    });
  }

  list() { return this.#call(() => this.#s.ask({ op: 'list' })); }
  get(id) { return this.#call(() => this.#s.ask({ op: 'get', id: typeof id === 'string' ? id : undefined })); }
  cancel(id) { return this.#call(() => this.#s.ask({ op: 'cancel', id: typeof id === 'string' ? id : String(id) })); }
  clear() {
    return this.#call(async () => {
      const removed = await this.#s.ask({ op: 'clear' });
      // Events this page (and the other pages of the tag) held for a listener not added yet were of
      // the tasks just removed: they are dropped with them.
      forgetHeld(this.#s);
      this.#s.channel.postMessage({ ferry: 'cleared', tag: this.#s.tag });
      return removed;
    });
  }
  pause() { return this.#call(() => this.#s.ask({ op: 'pause', options: this.#s.options, pageUrl: pageUrl() })); }

  resume() {
    return this.#call(async () => {
      await this.#s.ask({ op: 'resume', options: this.#s.options, pageUrl: pageUrl() });
      wake(this.#s);
    });
  }

  ack(seq) {
    return this.#call(() => {
      const s = this.#s;
      if (!s.manualAck) {
        throw invalidOption('ack', "is for a session registered with ack: 'manual'; in this one each event is " +
          'acknowledged once a listener of its kind ran for it');
      }
      // Never past what this page was given: a later event stays for it (and for other pages).
      const upTo = Number.isSafeInteger(seq) && seq > s.delivered ? s.delivered : seq;
      return s.ask({ op: 'ack', seq: typeof upTo === 'number' ? upTo : NaN });
    });
  }

  /** Stops delivering events to this page; uploads go on in the worker. */
  close() {
    const s = this.#s;
    s.closed = true;
    clearTimeout(s.alarm.timer);
    s.alarm.times = [];
    s.channel.onmessage = null;
    s.channel.close();
    if (typeof removeEventListener === 'function') removeEventListener('online', s.onOnline);
  }

  addEventListener(type, listener, options) { listen(this.#s, type, listener, options, true); }
  removeEventListener(type, listener, options) { listen(this.#s, type, listener, options, false); }

  /** Runs a method's work as a promise; on a closed session it rejects with `FerryClosed` at once. */
  #call(work) {
    if (this.#s.closed) {
      return Promise.reject(ferryError('FerryClosed',
        `session ${JSON.stringify(this.#s.tag)} is closed; open a new session before calling it again`));
    }
    try {
      return Promise.resolve(work());
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/** A new session's state; starts listening to the tag's channel and wakes the worker. */
function begin(target, { tag, worker, options, manualAck, provider }) {
  const s = {
    tag, worker, options, manualAck, provider, target,
    ask: (call) => worker.call({ tag, ...call }),
    closed: false,
    delivered: 0,
    pending: [],          // live events held until the replay ran (null once it did)
    replayScheduled: false,
    redeliverScheduled: false,
    heard: false,
    listeners: [],        // { kind, listener, capture, wrapper }
    unheard: [],
    alarm: { times: [], timer: undefined, at: undefined },
    syncPending: false,
    answered: [],         // the worker's header questions answered lately (by any page of the tag)
    backgroundFetch: undefined,
    channel: new BroadcastChannel(`ferry:${tag}`),
  };
  s.channel.onmessage = ({ data }) => onChannel(s, data);
  // A question the worker put to the tag's pages before this one listened is put again.
  if (provider) s.channel.postMessage({ ferry: 'here', tag });
  s.onOnline = () => { if (!s.closed) wake(s); };
  if (typeof addEventListener === 'function') addEventListener('online', s.onOnline);
  wake(s);
  return s;
}

function onChannel(s, data) {
  if (!data || typeof data !== 'object') return;
  switch (data.ferry) {
    case 'ping':
      // The worker asks whether a page of the tag is open (launch events): this one is.
      s.channel.postMessage({ ferry: 'pong', tag: s.tag, requestId: data.requestId });
      return;
    case 'headers?':
      answerHeaders(s, data);
      return;
    case 'headers':
      // Another page (or session) of the tag answered the worker's question.
      if (data.tag === s.tag) heard(s, data.requestId);
      return;
    case 'cleared':
      if (data.tag === s.tag) forgetHeld(s);
      return;
    case 'alarm':
      // The worker ends its event before work of the tag is due: wake it then.
      if (typeof data.at === 'number') alarmAt(s, data.at);
      return;
    case 'events':
      // Several events of the tag in one message, in seq order.
      if (data.tag === s.tag && Array.isArray(data.events)) for (const ev of data.events) onEvent(s, ev);
      return;
    case undefined:
      onEvent(s, data);
      return;
    default:
      return;
  }
}

function onEvent(s, ev) {
  if (ev && typeof ev.kind === 'string' && typeof ev.seq === 'number' && ev.tag === s.tag) live(s, ev);
}

/** Tells the worker there is work and asks for a sync where Background Sync exists. */
function wake(s) {
  s.worker.tell({ ferry: 'wake', tag: s.tag });
  const sync = s.worker.registration.sync;
  if (sync && !s.syncPending) {
    // One registration at a time per session: a burst of uploads shares it.
    s.syncPending = true;
    sync.register('ferry').catch(() => {}).finally(() => { s.syncPending = false; });
  }
}

// ---- upload ----

/** What a structured clone can carry of an upload: the Blob by reference, the request with its URL and
 * header lists as plain values (a `URL`, `Headers` or `Map` is not cloneable). */
async function uploads(s, items, all) {
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
  if (answer.backgroundFetch) await startBackgroundFetch(s, answer.backgroundFetch);
  // The worker sends what is due from an event of its own (and a sync where Background Sync exists,
  // so the work survives this page closing); a paused tag waits for `resume()`.
  if (!answer.paused) wake(s);
  return answer.ids;
}

// The options and request fields the engine reads, copied into plain data a structured clone can carry
// (a `URL`, `Headers`, `Map`, a class instance or a framework's reactive Proxy cannot be posted as they are).
const RETRY_KEYS = ['maxAttempts', 'baseMs', 'capMs', 'maxRetentionMs'];
const SESSION_KEYS = ['concurrency', 'launch', 'retry', 'ack', 'backgroundFetch', 'headerProvider', 'headerFallback',
  'batchWindowMs', 'attemptTimeoutMs'];
const REQUEST_KEYS = ['url', 'method', 'headers', 'protocol', 'field', 'filename', 'fields', 'chunkSize', 'metadata',
  'expiresAt', 'earliestBegin', 'retry', 'discretionary', 'appData', 'credentials'];
const PAIRS = ['headers', 'fields', 'metadata'];

/** The `keys` of `from` that are set, as plain data (what is not an object passes as it is, for the engine to refuse). */
function copy(from, keys, what, alsoKnown = []) {
  unknownKeys(from, [...keys, ...alsoKnown], what);
  const out = {};
  for (const key of keys) {
    const v = from[key];
    if (v === undefined) continue;
    if (key === 'retry') out.retry = v && typeof v === 'object' ? copy(v, RETRY_KEYS, `${what}.retry`) : typeof v === 'function' ? 'function' : cloneable(v);
    else if (key === 'url' && typeof URL === 'function' && v instanceof URL) out.url = v.href;
    else if (PAIRS.includes(key) && v && typeof v === 'object') out[key] = pairs(v);
    else out[key] = cloneable(v);
  }
  return out;
}

const warned = new Set();

/** Says (once per page and name) which keys given are no option of Ferry's: like `fetch`'s, they are
 * ignored, and a misspelt one (`metod`) would otherwise change what is sent without a word. */
function unknownKeys(from, keys, what) {
  for (const key of Object.keys(from)) {
    if (keys.includes(key) || warned.has(`${what}.${key}`)) continue;
    warned.add(`${what}.${key}`);
    console.warn(`ferry: ${what} has no option ${JSON.stringify(key)}; it is ignored (the options: ${keys.join(', ')})`);
  }
}

/** A value as it can be posted; a function or Symbol, which cannot, becomes a stand-in that fails the
 * engine's checks the same way (it is neither a number, a string, a boolean nor a pair). */
function cloneable(v) {
  return typeof v === 'function' || typeof v === 'symbol' ? [typeof v] : v;
}

/** What `fetch` takes as headers, as plain data: anything iterable as its [name, value] entries, else an
 * object's own properties. */
function pairs(v) {
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

/** Whether this page can start a Background Fetch (the API exists and is granted), asked once. */
async function backgroundFetchGranted(s) {
  if (s.backgroundFetch === undefined) {
    s.backgroundFetch = (async () => {
      if (!s.worker.registration.backgroundFetch || !navigator.permissions) return false;
      const status = await navigator.permissions.query({ name: 'background-fetch' }).catch(() => null);
      return status?.state === 'granted';
    })();
  }
  return s.backgroundFetch;
}

/** Starts the fetch the worker leased; a refusal releases the lease (the worker sends the task then). */
async function startBackgroundFetch(s, f) {
  let registration;
  try {
    let body = f.body;
    if (f.form) {
      // FormData keeps a reference to the Blob: still streamed from disk, never copied.
      body = new FormData();
      for (const [k, v] of f.form.fields) body.append(k, v);
      body.append(f.form.field, f.body, f.form.filename);
    }
    // A redirect is the attempt's answer, not followed (as in the worker's own requests).
    const request = new Request(f.url, { method: f.method, headers: f.headers, body, redirect: 'manual', credentials: f.credentials });
    const options = { title: f.title };
    if (f.uploadTotal !== undefined) options.uploadTotal = f.uploadTotal;
    registration = await s.worker.registration.backgroundFetch.fetch(f.taskId, [request], options);
  } catch (e) {
    console.warn(`ferry: Background Fetch not started: ${e?.message ?? e}`);
    // Refused once (Chromium refuses a page's later fetches without the user's leave to download
    // several files): this session's uploads go through the worker from now on.
    s.backgroundFetch = false;
    await s.ask({ op: 'bgfetchRefused', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
    return;
  }
  // The attempt's `started` is told once the browser began it (a refused one is no attempt).
  const began = s.ask({ op: 'bgfetchStarted', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
  // While this page is open, the fetch's progress becomes the task's progress events.
  registration.addEventListener('progress', () => {
    began.then(() => s.ask({ op: 'bgfetchProgress', taskId: f.taskId, leaseNo: f.leaseNo, uploaded: registration.uploaded, size: f.size }))
      .catch(() => {});
  });
  // No worker timer outlives the worker: this page wakes it when the attempt times out.
  if (f.timeoutAt !== undefined) alarmAt(s, f.timeoutAt);
}

// ---- header provider ----

/**
 * The worker is about to send a task of this tag and asks for fresh headers. One page of the tag
 * answers: the one that takes the question's lock (Web Locks) first (without Web Locks, every page
 * answers; the first answer is used).
 */
function answerHeaders(s, question) {
  if (!s.provider) return;
  const locks = typeof navigator === 'object' ? navigator.locks : undefined;
  if (typeof locks?.request !== 'function') {
    askProvider(s, question);
    return;
  }
  // The page that takes the lock first answers and keeps it until the others have stopped waiting for
  // it; a page that gets it after all (the holder closed first) answers unless it heard an answer.
  const options = typeof AbortSignal.timeout === 'function' ? { signal: AbortSignal.timeout(PROVIDER_WAIT_MS) } : {};
  locks.request(`ferry:headers:${s.tag}:${question.requestId}`, options, () => {
    if (s.closed || s.answered.includes(question.requestId)) return undefined;
    const held = new Promise((resolve) => { setTimeout(resolve, PROVIDER_WAIT_MS + 500); });
    return Promise.all([askProvider(s, question), held]);
  }).catch(() => {});
}

/** A question of the worker answered by one of the tag's pages (kept for the last few questions). */
function heard(s, requestId) {
  s.answered.push(requestId);
  if (s.answered.length > 32) s.answered.shift();
}

/** Asks this page's provider and posts its answer; resolves once posted. */
function askProvider(s, question) {
  const reply = (extra) => {
    heard(s, question.requestId);
    s.channel.postMessage({ ferry: 'headers', tag: s.tag, requestId: question.requestId, ...extra });
  };
  let given;
  try {
    given = s.provider(question.task);
  } catch (e) {
    reply({ error: `threw ${message(e)}` });
    return undefined;
  }
  let late;
  const timer = new Promise((_, reject) => { late = setTimeout(() => reject(LATE), PROVIDER_WAIT_MS); });
  return Promise.race([Promise.resolve(given), timer]).then(
    (headers) => {
      clearTimeout(late);
      try {
        reply({ headers: headerList(headers) });
      } catch (e) {
        reply({ error: message(e) });
      }
    },
    (e) => {
      clearTimeout(late);
      reply({ error: e === LATE ? `did not settle within ${PROVIDER_WAIT_MS} ms` : `rejected with ${message(e)}` });
    },
  );
}

const LATE = Symbol('late');

function message(e) {
  return e instanceof Error ? e.message : String(e);
}

/** Headers as the worker can receive them (plain data). */
function headerList(h) {
  return h && typeof h === 'object' ? pairs(h) : h;
}

// ---- alarms: while a page is open, it wakes the worker when work of its tag falls due ----

function alarmAt(s, at) {
  if (s.closed || at <= Date.now()) return;
  if (!s.alarm.times.includes(at)) s.alarm.times.push(at);
  arm(s);
}

function arm(s) {
  const first = Math.min(...s.alarm.times);
  if (!Number.isFinite(first)) {
    clearTimeout(s.alarm.timer);
    s.alarm.at = undefined;
    return;
  }
  if (s.alarm.at === first) return;
  clearTimeout(s.alarm.timer);
  s.alarm.at = first;
  s.alarm.timer = setTimeout(() => {
    if (s.closed) return;
    const now = Date.now();
    const before = s.alarm.times.length;
    s.alarm.times = s.alarm.times.filter((t) => t > now);
    s.alarm.at = undefined;
    arm(s);
    if (s.alarm.times.length < before) wake(s);
  }, Math.min(first - Date.now() + MARGIN_MS, LONGEST_MS));
}

// ---- event delivery: replay of the outbox, then live events, each dispatched once and in seq order ----
// With `ack: 'auto'`, an event is acknowledged only once a listener of its kind ran for it; an event
// nobody listened to stays in the outbox (and is dispatched again to a listener of its kind added
// later). A live event past a gap in `seq` waits until the missing ones are read from the outbox.

function listen(s, type, listener, options, adding) {
  if (typeof type === 'symbol') throw invalidOption('type', "pass an event type as a string, such as 'completed'");
  const kind = String(type);
  if (!adding) {
    const capture = captureOf(options);
    const i = s.listeners.findIndex((l) => l.kind === kind && l.capture === capture && l.listener === listener);
    if (i >= 0) {
      const [gone] = s.listeners.splice(i, 1);
      EventTarget.prototype.removeEventListener.call(s.target, kind, gone.wrapper, options);
    }
    return;
  }
  if (!KINDS.includes(kind) && !warned.has(`type.${kind}`)) {
    // Any type is an EventTarget's to take, but a session dispatches only these: say so once.
    warned.add(`type.${kind}`);
    console.warn(`ferry: a session has no ${JSON.stringify(kind)} event; its events: ${KINDS.join(', ')}`);
  }
  if (!(listener === null || listener === undefined || typeof listener === 'object' || typeof listener === 'function')) {
    throw invalidOption('listener', 'pass a function or an object with a handleEvent method');
  }
  if (listener == null) return;
  const capture = captureOf(options);
  // Adding a listener already added registers its wrapper again, so one the platform dropped (`once`,
  // an aborted `signal`) comes back, and one still there is not doubled.
  let known = s.listeners.find((l) => l.kind === kind && l.capture === capture && l.listener === listener);
  if (!known) {
    const wrapper = (e) => {
      // Like EventTarget: a function is called, else the object's `handleEvent` as it is now.
      const callee = typeof listener === 'function' ? listener : listener.handleEvent;
      if (typeof callee !== 'function') {
        // Nothing ran, so nobody heard it: the event stays for a listener that can.
        console.error('Ferry: a listener object without a handleEvent method did not receive the event');
        return;
      }
      s.heard = true;
      try {
        callee.call(typeof listener === 'function' ? undefined : listener, e);
      } catch (err) {
        // A throwing listener still heard the event; report the error like the platform does.
        console.error(err);
      }
    };
    known = { kind, listener, capture, wrapper };
    s.listeners.push(known);
  }
  EventTarget.prototype.addEventListener.call(s.target, kind, known.wrapper, options);
  if (s.replayScheduled) redeliver(s);
  scheduleReplay(s);
}

function captureOf(options) {
  return typeof options === 'boolean' ? options : options?.capture === true;
}

/** A live event from the channel: held while the replay has not run; past a gap, the outbox is read first. */
function live(s, ev) {
  if (ev.kind === 'retrying' && typeof ev.delayMs === 'number') {
    // The next attempt is due then: this page wakes the worker, in case nothing else does.
    alarmAt(s, Date.now() + ev.delayMs);
  }
  if (s.pending) {
    s.pending.push(ev);
    return;
  }
  if (ev.seq <= s.delivered + 1) {
    deliver(s, [ev]);
    return;
  }
  s.pending = [ev];
  catchUp(s);
}

async function catchUp(s) {
  const missed = await s.ask({ op: 'events', after: s.delivered }).catch(() => []);
  deliver(s, missed);
  const held = s.pending || [];
  s.pending = null;
  deliver(s, held);
}

/** Replays the outbox once the page has had a chance to add its listeners (a macrotask), then goes live. */
function scheduleReplay(s) {
  if (s.replayScheduled) return;
  s.replayScheduled = true;
  setTimeout(() => catchUp(s), 0);
}

/** Dispatches events not yet dispatched, in seq order; acknowledges (auto mode) those a listener heard. */
function deliver(s, events) {
  events.sort((a, b) => a.seq - b.seq);
  const heard = [];
  for (const ev of events) {
    if (ev.seq <= s.delivered || s.closed) continue;
    s.delivered = ev.seq;
    if (dispatch(s, ev)) heard.push(ev.seq);
    else s.unheard.push(ev);
  }
  acknowledge(s, heard);
}

function dispatch(s, ev) {
  if (!KINDS.includes(ev.kind)) return false;
  s.heard = false;
  s.target.dispatchEvent(new CustomEvent(ev.kind, { detail: ev }));
  const heard = s.heard;
  s.heard = false;
  return heard;
}

/** Events nobody heard, dispatched again (in seq order) now that a listener was added: listeners
 * added together hear them in one pass, after the code that added them ran. */
function redeliver(s) {
  if (s.redeliverScheduled) return;
  s.redeliverScheduled = true;
  queueMicrotask(() => {
    s.redeliverScheduled = false;
    const waiting = s.unheard.sort((a, b) => a.seq - b.seq);
    s.unheard = [];
    const heard = [];
    for (const ev of waiting) {
      if (s.closed) break;
      if (dispatch(s, ev)) heard.push(ev.seq);
      else s.unheard.push(ev);
    }
    acknowledge(s, heard);
  });
}

/** Drops the events held for listeners not added yet, and live ones waiting for the replay (after
 * `clear()`: their tasks are gone). A later event past the gap reads the outbox, which holds only
 * what came after. */
function forgetHeld(s) {
  s.unheard = [];
  if (s.pending) s.pending = [];
}

function acknowledge(s, seqs) {
  if (seqs.length === 0 || s.manualAck) return;
  s.ask({ op: 'ackEach', seqs }).catch(() => {});
}
