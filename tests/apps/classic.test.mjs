// A classic service worker: `importScripts('/ferry/ferry-sw.js'); ferry.installFerry(self, {})`, registered
// by the page with `serviceWorker: { url: '/sw.js', type: 'classic' }`, the installed package served at
// /ferry/. In Chromium (playwright-core) and Firefox ESR (puppeteer-core over WebDriver BiDi).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { sha256, startServer } from '../harness.mjs';
import { closeFirefox, firefoxProfile, launchFirefox } from '../firefox.mjs';
import { APPS, assertCompleted, consoleOf, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';

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

test('Firefox ESR: a classic worker built with importScripts uploads a picked file to completed', { timeout: 180000 }, async () => {
  const server = await startServer({ args: ['--www', APP, '--pkg', PKG] });
  const dir = await firefoxProfile();
  const browser = await launchFirefox(dir);
  try {
    const page = await browser.newPage();
    const log = consoleOf(page);
    await page.goto(server.url, { waitUntil: 'load' });
    const pick = (input, file) => input.uploadFile(file);
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick }));
  } finally {
    await closeFirefox(browser);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
