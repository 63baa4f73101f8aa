// The README's Quickstart, pasted into a fresh Vite 8 app (tests/apps/vite: package.json + lock only) and
// run in dev (`vite`, pre-bundling on) and build (`vite build`, served from the reference server).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { APPS, PKG, ROOT, assertCompleted, build, fileOf, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';
import { sha256 } from '../harness.mjs';
import { quickstartFiles } from './quickstart.mjs';

const APP = path.join(APPS, 'vite');
const EXPECTED = ['index.html', 'server.mjs', 'src/main.js', 'sw.js', 'vite.config.js'];

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

test("Quickstart, vite dev server and the Quickstart's server.mjs: a picked file is uploaded to completed and stored once", { timeout: 300000 }, async () => {
  // The app's own Vite with the Quickstart's config file, and its server.mjs; the test only picks the port.
  const vite = await import(pathToFileURL(createRequire(path.join(APP, 'package.json')).resolve('vite')).href);
  const port = await freePort();
  const uploads = path.join(APP, 'uploads');
  await rm(uploads, { recursive: true, force: true });
  const upload = spawn(process.execPath, ['server.mjs'], { cwd: APP, env: { ...process.env, PORT: String(port) }, stdio: 'inherit' });
  let dev = null;
  process.env.PORT = String(port);
  try {
    await untilListening(port);
    await inChromium({ url: (s) => `${s.url}__ferry/health` }, async ({ page, log }) => {
      dev = await vite.createServer({
        root: APP,
        configFile: path.join(APP, 'vite.config.js'),
        logLevel: 'warn',
        // The Quickstart's proxy reads the upload server's port from PORT, as server.mjs does.
        server: { host: '127.0.0.1', port: 0 },
      });
      await dev.listen();
      await page.goto(dev.resolvedUrls.local[0]);
      const f = await fileOf(300 * 1024, 11);
      try {
        await pickPlaywright(await page.waitForSelector('input[type=file]:enabled'), f.file);
        const id = (await log.next(/^queued /)).split(' ')[1];
        assert.equal(await log.next(new RegExp(`^(completed|failed) ${id}`)), `completed ${id} 201`, log.lines.join('\n'));
        // server.mjs stored it once, under the upload's Idempotency-Key.
        const stored = await readdir(uploads);
        assert.equal(stored.length, 1, `uploads/: ${stored}`);
        assert.match(stored[0], /^[\w-]+$/);
        assert.equal(sha256(await readFile(path.join(uploads, stored[0]))), f.sha256);
      } finally {
        await f.remove();
      }
    });
  } finally {
    await dev?.close();
    delete process.env.PORT;
    upload.kill();
    await rm(uploads, { recursive: true, force: true });
  }
});

/** A port nothing listens on now. */
async function freePort() {
  const s = net.createServer();
  await new Promise((resolve) => { s.listen(0, '127.0.0.1', resolve); });
  const { port } = s.address();
  await new Promise((resolve) => { s.close(resolve); });
  return port;
}

/** Resolves once something accepts connections at `port` (the server just spawned). */
async function untilListening(port) {
  for (let tries = 0; ; tries++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (tries > 200) throw new Error(`nothing listens on ${port} after ${tries} tries`);
    await new Promise((resolve) => { setTimeout(resolve, 50); });
  }
}
