// Scenarios shared by the Chromium, Firefox and WebKit suites: two tabs of a tag and a page of another tag, a
// 503 retried through the fallback, pause during a drain, a server that never answers, a new worker version
// mid-upload or before it answered a call, work due later. Each takes the browser's page helpers, so every
// browser walks the same steps.
import assert from 'node:assert/strict';
import { until, settled, dbCounts } from './harness.mjs';

/** Registers a second session (`window.sessions[tag]`) in the page, recording its events. */
export async function addSession(page, tag, options) {
  await page.evaluate(async ({ tag, options }) => {
    const { Ferry } = await import(new URL('/ferry/index.js', location.href).href);
    window.sessions ??= {};
    window.sessionEvents ??= {};
    const s = await Ferry.register(tag, { serviceWorker: '/sw.js', ...options });
    window.sessions[tag] = s;
    window.sessionEvents[tag] = [];
    for (const kind of ['started', 'retrying', 'completed', 'failed']) {
      s.addEventListener(kind, (e) => window.sessionEvents[tag].push(e.detail));
    }
  }, { tag, options });
}

/** Uploads `size` zero bytes through session `tag` of the page and resolves when it `completed`. */
export async function uploadAndComplete(page, tag, url, size = 1000, timeout = 60000) {
  return page.evaluate(async ({ tag, url, size, timeout }) => {
    const s = window.sessions[tag];
    const id = await s.upload(new Blob([new Uint8Array(size)]), { url });
    return new Promise((resolve, reject) => {
      const seen = window.sessionEvents[tag].find((e) => e.taskId === id && e.kind === 'completed');
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`no completed for ${id} within ${timeout} ms`)), timeout);
      s.addEventListener('completed', (e) => {
        if (e.detail.taskId === id) { clearTimeout(timer); resolve(e.detail); }
      });
    });
  }, { tag, url, size, timeout });
}

/**
 * Two tabs with a session of one tag and a page of another tag: both tabs hear the upload live (`queued`,
 * `started`, `progress` rising to the total just before `completed`); the other tag's page hears only its own.
 */
export async function tabsAndTags({ server, tab1, tab2, other, uploadRandom, eventOf, eventsOf }) {
  await server.reset();
  const size = 64 * 1024;
  const { id } = await uploadRandom(tab1, size, { url: '/upload/tabs' });
  for (const tab of [tab1, tab2]) {
    await eventOf(tab, id, 'completed');
    const events = await eventsOf(tab, id);
    const kinds = events.map((e) => e.kind);
    assert.deepEqual(kinds.filter((k) => k !== 'progress'), ['queued', 'started', 'completed']);
    assert.deepEqual(kinds.slice(-2), ['progress', 'completed'], JSON.stringify(kinds));
    const sent = events.filter((e) => e.kind === 'progress').map((e) => [e.bytesSent, e.bytesTotal]);
    assert.deepEqual(sent.at(-1), [size, size]);
    assert.deepEqual(sent, [...sent].sort((a, b) => a[0] - b[0]), 'monotonic');
  }
  const mine = await uploadRandom(other, 1000, { url: '/upload/other-tag' });
  await eventOf(other, mine.id, 'completed');
  const seen = await other.evaluate(() => window.ferryEvents.map((e) => e.tag));
  const tag = await other.evaluate(() => window.ferrySession.tag);
  assert.ok(seen.length >= 3 && seen.every((t) => t === tag), JSON.stringify(seen));
  assert.equal((await server.uploads()).length, 2);
}

/**
 * A 503, then success, through the fallback (no Background Sync or Fetch): retried inside the worker under one
 * Idempotency-Key and applied once; the page hears `queued`, `started`, `retrying` (attempt 1, the status
 * said), `started`, `completed`, in seq order; the task is done, carried by the fallback.
 */
