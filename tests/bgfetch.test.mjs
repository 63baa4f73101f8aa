// Background Fetch: started from a page, it carries the upload after the page is gone; the worker maps
// its outcome onto the same state machine, and a retryable failure goes back to Ferry's own queue.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import puppeteer from 'puppeteer-core';
import { startServer, CHROMIUM, CHROMIUM_ARGS, profileDir, openSession, uploadRandom, until, settled, eventOf, dbCounts, withGrantedChromium, FORM, formParts } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

async function withGrantedBrowser(fn) {
  await server.reset();
  return withGrantedChromium(server.url, ['backgroundFetch'], fn);
}

/** Takes the only slot of a `concurrency: 1` tag for about 2 s (the server reads the upload slowly): resolves
 * with the small upload once it started. */
async function takeTheSlot(page, tag) {
  await server.fault({ count: 1, path: `/upload/${tag}-small`, slowBytesPerSec: 8 * 1024 });
  const small = await uploadRandom(page, 16 * 1024, { url: `/upload/${tag}-small` });
  assert.notEqual((await eventOf(page, small.id, 'started')).transport, 'backgroundFetch');
  return small;
}

test('Background Fetch: the page starts it, closes, the upload completes and the worker records success', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgf');
    await server.fault({ count: 1, slowBytesPerSec: 2 * 1024 * 1024 });
    const { id, sha256 } = await uploadRandom(page, 4 * 1024 * 1024, { url: '/upload/bgf' });
    const started = await eventOf(page, id, 'started');
    assert.equal(started.transport, 'backgroundFetch');
    // Closed as soon as the browser began the fetch: Chromium may report no progress before the end
    // (its first report can come seconds in, with the body already in the socket buffers), and a page
    // still open at the end would hear (and acknowledge) `completed` itself.
    await page.close();
    const [record] = await settled(server, 1);
    assert.equal(record.sha256, sha256);
    assert.equal(record.applied, true);
    // A page opened later learns how it ended: the outbox replays `completed`.
    const later = await openSession(ctx, server.url, 'bgf');
    const completed = await eventOf(later, id, 'completed');
    assert.equal(completed.response.status, 201);
    const task = await later.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(task.state, 'done');
    const sent = (await later.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress'), id)).map((e) => e.bytesSent);
    assert.deepEqual(sent, [...sent].sort((a, b) => a - b), 'progress is monotonic');
    assert.equal(sent.at(-1), 4 * 1024 * 1024, 'and ends at the total');
    assert.equal(task.transport, 'backgroundFetch');
  });
});

test('Background Fetch watched to its end: progress reaches the total once, with the success', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfwatch');
    // The server reads slowly and answers once it has every byte: Chromium has reported the whole body
    // sent (it sat in the socket buffers) well before that.
    // 8 MiB: the socket buffers can take 4 MiB at once, and a body they take whole is reported only at
    // its total.
    await server.fault({ count: 1, slowBytesPerSec: 2 * 1024 * 1024 });
    const total = 8 * 1024 * 1024;
    const { id } = await uploadRandom(page, total, { url: '/upload/bgfwatch' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    await eventOf(page, id, 'completed');
    const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind === 'progress' ? e.bytesSent : e.kind), id);
    const sent = kinds.filter((k) => typeof k === 'number');
    assert.ok(sent.length > 1, `the page relayed progress before the end: ${kinds}`);
    const relayed = await page.evaluate((id) => window.ferryEvents.find((e) => e.taskId === id && e.kind === 'progress'), id);
    assert.equal(relayed.bytesTotal, total);
    assert.ok(relayed.bytesSent > 0 && relayed.bytesSent < total, JSON.stringify(relayed));
    assert.equal(sent.filter((b) => b === total).length, 1, `the total is told once: ${kinds}`);
    assert.deepEqual(kinds.slice(-2), [total, 'completed'], `and just before completed: ${kinds}`);
  });
});

