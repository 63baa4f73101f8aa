// Ferry in WebKit (WebKitGTK, Safari's engine), which has neither Background Sync nor Background Fetch:
// uploads go through the fallback transport, the worker woken by a page's message. Asserted on the server's
// own record. Runs under Xvfb (webkit.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until, settled, FORM, formParts } from './harness.mjs';
import { snapshotPkg, registerSession, backgroundApis, uploadRandom, eventOf, eventsOf, taskOf } from './firefox.mjs';
import { startWebKit, webkitProfile, removeDir, launchWebKit, openHarness, killWebKit } from './webkit.mjs';
import { tabsAndTags, retriedThroughFallback, pauseDuringDrain, hungServer, newVersionMidUpload, replacedBeforeAnswering, workDueLater } from './lifecycle.mjs';

const pkg = await snapshotPkg();
const server = await startServer({ args: ['--pkg', pkg] });
let webkit;
before(async () => { webkit = await startWebKit(); });
after(async () => {
  await webkit?.stop();
  await server.stop();
  await removeDir(pkg);
});

const WAIT = 60000;
const MiB = 1024 * 1024;
const fast = { retry: { baseMs: 200, capMs: 1000 } };
const applied = (records) => records.filter((r) => r.applied);

/** A page of the harness in a fresh browser on `profile`, with the session `tag` registered. */
async function openSession(profile, tag, options = fast) {
  const page = await openHarness(webkit, profile, server.url);
  try {
    await registerSession(page, tag, options);
  } catch (e) {
    await page.close().catch(() => {});
    throw e;
  }
  return page;
}

/** A fresh profile and a page with session `tag`; `fn(page)` runs; the browser always closes. */
async function withWebKit(tag, options, fn) {
  const profile = await webkitProfile();
  const page = await openSession(profile, tag, options);
  try {
    return await fn(page);
  } finally {
    await page.close();
    await removeDir(profile);
  }
}

test('WebKit: no Background Sync or Fetch; a 503 then success is retried inside the worker and applied once, its events in seq order', async () => {
  await withWebKit('wk503', fast, async (page) => {
    const apis = await backgroundApis(page);
    assert.equal(apis.sync, 'undefined', 'registration.sync must not exist in WebKit');
    assert.equal(apis.backgroundFetch, 'undefined', 'registration.backgroundFetch must not exist in WebKit');
    await retriedThroughFallback({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'wk' });
  });
});

test('WebKit: a page of another tag receives nothing of it; two tabs of the tag both see it live', async () => {
  await withWebKit('wk-photos', fast, async (tab1) => {
    const tab = async (tag) => {
      const page = await tab1.openPage();
      await page.goto(new URL('/harness.html', server.url).href);
      await registerSession(page, tag, fast);
      return page;
    };
    await tabsAndTags({ server, tab1, tab2: await tab('wk-photos'), other: await tab('wk-docs'), uploadRandom, eventOf, eventsOf });
  });
});

test('WebKit: enqueued while the server refuses, the browser closed and relaunched on the same profile, a page registers → delivered once, and it hears completed', async (t) => {
  await server.reset();
  await server.fault({ count: 1000, status: 503 });
  const profile = await webkitProfile();
  let page = await openSession(profile, 'wkrestart', { retry: { ...fast.retry, maxAttempts: 1000 } });
  let id, sha256;
  try {
    ({ id, sha256 } = await uploadRandom(page, MiB, { url: '/upload/wkrestart' }));
    const retrying = await eventOf(page, id, 'retrying', { timeout: WAIT });
    assert.match(retrying.reason, /503/);
  } finally {
    await page.close();
  }
  const refused = await settled(server, 1, { timeout: WAIT });
  assert.equal(applied(refused).length, 0, 'nothing applied while the server refused');
  const key = refused[0].idempotencyKey;
  assert.ok(key, 'attempts carry an Idempotency-Key');
  const res = await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
  assert.equal(res.status, 204);
  // The close resolved once the browser's processes had ended (a worker in them retries until then), so
  // every attempt of the closed browser has reached its end at the server: counted before the relaunch.
  const closedWith = (await settled(server, refused.length, { timeout: WAIT })).length;

  const woken = Date.now();
  page = await openSession(profile, 'wkrestart', fast);
  try {
    const completed = await eventOf(page, id, 'completed', { timeout: WAIT });
    assert.equal(completed.response.status, 201);
    const records = await settled(server, closedWith + 1, { timeout: WAIT });
    t.diagnostic(`${closedWith} refused attempt(s) before the relaunch; applied ${applied(records)[0]?.receivedAt - woken} ms after it`);
    assert.equal(applied(records).length, 1, JSON.stringify(records.map((r) => [r.outcome, r.status, r.applied])));
    const [done] = applied(records);
    assert.equal(done.sha256, sha256);
    assert.equal(done.bytes, MiB);
    assert.ok(done.receivedAt >= woken, 'delivered after the relaunch');
    assert.equal(done.idempotencyKey, key, 'the same Idempotency-Key after the relaunch');
    assert.deepEqual(Object.keys(await server.keys()), [key]);
    const task = await taskOf(page, id);
    assert.equal(task.state, 'done');
    assert.equal(task.transport, 'fallback');
  } finally {
    await page.close();
  }
  await removeDir(profile);
});

