// The upload engine in headless Chromium, asserted on the server's own record: offline, 5xx storms,
// Retry-After, final failures, dropped connections, SIGKILL mid-upload, offline/online flaps.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, profileDir, launchChromium, openSession, denyBackgroundSync, uploadRandom, runThenKill, serviceWorker, until,
  settled, eventOf, dbCounts, FAST_SYNC_RETRY, FORM, formParts,
} from './harness.mjs';

const server = await startServer();
after(() => server.stop());

/** A fresh browser with one session page; `fn(ctx, page)` runs, the browser always closes. */
async function withSession(tag, options, fn) {
  await server.reset();
  const ctx = await launchChromium(await profileDir(), { args: FAST_SYNC_RETRY });
  try {
    // These tests are about Ferry's own engine (sync and fallback): Background Fetch has its own file.
    const page = await openSession(ctx, server.url, tag, { backgroundFetch: false, ...options });
    return await fn(ctx, page);
  } finally {
    await ctx.close();
  }
}

/**
 * Makes the context's service worker keep track of the messages it received and of the promises its
 * events wait on (`waitUntil`), so a test can wait until the worker handled what it was sent
 * (`idle(n)`), instead of sleeping.
 */
async function trackWorkerEvents(ctx) {
  const sw = await serviceWorker(ctx);
  await sw.evaluate(() => {
    if (self.__pending) return;
    self.__pending = new Set();
    self.__messages = 0;
    self.__waiters = [];
    const real = ExtendableEvent.prototype.waitUntil;
    ExtendableEvent.prototype.waitUntil = function (promise) {
      const p = Promise.resolve(promise).catch(() => {}).finally(() => self.__pending.delete(p));
      self.__pending.add(p);
      return real.call(this, promise);
    };
    // Added after Ferry's own listener: when it runs, Ferry has already called waitUntil.
    self.addEventListener('message', () => {
      self.__messages += 1;
      for (const wake of self.__waiters.splice(0)) wake();
    });
  });
  return {
    /** How many messages the worker received so far. */
    messages: () => sw.evaluate(() => self.__messages),
    /** Resolves once the worker received `messages` messages and no event of it is pending. */
    idle: (messages = 0) => sw.evaluate(async (messages) => {
      while (self.__messages < messages) await new Promise((r) => self.__waiters.push(r));
      while (self.__pending.size) await Promise.all([...self.__pending]);
    }, messages),
  };
}

const fast = { retry: { baseMs: 200, capMs: 1000 } };
const applied = (records) => records.filter((r) => r.applied);

test('enqueued offline, page closed, back online: delivered once', async () => {
  await withSession('offline', {}, async (ctx, page) => {
    await ctx.setOffline(true);
    const { sha256 } = await uploadRandom(page, 256 * 1024, { url: '/upload/offline' });
    await page.close();
    assert.equal((await server.uploads()).length, 0);
    await ctx.setOffline(false);
    const records = await settled(server, 1);
    assert.equal(records.length, 1);
    assert.equal(records[0].sha256, sha256);
    assert.equal(records[0].applied, true);
  });
});

test('multipart: the worker sends the fields, then the Blob as the named file part, in one form the server takes whole', async () => {
  await withSession('form', {}, async (ctx, page) => {
    const { id, sha256 } = await uploadRandom(page, 300 * 1024, FORM.request('/upload/form'));
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 201);
    const [record] = await settled(server, 1);
    assert.equal(record.method, 'POST');
    assert.match(record.headers['content-type'], /^multipart\/form-data; boundary=/);
    assert.equal(record.multipartError, null);
    assert.deepEqual(formParts(record), FORM.parts(300 * 1024, sha256));
    assert.equal(record.applied, true);
  });
});

