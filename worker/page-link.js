// ferry-upload, page entry: the link to the service worker. Registers or finds the worker, asks it (a
// message with a reply port per call) and wakes it, now or when work of a tag falls due while a page is
// open. The typed errors of the page entry are made here.

/** How long the worker may take to answer a call, or to say it received it (starting it included). */
const RECEIVED_MS = 15000;
/** How long it may then take to answer: far more than any call needs, less than forever if it died. */
const ANSWER_MS = 120000;
/**
 * How often an unanswered call is posted again. A worker the browser stops as the call reaches it drops
 * it unanswered (the next message starts a new instance); the instance that has it answers each copy once
 * it is done (the worker joins copies of one call: `callId`), and a new one answers it again (calls are
 * idempotent; `retry: true`).
 */
const CALL_AGAIN_MS = 3000;
/** Past a due time, so the worker's look finds the task due. */
const MARGIN_MS = 20;
/** setTimeout's longest delay; a later time is re-armed when the timer fires. */
const LONGEST_MS = 2 ** 31 - 1;

export function ferryError(name, message, extra) {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, extra);
}

export const invalidOption = (option, reason) => ferryError('FerryInvalidOptions', `invalid option ${option}: ${reason}`);

const warned = new Set();

/** Says `text` once per page for `key` (a console warning). */
export function warnOnce(key, text) {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(text);
}

/** Says (once per page and name) which keys given are no option of Ferry's: like `fetch`'s, they are
 * ignored, and a misspelt one (`metod`) would otherwise change what is sent without a word. */
export function unknownKeys(from, keys, what) {
  for (const key of Object.keys(from)) {
    if (!keys.includes(key)) {
      warnOnce(`${what}.${key}`, `ferry: ${what} has no option ${JSON.stringify(key)}; it is ignored (the options: ${keys.join(', ')})`);
    }
  }
}

/** The `serviceWorker` option: a registration, a URL (registered as a module worker) or `{ url, type, ... }`
 * (the rest of `register`'s options, which it checks). */
export async function serviceWorkerOf(option) {
  if (typeof ServiceWorkerRegistration === 'function' && option instanceof ServiceWorkerRegistration) return option;
  if (typeof option?.then === 'function') {
    throw invalidOption('serviceWorker', 'is a Promise: pass what it resolves to ' +
      '(`serviceWorker: await navigator.serviceWorker.ready`), or the worker\'s URL');
  }
  let url;
  let type = 'module';
  const more = {};
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
    unknownKeys(option, ['url', 'type', 'scope', 'updateViaCache'], 'serviceWorker');
    for (const key of ['scope', 'updateViaCache']) if (option[key] != null) more[key] = String(option[key]);
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
    return await container.register(url, { type, ...more });
  } catch (e) {
    throw invalidOption('serviceWorker', `registering ${JSON.stringify(url)} failed: ${e?.message ?? e}` +
      // Only a refused registration loads what explains it.
      await import('./page-diagnose.js').then((m) => m.scriptAnswer(url, type), () => ''));
  }
}

/** The page's address without its fragment (what `launch: 'open'` opens; a fragment is page state). */
export function pageUrl() {
  return typeof location === 'object' ? location.href.split('#')[0] : undefined;
}

/** What `#ask` resolves with when the worker asked was replaced before it answered. */
const REPLACED = Symbol('replaced');

/** The link to the service worker of a registration: calls asked through a reply port, and wake-ups. */
export class Link {
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
    call = { ...call, callId: crypto.randomUUID() };
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
      const ports = [];
      // Set once the call is posted; `done` may run before (a call that cannot be posted).
      let stopped, again;
      const done = () => {
        clearTimeout(silent);
        clearTimeout(stopped);
        clearInterval(again);
        worker.removeEventListener('statechange', replaced);
        for (const port of ports) port.close();
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
      const heard = ({ data }) => {
        if (data.received) {
          clearTimeout(silent);
          stopped ??= setTimeout(() => {
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
      const post = (message) => {
        const { port1, port2 } = new MessageChannel();
        port1.onmessage = heard;
        ports.push(port1);
        worker.postMessage(message, [port2]);
      };
      try {
        post({ ferry: 'call', ...call });
      } catch (e) {
        done();
        // A function, a DOM node or the like among the options or the request.
        reject(e?.name === 'DataCloneError'
          ? invalidOption(call.op === 'register' ? 'options' : 'request',
            `holds a value that cannot be stored (${e.message}); pass strings, numbers and plain objects`)
          : e);
        return;
      }
      again = setInterval(() => {
        try {
          post({ ferry: 'call', ...call, retry: true });
        } catch {
          // Posted once already: the same data clones again, and a redundant worker is `replaced`.
        }
      }, CALL_AGAIN_MS);
      replaced();
    });
  }

  /** Tells the worker there is work, without waiting (it wakes where nothing else would, e.g. Firefox). */
  tell(message) {
    const w = this.registration.active || this.registration.waiting || this.registration.installing;
    if (w) w.postMessage(message);
  }
}

/** Tells the worker there is work and asks for a sync where Background Sync exists. */
export function wake(s) {
  s.worker.tell({ ferry: 'wake', tag: s.tag, backgroundFetch: s.backgroundFetch === true });
  const sync = s.worker.registration.sync;
  if (sync && !s.syncPending) {
    // One registration at a time per session: a burst of uploads shares it.
    s.syncPending = true;
    sync.register('ferry').catch(() => {}).finally(() => { s.syncPending = false; });
  }
}

// ---- alarms: while a page is open, it wakes the worker when work of its tag falls due ----

/**
 * After a wake for an alarm, how long the worker has to ask for its next wake before the page wakes it
 * again: a worker the browser stopped as it started (before it could ask) has no timer and no other
 * waker. Not a multiple of the worker's keep-alive period (5 s), so a browser that stops workers at a
 * steady pace does not meet every one of these wakes as it starts.
 */
const AGAIN_MS = 3000;
/** How many more wakes an alarm brings at most while no ask comes (a worker done with its work asks none). */
const AGAIN_TIMES = 5;

export function alarmAt(s, at) {
  if (s.closed || at <= Date.now()) return;
  if (!s.alarm.times.includes(at)) s.alarm.times.push(at);
  arm(s);
}

/** The worker asked the tag's pages for a wake: it lives, and will ask again for the next. */
export function asked(s) {
  clearTimeout(s.alarm.again);
  s.alarm.unasked = 0;
}

/** The page stops waking the worker (it closes). */
export function disarm(s) {
  clearTimeout(s.alarm.timer);
  clearTimeout(s.alarm.again);
  s.alarm.times = [];
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
    if (s.alarm.times.length < before) {
      s.alarm.unasked = 0;
      wakeUntilAsked(s);
    }
  }, Math.min(first - Date.now() + MARGIN_MS, LONGEST_MS));
}

/** Wakes the worker, and again `AGAIN_MS` later unless it asks for a wake first (at most `AGAIN_TIMES`). */
function wakeUntilAsked(s) {
  wake(s);
  clearTimeout(s.alarm.again);
  if (s.alarm.unasked >= AGAIN_TIMES) return;
  s.alarm.unasked += 1;
  s.alarm.again = setTimeout(() => {
    if (!s.closed) wakeUntilAsked(s);
  }, AGAIN_MS);
}
