// The lifecycle scenarios of lifecycle.mjs in headless Firefox ESR, where the fallback transport (the
// worker woken by a page's message) carries every upload: pause() during a drain, a new worker version
// mid-upload or before it answered a call, a server that never answers; and what Firefox's short worker
// lifetime brings: work due later (a retry's Retry-After, earliestBegin seen by a page opened later) sent
// when due though Firefox stopped the idle worker meanwhile, and an attempt longer than Firefox lets one
// worker event run (its page in front or behind another tab).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, until } from './harness.mjs';
import { snapshotPkg, removeDir, withFirefox, openSession, uploadRandom, eventOf, eventsOf } from './firefox.mjs';
import { pauseDuringDrain, hungServer, newVersionMidUpload, replacedBeforeAnswering, updateNotHeldByARetry } from './lifecycle.mjs';

const pkg = await snapshotPkg();
const server = await startServer({ args: ['--pkg', pkg] });
after(async () => {
  await server.stop();
  await removeDir(pkg);
});

// Firefox stops a worker whose events have run its idle plus extended timeout (30 s + 30 s by default),
// a fetch in flight or not. Here both are 4 s: an attempt of ~14 s outlasts one event.
const SHORT_EVENTS = { 'dom.serviceWorkers.idle_timeout': 4000, 'dom.serviceWorkers.idle_extended_timeout': 4000 };


test('Firefox: pause() during a drain stops new starts at once; resume() sends the rest', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-pause', { concurrency: 1 });
    await pauseDuringDrain({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff' });
  });
});

test('Firefox: a new worker version installed mid-upload leaves the running upload to the old one: one arrival, `completed`', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-update');
    await newVersionMidUpload({ server, page, uploadRandom, eventOf, prefix: 'ff' });
  });
});

test('Firefox: a new version deployed while the worker waits for a retry takes over at once, not when the retry is due; the retry goes once, by it', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-deploy');
    await updateNotHeldByARetry({ server, page, uploadRandom, eventOf, prefix: 'ff' });
  });
});

test('Firefox: an upload whose worker stored it and was replaced before answering (skipWaiting) is stored once: the call sent again gets the same task', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-resent');
    await replacedBeforeAnswering({ server, page, eventOf, eventsOf, prefix: 'ff' });
  });
});

test('Firefox: a server that never answers costs one attempt (timeout) and holds back no other tag', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-hang', { attemptTimeoutMs: 4000 });
    await hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff' });
  });
});

/**
 * One upload of ~14 s (the server reads 256 KiB/s) through a page of `browser`, in a worker whose events
 * Firefox ends after 8 s: it must be sent once and complete on attempt 1. `hidden`: the page is behind
 * another tab the whole time (its timers throttled as a background tab's, from the start).
 */
async function longUpload(browser, tag, { hidden = false } = {}) {
  await server.reset();
  const url = `/upload/${tag}`;
  const rate = 256 * 1024;
  await server.fault({ count: 1, slowBytesPerSec: rate, path: url });
  const page = await openSession(browser, server.url, tag, { backgroundFetch: false });
  if (hidden) {
    const front = await browser.newPage();
    await front.goto(new URL('/harness.html', server.url).href);
    assert.equal(await page.evaluate(() => document.visibilityState), 'hidden', 'the page is behind the new tab');
  }
  const { id, sha256 } = await uploadRandom(page, 14 * rate, { url });
  const done = await eventOf(page, id, 'completed');
  assert.equal(done.response.status, 201);
  assert.equal(done.attempt, 1, 'the first attempt ended it');
  const records = (await server.uploads()).filter((r) => r.path === url);
  assert.equal(records.length, 1, 'the body was sent once');
  assert.equal(records[0].sha256, sha256);
  assert.ok(records[0].applied);
  assert.ok(records[0].finishedAt - records[0].receivedAt > 8000, 'the attempt outlasted one event (8 s here)');
}

test('Firefox: a retry that waits (Retry-After) longer than Firefox keeps an idle worker is sent when due: the open page wakes the worker, which sends it', async () => {
  await withFirefox(async (browser) => {
    await server.reset();
    const url = '/upload/ff-retry-idle';
    // 10 s: past the 4 + 4 s after which Firefox stops a worker with no event running (SHORT_EVENTS).
    await server.fault({ count: 1, status: 503, retryAfter: 10, path: url });
    const page = await openSession(browser, server.url, 'ff-retry-idle', { backgroundFetch: false });
    const { id, sha256 } = await uploadRandom(page, 4096, { url });
    const retrying = await eventOf(page, id, 'retrying');
    assert.ok(retrying.delayMs >= 9000, `waits for Retry-After: ${retrying.delayMs} ms`);
    const done = await eventOf(page, id, 'completed', { timeout: 40000 });
    assert.equal(done.response.status, 201);
    assert.equal(done.attempt, 2);
    const records = (await server.uploads()).filter((r) => r.path === url);
    assert.deepEqual(records.map((r) => r.status), [503, 201]);
    assert.ok(records[1].receivedAt - records[0].finishedAt >= 9000, `sent ${records[1].receivedAt - records[0].finishedAt} ms after the 503`);
    assert.equal(records[1].sha256, sha256);
  }, SHORT_EVENTS);
});