test('an empty Blob is an upload like any other: a 0-byte PUT, a multipart form with an empty file part and a tus upload of length 0 each complete', async () => {
  await withSession('empty', {}, async (ctx, page) => {
    const put = await uploadRandom(page, 0, { url: '/upload/empty', method: 'PUT' });
    const form = await uploadRandom(page, 0, FORM.request('/upload/empty-form'));
    const tus = await uploadRandom(page, 0, { url: '/tus', protocol: 'tus' });
    for (const { id } of [put, form, tus]) {
      const completed = await eventOf(page, id, 'completed');
      assert.ok(completed.response.status >= 200 && completed.response.status < 300, JSON.stringify(completed));
    }
    const records = await settled(server, 3);
    const plain = records.find((r) => r.method === 'PUT');
    assert.equal(plain.bytes, 0);
    assert.equal(plain.sha256, put.sha256);
    assert.equal(plain.applied, true);
    const multipart = records.find((r) => r.method === 'POST');
    assert.equal(multipart.multipartError, null);
    assert.deepEqual(formParts(multipart), FORM.parts(0, form.sha256));
    assert.equal(records.find((r) => r.method === 'TUS').bytes, 0);
    const [upload] = await (await fetch(new URL('/__ferry/tus', server.url))).json();
    assert.equal(upload.offset, 0);
    assert.equal(upload.length, 0);
    const tasks = await page.evaluate(() => window.ferrySession.list());
    assert.deepEqual(tasks.map((t) => [t.state, t.body.size]), [['done', 0], ['done', 0], ['done', 0]]);
  });
});

test('503 three times then 201: delivered once, with three retrying events', async () => {
  await withSession('storm', fast, async (ctx, page) => {
    await server.fault({ count: 3, status: 503 });
    const { id, sha256 } = await uploadRandom(page, 100 * 1024, { url: '/upload/storm' });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 201);
    const records = await settled(server, 4);
    assert.deepEqual(records.map((r) => r.status), [503, 503, 503, 201]);
    assert.equal(applied(records).length, 1);
    assert.equal(applied(records)[0].sha256, sha256);
    assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, 'one Idempotency-Key across attempts');
    const events = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id), id);
    const retrying = events.filter((e) => e.kind === 'retrying');
    assert.deepEqual(retrying.map((e) => e.attempt), [1, 2, 3]);
    assert.ok(retrying.every((e) => /503/.test(e.reason)), JSON.stringify(retrying));
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'events arrive in seq order');
  });
});

test('429 with Retry-After: 2 waits at least 2 s before the next attempt', async () => {
  await withSession('later', fast, async (ctx, page) => {
    await server.fault({ count: 1, status: 429, retryAfter: '2' });
    const { id } = await uploadRandom(page, 10 * 1024, { url: '/upload/later' });
    const retrying = await eventOf(page, id, 'retrying');
    assert.equal(retrying.reason, '429 Too Many Requests (the server said: ferry fault: 429)');
    assert.ok(retrying.delayMs >= 2000, `delay ${retrying.delayMs}`);
    await eventOf(page, id, 'completed');
    const [first, second] = await settled(server, 2);
    assert.equal(first.status, 429);
    assert.ok(second.receivedAt - first.finishedAt >= 2000, `second attempt ${second.receivedAt - first.finishedAt} ms after the 429`);
  });
});

test('400 is a final failure that quotes what the server said: no further attempt, payload deleted', async () => {
  await withSession('final', fast, async (ctx, page) => {
    await server.fault({ count: 1, status: 400 });
    const { id } = await uploadRandom(page, 10 * 1024, { url: '/upload/final' });
    const failed = await eventOf(page, id, 'failed');
    assert.match(failed.reason, /^400 Bad Request on attempt 1; .* \(the server said: ferry fault: 400\)$/);
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(task.lastError, '400 Bad Request (the server said: ferry fault: 400)');
    assert.equal(task.state, 'failed');
    assert.equal(task.attempt, 1);
    assert.equal((await dbCounts(page)).blobs, 0);
    const keys = await server.keys();
    assert.deepEqual(Object.values(keys), [{ arrived: 1, applied: 0 }]);
  });
});

