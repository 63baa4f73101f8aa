// Lifecycle paths real browsers walk daily, in Chromium: a worker stopped while Background Fetch carries
// an upload, a new worker version installed mid-upload, pause() during a drain, a server that never
// answers. Each ends in one complete arrival at the server (its own record) and the right events.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, profileDir, launchChromium, openSession, denyBackgroundSync, uploadRandom, until, settled, eventOf, swControl, grant, dbCounts, dbRecords, routeWorker,
} from './harness.mjs';
import { pauseDuringDrain, hungServer, newVersionMidUpload, replacedBeforeAnswering, updateNotHeldByARetry, addSession, uploadAndComplete } from './lifecycle.mjs';

const server = await startServer();
after(() => server.stop());

async function withBrowser(fn, { backgroundFetch = false } = {}) {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    if (backgroundFetch) {
      await grant(ctx, server.url, ['backgroundFetch']);
    }
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** The task ids of the events in the outbox. */
const outboxTasks = async (page) => [...new Set((await dbRecords(page, 'outbox')).map((e) => e.taskId))];

const eventsOf = (page, id) => page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id), id);

/** The server's records of one task's body (by its Idempotency-Key), after a barrier upload completed. */
async function arrivalsAfterBarrier(page, key) {
  await addSession(page, 'barrier', { backgroundFetch: false });
  await uploadAndComplete(page, 'barrier', '/upload/barrier');
  return (await server.uploads()).filter((r) => r.idempotencyKey === key);
}

test('a worker stopped mid-Background-Fetch: the browser finishes it, a new worker instance records it once', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgstop');
    await server.fault({ count: 1, slowBytesPerSec: 1024 * 1024, path: '/upload/bgstop' });
    const { id, sha256 } = await uploadRandom(page, 3 * 1024 * 1024, { url: '/upload/bgstop' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    await until(async () => (await server.uploads()).find((r) => r.path === '/upload/bgstop' && r.bytes > 0),
      { what: 'the body arriving' });
    const { cdp } = await swControl(page);
    await cdp.send('ServiceWorker.stopAllWorkers');
    const done = await eventOf(page, id, 'completed', { timeout: 60000 });
    assert.equal(done.response.status, 201);
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(task.state, 'done');
    const arrivals = await arrivalsAfterBarrier(page, task.idempotencyKey);
    assert.equal(arrivals.length, 1, `one arrival, not a re-send: ${JSON.stringify(arrivals.map((r) => r.outcome))}`);
    assert.equal(arrivals[0].sha256, sha256);
    assert.ok(arrivals[0].applied);
  }, { backgroundFetch: true });
});

/** A worker that takes the Background Fetch outcome events away from Ferry (a listener before Ferry's stops
 * them) and holds each one open, telling the pages it holds it: a worker stopped now loses the event, as
 * one stopped (or killed with the browser) while Ferry's own handler reads the answer does. */
const HOLDS_OUTCOMES = `self.addEventListener('backgroundfetchsuccess', (e) => {
  e.stopImmediatePropagation();
  e.waitUntil((async () => {
    for (const c of await clients.matchAll({ includeUncontrolled: true })) c.postMessage({ heldOutcome: e.registration.id });
    await new Promise(() => {});
  })());
});`;

test('a Background Fetch success whose event the worker never handled (stopped first) is recorded from the page that started it: `completed` once, no re-send', async () => {
  await withBrowser(async (ctx) => {
    await routeWorker(ctx, 'sw-holds-outcome.js', HOLDS_OUTCOMES);
    const page = await openSession(ctx, server.url, 'bgheld', { serviceWorker: '/sw-holds-outcome.js' });
    const held = page.evaluate(() => new Promise((resolve) => navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data?.heldOutcome) resolve(e.data.heldOutcome);
    })));
    const { id, sha256 } = await uploadRandom(page, 200 * 1024, { url: '/upload/bgheld' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    assert.equal(await held, id, 'the worker got the success event and holds it');
    const { cdp } = await swControl(page);
    await cdp.send('ServiceWorker.stopAllWorkers');
    const done = await eventOf(page, id, 'completed', { timeout: 20000 });
    assert.equal(done.response.status, 201);
    // The answer as the page read it: the server's own body.
    assert.equal(JSON.parse(done.response.body).sha256, sha256);
    assert.equal(done.attempt, 1);
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(task.state, 'done');
    const arrivals = await arrivalsAfterBarrier(page, task.idempotencyKey);
    assert.equal(arrivals.length, 1, `one arrival, not a re-send: ${JSON.stringify(arrivals.map((r) => r.outcome))}`);
    assert.equal(arrivals[0].sha256, sha256);
  }, { backgroundFetch: true });
});

