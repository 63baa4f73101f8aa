// Ferry in headless Firefox ESR, which has neither Background Sync nor Background Fetch: uploads go through
// the fallback transport, the worker woken by a page's message. Asserted on the server's own record.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until, settled } from './harness.mjs';
import { workDueLater, retriedThroughFallback, tabsAndTags } from './lifecycle.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox, withFirefox, openHarness, registerSession, openSession, launchToHarness,
  backgroundApis, uploadRandom, eventOf, eventsOf, taskOf,
} from './firefox.mjs';

// A snapshot of pkg/: a rebuild during the run must not leave the server serving half a package.
const pkg = await snapshotPkg();
const server = await startServer({ args: ['--pkg', pkg] });
after(async () => {
  await server.stop();
  await removeDir(pkg);
});

const WAIT = 60000;
const fast = { retry: { baseMs: 200, capMs: 1000 } };
const applied = (records) => records.filter((r) => r.applied);
const clearFaults = async () => {
  const res = await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
  assert.equal(res.status, 204);
};

test('Firefox: enqueued while the server refuses, Firefox closed and relaunched with the same profile, a page registers the session → delivered once through the fallback', async (t) => {
  await server.reset();
  await server.fault({ count: 1000, status: 503 });
  const dir = await firefoxProfile();
  let browser = null;
  let id, sha256;
  try {
    // First launch: the task is queued and refused.
    browser = await launchFirefox(dir);
    let page = await openHarness(browser, server.url);
    await registerSession(page, 'ff', { retry: { ...fast.retry, maxAttempts: 1000 } });
    const apis = await backgroundApis(page);
    assert.equal(apis.sync, 'undefined', 'registration.sync must not exist in Firefox');
    assert.equal(apis.backgroundFetch, 'undefined', 'registration.backgroundFetch must not exist in Firefox');
    ({ id, sha256 } = await uploadRandom(page, 1024 * 1024, { url: '/upload/ff' }));
    await until(async () => (await server.uploads()).some((r) => r.status === 503), { timeout: WAIT, what: 'a refused attempt' });
    const retrying = await eventOf(page, id, 'retrying', { timeout: WAIT });
    assert.match(retrying.reason, /503/);
    assert.equal(await closeFirefox(browser), true, 'Firefox closed gracefully');
    browser = null;

    const refused = await settled(server, 1, { timeout: WAIT });
    assert.equal(applied(refused).length, 0, 'nothing applied while the server refused');
    assert.ok(refused.every((r) => r.status === 503 || r.status === null), JSON.stringify(refused.map((r) => [r.outcome, r.status])));
    const key = refused[0].idempotencyKey;
    assert.ok(key, 'attempts carry an Idempotency-Key');
    assert.equal(new Set(refused.map((r) => r.idempotencyKey)).size, 1, 'one Idempotency-Key across attempts');
    await clearFaults();
    t.diagnostic(`first launch: ${refused.length} refused attempt(s) (${refused.map((r) => r.outcome).join(', ')})`);

    // Second launch, same profile. Firefox has no Background Sync: the worker runs again when a page of
    // the origin loads (its navigation goes through the worker's fetch handler), and the fallback then
    // drains what is due, before or after the page registers its session.
    const woken = Date.now();
    let relaunches;
    ({ browser, page, relaunches } = await launchToHarness(dir, server.url));
    if (relaunches) t.diagnostic('Firefox could not open a tab after the relaunch and was launched again');
    await registerSession(page, 'ff', fast);
    const records = await until(async () => {
      const all = await server.uploads();
      return applied(all).length > 0 && all.every((r) => r.outcome !== 'receiving') ? all : null;
    }, { timeout: WAIT, what: 'an applied upload after the page registered' });
    t.diagnostic(`applied ${applied(records)[0].receivedAt - woken} ms after the relaunch began`);
    const relaunched = records.slice(refused.length);
    assert.ok(relaunched.every((r) => r.receivedAt >= woken),
      `no attempt while Firefox was closed: ${JSON.stringify(relaunched.map((r) => r.receivedAt - woken))} ms`);

    assert.equal(applied(records).length, 1, JSON.stringify(records.map((r) => [r.outcome, r.status, r.applied])));
    const [done] = applied(records);
    assert.equal(done.sha256, sha256);
    assert.equal(done.bytes, 1024 * 1024);
    assert.equal(done.idempotencyKey, key, 'the same Idempotency-Key after the restart');
    const keys = await server.keys();
    assert.deepEqual(Object.keys(keys), [key]);
    assert.equal(keys[key].applied, 1);
    assert.equal(keys[key].arrived, records.length);

    const completed = await eventOf(page, id, 'completed', { timeout: WAIT });
    assert.equal(completed.response.status, 201);
    const task = await taskOf(page, id);
    assert.ok(task, 'session.get(id) returns the finished task');
    assert.equal(task.state, 'done');
    assert.equal(task.transport, 'fallback');
    t.diagnostic(`task after the restart: attempt ${task.attempt}, transport ${task.transport}`);
    // A later upload of the same session, sent and answered, is the barrier: a late duplicate of the first
    // (a drain that still saw it due) would have been sent by then.
    const later = await uploadRandom(page, 1024, { url: '/upload/ff-later' });
    await eventOf(page, later.id, 'completed', { timeout: WAIT });
    const all = await settled(server, records.length + 1, { timeout: WAIT });
    assert.equal((await server.keys())[key].applied, 1);
    assert.equal(all.filter((r) => r.idempotencyKey === key).length, records.length, 'no attempt of the first task after the applied one');
    assert.deepEqual(all.slice(records.length).map((r) => [r.path, r.applied]), [['/upload/ff-later', true]]);
  } finally {
    await closeFirefox(browser);
  }
  await removeDir(dir);
});

test('Firefox: a 503 then success is retried inside the worker and applied once', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff503', fast);
    await retriedThroughFallback({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff' });
  });
});

test('Firefox: a redirect (302) is a final failure that says so, and its target is never asked', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ffredirect', fast);
    await server.reset();
    await server.fault({ count: 1, status: 302, location: '/upload/ffmoved', path: '/upload/ffredirect' });
    const { id } = await uploadRandom(page, 16 * 1024, { url: '/upload/ffredirect' });
    const failed = await eventOf(page, id, 'failed');
    assert.match(failed.reason, /answered POST http:\/\/[^ ]+\/upload\/ffredirect with a redirect, which uploads do not follow/);
    assert.deepEqual((await server.uploads()).map((u) => u.path), ['/upload/ffredirect']);
  });
});

test('Firefox: a page of another tag receives nothing of it; two tabs of the tag both see it live', async () => {
  await withFirefox(async (browser) => {
    const tab1 = await openSession(browser, server.url, 'ff-photos', fast);
    const tab2 = await openSession(browser, server.url, 'ff-photos', fast);
    const other = await openSession(browser, server.url, 'ff-docs', fast);
    await tabsAndTags({ server, tab1, tab2, other, uploadRandom, eventOf, eventsOf });
  });
});

test('Firefox: with a page open, work due later is sent when due (earliestBegin) and a paused task expires at its expiresAt or at the end of a short retention, with nothing else waking the worker', async () => {
  await withFirefox(async (browser) => {
    const open = (tag) => openSession(browser, server.url, tag, { backgroundFetch: false });
    await workDueLater({ server, open, uploadRandom, eventOf, prefix: 'ff' });
  });
});