test('a Background Fetch watched by a page goes on reporting progress after the page collects its garbage', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfgc');
    await server.fault({ count: 1, slowBytesPerSec: 1024 * 1024 });
    const total = 8 * 1024 * 1024;
    const { id } = await uploadRandom(page, total, { url: '/upload/bgfgc' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    const sent = () => page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress').map((e) => e.bytesSent), id);
    await until(async () => (await sent()).some((b) => b < total), { what: 'a progress event relayed from the page' });
    // A full collection: nothing of the page's own code may be all that keeps the registration (and
    // with it, the listener its progress events reach) alive; Chromium then stops reporting.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const before = Math.max(...await sent());
    await eventOf(page, id, 'completed');
    const after = (await sent()).filter((b) => b > before && b < total);
    assert.ok(after.length > 0, `progress below the total after the collection (at ${before} of ${total}): ${await sent()}`);
  });
});

test('a Background Fetch the browser refuses is no attempt: one `started` per attempt, and the session sends through the worker from then on', async () => {
  await server.reset();
  // No permission granted: Chromium lets a page's first Background Fetch begin and refuses the later
  // ones ("This origin does not have permission to start a fetch"), though the permission reads granted.
  // Driven by Puppeteer, which leaves downloads as a user's browser has them (Playwright accepts every
  // download for its pages, and Chromium then lets every Background Fetch begin).
  const ctx = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir: await profileDir(), args: CHROMIUM_ARGS });
  try {
    const page = await openSession(ctx, server.url, 'bgfrefused');
    const warnings = [];
    page.on('console', (m) => { if (m.text().includes('Background Fetch not started')) warnings.push(m.text()); });
    const transports = [];
    for (let i = 0; i < 3; i++) {
      const { id } = await uploadRandom(page, 64 * 1024, { url: `/upload/bgfrefused${i}` });
      await eventOf(page, id, 'completed');
      const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind !== 'progress')
        .map((e) => (e.kind === 'started' ? `started#${e.attempt}` : e.kind)), id);
      assert.deepEqual(kinds, ['queued', 'started#1', 'completed'], `upload ${i}: ${kinds}`);
      transports.push((await page.evaluate((id) => window.ferryEvents.find((e) => e.taskId === id && e.kind === 'started'), id)).transport);
    }
    assert.equal(transports[0], 'backgroundFetch');
    assert.ok(transports.slice(1).every((t) => t !== 'backgroundFetch'), transports.join());
    assert.equal(warnings.length, 1, `refused once, then not asked again: ${warnings}`);
    assert.equal((await settled(server, 3)).length, 3);
  } finally {
    await ctx.close();
  }
});

test('a page that goes before starting the Background Fetch it was handed leaves the upload to the worker once the start window has passed: sent once, no attempt counted', async () => {
  await server.reset();
  // Background Sync too, as browsers grant it by default: the worker's own sync event is what is left
  // once the page is gone.
  await withGrantedChromium(server.url, ['backgroundFetch', 'backgroundSync'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfgone');
    // The page goes (closed, navigated away or frozen) at the moment it would start the fetch: its
    // `backgroundFetch.fetch` is where it stops, and the test closes it there.
    const reached = page.evaluate(() => new Promise((resolve) => {
      BackgroundFetchManager.prototype.fetch = function () { resolve(); return new Promise(() => {}); };
    }));
    page.evaluate(() => window.ferrySession.upload(new Blob(['handed over, never started']), { url: '/upload/bgfgone' }))
      .catch(() => {});
    await reached;
    await page.close();
    // No page is open: the worker's own sync event takes the task back at the end of the window (30 s)
    // and sends it.
    const [record] = await settled(server, 1, { timeout: 60000 });
    assert.equal(record.applied, true);
    assert.equal(record.path, '/upload/bgfgone');
    const later = await openSession(ctx, server.url, 'bgfgone');
    const [task] = await later.evaluate(() => window.ferrySession.list());
    const completed = await eventOf(later, task.id, 'completed');
    assert.equal(completed.response.status, 201);
    const kinds = await later.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind !== 'progress')
      .map((e) => `${e.kind}#${e.attempt ?? ''}:${e.transport ?? ''}`), task.id);
    // (`queued` was heard, and acknowledged, by the page that went.)
    assert.match(kinds[0], /^started#1:(backgroundSync|fallback)$/, `the worker's attempt is the first: ${kinds}`);
    assert.match(kinds[1], /^completed#1:/, kinds.join());
    assert.equal(kinds.length, 2, `no retrying, one started: ${kinds}`);
    assert.equal(task.attempt, 1);
    assert.equal((await server.uploads()).length, 1, 'sent once');
  });
});