test('an event recorded by a worker instance stopped before it posted it reaches the open page when the worker starts again', async () => {
  await withBrowser(async (ctx) => {
    // This instance records `completed` and posts nothing of it, as one stopped between the two does;
    // it tells the pages when it has dropped the post.
    await routeWorker(ctx, 'sw-drops-post.js', `const post = BroadcastChannel.prototype.postMessage;
BroadcastChannel.prototype.postMessage = function (msg) {
  const events = msg?.ferry === 'events' ? msg.events : [msg];
  const done = events.find((e) => e?.kind === 'completed');
  if (!done) return post.call(this, msg);
  clients.matchAll({ includeUncontrolled: true }).then((cs) => cs.forEach((c) => c.postMessage({ droppedPost: done.taskId })));
};`);
    const page = await openSession(ctx, server.url, 'unposted', { serviceWorker: '/sw-drops-post.js', backgroundFetch: false });
    const dropped = page.evaluate(() => new Promise((resolve) => navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data?.droppedPost) resolve(e.data.droppedPost);
    })));
    const { id } = await uploadRandom(page, 4096, { url: '/upload/unposted' });
    assert.equal(await dropped, id);
    const heard = (await eventsOf(page, id)).map((e) => e.kind);
    assert.ok(heard.includes('started') && !heard.includes('completed'), `the page has not heard it: ${heard}`);
    const { cdp } = await swControl(page);
    await cdp.send('ServiceWorker.stopAllWorkers');
    // A new instance starts for the page's next call (any would do).
    assert.equal((await page.evaluate((id) => window.ferrySession.get(id), id)).state, 'done');
    const done = await eventOf(page, id, 'completed', { timeout: 10000 });
    assert.equal(done.response.status, 201);
  });
});

test('a call the worker dropped unanswered (as one stopped the moment the call reaches it does) is posted again: upload() resolves, the task is stored and sent once', async () => {
  await withBrowser(async (ctx) => {
    // The first upload call this worker instance gets is taken from Ferry's listener and left unanswered.
    await routeWorker(ctx, 'sw-drops-call.js', `let dropped = 0;
self.addEventListener('message', (e) => {
  if (e.data?.ferry === 'call' && e.data.op === 'upload' && dropped++ === 0) e.stopImmediatePropagation();
});`);
    const page = await openSession(ctx, server.url, 'dropped', { serviceWorker: '/sw-drops-call.js', backgroundFetch: false });
    const { id, sha256 } = await uploadRandom(page, 4096, { url: '/upload/dropped' });
    const done = await eventOf(page, id, 'completed');
    assert.equal(done.response.status, 201);
    const tasks = await page.evaluate(() => window.ferrySession.list());
    assert.deepEqual(tasks.map((t) => t.id), [id], 'one task stored');
    const arrivals = await arrivalsAfterBarrier(page, tasks[0].idempotencyKey);
    assert.equal(arrivals.length, 1);
    assert.equal(arrivals[0].sha256, sha256);
  });
});

test('a lane freed while another attempt hangs goes to the next task at once, though the task lined up for it was cancelled meanwhile', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'lanes', { backgroundFetch: false, concurrency: 2, attemptTimeoutMs: 8000 });
    await server.fault({ count: 1, hang: true, path: '/upload/lanes-a' });
    await server.fault({ count: 1, slowBytesPerSec: 32 * 1024, path: '/upload/lanes-b' });
    const ids = await page.evaluate(async () => {
      window.heardAt = [];
      for (const kind of ['started', 'completed']) {
        window.ferrySession.addEventListener(kind, (e) => window.heardAt.push({ kind, taskId: e.detail.taskId, at: Date.now() }));
      }
      // One commit: the worker's look lines up all four; A and B start, C and D wait for a lane.
      const blob = (n) => new Blob([new Uint8Array(n)]);
      return window.ferrySession.uploadAll(['a', 'b', 'c', 'd'].map((x) => ({
        blob: blob(x === 'b' ? 64 * 1024 : 1000), request: { url: `/upload/lanes-${x}` },
      })));
    });
    await eventOf(page, ids[1], 'started');
    assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), ids[2]), true);
    await eventOf(page, ids[1], 'completed');
    await eventOf(page, ids[3], 'completed');
    const heard = await page.evaluate(() => window.heardAt);
    const at = (kind, id) => heard.find((e) => e.kind === kind && e.taskId === id).at;
    // Before the fix D waited for the worker's next keep-alive wake (5 s after the look), A hanging on.
    const waited = at('started', ids[3]) - at('completed', ids[1]);
    assert.ok(waited < 1500, `D started ${waited} ms after B's lane freed`);
    assert.ok(!heard.some((e) => e.taskId === ids[2]), 'the cancelled task never started');
    // A's attempt times out and its retry completes.
    await eventOf(page, ids[0], 'completed');
  });
});