test('WebKit: the browser SIGKILLed mid-upload of 20 MiB, relaunched on the same profile, a page registers → applied exactly once, under the same Idempotency-Key, and it hears completed', async () => {
  await server.reset();
  const profile = await webkitProfile();
  // The browser to kill runs under a driver of its own: a session whose browser died is of no more use.
  const doomed = await startWebKit();
  let id, sha256;
  try {
    const page = await openHarness(doomed, profile, server.url);
    await registerSession(page, 'wkkill', fast);
    // Slow reads keep the body in flight long enough to kill the browser in the middle of it.
    await server.fault({ count: 1, slowBytesPerSec: 4 * MiB });
    ({ id, sha256 } = await uploadRandom(page, 20 * MiB, { url: '/upload/wkkill' }));
    await until(async () => (await server.uploads()).some((r) => r.rawBytes > MiB), { what: 'the body to be in flight', timeout: WAIT });
    await killWebKit(profile);
  } finally {
    await doomed.stop();
  }
  const cut = await settled(server, 1, { timeout: WAIT });
  const shownCut = JSON.stringify(cut.map((r) => [r.outcome, r.rawBytes, r.applied]));
  assert.equal(cut[0].outcome, 'clientGone', shownCut);
  assert.ok(cut[0].rawBytes < 20 * MiB, shownCut);

  const page = await openSession(profile, 'wkkill', fast);
  try {
    assert.equal((await eventOf(page, id, 'completed', { timeout: WAIT })).response.status, 201);
    const records = await settled(server, 2, { timeout: WAIT });
    const shown = JSON.stringify(records.map((r) => [r.outcome, r.rawBytes, r.applied]));
    const done = applied(records);
    assert.equal(done.length, 1, shown);
    assert.equal(done[0].sha256, sha256);
    assert.equal(done[0].bytes, 20 * MiB);
    assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, `one Idempotency-Key across the kill: ${shown}`);
    assert.equal((await taskOf(page, id)).state, 'done');
  } finally {
    await page.close();
    await removeDir(profile);
  }
});

test('WebKit: tus sends 1 MiB PATCHes with progress rising to the total; multipart sends the fields, then the Blob as the named file part', async () => {
  await server.reset();
  await withWebKit('wkproto', fast, async (page) => {
    const tus = await uploadRandom(page, 2 * MiB + 5, { url: '/tus', protocol: 'tus', chunkSize: MiB, metadata: { filename: 'clip.mp4' } });
    const tusDone = await eventOf(page, tus.id, 'completed', { timeout: WAIT });
    assert.equal(tusDone.response.status, 204);
    const progress = (await eventsOf(page, tus.id)).filter((e) => e.kind === 'progress').map((e) => e.bytesSent);
    assert.deepEqual(progress, [MiB, 2 * MiB, 2 * MiB + 5]);
    const [upload] = await (await fetch(new URL('/__ferry/tus', server.url))).json();
    assert.equal(upload.offset, 2 * MiB + 5);
    assert.equal(upload.patches, 3);
    assert.equal(upload.metadata.filename, 'clip.mp4');

    const form = await uploadRandom(page, 100000, FORM.request('/upload/wkform'));
    const formDone = await eventOf(page, form.id, 'completed', { timeout: WAIT });
    assert.equal(formDone.response.status, 201);
    const [record] = (await server.uploads()).filter((r) => r.path === '/upload/wkform');
    assert.match(record.headers['content-type'], /^multipart\/form-data; boundary=/);
    assert.deepEqual(formParts(record), FORM.parts(100000, form.sha256));
  });
});

