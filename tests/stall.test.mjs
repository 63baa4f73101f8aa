// Work stored while the worker's pump runs: it starts in the lanes left free at once, whatever holds the
// others (attempts a server never answers, a Background Fetch), without waiting for those to end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openSession, uploadRandom, until, withGrantedChromium, routeWorker } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

test('uploads stored while another tag\'s attempts hang start at once in the lanes left free, with no page\'s wake heard', async () => {
  await server.reset();
  await withGrantedChromium(server.url, ['backgroundFetch', 'backgroundSync'], async (ctx) => {
    // The pages' wakes are not heard (a page closed or frozen right after its call): the worker has its
    // sync events and the calls themselves.
    await routeWorker(ctx, 'stall-sw.js', `self.addEventListener('message', (e) => {
      if (e.data?.ferry === 'wake') e.stopImmediatePropagation();
    });`);
    const page = await openSession(ctx, server.url, 'stalled', { concurrency: 2, backgroundFetch: false, attemptTimeoutMs: 8000, serviceWorker: '/stall-sw.js' });
    await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      window.other = await Ferry.register('beside', { serviceWorker: '/stall-sw.js' });
      window.otherEvents = [];
      for (const kind of ['started', 'completed']) window.other.addEventListener(kind, (e) => window.otherEvents.push({ ...e.detail, at: Date.now() }));
    });
    // Two uploads the server holds without answering: both of the tag's lanes, until their 8 s timeout.
    await server.fault({ count: 2, hang: true, path: '/upload/stalled' });
    for (let i = 0; i < 2; i++) await uploadRandom(page, 1024, { url: '/upload/stalled' });
    await until(async () => (await server.uploads()).filter((r) => r.outcome === 'hanging').length === 2,
      { timeout: 10000, what: 'both uploads of the tag held by the server at once' });
    // The other tag: its first upload goes by Background Fetch (seconds before Chromium begins it), the
    // rest through the worker in its other lane, one after another.
    const [bgf, ...rest] = await page.evaluate(async () => {
      const ids = [];
      for (let i = 0; i < 4; i++) ids.push(await window.other.upload(new Blob([`beside ${i}`]), { url: '/upload/beside' }));
      return ids;
    });
    const events = await until(async () => {
      const seen = await page.evaluate(() => window.otherEvents);
      return rest.every((id) => seen.some((e) => e.taskId === id && e.kind === 'completed')) ? seen : null;
    }, { timeout: 15000, what: 'the other tag\'s uploads sent through the worker completed' });
    assert.equal(events.find((e) => e.taskId === bgf && e.kind === 'started')?.transport, 'backgroundFetch');
    // None waited for the Background Fetch to end (nor for the hung attempts: they still hang).
    const bgfDone = events.find((e) => e.taskId === bgf && e.kind === 'completed');
    for (const id of rest) {
      const done = events.find((e) => e.taskId === id && e.kind === 'completed');
      assert.equal(done.response.status, 201);
      assert.ok(!bgfDone || done.at < bgfDone.at, `${id} completed ${done.at - bgfDone?.at} ms after the Background Fetch`);
    }
    assert.equal((await server.uploads()).filter((r) => r.outcome === 'hanging').length, 2, 'the hung attempts still hang');
    // (The browser closes at once only with no Background Fetch under way.)
    await until(() => page.evaluate((id) => window.otherEvents.some((e) => e.taskId === id && e.kind === 'completed'), bgf),
      { timeout: 15000, what: 'the Background Fetch completed' });
  });
});

test('an attempt that ends just after a look counted it as running frees its lane for the next upload at once', async () => {
  await server.reset();
  await withGrantedChromium(server.url, ['backgroundFetch', 'backgroundSync'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'held', { concurrency: 2, backgroundFetch: false, attemptTimeoutMs: 8000 });
    await server.fault({ count: 2, hang: true, path: '/upload/held' });
    for (let i = 0; i < 2; i++) await uploadRandom(page, 1024, { url: '/upload/held' });
    await until(async () => (await server.uploads()).filter((r) => r.outcome === 'hanging').length === 2,
      { timeout: 10000, what: 'both uploads of the tag held by the server at once' });
    // A page listening to every kind acknowledges each event as it comes: its acknowledgements reach the
    // worker while attempts end, and the worker looks at the queue then.
    const { bgf, rest, events } = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const other = await Ferry.register('next', { serviceWorker: '/sw.js' });
      const events = [];
      for (const kind of ['queued', 'started', 'progress', 'retrying', 'completed', 'failed']) {
        other.addEventListener(kind, (e) => events.push({ ...e.detail, at: Date.now() }));
      }
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await other.upload(new Blob([`next ${i}`]), { url: '/upload/next' }));
      const [bgf, ...rest] = ids;
      const done = (id) => events.some((e) => e.taskId === id && e.kind === 'completed');
      while (!(rest.every(done) && done(bgf))) await new Promise((r) => other.addEventListener('completed', r, { once: true }));
      return { bgf, rest, events };
    });
    assert.equal(events.find((e) => e.taskId === bgf && e.kind === 'started')?.transport, 'backgroundFetch');
    const bgfDone = events.find((e) => e.taskId === bgf && e.kind === 'completed');
    for (const id of rest) {
      const done = events.find((e) => e.taskId === id && e.kind === 'completed');
      assert.ok(done.at < bgfDone.at, `${id} completed ${done.at - bgfDone.at} ms after the Background Fetch (it waited for it)`);
    }
  });
});

test('resume() while another tag\'s attempts hang starts the resumed tag\'s upload at once, with no page\'s wake heard', async () => {
  await server.reset();
  await withGrantedChromium(server.url, ['backgroundSync'], async (ctx) => {
    await routeWorker(ctx, 'resume-sw.js', `self.addEventListener('message', (e) => {
      if (e.data?.ferry === 'wake') e.stopImmediatePropagation();
    });`);
    const page = await openSession(ctx, server.url, 'hung', { concurrency: 2, backgroundFetch: false, attemptTimeoutMs: 8000, serviceWorker: '/resume-sw.js' });
    await server.fault({ count: 2, hang: true, path: '/upload/hung' });
    for (let i = 0; i < 2; i++) await uploadRandom(page, 1024, { url: '/upload/hung' });
    await until(async () => (await server.uploads()).filter((r) => r.outcome === 'hanging').length === 2,
      { timeout: 10000, what: 'both uploads of the tag held by the server at once' });
    const completedAt = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const paused = await Ferry.register('resumed', { serviceWorker: '/resume-sw.js', backgroundFetch: false });
      await paused.pause();
      const id = await paused.upload(new Blob(['held back, then resumed']), { url: '/upload/resumed' });
      const done = new Promise((resolve) => paused.addEventListener('completed', (e) => e.detail.taskId === id && resolve(Date.now())));
      await paused.resume();
      return done;
    });
    // Before the hung attempts' timeout (8 s): resume() did not wait for an attempt to end.
    const retried = await page.evaluate(() => window.ferryEvents.find((e) => e.kind === 'retrying'));
    assert.equal(retried, undefined, `the resumed upload completed only after a hung attempt ended (at ${completedAt})`);
    assert.equal((await server.uploads()).filter((r) => r.outcome === 'hanging').length, 2, 'the hung attempts still hang');
    await server.reset();
  });
});