test('a new worker version installed mid-upload leaves the running upload to the old one: one arrival, `completed`', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'update', { backgroundFetch: false });
    await newVersionMidUpload({ server, page, uploadRandom, eventOf, prefix: 'cr' });
  });
});

test('a new version deployed while the worker waits for a retry takes over at once, not when the retry is due; the retry goes once, by it', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'deploy', { backgroundFetch: false });
    await updateNotHeldByARetry({ server, page, uploadRandom, eventOf, prefix: 'cr' });
  });
});

test('an upload whose worker stored it and was replaced before answering (skipWaiting) is stored once: the call sent again gets the same task', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'resent', { backgroundFetch: false });
    await replacedBeforeAnswering({ server, page, eventOf, eventsOf, prefix: 'cr' });
  });
});

test('Chromium: pause() during a drain stops new starts at once; resume() sends the rest', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'cr-pause', { backgroundFetch: false, concurrency: 1 });
    await pauseDuringDrain({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'cr' });
  });
});

test('Chromium: a server that never answers costs one attempt (timeout) and holds back no other tag', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'cr-hang', { backgroundFetch: false, attemptTimeoutMs: 4000 });
    await hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'cr' });
  });
});

test('a new worker version drops the wasm caches of earlier builds and keeps its own', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'caches', { backgroundFetch: false });
    // What an earlier build left behind (Ferry names its wasm cache after its build), and one of the app's.
    const before = await page.evaluate(async () => {
      await (await caches.open('ferry-wasm-0123456789abcdef')).put('/ferry/ferry_bg.wasm', new Response('old'));
      await (await caches.open('app-images')).put('/a.png', new Response('png'));
      return caches.keys();
    });
    const own = before.filter((n) => n.startsWith('ferry-wasm-') && n !== 'ferry-wasm-0123456789abcdef');
    assert.equal(own.length, 1, `this build's wasm cache: ${JSON.stringify(before)}`);
    const state = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.register('/sw.js?v=caches', { type: 'module' });
      const fresh = reg.installing || reg.waiting || reg.active;
      if (fresh.state !== 'activated') {
        await new Promise((r) => fresh.addEventListener('statechange', () => fresh.state === 'activated' && r()));
      }
      return fresh.state;
    });
    assert.equal(state, 'activated');
    // The activate event's work (the drop) is part of activation: once `activated`, it is done.
    const after = await page.evaluate(() => caches.keys());
    assert.ok(!after.includes('ferry-wasm-0123456789abcdef'), `the earlier build's cache is gone: ${JSON.stringify(after)}`);
    assert.ok(after.includes(own[0]), 'this build\'s cache stays');
    assert.ok(after.includes('app-images'), 'the app\'s own caches are not Ferry\'s to drop');
  });
});

test('a page opened once the worker runs takes this build\'s wasm from the worker\'s cache, not the network', async () => {
  await withBrowser(async (ctx) => {
    const first = await openSession(ctx, server.url, 'wasm-cache', { backgroundFetch: false });
    // The worker keeps its wasm once it started (the session's registration started it).
    await until(() => first.evaluate(async () => (await caches.keys()).some((n) => n.startsWith('ferry-wasm-'))), { what: 'the worker\'s wasm cache' });
    // From here every request for the wasm that reaches the network is recorded (and refused).
    const refused = [];
    await ctx.route('**/ferry_bg.wasm', (route) => { refused.push(route.request().url()); return route.abort(); });
    const page = await openSession(ctx, server.url, 'wasm-cache', { backgroundFetch: false });
    const { id } = await uploadRandom(page, 4096, { url: '/upload' });
    await eventOf(page, id, 'completed');
    assert.deepEqual(refused, [], 'the page never asked the network for the wasm');
  });
});

