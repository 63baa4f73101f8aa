// The README's Quickstart, pasted into a fresh Vite 8 app (tests/apps/vite: package.json + lock only) and
// run in dev (`vite`, pre-bundling on) and build (`vite build`, served from the reference server).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { APPS, PKG, ROOT, assertCompleted, build, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';
import { quickstartFiles } from './quickstart.mjs';

const APP = path.join(APPS, 'vite');
const EXPECTED = ['index.html', 'src/main.js', 'sw.js', 'vite.config.js'];

before(async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
  const files = await quickstartFiles(path.join(ROOT, 'README.md'));
  assert.deepEqual(Object.keys(files).sort(), EXPECTED);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(APP, name)), { recursive: true });
    await writeFile(path.join(APP, name), text);
  }
  await rm(path.join(APP, 'node_modules/.vite'), { recursive: true, force: true });
});

test('the package README has the same Quickstart as the repository README', async () => {
  assert.deepEqual(await quickstartFiles(path.join(PKG, 'README.md')), await quickstartFiles(path.join(ROOT, 'README.md')));
});

test('Quickstart, vite build: the built page and worker upload a picked file to completed', { timeout: 300000 }, async () => {
  await rm(path.join(APP, 'dist'), { recursive: true, force: true });
  await build(APP);
  const dist = await readdir(path.join(APP, 'dist'), { recursive: true });
  assert.ok(dist.includes('sw.js') && dist.some((f) => f.endsWith('.wasm')), `vite emitted: ${dist}`);
  await inChromium({ www: path.join(APP, 'dist') }, async ({ page, log, server }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
  });
});

test('Quickstart, vite dev server: the page and worker upload a picked file to completed', { timeout: 300000 }, async () => {
  // The app's own Vite, with the Quickstart's config file; the test only adds where `/upload` goes.
  const vite = await import(pathToFileURL(createRequire(path.join(APP, 'package.json')).resolve('vite')).href);
  let dev = null;
  try {
    await inChromium({ url: (s) => `${s.url}__ferry/health` }, async ({ page, log, server }) => {
      dev = await vite.createServer({
        root: APP,
        configFile: path.join(APP, 'vite.config.js'),
        logLevel: 'warn',
        server: { host: '127.0.0.1', port: 0, proxy: { '/upload': server.url.replace(/\/$/, '') } },
      });
      await dev.listen();
      await page.goto(dev.resolvedUrls.local[0]);
      assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
    });
  } finally {
    await dev?.close();
  }
});