test('WebKit: a paused tag queues but sends nothing while another tag sends; cancel() ends a queued upload; resume() sends the rest; clear() removes the tag\'s tasks', async () => {
  await server.reset();
  await withWebKit('wkpause', fast, async (page) => {
    await page.evaluate(() => window.ferrySession.pause());
    const kept = await uploadRandom(page, 50000, { url: '/upload/wkpause/kept' });
    const dropped = await uploadRandom(page, 50000, { url: '/upload/wkpause/dropped' });
    // Another tag of the same worker is sent meanwhile: once it is done, the paused one would have been too.
    const other = await page.evaluate(async () => {
      const { Ferry } = await import(new URL('/ferry/index.js', location.href).href);
      const session = await Ferry.register('wkother', { serviceWorker: '/sw.js' });
      const completed = new Promise((resolve) => session.addEventListener('completed', (e) => resolve(e.detail)));
      await session.upload(new Blob(['other']), { url: '/upload/wkother' });
      return (await completed).response.status;
    });
    assert.equal(other, 201);
    assert.deepEqual((await server.uploads()).map((r) => r.path), ['/upload/wkother'], 'nothing of the paused tag was sent');
    assert.equal((await taskOf(page, kept.id)).state, 'queued');

    assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), dropped.id), true);
    assert.equal((await eventOf(page, dropped.id, 'cancelled', { timeout: WAIT })).kind, 'cancelled');
    await page.evaluate(() => window.ferrySession.resume());
    assert.equal((await eventOf(page, kept.id, 'completed', { timeout: WAIT })).response.status, 201);
    const records = await settled(server, 2, { timeout: WAIT });
    assert.deepEqual(records.map((r) => [r.path, r.applied]), [['/upload/wkother', true], ['/upload/wkpause/kept', true]]);
    assert.equal(records[1].sha256, kept.sha256);

    assert.equal(await page.evaluate(() => window.ferrySession.clear()), 2);
    assert.deepEqual(await page.evaluate(() => window.ferrySession.list()), []);
  });
});

test('WebKit: the last page of the app goes away mid-upload (WebKit may stop the worker while its request goes on): the server applies the upload once, and the next page hears completed', async (t) => {
  await server.reset();
  // About 12 s of sending: longer than WebKit keeps a worker with no page of its origin (about 10 s).
  await server.fault({ count: 1, path: '/upload/wkleave', slowBytesPerSec: 128 * 1024 });
  await withWebKit('wkleave', fast, async (page) => {
    const { id, sha256 } = await uploadRandom(page, 1536 * 1024, { url: '/upload/wkleave' });
    await until(async () => (await server.uploads()).some((r) => r.outcome === 'receiving'), { timeout: WAIT, what: 'the upload under way' });
    await page.goto('about:blank');
    // The request the page left behind ends at the server, whether or not its worker was stopped meanwhile.
    const [first] = await settled(server, 1, { timeout: WAIT });
    assert.equal(first.applied, true, JSON.stringify([first.outcome, first.status]));
    assert.equal(first.sha256, sha256);

    await page.goto(new URL('/harness.html', server.url).href);
    await registerSession(page, 'wkleave', fast);
    const completed = await eventOf(page, id, 'completed', { timeout: WAIT });
    assert.equal(completed.response.status, 201);
    // A later upload is the barrier: a resend of the first would have been made by the time it is done.
    const later = await uploadRandom(page, 1000, { url: '/upload/wkleave-later' });
    await eventOf(page, later.id, 'completed', { timeout: WAIT });
    const records = (await settled(server, 2, { timeout: WAIT })).filter((r) => r.path === '/upload/wkleave');
    t.diagnostic(`the upload arrived ${records.length} time(s): ${records.map((r) => `${r.status} ${r.applied ? 'applied' : r.duplicateOf ? 'duplicate' : r.outcome}`).join(', ')}`);
    assert.equal(records.filter((r) => r.applied).length, 1, 'applied once');
    assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, 'every arrival under one Idempotency-Key');
    assert.deepEqual(Object.values(await server.keys()).filter((k) => k.arrived === records.length).map((k) => k.applied), [1]);
    const task = await taskOf(page, id);
    assert.equal(task.state, 'done');
  });
});

test('WebKit: pause() during a drain stops new starts at once; resume() sends the rest', async () => {
  await withWebKit('wk-pause', { concurrency: 1 }, (page) => pauseDuringDrain({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'wk' }));
});

test('WebKit: a new worker version installed mid-upload leaves the running upload to the old one: one arrival, `completed`', async () => {
  await withWebKit('wk-update', fast, (page) => newVersionMidUpload({ server, page, uploadRandom, eventOf, prefix: 'wk' }));
});

test('WebKit: an upload whose worker stored it and was replaced before answering (skipWaiting) is stored once: the call sent again gets the same task', async () => {
  await withWebKit('wk-resent', fast, (page) => replacedBeforeAnswering({ server, page, eventOf, eventsOf, prefix: 'wk' }));
});

test('WebKit: a server that never answers costs one attempt (timeout) and holds back no other tag', async () => {
  await withWebKit('wk-hang', { attemptTimeoutMs: 4000 }, (page) => hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'wk' }));
});

test('WebKit: with a page open, work due later is sent when due (earliestBegin) and a paused task expires at its expiresAt or at the end of a short retention, with nothing else waking the worker', async () => {
  const profile = await webkitProfile();
  let first = null;
  try {
    // The first page opens the browser; the scenario's second page is a tab of the same browser.
    const open = async (tag) => {
      const page = first ? await first.openPage() : await launchWebKit(webkit, profile);
      first ??= page;
      await page.goto(new URL('/harness.html', server.url).href);
      await registerSession(page, tag, fast);
      return page;
    };
    await workDueLater({ server, open, uploadRandom, eventOf, prefix: 'wk' });
  } finally {
    await first?.close();
  }
  await removeDir(profile);
});