for (const status of [301, 303, 307]) {
  test(`a redirect (${status}) is a final failure that says so: not followed, so a POST never goes on as a GET without its body`, async () => {
    await withSession(`redirect-${status}`, fast, async (ctx, page) => {
      await server.fault({ count: 1, status, location: '/upload/moved' });
      const { id } = await uploadRandom(page, 10 * 1024, { url: '/upload/redirected' });
      const failed = await eventOf(page, id, 'failed');
      assert.match(failed.reason, /answered POST http:\/\/[^ ]+\/upload\/redirected with a redirect, which uploads do not follow/);
      const task = await page.evaluate((id) => window.ferrySession.get(id), id);
      assert.equal(task.attempt, 1);
      // The redirect's target was never asked: one request reached the server, the redirected one.
      assert.deepEqual((await server.uploads()).map((u) => u.path), ['/upload/redirected']);
    });
  });
}

test("the site's IndexedDB cleared (the user cleared site data) while tasks wait: the worker opens a new database, the queue is empty and new uploads go", async () => {
  await withSession('cleared', fast, async (ctx, page) => {
    await page.evaluate(() => window.ferrySession.pause());
    const { id } = await uploadRandom(page, 4 * 1024, { url: '/upload/cleared-before' });
    assert.equal((await page.evaluate(() => window.ferrySession.list())).length, 1);
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: new URL(server.url).origin, storageTypes: 'indexeddb' });
    // The worker is the same instance (no restart): its connection was closed under it. A call right
    // after may still meet it closing; the next ones use a new connection.
    const list = await until(() => page.evaluate(() => window.ferrySession.list().then((l) => l, () => null)), { what: 'list() to answer again' });
    assert.deepEqual(list, []);
    assert.equal(await page.evaluate((id) => window.ferrySession.get(id), id), null);
    const after = await uploadRandom(page, 4 * 1024, { url: '/upload/cleared-after' });
    assert.equal((await eventOf(page, after.id, 'completed')).response.status, 201);
    assert.deepEqual((await server.uploads()).map((u) => u.path), ['/upload/cleared-after']);
  });
});

test('a connection dropped mid-body is retried and applied once', async () => {
  await withSession('dropped', fast, async (ctx, page) => {
    await server.fault({ count: 1, dropAfter: 64 * 1024 });
    const { id, sha256 } = await uploadRandom(page, 512 * 1024, { url: '/upload/dropped' });
    await eventOf(page, id, 'completed');
    const records = await settled(server, 2);
    assert.equal(records[0].outcome, 'dropped');
    assert.equal(applied(records).length, 1);
    assert.equal(applied(records)[0].sha256, sha256);
  });
});

const kills = Number(process.env.FERRY_KILL_LOOPS || 1);
for (let round = 1; round <= kills; round++) {
  test(`SIGKILL mid-upload of 20 MiB, relaunch with no page: applied exactly once (round ${round}/${kills})`, async () => {
    await server.reset();
    const dir = await profileDir();
    const { sha256 } = await runThenKill(dir, async (ctx) => {
      const page = await openSession(ctx, server.url, 'kill', { backgroundFetch: false });
      // Slow reads keep the body in flight long enough to kill the browser in the middle of it.
      await server.fault({ count: 1, slowBytesPerSec: 4 * 1024 * 1024 });
      const uploaded = await uploadRandom(page, 20 * 1024 * 1024, { url: '/upload/kill' });
      await until(async () => (await server.uploads()).some((r) => r.rawBytes > 1024 * 1024), { what: 'the body to be in flight' });
      return uploaded;
    });
    const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
    try {
      await serviceWorker(ctx);
      // The attempt the kill cut off ends as the client gone; the one after the relaunch is answered.
      await settled(server, 1, { timeout: 60000, filter: (r) => r.outcome === 'answered' });
      const records = await settled(server, 2, { timeout: 60000 });
      const shown = JSON.stringify(records.map((r) => [r.outcome, r.rawBytes, r.applied]));
      assert.equal(records[0].outcome, 'clientGone', shown);
      assert.equal(records[0].applied, false, shown);
      assert.ok(records[0].rawBytes > 1024 * 1024 && records[0].rawBytes < 20 * 1024 * 1024, shown);
      const done = applied(records);
      assert.equal(done.length, 1, shown);
      assert.equal(done[0].outcome, 'answered', shown);
      assert.equal(done[0].sha256, sha256);
      assert.equal(done[0].bytes, 20 * 1024 * 1024);
      assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, 'one Idempotency-Key across the kill');
    } finally {
      await ctx.close();
    }
  });
}

