// tus against a server nobody here wrote: @tus/server with its FileStore, from npm, on another origin than
// the app (as a tus endpoint usually is). Set up as its README says, plus the one header Ferry adds to every
// upload (`allowedHeaders: ['idempotency-key']`), it receives the file whole in Chromium and Firefox. Left at
// its defaults, its CORS preflight refuses Ferry's requests: the browser reports that as a bare network
// error, and Ferry's reason says what the server must allow instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { startServer, openSession, uploadRandom, eventOf, withGrantedChromium } from './harness.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';

const MiB = 1024 * 1024;
const metadata = { filename: 'clip.mp4', filetype: 'video/mp4', note: 'héllo ✓' };

let server;
let firefoxPkg;
const tusServers = [];

/** A stock @tus/server on 127.0.0.1 (its own origin); `options` as its README documents them. */
async function startTus(options = {}) {
  const directory = await mkdtemp(path.join(tmpdir(), 'ferry-tusd-'));
  const tus = new Server({ path: '/files', datastore: new FileStore({ directory }), ...options });
  const requests = [];
  const http1 = http.createServer((req, res) => {
    requests.push({ method: req.method, preflightHeaders: req.headers['access-control-request-headers'] });
    tus.handle(req, res);
  });
  await new Promise((resolve) => http1.listen(0, '127.0.0.1', resolve));
  const entry = {
    url: `http://127.0.0.1:${http1.address().port}/files`,
    directory,
    requests,
    close: async () => {
      http1.closeAllConnections();
      await new Promise((resolve) => http1.close(resolve));
      await rm(directory, { recursive: true, force: true });
    },
  };
  tusServers.push(entry);
  return entry;
}

/** The uploads the FileStore holds: size, SHA-256 and the metadata it recorded. */
async function stored(directory) {
  const out = [];
  for (const name of (await readdir(directory)).filter((n) => !n.endsWith('.json'))) {
    const bytes = await readFile(path.join(directory, name));
    const info = JSON.parse(await readFile(path.join(directory, `${name}.json`), 'utf8'));
    out.push({ size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), metadata: info.metadata });
  }
  return out;
}

before(async () => {
  firefoxPkg = await snapshotPkg();
  server = await startServer({ args: ['--pkg', firefoxPkg] });
});
after(async () => {
  for (const t of tusServers) await t.close();
  await server?.stop();
  await removeDir(firefoxPkg);
});

test('@tus/server allowing Idempotency-Key receives the file whole, in 1 MiB PATCHes, with its metadata (Chromium)', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd');
    const size = 3 * MiB + 5;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB, metadata });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204, 'the last PATCH\'s answer');
    assert.equal(completed.attempt, 1);
    const progress = (await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress'), id)).map((e) => e.bytesSent);
    assert.deepEqual(progress, [MiB, 2 * MiB, 3 * MiB, size]);
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata }]);
    assert.equal(tus.requests.filter((r) => r.method === 'PATCH').length, 4);
  });
});

test('Firefox: @tus/server allowing Idempotency-Key receives the file whole through the fallback', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] });
  const dir = await firefoxProfile();
  let browser = null;
  try {
    browser = await launchFirefox(dir);
    const page = await openFirefoxSession(browser, server.url, 'tusd');
    const size = 2 * MiB + 7;
    const { id, sha256 } = await uploadRandomFirefox(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB, metadata });
    const completed = await eventOfFirefox(page, id, 'completed');
    assert.equal(completed.response.status, 204);
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata }]);
  } finally {
    await closeFirefox(browser);
    await removeDir(dir);
  }
});

test('@tus/server at its defaults refuses the preflight: the reason says it is CORS and names the headers to allow', async () => {
  const tus = await startTus();
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-cors', { retry: { maxAttempts: 2, baseMs: 100, capMs: 200 } });
    const { id } = await uploadRandom(page, 64 * 1024, { url: tus.url, protocol: 'tus', chunkSize: MiB });
    const failed = await eventOf(page, id, 'failed');
    assert.match(failed.reason, /CORS/);
    assert.match(failed.reason, /Access-Control-Allow-Headers: [^.]*idempotency-key/);
    assert.match(failed.reason, new RegExp(`Access-Control-Allow-Origin: ${new URL(server.url).origin}`));
    const retrying = await eventOf(page, id, 'retrying');
    assert.match(retrying.reason, /CORS/, 'each attempt says why');
    // The server saw preflights and Ferry's probes, never the creation itself.
    assert.ok(tus.requests.some((r) => r.method === 'OPTIONS' && /idempotency-key/.test(r.preflightHeaders ?? '')));
    assert.equal(tus.requests.filter((r) => r.method === 'POST').length, 0);
    assert.deepEqual(await stored(tus.directory), []);
  });
});
