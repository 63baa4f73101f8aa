// esbuild from the packed tarball: esbuild leaves `new URL(…, import.meta.url)` alone and emits no wasm,
// so the app's build copies ferry_bg.wasm next to its bundles (the README says so; this is that step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { APPS, PKG, ROOT, assertCompleted, build, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';

const APP = path.join(APPS, 'esbuild');

test('the README gives exactly the build command this app uses', async () => {
  const { scripts } = JSON.parse(await readFile(path.join(APP, 'package.json'), 'utf8'));
  const command = scripts.build.replace(' && cp index.html dist/', ''); // the page's own HTML is the app's business
  for (const readme of [path.join(ROOT, 'README.md'), path.join(PKG, 'README.md')]) {
    assert.ok((await readFile(readme, 'utf8')).includes(`\`${command}\``), `${readme} lacks \`${command}\``);
  }
});

test('esbuild bundles the page and the module worker, the build copies ferry_bg.wasm; the page uploads a file to completed', { timeout: 300000 }, async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
  await build(APP);
  const dist = await readdir(path.join(APP, 'dist'), { recursive: true });
  assert.ok(dist.includes('sw.js') && dist.some((f) => f.endsWith('.wasm')), `esbuild emitted: ${dist}`);
  await inChromium({ www: path.join(APP, 'dist') }, async ({ page, log, server }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
  });
});