/**
 * After going back online: the task completes, and its only earlier attempts (if any) failed with a network
 * error. Nothing started while offline (each test checks that first); Playwright lifts its offline emulation
 * target by target, so the page may come online, and wake the worker, a moment before the worker's fetches
 * work: an attempt made in that moment fails with a network error and is retried. Nothing else may happen.
 */
async function completedOnceOnline(page, id) {
  const completed = await eventOf(page, id, 'completed');
  const seen = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind !== 'progress'), id);
  assert.match(seen.map((e) => e.kind).join(','), /^queued(,started,retrying)*,started,completed$/, JSON.stringify(seen));
  for (const r of seen.filter((e) => e.kind === 'retrying')) assert.match(r.reason, /^network error/);
  assert.equal(completed.attempt, seen.filter((e) => e.kind === 'started').length);
  return completed;
}

// Chromium fires no `online` event in a service worker (only in pages): what brings an upload held back
// offline home, with no page call, is Ferry's own online handling (an open page of the session wakes the
// worker when it comes back online) or the sync event Ferry registered, which Chromium fires on reconnect,
// whichever comes first. The next test takes Background Sync away to show the first alone.
test('offline/online flaps: what offline held back is sent once the network is back, with no page call; 200 uploads applied exactly once', async () => {
  await withSession('flaps', fast, async (ctx, page) => {
    const events = (id) => page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind), id);
    const worker = await trackWorkerEvents(ctx);

    // Offline: the worker, woken by the upload's message, holds the attempt back (nothing is sent).
    await ctx.setOffline(true);
    const messages = await worker.messages();
    const first = await page.evaluate(() => window.ferrySession.upload(new Blob(['held back while offline']), { url: '/upload/flap/offline' }));
    await worker.idle(messages + 1);
    assert.equal((await server.uploads()).length, 0, 'nothing sent while offline');
    assert.deepEqual(await events(first), ['queued'], 'no attempt started while offline');
    // Back online, and no page call from here on.
    await ctx.setOffline(false);
    await completedOnceOnline(page, first);
    assert.equal(applied(await settled(server, 1)).length, 1);
    const carried = (await page.evaluate((id) => window.ferrySession.get(id), first)).transport;
    assert.ok(['backgroundSync', 'fallback'].includes(carried), carried);

    // Then many uploads while the network flaps; once it stays up, everything completes by itself.
    const n = 200;
    let flapping = true;
    const flaps = (async () => {
      let offline = false;
      while (flapping) {
        offline = !offline;
        await ctx.setOffline(offline);
        await new Promise((r) => setTimeout(r, 150));
      }
      await ctx.setOffline(false);
    })();
    const ids = await page.evaluate(async (n) => {
      const ids = [];
      for (let i = 0; i < n; i++) ids.push(await window.ferrySession.upload(new Blob([`upload ${i} `.repeat(50)]), { url: `/upload/flap/${i}` }));
      return ids;
    }, n);
    flapping = false;
    await flaps;
    assert.equal(new Set(ids).size, n, 'each upload resolved with its own task id');
    // No page call from here on: the page only listens.
    const completed200 = await until(async () => {
      const done = await page.evaluate((ids) => {
        const seen = new Set(window.ferryEvents.filter((e) => e.kind === 'completed').map((e) => e.taskId));
        return ids.filter((id) => seen.has(id)).length;
      }, ids);
      return done === n && done;
    }, { timeout: 120000, what: `a completed event for each of the ${n} uploads` }).catch(async (e) => {
      const now = Date.now();
      const left = (await page.evaluate(() => window.ferrySession.list())).filter((t) => t.state !== 'done')
        .map((t) => ({ state: t.state, attempt: t.attempt, dueInMs: t.nextAttemptAt && t.nextAttemptAt - now, leaseInMs: t.leaseUntil && t.leaseUntil - now, transport: t.transport }));
      e.message += `; ${left.length} not done, e.g. ${JSON.stringify(left.slice(0, 5))}`;
      throw e;
    });
    assert.equal(completed200, n);
    const keys = await server.keys();
    assert.equal(Object.keys(keys).length, n + 1);
    assert.ok(Object.values(keys).every((k) => k.applied === 1), JSON.stringify(Object.values(keys).filter((k) => k.applied !== 1)));
    const paths = new Set(applied(await server.uploads()).map((r) => r.path));
    assert.equal(paths.size, n + 1);
    const tasks = await page.evaluate(() => window.ferrySession.list());
    assert.deepEqual(tasks.filter((t) => t.id !== first).map((t) => t.id).sort(), [...ids].sort(), 'the uploads are the session\'s tasks');
    assert.ok(tasks.every((t) => t.state === 'done'), JSON.stringify(tasks.filter((t) => t.state !== 'done')));
  });
});

