// Chromium runs one Background Fetch of an origin at a time, and Ferry counts only its own uploads in
// flight. A Background Fetch it does not know of (the app's own, here an upload whose answer the server
// holds) would hold back the one Ferry hands the browser next until that one's attempt timed out; the page
// sees it listed and leaves the upload to the worker instead.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openSession, uploadRandom, until, eventOf, withGrantedChromium } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

test('an upload Ferry would hand to Background Fetch while the app\'s own Background Fetch runs goes through the worker at once: one attempt, sent once', async () => {
  await server.reset();
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'bgforeign', { attemptTimeoutMs: 3000, retry: { baseMs: 200, capMs: 1000 } });
    await server.fault({ count: 1, hang: true, path: '/upload/app-own' });
    await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      const body = new Blob(['x'.repeat(1000)]);
      await registration.backgroundFetch.fetch('app-own', [new Request('/upload/app-own', { method: 'POST', body })]);
    });
    await until(async () => (await server.uploads()).find((r) => r.path === '/upload/app-own' && r.outcome === 'hanging'),
      { timeout: 20000, what: "the app's Background Fetch to reach the server, which holds its answer" });
    const { id, sha256 } = await uploadRandom(page, 1000, { url: '/upload/bgforeign' });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.attempt, 1, "not held back behind the app's fetch until its attempt timed out");
    const started = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'started'), id);
    assert.deepEqual(started.map((e) => e.attempt), [1], 'the refused Background Fetch was no attempt');
    assert.notEqual(started[0].transport, 'backgroundFetch');
    const records = (await server.uploads()).filter((r) => r.path === '/upload/bgforeign');
    assert.equal(records.length, 1);
    assert.equal(records[0].sha256, sha256);
  });
});
