// Rollup from the packed tarball: @rollup/plugin-node-resolve and @web/rollup-plugin-import-meta-assets
// (which emits the wasm named by `new URL(…, import.meta.url)`), as the README says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { APPS, PKG, ROOT, assertCompleted, build, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';

const APP = path.join(APPS, 'rollup');

test('the README names exactly the plugins and settings this app uses', async () => {
  const config = await readFile(path.join(APP, 'rollup.config.js'), 'utf8');
  for (const readme of [path.join(ROOT, 'README.md'), path.join(PKG, 'README.md')]) {
    const row = (await readFile(readme, 'utf8')).split('\n').find((l) => l.startsWith('| Rollup'));
    for (const setting of ['plugins: [nodeResolve(), importMetaAssets()]', "format: 'es'"]) {
      assert.ok(config.includes(setting) && row.includes(setting), `${setting} in rollup.config.js and ${readme}`);
    }
    for (const plugin of ['@rollup/plugin-node-resolve', '@web/rollup-plugin-import-meta-assets']) {
      assert.ok(config.includes(`from '${plugin}'`) && row.includes(plugin), `${plugin} in rollup.config.js and ${readme}`);
    }
  }
});

test('Rollup builds the page and the module worker; the page uploads a file to completed', { timeout: 300000 }, async () => {
  const { tarball, remove } = await pack();
  await install(APP, tarball);
  await remove();
  const { stderr } = await build(APP);
  // Rollup warns of each import cycle among the package's modules (a user sees it on every build).
  assert.doesNotMatch(stderr, /Circular dependenc/i, `rollup warned:\n${stderr}`);
  const dist = await readdir(path.join(APP, 'dist'), { recursive: true });
  assert.ok(dist.includes('sw.js') && dist.some((f) => f.endsWith('.wasm')), `rollup emitted: ${dist}`);
  await inChromium({ www: path.join(APP, 'dist') }, async ({ page, log, server }) => {
    assertCompleted(assert, await uploadThroughPage({ page, log, server, pick: pickPlaywright }));
  });
});
