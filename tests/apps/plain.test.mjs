// No bundler: a `<script type="module">` page with an import map, a module worker importing the package by
// path, both served straight from the app folder (node_modules included). Also what the page entry promises
// about loading: importing it fetches nothing (SSR), and a wasm that cannot load rejects Ferry.register
// with FerryWasmLoad, not the import.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { APPS, assertCompleted, inChromium, install, pack, pickPlaywright, run, uploadThroughPage } from './common.mjs';

const APP = path.join(APPS, 'plain');

before(async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
});

test('a plain module page and module worker (no bundler) upload a file to completed', { timeout: 120000 }, async () => {
  await inChromium({ www: APP }, async ({ page, log, server }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
  });
});

/** In the page: imports the package, then registers; says what each step did. */
async function importThenRegister() {
  const out = {};
  const { Ferry } = await import('/node_modules/ferry-upload/index.js');
  out.imported = typeof Ferry.register;
  try {
    await Ferry.register('load', { serviceWorker: '/sw.js' });
    out.registered = true;
  } catch (e) {
    out.error = { name: e.name, message: e.message };
  }
  return out;
}

test('a wasm that cannot be fetched rejects Ferry.register with FerryWasmLoad (the import still works); the next call loads it', { timeout: 120000 }, async () => {
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page }) => {
    await page.route('**/ferry_bg.wasm', (route) => route.fulfill({ status: 404, body: 'not here' }));
    const first = await page.evaluate(importThenRegister);
    assert.equal(first.imported, 'function');
    assert.equal(first.error?.name, 'FerryWasmLoad', JSON.stringify(first));
    assert.match(first.error.message, /\/node_modules\/ferry-upload\/ferry_bg\.wasm/);
    assert.match(first.error.message, /'wasm-unsafe-eval'/);
    await page.unroute('**/ferry_bg.wasm');
    const second = await page.evaluate(importThenRegister);
    assert.deepEqual(second, { imported: 'function', registered: true });
  });
});

test("a Content-Security-Policy without 'wasm-unsafe-eval' rejects Ferry.register with FerryWasmLoad saying so", { timeout: 120000 }, async () => {
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page, server }) => {
    await page.route('**/csp.html', (route) => route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/html', 'content-security-policy': "script-src 'self'" },
      body: '<!doctype html><title>strict CSP</title>',
    }));
    await page.goto(`${server.url}csp.html`);
    const out = await page.evaluate(importThenRegister);
    assert.equal(out.imported, 'function');
    assert.equal(out.error?.name, 'FerryWasmLoad', JSON.stringify(out));
    assert.match(out.error.message, /violates the following Content Security policy directive/); // Chromium's cause
    assert.match(out.error.message, /Content-Security-Policy allows 'wasm-unsafe-eval'/); // what to do
  });
});

test('importing the package in Node (server-side rendering) does not throw; Ferry.register there is FerryWasmLoad', { timeout: 60000 }, async () => {
  const script = `
    const page = await import('ferry-upload');
    const worker = await import('ferry-upload/worker');
    const out = { page: Object.keys(page), worker: Object.keys(worker) };
    try { await page.Ferry.register('ssr', {}); } catch (e) { out.error = { name: e.name, message: e.message }; }
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script], APP));
  assert.deepEqual(out.page, ['Ferry']);
  assert.deepEqual(out.worker, ['FerryPlugin', 'enqueue', 'ferryPlugin', 'installFerry']);
  assert.equal(out.error.name, 'FerryWasmLoad');
  assert.match(out.error.message, /runs in browsers only/);
});