export async function retriedThroughFallback({ server, page, uploadRandom, eventOf, eventsOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-503`;
  await server.fault({ count: 1, status: 503, path: url });
  const { id, sha256 } = await uploadRandom(page, 256 * 1024, { url });
  const completed = await eventOf(page, id, 'completed', { timeout: 60000 });
  assert.equal(completed.response.status, 201);

  const records = await settled(server, 2, { timeout: 60000 });
  assert.deepEqual(records.map((r) => r.status), [503, 201]);
  const applied = records.filter((r) => r.applied);
  assert.equal(applied.length, 1);
  assert.equal(applied[0].sha256, sha256);
  assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, 'one Idempotency-Key across attempts');
  assert.deepEqual(Object.values(await server.keys()), [{ arrived: 2, applied: 1 }]);

  const events = await eventsOf(page, id);
  // (`progress` comes as the body goes out, as often as the throttle lets it.)
  assert.deepEqual(events.map((e) => e.kind).filter((k) => k !== 'progress'), ['queued', 'started', 'retrying', 'started', 'completed']);
  const retrying = events.find((e) => e.kind === 'retrying');
  assert.equal(retrying.attempt, 1);
  assert.match(retrying.reason, /503/);
  const seqs = events.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'events arrive in seq order');
  const task = await page.evaluate((id) => window.ferrySession.get(id), id);
  assert.ok(task, 'session.get(id) returns the finished task');
  assert.equal(task.state, 'done');
  assert.equal(task.transport, 'fallback');
}

/**
 * pause() during a drain: with concurrency 1 and four uploads queued behind a slow one, pause() resolves
 * while the first is on the wire; that one finishes, and nothing else of the tag starts, even after the
 * worker demonstrably looked again (another tag's upload completed after it). resume() sends the rest.
 */
export async function pauseDuringDrain({ server, page, uploadRandom, eventOf, eventsOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-pause`;
  await server.fault({ count: 1, slowBytesPerSec: 256 * 1024, path: url });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await uploadRandom(page, 200 * 1024, { url })).id);
  await eventOf(page, ids[0], 'started');
  await page.evaluate(() => window.ferrySession.pause());
  const first = await eventOf(page, ids[0], 'completed');
  assert.equal(first.response.status, 201);
  // Barrier: another tag's upload, sent by the same worker after the first one ended.
  await addSession(page, `${prefix}-other`, { backgroundFetch: false });
  await uploadAndComplete(page, `${prefix}-other`, `/upload/${prefix}-other`);
  for (const id of ids.slice(1)) {
    assert.deepEqual((await eventsOf(page, id)).map((e) => e.kind), ['queued'], `${id} must not start while paused`);
  }
  const paused = (await server.uploads()).filter((r) => r.path === url);
  assert.equal(paused.length, 1, 'the server saw only the upload that was running when pause() resolved');
  await page.evaluate(() => window.ferrySession.resume());
  for (const id of ids.slice(1)) await eventOf(page, id, 'completed');
  const all = await settled(server, 4, { filter: (r) => r.path === url });
  assert.equal(all.filter((r) => r.applied).length, 4);
}

/**
 * A server that never answers: the hung attempt holds back neither another tag nor, once its timeout
 * ends it (a retryable `timeout`), its own task, which then goes through.
 */
export async function hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-hang`;
  await server.fault({ count: 1, hang: true, path: url });
  const { id } = await uploadRandom(page, 64 * 1024, { url });
  // The server has the whole body and holds its answer.
  await until(async () => (await server.uploads()).find((r) => r.path === url && r.complete), { what: 'hung upload read' });
  await addSession(page, `${prefix}-fresh`, { backgroundFetch: false });
  const fresh = await uploadAndComplete(page, `${prefix}-fresh`, `/upload/${prefix}-fresh`);
  assert.equal(fresh.response.status, 201);
  const [hung] = (await server.uploads()).filter((r) => r.path === url);
  assert.equal(hung.status, null, 'another tag completed while the first server still held its answer');
  assert.deepEqual((await eventsOf(page, id)).map((e) => e.kind).filter((k) => k !== 'progress'), ['queued', 'started']);
  const retrying = await eventOf(page, id, 'retrying');
  assert.equal(retrying.reason, 'timeout');
  assert.equal(retrying.attempt, 1);
  const done = await eventOf(page, id, 'completed');
  assert.equal(done.attempt, 2);
  const records = (await server.uploads()).filter((r) => r.path === url);
  assert.equal(records.filter((r) => r.applied).length, 1);
}

/**
 * The app ships a new version while an upload is on the wire: another script URL for the same scope
 * installs beside the running worker. The running upload stays the old instance's (no instance takes it
 * back): one arrival, `completed` on attempt 1, even once a later upload shows the worker looked again.
 */
export async function newVersionMidUpload({ server, page, uploadRandom, eventOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-update`;
  await server.fault({ count: 1, slowBytesPerSec: 256 * 1024, path: url });
  const { id, sha256 } = await uploadRandom(page, 1024 * 1024, { url });
  await eventOf(page, id, 'started');
  await until(async () => (await server.uploads()).find((r) => r.path === url && r.bytes > 0), { what: 'the body arriving' });
  const state = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.register('/sw.js?v=2', { type: 'module' });
    const fresh = reg.installing || reg.waiting;
    if (fresh && fresh.state === 'installing') {
      await new Promise((r) => fresh.addEventListener('statechange', () => fresh.state !== 'installing' && r()));
    }
    return fresh ? fresh.state : 'none';
  });
  assert.ok(['installed', 'activating', 'activated'].includes(state), `new version ${state}`);
  const done = await eventOf(page, id, 'completed', { timeout: 60000 });
  assert.equal(done.response.status, 201);
  assert.equal(done.attempt, 1, 'the first attempt finished: no instance took it back');
  const task = await page.evaluate((id) => window.ferrySession.get(id), id);
  // Barrier: another tag's upload, sent after the first ended; a second sending of it would be seen by then.
  await addSession(page, `${prefix}-update-barrier`, { backgroundFetch: false });
  await uploadAndComplete(page, `${prefix}-update-barrier`, `/upload/${prefix}-update-barrier`);
  const arrivals = (await server.uploads()).filter((r) => r.idempotencyKey === task.idempotencyKey);
  assert.equal(arrivals.length, 1, `one arrival: ${JSON.stringify(arrivals.map((r) => r.outcome))}`);
  assert.equal(arrivals[0].sha256, sha256);
  assert.ok(arrivals[0].applied);
}

