// The demo: `cargo xtask demo` serves this page; it must get an active service worker and a session.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, until } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

test('the demo page gets an active service worker and a ready session', async () => {
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    const state = await page.evaluate(async () => {
      const worker = (await navigator.serviceWorker.ready).active;
      if (worker.state !== 'activated') await new Promise((r) => worker.addEventListener('statechange', () => worker.state === 'activated' && r()));
      return worker.state;
    });
    assert.equal(state, 'activated');
    await until(async () => (await page.textContent('#status')) === 'ready', { what: 'the demo session' });
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});
