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
    // A picked file goes up and its row says so; clear empties the list and the session goes on.
    const pick = (name) => page.setInputFiles('#files', { name, mimeType: 'text/plain', buffer: Buffer.from(`demo ${name}`) });
    const states = () => page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => [tr.querySelector('.name').textContent, tr.querySelector('.state').textContent]));
    await pick('one.txt');
    await until(async () => JSON.stringify(await states()) === JSON.stringify([['one.txt', 'done']]), { what: 'one.txt done' });
    await page.click('#clear');
    await until(async () => (await page.textContent('#status')) === 'cleared 1', { what: 'the clear' });
    assert.deepEqual(await states(), []);
    await pick('two.txt');
    await until(async () => JSON.stringify(await states()) === JSON.stringify([['two.txt', 'done']]), { what: 'two.txt done' });
    const records = await server.uploads();
    assert.deepEqual(records.map((r) => [r.status, r.bytes]), [[201, 12], [201, 12]]);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});