/**
 * A new version that calls `skipWaiting()` replaces the worker after it stored an upload and before its
 * answer reached the page (the browser loses messages of a version it replaces: here the reply port is
 * swapped for one nobody reads). The page sends the call again to the new worker, which answers with the
 * task already stored (the page chose its id): one task, one `queued`, one upload at the server.
 */
export async function replacedBeforeAnswering({ server, page, eventOf, eventsOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-resent`;
  // The answer to the first upload call is lost, as the browser loses messages of a version it replaces:
  // its reply port is swapped for one nobody reads. Every call the page posts is recorded.
  const firstIds = await page.evaluate((url) => new Promise((posted) => {
    const post = ServiceWorker.prototype.postMessage;
    window.uploadCalls = [];
    ServiceWorker.prototype.postMessage = function (message, transfer) {
      if (message?.ferry !== 'call' || message.op !== 'upload') return post.call(this, message, transfer);
      window.uploadCalls.push({ retry: message.retry === true, ids: message.items.map((i) => i.id) });
      if (window.uploadCalls.length > 1) return post.call(this, message, transfer);
      post.call(this, message, [new MessageChannel().port2]);
      posted(window.uploadCalls[0].ids);
    };
    window.pending = window.ferrySession.upload(new Blob(['x'.repeat(2048)]), { url });
  }), url);
  assert.equal(firstIds.length, 1);
  assert.match(String(firstIds[0]), /^[0-9a-f-]{36}$/, 'the page chooses the task id');
  // The worker stored it (its `queued` event reached the page), but the page never heard the answer.
  await eventOf(page, firstIds[0], 'queued');
  // The app ships a new version that calls skipWaiting(): the worker that stored the upload is replaced.
  const id = await page.evaluate(async (script) => {
    await navigator.serviceWorker.register(script, { type: 'module' });
    return window.pending;
  }, `/sw.js?v=${prefix}-resent`);
  assert.equal(id, firstIds[0], 'upload() resolves with the task the replaced worker stored');
  const calls = await page.evaluate(() => window.uploadCalls);
  assert.deepEqual(calls, [{ retry: false, ids: firstIds }, { retry: true, ids: firstIds }]);
  const tasks = await page.evaluate(() => window.ferrySession.list());
  assert.deepEqual(tasks.map((t) => t.id), [id], 'one task stored, not two');
  const done = await eventOf(page, id, 'completed', { timeout: 20000 });
  assert.equal(done.response.status, 201);
  const queued = await eventsOf(page, id);
  assert.equal(queued.filter((e) => e.kind === 'queued').length, 1, 'one queued event');
  const all = (await server.uploads()).filter((r) => r.path === url);
  assert.deepEqual([...new Set(all.map((r) => r.idempotencyKey))], [tasks[0].idempotencyKey],
    `one upload at the server: ${JSON.stringify(all.map((r) => r.outcome))}`);
}

/**
 * Work due later, a page open and nothing else waking the worker: an upload with `earliestBegin` is sent
 * when due (not before), and a task of a paused tag expires at its `expiresAt` (event, state, Blob gone,
 * nothing sent) without `resume()`. `open(tag)` opens a page with a session of `tag` (no Background Fetch).
 */
export async function workDueLater({ server, open, uploadRandom, eventOf, prefix }) {
  await server.reset();
  const page = await open(`${prefix}-later`);
  const earliestBegin = Date.now() + 2000;
  const { id } = await uploadRandom(page, 1024, { url: `/upload/${prefix}-later`, earliestBegin });
  const completed = await eventOf(page, id, 'completed', { timeout: 20000 });
  assert.equal(completed.response.status, 201);
  const [record] = await settled(server, 1);
  assert.ok(record.receivedAt >= earliestBegin, `sent ${earliestBegin - record.receivedAt} ms before earliestBegin`);

  const held = await open(`${prefix}-paused`);
  await held.evaluate(() => window.ferrySession.pause());
  const expiresAt = Date.now() + 1500;
  const late = await uploadRandom(held, 1024, { url: `/upload/${prefix}-paused`, expiresAt });
  assert.equal((await dbCounts(held)).blobs, 1);
  const expired = await eventOf(held, late.id, 'expired', { timeout: 20000 });
  assert.equal(expired.taskId, late.id);
  assert.ok(Date.now() >= expiresAt);
  const task = await held.evaluate((id) => window.ferrySession.get(id), late.id);
  assert.equal(task.state, 'expired', 'get() says expired while the tag is still paused');
  assert.equal((await dbCounts(held)).blobs, 0, 'its Blob is deleted');
  assert.equal((await server.uploads()).filter((r) => r.path === `/upload/${prefix}-paused`).length, 0, 'nothing sent');

  // The same at the end of a short retention (`retry.maxRetentionMs`), with no expiresAt.
  const createdBy = Date.now();
  const kept = await uploadRandom(held, 1024, { url: `/upload/${prefix}-paused`, retry: { maxRetentionMs: 1500 } });
  const ended = await eventOf(held, kept.id, 'expired', { timeout: 20000 });
  assert.equal(ended.taskId, kept.id);
  assert.ok(Date.now() >= createdBy + 1500, 'not before its retention ended');
  assert.equal((await held.evaluate((id) => window.ferrySession.get(id), kept.id)).state, 'expired');
  assert.equal((await dbCounts(held)).blobs, 0, 'its Blob is deleted');
  assert.equal((await server.uploads()).filter((r) => r.path === `/upload/${prefix}-paused`).length, 0, 'nothing sent');
}

/**
 * A new version (which calls `skipWaiting()`, as the demo worker does) is deployed while the old one
 * waits, inside an event, for a retry due in 20 s: the old one lets go of its event as soon as the new
 * version has installed, so the new one is active well before the retry is due (the old one would have
 * held it until then). The retry then goes once, by the new version, woken by the page's alarm.
 */
export async function updateNotHeldByARetry({ server, page, uploadRandom, eventOf, prefix }) {
  await server.reset();
  const url = `/upload/${prefix}-deploy`;
  await server.fault({ count: 1, status: 503, retryAfter: 20, path: url });
  const { id } = await uploadRandom(page, 4096, { url });
  const retrying = await eventOf(page, id, 'retrying');
  const due = Date.now() + retrying.delayMs;
  assert.ok(retrying.delayMs >= 15000, `waits for Retry-After: ${retrying.delayMs} ms`);
  const activated = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.register('/sw.js?v=deploy', { type: 'module' });
    await new Promise((resolve) => {
      const done = () => reg.active?.scriptURL.endsWith('v=deploy') && resolve();
      const watch = (w) => w?.addEventListener('statechange', done);
      watch(reg.installing); watch(reg.waiting);
      reg.addEventListener('updatefound', () => watch(reg.installing));
      done();
    });
    return Date.now();
  });
  assert.ok(activated < due - 5000, `the new version became active ${activated - due} ms from the retry's due time`);
  const done = await eventOf(page, id, 'completed', { timeout: 60000 });
  assert.equal(done.attempt, 2);
  const records = await settled(server, 2);
  assert.deepEqual(records.map((r) => r.status), [503, 201], 'sent once more, after its time');
  assert.ok(records[1].receivedAt >= due - 1000, `sent ${records[1].receivedAt - due} ms from its due time`);
}
