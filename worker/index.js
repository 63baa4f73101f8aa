// ferry-upload, page entry. Plain JavaScript that asks the service worker: the engine (validation,
// storage, scheduling, sending) runs there, in WebAssembly, and a page downloads none of it. Importing
// this module does nothing (safe during server-side rendering); `Ferry.register` registers or finds the
// worker and asks it from then on. A Blob passed to `upload` goes to the worker by reference (a
// structured clone of a Blob copies no bytes), and from there into IndexedDB.
//
// The page entry is this module and the three it imports: page-link.js (the worker: registering, asking,
// waking), page-upload.js (uploads and Background Fetch) and page-events.js (events and header questions).
import { ferryError, invalidOption, Link, pageUrl, serviceWorkerOf, wake, alarmAt, asked, disarm } from './page-link.js';
import { backgroundFetchGranted, copy, SESSION_KEYS, uploads } from './page-upload.js';
import { answerHeaders, catchUpAgain, forgetHeld, heard, listen, live, tail } from './page-events.js';

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
    // Read first: a misspelt option (`serviceworker`) is named before the worker is looked for.
    const wire = options == null ? options : copy(options, SESSION_KEYS, 'register', ['serviceWorker']);
    const registration = await serviceWorkerOf(options?.serviceWorker);
    const provider = options?.headerProvider;
    // The function stays in this page (the worker asks it through the page); the worker hears whether there is one.
    if (wire) wire.headerProvider = typeof provider === 'function' ? true : provider === undefined ? undefined : typeof provider;
    const worker = new Link(registration);
    const answer = await worker.call({ op: 'register', tag, options: wire, pageUrl: pageUrl() });
    const session = new Session(made);
    start(session, { tag, worker, options: answer.options, manualAck: answer.manualAck, provider, wakeAt: answer.wakeAt });
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

const made = Symbol('made by Ferry.register');
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
      if (!this.#s.away) this.#s.channel.postMessage({ ferry: 'cleared', tag: this.#s.tag });
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
    disarm(s);
    s.channel.onmessage = null;
    s.channel.close();
    if (typeof removeEventListener === 'function') {
      removeEventListener('online', s.onOnline);
      removeEventListener('pagehide', s.onPageHide);
      removeEventListener('pageshow', s.onPageShow);
    }
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
function begin(target, { tag, worker, options, manualAck, provider, wakeAt }) {
  const s = {
    tag, worker, options, manualAck, provider, target,
    ask: (call) => worker.call({ tag, ...call }),
    closed: false,
    delivered: 0,
    tail: 0,              // the last seq a worker instance told of (the outbox is read up to it)
    pending: [],          // live events held until the replay ran (null once it did)
    replayScheduled: false,
    redeliverScheduled: false,
    heard: false,
    listeners: [],        // { kind, listener, capture, wrapper }
    unheard: [],
    alarm: { times: [], timer: undefined, at: undefined, again: undefined, unasked: 0 },
    syncPending: false,
    answered: [],         // the worker's header questions answered lately (by any page of the tag)
    backgroundFetch: undefined,   // whether this page can start a Background Fetch (a promise while asked)
    takingOffer: false,
    channel: undefined,
  };
  openChannel(s);
  s.onOnline = () => { if (!s.closed) wake(s); };
  // A page kept in the back/forward cache hears nothing: its channel is closed while it is away (a
  // message to a cached page would evict it), and on its return it reads what it missed from the
  // outbox, as a page that registers the tag does.
  s.onPageHide = (e) => {
    if (!e.persisted || s.closed) return;
    s.away = true;
    s.channel.onmessage = null;
    s.channel.close();
  };
  s.onPageShow = (e) => {
    if (!e.persisted || s.closed || !s.away) return;
    s.away = false;
    openChannel(s);
    catchUpAgain(s);
    wake(s);
  };
  if (typeof addEventListener === 'function') {
    addEventListener('online', s.onOnline);
    addEventListener('pagehide', s.onPageHide);
    addEventListener('pageshow', s.onPageShow);
  }
  // Attempts of the tag run: this page wakes the worker when asked, as the pages that heard the ask do.
  if (typeof wakeAt === 'number') alarmAt(s, wakeAt);
  // (With `minBytes`, wakes say whether this page can start a Background Fetch.)
  if (options?.backgroundFetchMinBytes > 0) backgroundFetchGranted(s).then(() => wake(s));
  else wake(s);
  return s;
}

/** The tag's channel: the worker's events and questions, and the other pages of the tag. */
function openChannel(s) {
  s.channel = new BroadcastChannel(`ferry:${s.tag}`);
  s.channel.onmessage = ({ data }) => onChannel(s, data);
  // A question the worker put to the tag's pages before this one listened is put again.
  if (s.provider) s.channel.postMessage({ ferry: 'here', tag: s.tag });
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
      if (typeof data.at === 'number') {
        asked(s);
        alarmAt(s, data.at);
      }
      return;
    case 'bgfetch-offer':
      // A large upload waits for a page's Background Fetch.
      if (data.tag === s.tag) import('./page-bgfetch.js').then((m) => m.takeOffer(s, data.id)).catch(() => {});
      return;
    case 'tail':
      if (data.tag === s.tag) tail(s, data.seq);
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