test('back online with Background Sync denied: the open page\'s online event wakes the worker, which sends what offline held back', async () => {
  await withSession('online', fast, async (ctx, page) => {
    await denyBackgroundSync(ctx, server.url);
    assert.equal(await page.evaluate(async () => {
      try { await (await navigator.serviceWorker.ready).sync.register('probe'); return 'registered'; } catch (e) { return e.name; }
    }), 'NotAllowedError', 'no sync event can bring it home');
    const worker = await trackWorkerEvents(ctx);
    await ctx.setOffline(true);
    const messages = await worker.messages();
    const id = await page.evaluate(() => window.ferrySession.upload(new Blob(['held back']), { url: '/upload/online' }));
    await worker.idle(messages + 1);
    assert.equal((await server.uploads()).length, 0, 'nothing sent while offline');
    await ctx.setOffline(false);
    await completedOnceOnline(page, id);
    assert.equal((await page.evaluate((id) => window.ferrySession.get(id), id)).transport, 'fallback');
    assert.equal(applied(await settled(server, 1)).length, 1);
  });
});

test('a server down for seconds with 30 uploads queued: they wait and one at a time asks, instead of each spending its attempts; none fails, all arrive once', async () => {
  await withSession('outage', { concurrency: 3, retry: { maxAttempts: 3 } }, async (ctx, page) => {
    // Every connection to the upload URL closed before any answer: the server is down.
    await server.fault({ count: 100000, dropAfter: 0, path: '/upload/outage' });
    const queued = await page.evaluate(async (n) => {
      const items = Array.from({ length: n }, (_, i) => ({ blob: new Blob([`file ${i} `.repeat(100)]), request: { url: '/upload/outage' } }));
      return window.ferrySession.uploadAll(items);
    }, 30);
    await until(() => page.evaluate(() => window.ferryEvents.some((e) => e.kind === 'retrying')), { what: 'the first attempts to fail' });
    // The outage goes on for 6 s after the first failures (the scenario, not a wait for an event).
    await new Promise((resolve) => setTimeout(resolve, 6000));
    await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
    const ended = await until(() => page.evaluate((n) => {
      const ends = window.ferryEvents.filter((e) => e.kind === 'completed' || e.kind === 'failed');
      return ends.length >= n ? ends : null;
    }, queued.length), { timeout: 60000, what: 'every upload to end' });
    assert.deepEqual(ended.filter((e) => e.kind === 'failed').map((e) => e.reason), []);
    const retries = await page.evaluate(() => window.ferryEvents.filter((e) => e.kind === 'retrying').length);
    // Three attempts at the start, then one probe per hold (1, 2, 4... s): a handful, not one per upload.
    assert.ok(retries <= 8, `${retries} retrying events`);
    const applied = (await settled(server, queued.length, { filter: (r) => r.applied })).filter((r) => r.applied);
    assert.equal(applied.length, queued.length);
    assert.equal(new Set(applied.map((r) => r.idempotencyKey)).size, queued.length);
  });
});
