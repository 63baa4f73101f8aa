// webpack 5 from the packed tarball: two entries (page, module service worker), no Ferry-specific setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { APPS, assertCompleted, build, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';

const APP = path.join(APPS, 'webpack');

test('webpack 5 builds the page and the module worker; the page uploads a file to completed', { timeout: 300000 }, async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
  const { stdout, stderr } = await build(APP);
  assert.doesNotMatch(`${stdout}${stderr}`, /WARNING/, 'a production build with the README\'s setting warns of nothing');
  const dist = await readdir(path.join(APP, 'dist'), { recursive: true });
  assert.ok(dist.includes('sw.js') && dist.some((f) => f.endsWith('.wasm')), `webpack emitted: ${dist}`);
  await inChromium({ www: path.join(APP, 'dist') }, async ({ page, log, server }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
  });
});
