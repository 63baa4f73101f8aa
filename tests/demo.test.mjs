// The demo PWA that `cargo xtask demo` serves: it must install as an app, open offline, show tus progress
// moving, and tell the story it promises (close the tab mid-upload, reopen, see it finished), in pixels
// (screenshots under target/screenshots/) and in the DOM the tests read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, profileDir, launchChromium, until, payload, sha256, serviceWorker } from './harness.mjs';

const server = await startServer();
after(() => server.stop());
const SHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../target/screenshots');
await mkdir(SHOTS, { recursive: true });
const KiB = 1024;
const MiB = 1024 * KiB;
const tusUploads = async () => (await fetch(new URL('/__ferry/tus', server.url))).json();

/** Opens the demo and waits for its session; fails on any uncaught page error. */
async function openDemo(ctx) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url);
  await until(async () => (await page.textContent('#status')) === 'ready', { what: 'the demo session' });
  return { page, errors };
}

/** The upload table as the user sees it. */
const rows = (page) => page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => ({
  id: tr.dataset.task,
  name: tr.querySelector('.name').textContent,
  state: tr.querySelector('.state').textContent,
  progress: tr.querySelector('progress').value,
  pct: tr.querySelector('.pct').textContent,
})));

/** The event log, top (newest) first. */
const logged = (page) => page.$$eval('#events li', (lis) => lis.map((li) => ({
  seq: Number(li.dataset.seq), kind: li.dataset.kind, task: li.dataset.task, replayed: 'replayed' in li.dataset,
})));

const controlled = (page) => page.waitForFunction(() => navigator.serviceWorker.controller !== null);

test('the demo page gets an active service worker and a ready session; tus by default, POST on request; the log shows every event in seq order', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const { page, errors } = await openDemo(ctx);
    const state = await page.evaluate(async () => {
      const worker = (await navigator.serviceWorker.ready).active;
      if (worker.state !== 'activated') await new Promise((r) => worker.addEventListener('statechange', () => worker.state === 'activated' && r()));
      return worker.state;
    });
    assert.equal(state, 'activated');
    // A picked file goes up and its row says so; clear empties the list and the session goes on.
    const pick = (name) => page.setInputFiles('#files', { name, mimeType: 'text/plain', buffer: Buffer.from(`demo ${name}`) });
    const states = async () => (await rows(page)).map((r) => [r.name, r.state]);
    await pick('one.txt');
    await until(async () => JSON.stringify(await states()) === JSON.stringify([['one.txt', 'done']]), { what: 'one.txt done' });
    const [one] = await rows(page);
    assert.equal(one.progress, 1);
    assert.equal(one.pct, '100 %');
    // Every event of the session, newest first, seq 1, 2, 3, … with none missing.
    const log = await until(async () => {
      const l = await logged(page);
      return l[0]?.kind === 'completed' ? l : null;
    }, { what: 'completed in the log' });
    assert.deepEqual(log.map((e) => e.seq), log.map((_, i) => log.length - i));
    for (const kind of ['queued', 'started', 'progress', 'completed']) assert.ok(log.some((e) => e.kind === kind && e.task === one.id), `${kind} logged`);
    assert.ok(log.every((e) => !e.replayed), 'nothing is replayed in the page that saw it live');

    await page.click('#clear');
    await until(async () => (await page.textContent('#status')) === 'cleared 1', { what: 'the clear' });
    assert.deepEqual(await states(), []);
    await page.selectOption('#protocol', 'http');
    await pick('two.txt');
    await until(async () => JSON.stringify(await states()) === JSON.stringify([['two.txt', 'done']]), { what: 'two.txt done' });
    const records = await server.uploads();
    assert.deepEqual(records.map((r) => [r.method, r.bytes]), [['TUS', 12], ['POST', 12]]);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

/** Width and height from a PNG's IHDR chunk. */
function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG');
  return `${buf.readUInt32BE(16)}x${buf.readUInt32BE(20)}`;
}