test('Firefox: a page opened after the page that queued work due later closed is told when it is due, and wakes the worker then (Firefox stopped it meanwhile)', async () => {
  await withFirefox(async (browser) => {
    await server.reset();
    const url = '/upload/ff-reopen';
    const first = await openSession(browser, server.url, 'ff-reopen', { backgroundFetch: false });
    // Due in 12 s: Firefox stops the idle worker (4 + 4 s, SHORT_EVENTS) before then.
    const earliestBegin = Date.now() + 12000;
    const { id, sha256 } = await uploadRandom(first, 1024, { url, earliestBegin });
    await first.close();
    const later = await openSession(browser, server.url, 'ff-reopen', { backgroundFetch: false });
    const completed = await eventOf(later, id, 'completed', { timeout: 40000 });
    assert.equal(completed.response.status, 201);
    const records = (await server.uploads()).filter((r) => r.path === url);
    assert.equal(records.length, 1);
    assert.ok(records[0].receivedAt >= earliestBegin, `sent ${earliestBegin - records[0].receivedAt} ms before earliestBegin`);
    assert.equal(records[0].sha256, sha256);
  }, SHORT_EVENTS);
});

test('Firefox: an attempt that outlasts the time Firefox gives one worker event, with a page open, is sent once and completes', async () => {
  await withFirefox((browser) => longUpload(browser, 'ff-long'), SHORT_EVENTS);
});

test('Firefox: the same with the page in a background tab (its timers throttled) is sent once and completes', async () => {
  // Firefox throttles a background tab's timers 30 s after its load by default; here at once.
  await withFirefox((browser) => longUpload(browser, 'ff-long-hidden', { hidden: true }),
    { ...SHORT_EVENTS, 'dom.timeout.throttling_delay': 0 });
});

test('Firefox: a server that never answers, with an attempt timeout longer than one worker event, still costs one timed-out attempt', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-hang-long', { attemptTimeoutMs: 12000 });
    await hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff-long' });
  }, SHORT_EVENTS);
});

test('Firefox: a page opened after the browser cut an attempt (its page had closed) keeps the worker that takes the attempt back alive: it goes again once and completes', async () => {
  await withFirefox(async (browser) => {
    await server.reset();
    const url = '/upload/ff-cut-reopen';
    const rate = 256 * 1024;
    // The first attempt's body is read whole and never answered; the next is read for ~14 s (256 KiB/s):
    // longer than one worker event here (SHORT_EVENTS).
    await server.fault({ count: 1, hang: true, path: url });
    await server.fault({ count: 1, slowBytesPerSec: rate, path: url });
    const first = await openSession(browser, server.url, 'ff-cut-reopen', { backgroundFetch: false });
    const { id, sha256 } = await uploadRandom(first, 14 * rate, { url });
    await eventOf(first, id, 'started');
    // (A blank tab stays open, as in a browser with other tabs: with no tab left, Firefox did not stop
    // the worker here.)
    await browser.newPage();
    await first.close();
    // No page wakes the worker: Firefox cuts it while the server holds the answer.
    await until(async () => (await server.uploads()).some((r) => r.path === url && r.outcome === 'clientGone'),
      { timeout: 30000, what: 'the first attempt cut' });
    // A page of the tag opens (listeners only) while the task is still held by the instance that is
    // gone: the new instance takes it back and sends it, asking its pages for wakes as it does; this
    // page, whose channel opens after its `register` answer, learns from that answer to wake it.
    const later = await openSession(browser, server.url, 'ff-cut-reopen', { backgroundFetch: false });
    const done = await eventOf(later, id, 'completed', { timeout: 40000 });
    assert.equal(done.response.status, 201);
    assert.equal(done.attempt, 2);
    const records = (await server.uploads()).filter((r) => r.path === url);
    assert.deepEqual(records.map((r) => r.outcome), ['clientGone', 'answered']);
    assert.equal(records[1].sha256, sha256);
  }, SHORT_EVENTS);
});
