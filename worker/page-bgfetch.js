// ferry-upload, page entry: starting a Background Fetch the worker leased (only a page may start one),
// relaying its progress while the page is open, and telling its answer. Loaded when the worker first hands
// this page one: in an upload's answer (page-upload.js), or offered while it waits (index.js).
import { alarmAt, wake } from './page-link.js';
import { backgroundFetchGranted } from './page-upload.js';

/** The Background Fetches this page started that have not ended. */
const watched = new Set();

/**
 * The worker offers the tag's pages a large upload that waits for a Background Fetch (the session's
 * `backgroundFetch: { minBytes }`): this page, if it can start one, asks for it (one ask at a time;
 * when another page took it first, the answer is null) and starts it.
 */
export async function takeOffer(s, taskId) {
  if (s.closed || s.takingOffer || !(await backgroundFetchGranted(s))) return;
  s.takingOffer = true;
  try {
    const start = await s.ask({ op: 'bgfetchNext', taskId, options: s.options, backgroundFetch: true, origin: location.origin });
    if (start) await startBackgroundFetch(s, start);
  } catch {
    // The worker tells the offer again while the upload waits.
  } finally {
    s.takingOffer = false;
  }
}

/** What a page leaves of the worker's start window for starting a fetch and saying it began. */
const START_MARGIN_MS = 5000;

/** Starts the fetch the worker leased; a refusal releases the lease (the worker sends the task then). */
export async function startBackgroundFetch(s, f) {
  if (typeof f.startBy === 'number' && Date.now() > f.startBy - START_MARGIN_MS) {
    // This page was away (frozen, in the back/forward cache) until the worker's start window ran
    // out: the worker takes the task back then, so starting it now could send it twice.
    await s.ask({ op: 'bgfetchRefused', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
    return;
  }
  // Chromium runs one Background Fetch of an origin at a time. One Ferry does not count (the app's own, a
  // cancelled or timed-out upload's body the browser finishes) would hold this one back past its timeout,
  // and it would then go beside the worker's retry: the worker sends it now instead. (One that ended has
  // left getIds() before its event reaches the worker, so Ferry's own just done never counts here.)
  const listed = await s.worker.registration.backgroundFetch.getIds().catch(() => []);
  if (listed.length) {
    await s.ask({ op: 'bgfetchRefused', taskId: f.taskId, leaseNo: f.leaseNo }).catch(() => {});
    return;
  }
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
  // While this page is open, the fetch's progress becomes the task's progress events. The browser
  // keeps no hold on the registration for the page: held only by this listener, it would be collected,
  // listener and all, and its reports would stop (Chromium: at the next full collection, mid-body).
  watched.add(registration);
  registration.addEventListener('progress', () => {
    if (registration.result && watched.delete(registration)) {
      began.then(() => tellOutcome(s, f, registration));
      return;
    }
    began.then(() => s.ask({ op: 'bgfetchProgress', taskId: f.taskId, leaseNo: f.leaseNo, uploaded: registration.uploaded, size: f.size }))
      .catch(() => {});
  });
  // No worker timer outlives the worker: this page wakes it when the attempt times out.
  if (f.timeoutAt !== undefined) alarmAt(s, f.timeoutAt);
}

/** How much of a response body the worker keeps (its excerpt is 4 KB), read at most. */
const BODY_READ = 8192;

/** Tells the worker how the fetch ended, as its outcome event does: Chromium dispatches that event once,
 * so a worker stopped while it handles it would lose it (and send the body again once the lease ran
 * out). The worker applies whichever of the two comes first; an abort is the abort event's alone. */
async function tellOutcome(s, f, registration) {
  if (registration.failureReason === 'aborted') return;
  let call;
  try {
    const [record] = await registration.matchAll();
    const res = await record.responseReady;
    call = {
      op: 'bgfetchDone', taskId: f.taskId, leaseNo: f.leaseNo, method: record.request.method, url: record.request.url,
      failureReason: registration.failureReason,
      answer: { status: res.status, statusText: res.statusText, headers: [...res.headers], body: await bodyStart(res), redirected: res.redirected, url: res.url },
    };
  } catch {
    return; // the answer is no longer there to read: the event told it
  }
  await s.ask(call).catch(() => {});
  // What waited for this fetch to end goes now.
  wake(s);
}

/** The start of a body as text, reading no more than the worker keeps of it. */
async function bodyStart(res) {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (let n = 0; n < BODY_READ;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    n += value.length;
  }
  reader.cancel().catch(() => {});
  return text + decoder.decode();
}