test('a worker stopped while a retry waits (Retry-After): the open page wakes a new instance when it is due, which sends it', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'retry-stop', { backgroundFetch: false });
    await server.fault({ count: 1, status: 503, retryAfter: 2, path: '/upload/retry-stop' });
    const { id, sha256 } = await uploadRandom(page, 4096, { url: '/upload/retry-stop' });
    const retrying = await eventOf(page, id, 'retrying');
    assert.ok(retrying.delayMs >= 1000, `waits for Retry-After: ${retrying.delayMs} ms`);
    // The browser stops the worker while it waits: its timer dies with it, and no sync is due for minutes.
    const { cdp } = await swControl(page);
    await cdp.send('ServiceWorker.stopAllWorkers');
    const done = await eventOf(page, id, 'completed', { timeout: 20000 });
    assert.equal(done.response.status, 201);
    assert.equal(done.attempt, 2);
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => r.status), [503, 201]);
    assert.equal(records[1].sha256, sha256);
  });
});

test('a page opened after the page that queued work due later closed (and the worker stopped) is told when it is due, and wakes the worker then', async () => {
  await withBrowser(async (ctx) => {
    const watcher = await ctx.newPage();
    await watcher.goto(new URL('/harness.html', server.url).href);
    const first = await openSession(ctx, server.url, 'reopen', { backgroundFetch: false });
    const earliestBegin = Date.now() + 4000;
    const { id } = await uploadRandom(first, 1024, { url: '/upload/reopen', earliestBegin });
    await first.close();
    const { cdp } = await swControl(watcher);
    await cdp.send('ServiceWorker.stopAllWorkers');
    const later = await openSession(ctx, server.url, 'reopen', { backgroundFetch: false });
    const completed = await eventOf(later, id, 'completed', { timeout: 20000 });
    assert.equal(completed.response.status, 201);
    const [record] = await settled(server, 1);
    assert.ok(record.receivedAt >= earliestBegin, `sent ${earliestBegin - record.receivedAt} ms before earliestBegin`);
  });
});

/**
 * Stops the service workers (CDP, from `watcher`) while task `id`'s attempt is held by the server; the
 * open `page` must wake a new instance that sends it again: `completed` (201), the cut attempt then the
 * answered one at the server, the second with the body's `sha256`. Resolves with the two records.
 */
async function stoppedThenCompleted(watcher, page, id, sha256) {
  const { cdp } = await swControl(watcher);
  await cdp.send('ServiceWorker.stopAllWorkers');
  const done = await eventOf(page, id, 'completed', { timeout: 20000 });
  assert.equal(done.response.status, 201);
  const records = await settled(server, 2);
  assert.deepEqual(records.map((r) => r.outcome), ['clientGone', 'answered']);
  assert.equal(records[1].sha256, sha256);
  return records;
}

test('a worker stopped mid-attempt, with only a page opened after the attempt began (the page that started it closed), is woken by that page: the upload goes again and completes', async () => {
  await withBrowser(async (ctx) => {
    const watcher = await ctx.newPage();
    await watcher.goto(new URL('/harness.html', server.url).href);
    // No Background Sync: the browser would fire a sync cut by the stop again; here only a page wakes the
    // worker, as where the browser has none (Firefox, Safari) or Background Fetch carries the tag.
    await denyBackgroundSync(ctx, server.url);
    const first = await openSession(ctx, server.url, 'late-page', { backgroundFetch: false });
    await server.fault({ count: 1, hang: true, path: '/upload/late-page' });
    const { id, sha256 } = await uploadRandom(first, 4096, { url: '/upload/late-page' });
    await eventOf(first, id, 'started');
    await until(async () => (await server.uploads()).some((r) => r.outcome === 'hanging'), { what: 'the attempt held by the server' });
    // The page that heard the worker's ask to wake it closes; a new page of the tag registers, then the
    // browser stops the worker with its attempt under way.
    await first.close();
    const later = await openSession(ctx, server.url, 'late-page', { backgroundFetch: false });
    const records = await stoppedThenCompleted(watcher, later, id, sha256);
    assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1);
  });
});

/**
 * In the page, before its scripts: the `alarm` messages of the tags' channels (the worker's asks for a
 * wake) are recorded in `window.alarms`, and dropped unheard while `window.dropAlarms` is true: a page
 * that registered as the worker told its pages, its channel opened a moment after the ask went out.
 */
function recordAlarms() {
  window.alarms = [];
  window.dropAlarms = false;
  const Channel = window.BroadcastChannel;
  window.BroadcastChannel = class extends Channel {
    set onmessage(listener) {
      super.onmessage = listener && ((e) => {
        if (e.data?.ferry === 'alarm') {
          if (window.dropAlarms) return;
          window.alarms.push({ at: e.data.at, heard: Date.now() });
        }
        listener(e);
      });
    }

    get onmessage() {
      return super.onmessage;
    }
  };
}