test('the demo is an installable app (no installability errors) and opens offline from its cached shell', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const { page, errors } = await openDemo(ctx);
    await controlled(page);
    const cdp = await ctx.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, []);
    // Detached, or the offline emulation below does not reach the reloaded document's navigator.onLine.
    await cdp.detach();
    // The icons the manifest declares are the sizes it says.
    const manifest = await (await fetch(new URL('/manifest.webmanifest', server.url))).json();
    const pngs = manifest.icons.filter((i) => i.type === 'image/png');
    assert.deepEqual([...new Set(pngs.map((i) => i.sizes))].sort(), ['192x192', '512x512']);
    for (const icon of pngs) {
      const res = await fetch(new URL(icon.src, server.url));
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.equal(pngSize(Buffer.from(await res.arrayBuffer())), icon.sizes, icon.src);
    }

    assert.equal(await page.isVisible('#offline'), false);
    await ctx.setOffline(true);
    await page.waitForSelector('#offline', { state: 'visible' });
    const response = await page.reload();
    assert.ok(response.fromServiceWorker(), 'the reload was answered by the service worker');
    await until(async () => (await page.textContent('#status')) === 'ready', { what: 'the session, offline' });
    assert.equal(await page.title(), 'Ferry demo: uploads that never get lost');
    assert.equal(await page.isVisible('#offline'), true);
    assert.match(await page.textContent('.story'), /Close this tab/);
    // Offline, a file is still taken: it waits in the browser, and goes once the network is back.
    await page.setInputFiles('#files', { name: 'offline.txt', mimeType: 'text/plain', buffer: Buffer.from('written offline') });
    await until(async () => (await rows(page)).length === 1, { what: 'the offline upload row' });
    await page.screenshot({ path: path.join(SHOTS, 'demo-offline.png'), fullPage: true });
    await ctx.setOffline(false);
    await page.waitForSelector('#offline', { state: 'hidden' });
    await until(async () => (await rows(page))[0].state === 'done', { what: 'offline.txt done once online' });
    assert.deepEqual((await server.uploads()).map((r) => [r.method, r.bytes]), [['TUS', 15]]);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

test('the story: progress moves mid-upload; the tab closes mid-upload; reopened, the row is done and completed is replayed', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    let { page, errors } = await openDemo(ctx);
    // 8 MiB through 256 KiB PATCHes that the server reads at 512 KiB/s: the upload cannot end in less than
    // 16 s, and the test goes on once a quarter is through (4 s), so what follows happens mid-upload.
    const size = 8 * MiB;
    const bytes = payload(size, 12);
    await server.fault({ count: 1000, slowBytesPerSec: 512 * KiB, path: '/tus/' });
    await page.setInputFiles('#files', { name: 'holiday.mp4', mimeType: 'video/mp4', buffer: bytes });
    const midway = (r) => r.progress > 0 && r.progress < 1;
    await until(async () => (await rows(page)).find((r) => r.progress >= 0.25), { what: 'a quarter of the upload through' });
    await page.screenshot({ path: path.join(SHOTS, 'demo-mid-upload.png'), fullPage: true });
    // What the screenshot showed, from the DOM (the bar only moves forward, and it is still short of the end).
    const [row] = await rows(page);
    assert.equal(row.name, 'holiday.mp4');
    assert.equal(row.state, 'inFlight');
    assert.ok(midway(row), `progress ${row.progress}`);
    const pct = Number(row.pct.replace(' %', ''));
    assert.ok(pct > 0 && pct < 100, `shown ${row.pct}`);
    assert.ok((await logged(page)).some((e) => e.kind === 'progress' && e.task === row.id), 'progress in the log');

    // Close the tab mid-upload: the worker goes on with no page open.
    const [tus] = await tusUploads();
    assert.ok(tus.offset < size, `server offset ${tus.offset} before the close`);
    await page.close();
    assert.deepEqual(errors, []);
    await until(async () => (await tusUploads())[0].offset > tus.offset, { what: 'more bytes with no page open' });
    await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
    const record = await until(async () => (await server.uploads()).find((r) => r.method === 'TUS'), { timeout: 30000, what: 'the upload to finish at the server' });
    assert.equal(record.sha256, sha256(bytes));
    // The worker records the end (task done, completed in the outbox) before a page is opened again.
    const sw = await serviceWorker(ctx);
    await until(() => sw.evaluate((id) => new Promise((resolve) => {
      const open = indexedDB.open('ferry');
      open.onsuccess = () => {
        const get = open.result.transaction('tasks').objectStore('tasks').get(id);
        get.onsuccess = () => { resolve(get.result?.state === 'done'); open.result.close(); };
      };
    }), row.id), { what: 'the task done in the worker' });

    // Reopen: the row says done, and completed reaches this page, replayed from the outbox.
    ({ page, errors } = await openDemo(ctx));
    await until(async () => (await logged(page)).some((e) => e.kind === 'completed' && e.task === row.id), { what: 'completed in the reopened log' });
    await page.screenshot({ path: path.join(SHOTS, 'demo-reopened.png'), fullPage: true });
    assert.deepEqual(await rows(page), [{ ...row, state: 'done', progress: 1, pct: '100 %' }]);
    const completed = (await logged(page)).filter((e) => e.kind === 'completed');
    assert.equal(completed.length, 1);
    assert.equal(completed[0].replayed, true);
    assert.match(await page.textContent('#events li[data-kind="completed"]'), /→ 204 replayed$/);
    assert.equal((await server.uploads()).filter((r) => r.method === 'TUS').length, 1);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});