test('Background Fetch carries a multipart upload: the fields, then the Blob as the named file part', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfform');
    const { id, sha256 } = await uploadRandom(page, 300 * 1024, FORM.request('/upload/bgfform'));
    const started = await eventOf(page, id, 'started');
    assert.equal(started.transport, 'backgroundFetch');
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 201);
    const [record] = await settled(server, 1);
    assert.match(record.headers['content-type'], /^multipart\/form-data; boundary=/);
    assert.equal(record.multipartError, null);
    assert.deepEqual(formParts(record), FORM.parts(300 * 1024, sha256));
    assert.equal(record.applied, true);
  });
});

test('backgroundFetch: { minBytes }: a smaller body goes by the worker\'s fetch at once, one at least that large by Background Fetch', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfmin', { backgroundFetch: { minBytes: 100 * 1024 } });
    // First, with no Background Fetch in flight: without the bound it would take this one.
    const small = await uploadRandom(page, 4 * 1024, { url: '/upload/bgfmin' });
    assert.notEqual((await eventOf(page, small.id, 'started')).transport, 'backgroundFetch');
    assert.equal((await eventOf(page, small.id, 'completed')).response.status, 201);
    const big = await uploadRandom(page, 100 * 1024, { url: '/upload/bgfmin' });
    assert.equal((await eventOf(page, big.id, 'started')).transport, 'backgroundFetch');
    assert.equal((await eventOf(page, big.id, 'completed')).response.status, 201);
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => r.sha256).sort(), [small.sha256, big.sha256].sort());
  });
});

test('backgroundFetch: { minBytes }: a large body queued while the tag\'s slots are taken waits for its page to start it as a Background Fetch, not for the worker\'s fetch', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfwait', { concurrency: 1, backgroundFetch: { minBytes: 100 * 1024 } });
    const small = await takeTheSlot(page, 'bgfwait');
    // Queued while the slot is taken: its upload call could not start it.
    const big = await uploadRandom(page, 100 * 1024, { url: '/upload/bgfwait' });
    assert.equal((await eventOf(page, small.id, 'completed')).response.status, 201);
    assert.equal((await eventOf(page, big.id, 'started')).transport, 'backgroundFetch');
    assert.equal((await eventOf(page, big.id, 'completed')).response.status, 201);
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => r.sha256).sort(), [small.sha256, big.sha256].sort());
  });
});

test('backgroundFetch: { minBytes }: a large upload waiting for its page\'s Background Fetch goes through the worker once the page has closed', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfgone', { concurrency: 1, backgroundFetch: { minBytes: 100 * 1024 } });
    const small = await takeTheSlot(page, 'bgfgone');
    const big = await uploadRandom(page, 100 * 1024, { url: '/upload/bgfgone' });
    await page.close();
    // No page is left to start it: once none has been heard for a while, the worker sends it.
    const records = await settled(server, 2, { timeout: 40000 });
    assert.deepEqual(records.map((r) => r.sha256).sort(), [small.sha256, big.sha256].sort());
    const again = await openSession(ctx, server.url, 'bgfgone', { concurrency: 1, backgroundFetch: { minBytes: 100 * 1024 } });
    const started = await eventOf(again, big.id, 'started');
    assert.notEqual(started.transport, 'backgroundFetch');
    assert.equal((await eventOf(again, big.id, 'completed')).response.status, 201);
  });
});

test('backgroundFetch: { minBytes }: two pages of the tag hear the offer of a waiting large upload; one Background Fetch starts it, once', async () => {
  await withGrantedBrowser(async (ctx) => {
    const options = { concurrency: 1, backgroundFetch: { minBytes: 100 * 1024 } };
    const first = await openSession(ctx, server.url, 'bgftwo', options);
    const second = await openSession(ctx, server.url, 'bgftwo', options);
    await takeTheSlot(first, 'bgftwo');
    const big = await uploadRandom(first, 100 * 1024, { url: '/upload/bgftwo' });
    for (const page of [first, second]) {
      assert.equal((await eventOf(page, big.id, 'completed')).response.status, 201);
      const started = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'started'), big.id);
      assert.deepEqual(started.map((e) => e.transport), ['backgroundFetch']);
    }
    const records = await settled(server, 2);
    assert.deepEqual(records.filter((r) => r.path === '/upload/bgftwo').map((r) => r.sha256), [big.sha256]);
    const fetches = await first.evaluate(async () => (await (await navigator.serviceWorker.ready).backgroundFetch.getIds()).length);
    assert.equal(fetches, 0);
  });
});

