// What the npm tarball holds and says about itself, read from `npm pack --dry-run` of pkg/ (offline).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './common.mjs';

const PKG = process.env.FERRY_PKG || path.join(ROOT, 'pkg');

test('the tarball holds README, both licenses, the entries and the wasm, with no packing warning', async () => {
  const { stdout, stderr } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json'], { cwd: PKG });
  assert.equal(stderr.trim(), '', 'npm pack printed warnings');
  const files = JSON.parse(stdout)[0].files.map((f) => f.path).sort();
  for (const f of ['README.md', 'LICENSE-MIT', 'LICENSE-APACHE', 'package.json', 'index.js', 'index.d.ts', 'worker.js',
    'worker.d.ts', 'reports.d.ts', 'classic.d.ts', 'install.js', 'ferry.js', 'ferry_bg.wasm', 'ferry-sw.js']) {
    assert.ok(files.includes(f), `${f} missing from ${files}`);
  }
  assert.ok(!files.includes('classic.js'), 'the classic template is not a file of the package');
});

test('package.json: license, repository, keywords, engines, and an export for every entry', async () => {
  const pkg = JSON.parse(await readFile(path.join(PKG, 'package.json'), 'utf8'));
  assert.equal(pkg.license, 'MIT OR Apache-2.0');
  assert.match(pkg.repository?.url ?? '', /^git\+https:\/\//);
  assert.ok(pkg.keywords.includes('upload') && pkg.keywords.includes('service-worker'));
  assert.ok(pkg.engines?.node);
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './classic', './ferry-sw.js', './ferry_bg.wasm', './package.json', './worker']);
  const cargo = await readFile(path.join(ROOT, 'Cargo.toml'), 'utf8');
  assert.match(cargo, /^license = "MIT OR Apache-2.0"$/m, 'the crates and the package share one license');
});
