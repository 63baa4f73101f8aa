// The README's Quickstart, pasted into a fresh Vite 8 app (tests/apps/vite: package.json + lock only) and
// run in dev (`vite`, pre-bundling on) and build (`vite build`, served from the reference server).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { APPS, PKG, ROOT, assertCompleted, build, fileOf, inChromium, install, pack, pickPlaywright, uploadThroughPage } from './common.mjs';
import { sha256, until } from '../harness.mjs';
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
        // The same upload sent again (its answer lost), 4 MiB, through the Quickstart's proxy: the body
        // is read before `200 stored already` (an answer that came first, the proxy made a 502).
        const again = await page.evaluate(async (key) => {
          const res = await fetch('/upload', { method: 'POST', headers: { 'Idempotency-Key': key }, body: new Blob([new Uint8Array(4 << 20)]) });
          return [res.status, await res.text()];
        }, stored[0]);
        assert.deepEqual(again, [200, 'stored already']);
        await overlappingAttempts(port, uploads);
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

/**
 * Two attempts of one upload at once at the Quickstart's server.mjs (`port`, storing into `uploads`),
 * as a browser sends a body again while an earlier attempt still arrives: the first is half sent, the
 * second starts and is cut off, then the first ends. The file stored is the whole body (one file per
 * attempt: with one shared, the second's start emptied the first's, which then went on past a hole).
 */
async function overlappingAttempts(port, uploads) {
  const key = 'overlap-1';
  const body = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 255);
  const [half, quarter] = [body.length / 2, body.length / 4];
  const parts = async () => {
    const names = (await readdir(uploads)).filter((n) => n.startsWith(key) && n.endsWith('.part'));
    return Promise.all(names.map(async (n) => (await stat(path.join(uploads, n))).size));
  };
  const send = () => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { 'Idempotency-Key': key, 'Content-Length': body.length } });
    const answer = new Promise((resolve, reject) => {
      req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
      req.on('error', reject);
    });
    answer.catch(() => {});
    return { req, answer };
  };
  const first = send();
  first.req.write(body.subarray(0, half));
  await until(async () => (await parts()).some((n) => n >= half), { what: 'the first attempt half stored' });
  const second = send();
  second.req.write(body.subarray(0, quarter));
  await until(async () => (await parts()).some((n) => n >= quarter && n < half), { what: 'the second attempt begun' });
  second.req.destroy();
  first.req.end(body.subarray(half));
  assert.equal(await first.answer, 201);
  assert.equal(sha256(await readFile(path.join(uploads, key))), sha256(body), 'the stored file is the whole body');
  await until(async () => (await parts()).length === 0, { what: 'the cut attempt\'s file removed' });
}

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
