// The first vertical slice: page → IndexedDB → service worker (Rust/wasm) → server, through a real
// `sync` event, and a SIGKILLed browser that comes back with its worker and its stored Blob.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, openSession, denyBackgroundSync, uploadRandom, swControl, killBrowser, serviceWorker, until, settled, dbCounts } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

/** The task record as IndexedDB holds it, read in the page. */
const storedTask = (page, id) => page.evaluate(async (id) => {
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open('ferry');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const task = await new Promise((resolve) => {
    const r = db.transaction('tasks').objectStore('tasks').get(id);
    r.onsuccess = () => resolve(r.result);
  });
  db.close();
  return task;
}, id);

test('a CDP-forced sync event makes the worker POST the stored Blob, streamed, to the server', async () => {
  const ctx = await launchChromium(await profileDir());
  try {
    // With Background Sync denied, the browser fires no sync event by itself: the CDP one is the only one.
    await denyBackgroundSync(ctx, server.url);
    const page = await openSession(ctx, server.url, 'slice', { backgroundFetch: false });
    const control = await swControl(page);
    const due = Date.now() + 1500;
    const { id, sha256 } = await uploadRandom(page, 3 * 1024 * 1024 + 17, { url: '/upload/slice', earliestBegin: due });
    // Not due yet: the worker, woken by the page's message, left it queued.
    const before = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(before.state, 'queued');
    // An open session wakes the worker itself when the task falls due: close it, so the sync is all there is.
    await page.evaluate(() => window.ferrySession.close());
    await until(() => Date.now() >= due, { what: 'the earliestBegin time' });
    assert.equal((await server.uploads()).length, 0, 'nothing is sent before the forced sync event');

    await control.dispatchSync(new URL('/', server.url).href, 'ferry');
    const [record] = await settled(server, 1);
    assert.equal(record.method, 'POST');
    assert.equal(record.path, '/upload/slice');
    assert.equal(record.bytes, 3 * 1024 * 1024 + 17);
    assert.equal(record.sha256, sha256);
    assert.equal(record.applied, true);
    const task = await until(async () => { const t = await storedTask(page, id); return t.state === 'done' && t; }, { what: 'the task to be done' });
    assert.equal(task.transport, 'backgroundSync');
    assert.ok(record.idempotencyKey && record.idempotencyKey === task.idempotencyKey, 'the Idempotency-Key header is the task\'s');
  } finally {
    await ctx.close();
  }
});

test('after SIGKILL and a relaunch with no page, the worker comes back and delivers the stored Blob', async () => {
  await server.reset();
  const dir = await profileDir();
  let ctx = await launchChromium(dir);
  let sha256;
  try {
    const page = await openSession(ctx, server.url, 'kill', { backgroundFetch: false });
    await ctx.setOffline(true);
    ({ sha256 } = await uploadRandom(page, 5 * 1024 * 1024, { url: '/upload/kill' }));
    const [task] = await page.evaluate(() => window.ferrySession.list());
    assert.ok(['queued', 'inFlight'].includes(task.state), task.state);
    assert.equal((await dbCounts(page)).blobs, 1, 'the Blob is stored before the kill');
    assert.equal((await server.uploads()).length, 0, 'offline: nothing reached the server');
    await killBrowser(ctx);
  } catch (e) {
    await ctx.close();
    throw e;
  }
  assert.equal((await server.uploads()).length, 0);

  ctx = await launchChromium(dir);
  try {
    assert.equal(ctx.pages().filter((p) => p.url() !== 'about:blank').length, 0, 'no page of the app is open');
    const sw = await serviceWorker(ctx);
    assert.match(sw.url(), /\/sw\.js$/);
    const [record] = await settled(server, 1);
    assert.equal(record.bytes, 5 * 1024 * 1024);
    assert.equal(record.sha256, sha256, 'the Blob survived the kill byte for byte');
    assert.equal(record.applied, true);
  } finally {
    await ctx.close();
  }
});