test('an ask of the worker for a wake that its only page missed is asked again while the attempt runs: stopped mid-attempt, the worker is woken by that page and the upload completes', async () => {
  await withBrowser(async (ctx) => {
    const watcher = await ctx.newPage();
    await watcher.goto(new URL('/harness.html', server.url).href);
    await denyBackgroundSync(ctx, server.url);
    const options = { backgroundFetch: false, attemptTimeoutMs: 120000 };
    const page = await openSession(ctx, server.url, 'missed-ask', options, { init: recordAlarms });
    await server.fault({ count: 1, hang: true, path: '/upload/missed-ask' });
    // Every ask from the worker's first look on goes unheard, as it would by a page whose channel was
    // not open yet; none is heard before the attempt is under way.
    await page.evaluate(() => { window.dropAlarms = true; });
    const { id, sha256 } = await uploadRandom(page, 4096, { url: '/upload/missed-ask' });
    await eventOf(page, id, 'started');
    await until(async () => (await server.uploads()).some((r) => r.outcome === 'hanging'), { what: 'the attempt held by the server' });
    const since = await page.evaluate(() => { window.dropAlarms = false; return Date.now(); });
    // The attempt has two minutes; the worker asks again within two keep-alive periods (5 s each).
    const ask = await until(() => page.evaluate((since) => window.alarms.find((a) => a.heard >= since && a.at > Date.now()), since),
      { timeout: 15000, what: 'an ask for a wake heard after the missed ones' });
    assert.ok(ask.heard - since <= 11000, `asked again ${ask.heard - since} ms after the missed asks`);
    await stoppedThenCompleted(watcher, page, id, sha256);
  });
});

test('Chromium: an upload of another tag queued after the budget of the event that started a hung attempt (60 s) starts at once, not when the hung attempt times out', async () => {
  await withBrowser(async (ctx) => {
    // No Background Sync: the worker's events are the page's messages, each taking new work for 60 s.
    await denyBackgroundSync(ctx, server.url);
    const page = await openSession(ctx, server.url, 'long-hang', { backgroundFetch: false, attemptTimeoutMs: 100000 });
    const url = '/upload/long-hang';
    await server.fault({ count: 1, hang: true, path: url });
    const { id } = await uploadRandom(page, 4096, { url });
    await eventOf(page, id, 'started');
    const began = Date.now();
    await until(async () => (await server.uploads()).some((r) => r.path === url && r.complete), { what: 'the hung upload read whole' });
    await addSession(page, 'after-budget', { backgroundFetch: false });
    // What is awaited is time itself: the budget of the event whose pump started the attempt ends 60 s
    // after it began; the page's wakes (every 5 s while it runs) join that pump meanwhile.
    await new Promise((resolve) => { setTimeout(resolve, began + 62000 - Date.now()); });
    const queued = Date.now();
    const fresh = await uploadAndComplete(page, 'after-budget', '/upload/after-budget', 1000, 15000);
    assert.equal(fresh.response.status, 201);
    assert.ok(Date.now() - queued < 15000);
    const [hung] = (await server.uploads()).filter((r) => r.path === url);
    assert.equal(hung.status, null, 'the hung attempt still runs');
  });
});

test('a worker start sweeps a finished upload whose retention ended, with its unacknowledged events, after sending what is due', async () => {
  await withBrowser(async (ctx) => {
    // Manual acknowledgement: the upload's events stay in the outbox until its retention ends.
    const page = await openSession(ctx, server.url, 'sweep', { backgroundFetch: false, ack: 'manual' });
    const retention = 3000;
    const { id } = await uploadRandom(page, 1024, { url: '/upload/sweep', retry: { maxRetentionMs: retention } });
    await eventOf(page, id, 'completed');
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    const before = await dbCounts(page);
    assert.deepEqual([before.tasks, before.blobs], [1, 0], JSON.stringify(before));
    assert.ok(before.outbox >= 3, `its events wait for an acknowledgement: ${JSON.stringify(before)}`);
    // The retention ends (a deadline, so the clock is what is waited on), then the worker starts again.
    await until(() => Date.now() > task.createdAt + retention, { what: 'the end of the retention' });
    const { cdp } = await swControl(page);
    await cdp.send('ServiceWorker.stopAllWorkers');
    // A second upload, due at once: the started worker sends it, and the sweep follows.
    const { id: next } = await uploadRandom(page, 1024, { url: '/upload/sweep' });
    await eventOf(page, next, 'completed');
    const after = await until(async () => {
      const counts = await dbCounts(page);
      return counts.tasks === 1 ? counts : null;
    }, { what: 'the finished task past its retention swept' });
    assert.equal(await page.evaluate((id) => window.ferrySession.get(id), id), null);
    const left = await page.evaluate(() => window.ferrySession.list());
    assert.deepEqual(left.map((t) => t.id), [next]);
    assert.deepEqual(await outboxTasks(page), [next], `the swept task's events left with it: ${JSON.stringify({ before, after })}`);
  });
});