test('backgroundFetch: { minBytes }: a large upload waits for the origin\'s Background Fetch of another tag however long it takes, while its page is open with nothing of its own running', async () => {
  await withGrantedBrowser(async (ctx) => {
    // Another tag's Background Fetch holds the origin for well past 12 s (the server reads it slowly),
    // and an upload of that tag through the worker keeps the worker's pump running meanwhile.
    const other = await openSession(ctx, server.url, 'bgfholdb');
    await server.fault({ count: 1, path: '/upload/bgfhold-slow', slowBytesPerSec: 10 * 1024 });
    await server.fault({ count: 1, path: '/upload/bgfhold-busy', slowBytesPerSec: 2 * 1024 });
    const holder = await uploadRandom(other, 150 * 1024, { url: '/upload/bgfhold-slow' });
    const busy = await uploadRandom(other, 30 * 1024, { url: '/upload/bgfhold-busy' });
    assert.notEqual((await eventOf(other, busy.id, 'started')).transport, 'backgroundFetch');
    const page = await openSession(ctx, server.url, 'bgfholda', { backgroundFetch: { minBytes: 100 * 1024 } });
    const big = await uploadRandom(page, 100 * 1024, { url: '/upload/bgfholda' });
    assert.equal((await eventOf(other, holder.id, 'started', { timeout: 60000 })).transport, 'backgroundFetch');
    await eventOf(other, holder.id, 'completed', { timeout: 60000 });
    const started = await eventOf(page, big.id, 'started', { timeout: 60000 });
    assert.equal(started.transport, 'backgroundFetch');
    assert.equal((await eventOf(page, big.id, 'completed', { timeout: 60000 })).response.status, 201);
    const records = await settled(server, 3);
    assert.deepEqual(records.map((r) => r.sha256).sort(), [holder.sha256, busy.sha256, big.sha256].sort());
  });
});

test('Background Fetch answered 503 goes back to the queue and is retried by the worker, applied once', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgf503', { retry: { baseMs: 200, capMs: 1000 } });
    await server.fault({ count: 1, status: 503 });
    const { id, sha256 } = await uploadRandom(page, 64 * 1024, { url: '/upload/bgf503' });
    const retrying = await eventOf(page, id, 'retrying');
    assert.match(retrying.reason, /503/);
    await eventOf(page, id, 'completed');
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => r.status), [503, 201]);
    assert.equal(records.filter((r) => r.applied).length, 1);
    assert.equal(records[1].sha256, sha256);
    const events = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'started'), id);
    assert.deepEqual(events.map((e) => e.transport), ['backgroundFetch', 'fallback']);
  });
});

test('a Background Fetch that reaches no server (every connection dropped) goes back to the queue as a network error, and the retry completes', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfnet', { retry: { baseMs: 200, capMs: 1000 } });
    // Every connection to the upload URL closed before any answer, through the browser's own retries.
    await server.fault({ count: 1000, dropAfter: 0, path: '/upload/bgfnet' });
    const { id, sha256 } = await uploadRandom(page, 64 * 1024, { url: '/upload/bgfnet' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    const ended = await until(() => page.evaluate((id) => window.ferryEvents
      .find((e) => e.taskId === id && (e.kind === 'retrying' || e.kind === 'failed')), id), { timeout: 60000, what: 'the first attempt to end' });
    assert.equal(ended.kind, 'retrying', `a network error is retried, not final: ${JSON.stringify(ended)}`);
    // No status to speak of (Chromium says `bad-status` all the same): the reason says there was no answer.
    assert.match(ended.reason, /^network error: the browser's Background Fetch got no answer from the server \(its failureReason: [a-z-]+\)/);
    assert.equal(ended.attempt, 1);
    await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
    assert.equal((await eventOf(page, id, 'completed')).response.status, 201);
    const applied = (await settled(server, 1)).filter((r) => r.applied);
    assert.equal(applied.length, 1);
    assert.equal(applied[0].sha256, sha256);
  });
});

