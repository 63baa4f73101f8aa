// No bundler: a `<script type="module">` page with an import map, a module worker importing the package by
// path, both served straight from the app folder (node_modules included). Also what the package promises
// about loading: the page entry fetches no wasm (the engine runs in the worker) and importing it does
// nothing (SSR); a worker that cannot load its wasm makes Ferry.register reject with FerryWasmLoad saying
// why, and the next call, once it can, works.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rename } from 'node:fs/promises';
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

/** In the page: imports the package, then registers with the worker at `sw`; says what each step did. */
async function importThenRegister(sw) {
  const out = {};
  const { Ferry } = await import('/node_modules/ferry-upload/index.js');
  out.imported = typeof Ferry.register;
  try {
    await Ferry.register('load', { serviceWorker: sw });
    out.registered = true;
  } catch (e) {
    out.error = { name: e.name, message: e.message };
  }
  return out;
}

test('a worker that cannot fetch its wasm makes Ferry.register reject with FerryWasmLoad (the page loads no wasm); the next call, once it can, works', { timeout: 120000 }, async () => {
  const wasm = path.join(APP, 'node_modules/ferry-upload/ferry_bg.wasm');
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page }) => {
    const wasmAsked = [];
    page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmAsked.push(r.url()); });
    await rename(wasm, `${wasm}.away`);
    let first;
    try {
      first = await page.evaluate(importThenRegister, '/sw.js');
    } finally {
      await rename(`${wasm}.away`, wasm);
    }
    assert.equal(first.imported, 'function');
    assert.equal(first.error?.name, 'FerryWasmLoad', JSON.stringify(first));
    assert.match(first.error.message, /\/node_modules\/ferry-upload\/ferry_bg\.wasm/);
    assert.match(first.error.message, /'wasm-unsafe-eval'/);
    const second = await page.evaluate(importThenRegister, '/sw.js');
    assert.deepEqual(second, { imported: 'function', registered: true });
    assert.deepEqual(wasmAsked, [], 'the page itself fetched no wasm');
  });
});

test("a worker under a Content-Security-Policy without 'wasm-unsafe-eval' makes Ferry.register reject with FerryWasmLoad saying so", { timeout: 120000 }, async () => {
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page }) => {
    const out = await page.evaluate(importThenRegister, `/sw.js?csp=${encodeURIComponent("script-src 'self'")}`);
    assert.equal(out.imported, 'function');
    assert.equal(out.error?.name, 'FerryWasmLoad', JSON.stringify(out));
    assert.match(out.error.message, /Content Security Policy/); // Chromium's cause
    assert.match(out.error.message, /Content-Security-Policy allows 'wasm-unsafe-eval'/); // what to do
  });
});

test('a service worker that does not call installFerry makes Ferry.register reject with FerryNoWorker, naming installFerry', { timeout: 120000 }, async () => {
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page }) => {
    const out = await page.evaluate(importThenRegister, '/no-ferry-sw.js');
    assert.equal(out.error?.name, 'FerryNoWorker', JSON.stringify(out));
    assert.match(out.error.message, /no-ferry-sw\.js did not answer within 15 s: does it call installFerry\(self\)/);
  });
});

test("an app's own service worker active at the scope: Ferry's worker waits behind it, and FerryNoWorker says so", { timeout: 120000 }, async () => {
  await inChromium({ www: APP, url: (s) => `${s.url}sw.js` }, async ({ page }) => {
    // The app's worker (no installFerry) controls the page first; then the app adds Ferry's as its own script.
    await page.evaluate(async () => {
      await navigator.serviceWorker.register('/no-ferry-sw.js', { type: 'module' });
      await navigator.serviceWorker.ready;
    });
    await page.reload();
    await page.evaluate(() => navigator.serviceWorker.ready);
    assert.match(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL), /no-ferry-sw\.js$/);
    const out = await page.evaluate(importThenRegister, '/sw.js');
    assert.equal(out.error?.name, 'FerryNoWorker', JSON.stringify(out));
    assert.match(out.error.message, /no-ferry-sw\.js did not answer within 15 s/);
    assert.match(out.error.message, /\/sw\.js waits behind it: a scope runs one service worker, so call installFerry\(self\) in .*no-ferry-sw\.js/);
  });
});

test('importing the package in Node (server-side rendering) does not throw; Ferry.register there is FerryNoWorker', { timeout: 60000 }, async () => {
  const script = `
    const page = await import('ferry-upload');
    const worker = await import('ferry-upload/worker');
    const out = { page: Object.keys(page), worker: Object.keys(worker) };
    try { await page.Ferry.register('ssr', {}); } catch (e) { out.error = { name: e.name, message: e.message }; }
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(await run(process.execPath, ['--input-type=module', '-e', script], APP));
  assert.deepEqual(out.page, ['Ferry']);
  assert.deepEqual(out.worker, ['FerryPlugin', 'enqueue', 'ferryPlugin', 'installFerry']);
  assert.equal(out.error.name, 'FerryNoWorker');
  assert.match(out.error.message, /runs in a browser page/);
});