test('a worker stopped as soon as it starts, again and again, before it could ask its pages for a wake, is woken again by the open page: the upload completes', async () => {
  await withBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'restart-stops', { backgroundFetch: false });
    // No Background Sync: only the page wakes the worker, as where the browser has none.
    await denyBackgroundSync(ctx, server.url);
    await server.fault({ count: 1, hang: true, path: '/upload/restart-stops' });
    const { id, sha256 } = await uploadRandom(page, 4096, { url: '/upload/restart-stops' });
    await until(async () => (await server.uploads()).some((r) => r.outcome === 'hanging'), { what: 'the attempt held by the server' });
    const { cdp } = await swControl(page);
    // Each start of the worker after the first stop is stopped the moment it runs, three times.
    const running = new Set();
    let starts = 0;
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const v of versions) {
        if (v.runningStatus !== 'running') {
          running.delete(v.versionId);
        } else if (!running.has(v.versionId)) {
          running.add(v.versionId);
          if (starts < 3) {
            starts += 1;
            cdp.send('ServiceWorker.stopAllWorkers').catch(() => {});
          }
        }
      }
    });
    await cdp.send('ServiceWorker.stopAllWorkers');
    const done = await eventOf(page, id, 'completed', { timeout: 30000 });
    assert.equal(starts, 3, 'the worker was started again after each stop');
    assert.equal(done.response.status, 201);
    const records = await settled(server, 2);
    assert.equal(records.at(-1).outcome, 'answered');
    assert.equal(records.at(-1).sha256, sha256);
    assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1);
  });
});

test('Chromium: more uploads whose time ran out while the worker was stopped than one look reads (32) hold back no upload due behind them: one sync records them all and sends it at once', async () => {
  await withBrowser(async (ctx) => {
    const watcher = await ctx.newPage();
    await watcher.goto(new URL('/harness.html', server.url).href);
    const page = await openSession(ctx, server.url, 'expire-many', { backgroundFetch: false });
    const t0 = Date.now();
    // Due in 1.5 s and expired at 2 s: in the due index before the upload due at 2.5 s.
    const expiring = await page.evaluate(({ begin, expires }) => window.ferrySession.uploadAll(
      Array.from({ length: 40 }, (_, i) => ({ blob: new Blob([`item ${i}`]), request: { url: '/upload/expire-many', earliestBegin: begin, expiresAt: expires } })),
    ), { begin: t0 + 1500, expires: t0 + 2000 });
    const live = await uploadRandom(page, 1024, { url: '/upload/expire-live', earliestBegin: t0 + 2500 });
    // Nothing wakes the worker meanwhile: its page closes, the browser stops it.
    await page.close();
    const control = await swControl(watcher);
    await control.cdp.send('ServiceWorker.stopAllWorkers');
    // The subject is time itself: the 40 expire, the last falls due, while no worker runs.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 3000 - Date.now())));
    await control.dispatchSync(new URL('/', server.url).href, 'ferry');
    // One look reads 32 and records them `expired`; the look after it reads the rest and the due one.
    // (Ended after the first, the pump would have left it to the browser's next sync, minutes on.)
    const [record] = await settled(server, 1, { timeout: 10000, filter: (r) => r.path === '/upload/expire-live' });
    assert.equal(record.sha256, live.sha256);
    assert.equal((await server.uploads()).filter((r) => r.path === '/upload/expire-many').length, 0, 'nothing expired was sent');
    const again = await openSession(ctx, server.url, 'expire-many', { backgroundFetch: false });
    const states = await again.evaluate((ids) => Promise.all(ids.map((id) => window.ferrySession.get(id).then((t) => t.state))), expiring);
    assert.deepEqual([...new Set(states)], ['expired']);
  });
});