test('a redirect under Background Fetch (which Chromium follows whatever the request says) fails the task saying so, as in every transport', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfredirect');
    await server.fault({ count: 1, status: 307, location: '/upload/bgfmoved', path: '/upload/bgfredirect' });
    const { id } = await uploadRandom(page, 64 * 1024, { url: '/upload/bgfredirect' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    const failed = await eventOf(page, id, 'failed');
    // The reason names where the browser went and what it answered there: after a 307 the body may
    // have arrived (it did here), which the user must hear rather than "not followed".
    assert.match(failed.reason, /followed a redirect of POST http:\/\/[^ ]+\/upload\/bgfredirect to http:\/\/[^ ]+\/upload\/bgfmoved, which answered 201 Created; uploads do not follow redirects: after a 307 or 308 the body may have arrived there/);
    assert.equal(failed.attempt, 1);
    const moved = (await server.uploads()).filter((r) => r.path === '/upload/bgfmoved');
    assert.deepEqual(moved.map((r) => [r.method, r.bytes]), [['POST', 64 * 1024]]);
  });
});

test('pages of many tags uploading at once: one Background Fetch of the origin at a time, one `started` per attempt', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfmany0');
    // Twelve sessions in one page, each uploading at the same moment: every lease read no Background
    // Fetch in flight before any was written (Chromium then refused those past its limit, and each went
    // another way under a second `started`).
    const byTag = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const tags = Array.from({ length: 12 }, (_, i) => `bgfmany${i + 1}`);
      const sessions = await Promise.all(tags.map((tag) => Ferry.register(tag, { serviceWorker: '/sw.js' })));
      const events = {};
      const done = sessions.map((s, i) => new Promise((resolve) => {
        events[tags[i]] = [];
        for (const kind of ['started', 'retrying', 'completed', 'failed']) {
          s.addEventListener(kind, (e) => {
            events[tags[i]].push({ kind, transport: e.detail.transport, attempt: e.detail.attempt });
            if (kind === 'completed' || kind === 'failed') resolve();
          });
        }
      }));
      await Promise.all(sessions.map((s, i) => s.upload(new Blob([`upload ${i}`]), { url: `/upload/${tags[i]}` })));
      await Promise.all(done);
      return events;
    });
    const started = Object.values(byTag).map((evs) => evs.filter((e) => e.kind === 'started'));
    assert.ok(started.every((s) => s.length === 1), `one started per task: ${JSON.stringify(byTag)}`);
    assert.ok(Object.values(byTag).every((evs) => evs.at(-1).kind === 'completed'), JSON.stringify(byTag));
    const fetches = started.flat().filter((e) => e.transport === 'backgroundFetch').length;
    assert.ok(fetches <= 1, `at most one Background Fetch at a time (all began together): ${fetches}`);
    assert.equal((await settled(server, 12)).filter((r) => r.applied).length, 12);
  });
});

test('offline (navigator.onLine false), an upload is not handed to Background Fetch: it waits queued, then goes once online', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgfoffline');
    await ctx.setOffline(true);
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    const { id, sha256 } = await uploadRandom(page, 64 * 1024, { url: '/upload/bgfoffline' });
    // upload() resolved after the worker decided whether the page starts a Background Fetch.
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.deepEqual([task.state, task.attempt], ['queued', 0], 'no attempt starts offline');
    const goingOnline = Date.now();
    await ctx.setOffline(false);
    assert.equal((await eventOf(page, id, 'completed')).response.status, 201);
    const records = await settled(server, 1);
    assert.equal(records.length, 1, 'one arrival at the server');
    assert.equal(records[0].sha256, sha256);
    assert.ok(records[0].receivedAt >= goingOnline, 'sent once the network came back');
    // Playwright turns the network back on target by target (the page, then the worker), and the worker's
    // navigator.onLine may turn true a moment before its fetches pass: an attempt begun in that window fails
    // to fetch (it never reaches the server) and is retried. Anything but such a network error fails here.
    const events = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id), id);
    const retrying = events.filter((e) => e.kind === 'retrying');
    assert.ok(retrying.every((e) => /^network error/.test(e.reason)), JSON.stringify(retrying));
    assert.equal(events.filter((e) => e.kind === 'started').length, retrying.length + 1, 'each attempt but the last retried');
  });
});

