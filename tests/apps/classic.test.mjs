// A classic service worker: `importScripts('/ferry/ferry-sw.js'); ferry.installFerry(self, {})`, registered
// by the page with `serviceWorker: { url: '/sw.js', type: 'classic' }`, the installed package served at
// /ferry/. In Chromium (playwright-core), Firefox ESR (puppeteer-core over WebDriver BiDi) and WebKitGTK
// (WebKitWebDriver, webkit.mjs).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { sha256, startServer, until } from '../harness.mjs';
import { closeFirefox, firefoxProfile, launchFirefox } from '../firefox.mjs';
import { launchWebKit, removeDir, startWebKit, webkitProfile } from '../webkit.mjs';
import { APPS, assertCompleted, consoleOf, fileOf, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';

const APP = path.join(APPS, 'classic');
const PKG = path.join(APP, 'node_modules/ferry-upload');

before(async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
});

test('Chromium: a classic worker built with importScripts uploads a picked file to completed', { timeout: 120000 }, async () => {
  await inChromium({ www: APP, pkg: PKG }, async ({ page, log, server, ctx }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
    // The worker that did it is the classic one: the script defined `ferry` on its global.
    const [sw] = ctx.serviceWorkers();
    assert.equal(await sw.evaluate(() => typeof self.ferry?.installFerry), 'function');
    // The global carries the worker-side API of the module entry too: a request enqueued in the worker is
    // stored and delivered, and the page of its tag hears it completed; the Workbox plugin is there.
    const body = 'enqueued by the classic worker';
    const id = await sw.evaluate((body) => self.ferry.enqueue(new Request('/upload', { method: 'POST', body }),
      { tag: 'uploads' }), body);
    const done = await log.next(new RegExp(`^(completed|failed) ${id}`));
    const records = (await server.uploads()).filter((r) => r.sha256 === sha256(Buffer.from(body)));
    assertCompleted(assert, { id, done, records, lines: log.lines });
    assert.equal(await sw.evaluate(() => typeof self.ferry.ferryPlugin({ tag: 'uploads' }).fetchDidFail), 'function');
  });
});

test('Chromium: register says a classic worker registered as a module is classic, and names the script a classic worker imports that is not there', { timeout: 120000 }, async () => {
  // A page that runs no app code: only the calls below register a worker.
  await inChromium({ www: APP, pkg: PKG, url: (s) => `${s.url}__ferry/health` }, async ({ page }) => {
    const register = (serviceWorker) => page.evaluate(async (serviceWorker) => {
      const { Ferry } = await import('/ferry/index.js');
      try {
        await Ferry.register('uploads', { serviceWorker });
        return { ok: true };
      } catch (e) {
        return { name: e.name, message: e.message };
      }
    }, serviceWorker);
    const asModule = await register({ url: '/sw.js', type: 'module' });
    assert.equal(asModule.name, 'FerryInvalidOptions', JSON.stringify(asModule));
    assert.match(asModule.message, /it calls importScripts, so it is a classic worker: register it with \{ url: "\/sw\.js", type: 'classic' \}/);
    const typo = await register({ url: '/sw-typo.js', type: 'classic' });
    assert.equal(typo.name, 'FerryInvalidOptions', JSON.stringify(typo));
    assert.match(typo.message, /the script it imports, \/ferry\/ferry-sw\.jss, answers 404/);
  });
});

test('Firefox ESR: a classic worker built with importScripts uploads a picked file to completed, and again after the browser restarts', { timeout: 180000 }, async () => {
  const server = await startServer({ args: ['--www', APP, '--pkg', PKG] });
  const dir = await firefoxProfile();
  let browser = await launchFirefox(dir);
  try {
    const pick = (input, file) => input.uploadFile(file);
    const uploadOnce = async () => {
      const page = await browser.newPage();
      const log = consoleOf(page);
      await page.goto(server.url, { waitUntil: 'load' });
      assertCompleted(assert, await uploadThroughPage({ page, log, server, pick }));
    };
    await uploadOnce();
    // Restarted, Firefox names the worker's scripts in stack traces by path alone: ferry-sw.js still finds
    // the wasm next to itself (not at the worker's own URL).
    await closeFirefox(browser);
    browser = await launchFirefox(dir);
    await uploadOnce();
  } finally {
    await closeFirefox(browser);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('WebKit: a classic worker built with importScripts uploads a picked file to completed', { timeout: 120000 }, async () => {
  const server = await startServer({ args: ['--www', APP, '--pkg', PKG] });
  const webkit = await startWebKit();
  const profile = await webkitProfile();
  const f = await fileOf(300 * 1024, 9);
  let page = null;
  try {
    page = await launchWebKit(webkit, profile);
    await page.goto(server.url);
    // The file input is enabled once Ferry registered; WebDriver has no console events, so the page's
    // console lines are kept in the page from then on (the app logs `queued`, `completed` and `failed`).
    await until(() => page.evaluate(() => document.querySelector('input[type=file]')?.disabled === false), { timeout: 60000, what: 'Ferry registered' });
    await page.evaluate(() => {
      window.lines = [];
      for (const level of ['log', 'error']) {
        const real = console[level].bind(console);
        console[level] = (...args) => { window.lines.push(args.join(' ')); real(...args); };
      }
    });
    await page.pickFile('input[type=file]', f.file);
    const line = (re) => until(() => page.evaluate((source) => window.lines.find((l) => new RegExp(source).test(l)) ?? null, re.source), { timeout: 60000, what: `a console line ${re}` });
    const id = (await line(/^queued /)).split(' ')[1];
    const done = await line(new RegExp(`^(completed|failed) ${id}`));
    const records = (await server.uploads()).filter((r) => r.sha256 === f.sha256);
    // (`importScripts` throws in a module worker: an upload that completed went through the classic one.)
    assertCompleted(assert, { id, done, records, lines: await page.evaluate(() => window.lines) });
  } finally {
    await page?.close();
    await webkit.stop();
    await server.stop();
    await f.remove();
    await removeDir(profile);
  }
});
