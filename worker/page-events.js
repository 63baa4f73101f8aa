// ferry-upload, page entry: what a session hears. The worker's events (the outbox replayed, then live ones)
// dispatched to the session's listeners and acknowledged, and the worker's questions for fresh headers
// answered by the page's header provider.
import { alarmAt, invalidOption, warnOnce } from './page-link.js';
import { pairs } from './page-upload.js';

/** How long a page's header provider may take (the worker waits 5 s for the page's answer). */
const PROVIDER_WAIT_MS = 4000;
const KINDS = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'];

// ---- header provider ----

/**
 * The worker is about to send a task of this tag and asks for fresh headers. One page of the tag
 * answers: the one that takes the question's lock (Web Locks) first (without Web Locks, every page
 * answers; the first answer is used).
 */
export function answerHeaders(s, question) {
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
export function heard(s, requestId) {
  s.answered.push(requestId);
  if (s.answered.length > 32) s.answered.shift();
}

/** Asks this page's provider and posts its answer; resolves once posted. */
function askProvider(s, question) {
  const reply = (extra) => {
    // (A page gone into the back/forward cache meanwhile answers nothing: on its return it says it is
    // here, and a question still open is put again.)
    if (s.away) return;
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

// ---- event delivery: replay of the outbox, then live events, each dispatched once and in seq order ----
// With `ack: 'auto'`, an event is acknowledged only once a listener of its kind ran for it; an event
// nobody listened to stays in the outbox (and is dispatched again to a listener of its kind added
// later). A live event past a gap in `seq` waits until the missing ones are read from the outbox.

export function listen(s, type, listener, options, adding) {
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
  if (!KINDS.includes(kind)) {
    // Any type is an EventTarget's to take, but a session dispatches only these: say so once.
    warnOnce(`type.${kind}`, `ferry: a session has no ${JSON.stringify(kind)} event; its events: ${KINDS.join(', ')}`);
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
export function live(s, ev) {
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
  // What the outbox holds and what came live meanwhile, dispatched together in seq order: the outbox
  // lacks what other pages acknowledged, and this page was given those live (held for its replay).
  const read = [];
  let tail;
  do {
    s.again = false;
    tail = s.tail;
    // A read that failed (no worker answered) read nothing: it vouches for no tail.
    read.push(...await s.ask({ op: 'events', after: s.delivered }).catch(() => { tail = 0; return []; }));
  } while (s.again && !s.closed);
  const held = s.pending || [];
  s.pending = null;
  deliver(s, [...read, ...held]);
  // The outbox read after the worker told the tail held every event up to it not acknowledged
  // elsewhere: this page has all it can get up to there (the next tail behind it asks nothing).
  if (tail > s.delivered) s.delivered = tail;
}

/** A worker instance told where the tag's events end: a page behind that missed some (the instance
 * that recorded them was stopped before it posted them) and reads the outbox. */
export function tail(s, seq) {
  if (!Number.isSafeInteger(seq) || seq <= s.delivered) return;
  s.tail = Math.max(s.tail, seq);
  catchUpAgain(s);
}

/** Reads the outbox again (the page missed live events: it was in the back/forward cache). */
export function catchUpAgain(s) {
  if (s.pending === null) {
    s.pending = [];
    catchUp(s);
  } else if (s.replayScheduled) {
    // A read under way may have asked before what was missed: it reads once more.
    s.again = true;
  }
  // (Else the replay has not been scheduled yet: when it is, it reads everything.)
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
export function forgetHeld(s) {
  s.unheard = [];
  if (s.pending) s.pending = [];
}

function acknowledge(s, seqs) {
  if (seqs.length === 0 || s.manualAck) return;
  s.ask({ op: 'ackEach', seqs }).catch(() => {});
}