test('a Background Fetch whose server never answers ends at attemptTimeoutMs as a retryable timeout, and the retry completes', async () => {
  await withGrantedBrowser(async (ctx) => {
    // Chromium here takes 4 to 8 s to start sending a Background Fetch: its timeout is attemptTimeoutMs
    // plus 15 s from the start of the attempt.
    const page = await openSession(ctx, server.url, 'bghang', { attemptTimeoutMs: 3000, retry: { baseMs: 200, capMs: 1000 } });
    // The server reads the whole body and never answers: the browser's fetch would wait for ever.
    await server.fault({ count: 1, hang: true });
    const { id, sha256 } = await uploadRandom(page, 1000, { url: '/upload/bghang' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    await until(async () => (await server.uploads()).find((r) => r.outcome === 'hanging'),
      { timeout: 17000, what: 'the Background Fetch to reach the server, which holds its answer' });
    assert.deepEqual(await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'retrying'), id), []);
    const retrying = await eventOf(page, id, 'retrying');
    assert.equal(retrying.reason, 'timeout');
    assert.equal(retrying.attempt, 1);
    // The browser's fetch is aborted, and the retry goes by the worker's own fetch.
    const ids = () => page.evaluate(async () => (await navigator.serviceWorker.ready).backgroundFetch.getIds());
    await until(async () => (await ids()).length === 0, { what: 'the timed-out Background Fetch to be aborted' });
    await eventOf(page, id, 'completed');
    const records = (await server.uploads()).filter((r) => r.path === '/upload/bghang');
    assert.equal(records.length, 2, JSON.stringify(records.map((r) => r.outcome)));
    assert.equal(records[0].status, null, 'the first exchange was never answered');
    assert.equal(records[1].status, 201);
    assert.equal(records[1].sha256, sha256);
    assert.equal(records[0].idempotencyKey, records[1].idempotencyKey);
    const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id), id);
    assert.deepEqual(kinds.filter((e) => e.kind === 'started').map((e) => e.transport), ['backgroundFetch', 'fallback']);
    assert.ok(!kinds.some((e) => e.kind === 'cancelled'), 'the abort Ferry made does not cancel the task');
    const task = await page.evaluate((id) => window.ferrySession.get(id), id);
    assert.equal(task.state, 'done');
    assert.equal(task.attempt, 2);
  });
});

// Chromium 156 with a persistent profile (as users have) dies, every tab with it, when a Background Fetch
// is aborted while its request body is still being sent: Ferry leaves such a fetch to end on its own.
test('cancel during a Background Fetch upload: `cancelled` and payload deleted at once; the body under way is left to end (aborting it crashes Chromium) and its answer changes nothing', async () => {
  await withGrantedBrowser(async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgcancel');
    await server.fault({ count: 1, slowBytesPerSec: 512 * 1024 });
    const { id } = await uploadRandom(page, 2 * 1024 * 1024, { url: '/upload/bgcancel' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    // Mid-upload by the server's own account (Chromium's progress reports are too coarse to tell).
    await until(async () => (await server.uploads()).find((r) => r.outcome === 'receiving' && r.bytes > 0),
      { what: 'the server receiving the body' });
    const ids = () => page.evaluate(async () => (await navigator.serviceWorker.ready).backgroundFetch.getIds());
    assert.deepEqual(await ids(), [id]);
    assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), id), true);
    await eventOf(page, id, 'cancelled');
    assert.equal((await page.evaluate((id) => window.ferrySession.get(id), id)).state, 'cancelled');
    assert.equal((await dbCounts(page)).blobs, 0);
    // The browser's fetch ends on its own (an abort would not have stopped the body under way either):
    // the server may apply it, so cancel is best effort on the wire; the task stays cancelled.
    await until(async () => (await ids()).length === 0, { what: 'the Background Fetch to end' });
    const [record] = await settled(server, 1);
    assert.equal(record.outcome, 'answered');
    // The browser is alive, and a later upload of the session completes.
    const next = await uploadRandom(page, 1000, { url: '/upload/bgcancel/next' });
    await eventOf(page, next.id, 'completed');
    const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind), id);
    assert.deepEqual(kinds.filter((k) => k !== 'progress'), ['queued', 'started', 'cancelled']);
    assert.equal((await page.evaluate((id) => window.ferrySession.get(id), id)).state, 'cancelled');
  });
});
