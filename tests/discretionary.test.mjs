// Discretionary uploads (iOS isDiscretionary): deferrable uploads enqueued within one batch window become
// due at its end and go out together; a normal upload of the same session goes at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, openSession, until, settled, FAST_SYNC_RETRY } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

test('discretionary uploads wait for the end of their batch window and are sent together', async () => {
  const window = 4000;
  const ctx = await launchChromium(await profileDir(), { args: FAST_SYNC_RETRY });
  try {
    const page = await openSession(ctx, server.url, 'batch', { batchWindowMs: window, backgroundFetch: false });
    // Start right after a window boundary, so all three land in the same window.
    const start = await until(() => (Date.now() % window < 500 ? Date.now() : 0), { what: 'the start of a window' });
    // The end of the window `start` is in (a start exactly on a boundary opens the next window).
    const boundary = (Math.floor(start / window) + 1) * window;
    for (let i = 0; i < 3; i++) {
      await page.evaluate((i) => window.ferrySession.upload(new Blob([`deferred ${i}`]), { url: `/upload/batch/${i}`, discretionary: true }), i);
      await new Promise((r) => setTimeout(r, 300)); // spread the enqueues over the window
    }
    const urgent = await page.evaluate(() => window.ferrySession.upload(new Blob(['now']), { url: '/upload/now' }));
    const [first] = await settled(server, 1);
    assert.equal(first.path, '/upload/now', 'the normal upload goes first, at once');
    assert.ok(first.receivedAt < boundary, `before the window ends (${first.receivedAt - boundary} ms from its end; record ${JSON.stringify(first)})`);
    const records = await settled(server, 4, { timeout: 40000 });
    const batch = records.filter((r) => r.path.startsWith('/upload/batch/'));
    assert.equal(batch.length, 3);
    for (const r of batch) assert.ok(r.receivedAt >= boundary, `${r.path} at ${r.receivedAt - boundary} ms from the window's end`);
    const spread = Math.max(...batch.map((r) => r.receivedAt)) - Math.min(...batch.map((r) => r.receivedAt));
    assert.ok(spread < 1000, `sent together (${spread} ms apart), not one per enqueue`);
    const tasks = await page.evaluate(() => window.ferrySession.list());
    assert.ok(tasks.filter((t) => t.discretionary).every((t) => t.earliestBegin === boundary), 'one shared begin time');
    assert.ok(urgent);
  } finally {
    await ctx.close();
  }
});
