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
import { pipeline, Transform } from 'node:stream';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';
import { startServer, openSession, harnessPage, uploadRandom, eventOf, until, withGrantedChromium } from './harness.mjs';
import { startAppServer } from './app-server.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';

const MiB = 1024 * 1024;
const metadata = { filename: 'clip.mp4', filetype: 'video/mp4', note: 'héllo ✓' };

let server;
let firefoxPkg;
const tusServers = [];

/**
 * A stock @tus/server on 127.0.0.1 (its own origin); `options` as its README documents them. `cut(req, n)`:
 * whether to drop the connection of the `n`th PATCH once `cutAfter` bytes (256 KiB) of its body reached the store (a network cut);
 * with `forget`, the store then removes that upload too, as a server that lost or expired it. `loseFinish`: drop the
 * connection of the PATCH that completes the file (once), so its answer never reaches the browser. `exposeOnly`:
 * the headers its answers expose to other origins instead of its own list (a proxy in front set up so). `token`:
 * the `Authorization` every request but a preflight must carry, else 401 (a gateway in front, as APIs have);
 * `patchDelay`: ms each PATCH waits before the server takes it (an upload that takes a while).
 */
async function startTus(options = {}, { cut = () => false, cutAfter = 256 * 1024, forget = false, loseFinish = false, exposeOnly, token, patchDelay = 0 } = {}) {
  const directory = await mkdtemp(path.join(tmpdir(), 'ferry-tusd-'));
  // The FileStore as it is, except that the body of a PATCH to cut passes through a counter first.
  let cutNext = null;
  class CutFileStore extends FileStore {
    write(readable, id, offset) {
      const socket = cutNext;
      cutNext = null;
      if (!socket) return super.write(readable, id, offset);
      let seen = 0;
      const counted = new Transform({
        transform(chunk, _encoding, done) {
          seen += chunk.length;
          done(null, chunk);
          if (seen > cutAfter && !socket.destroyed) {
            socket.destroy();
            if (forget) store.remove(id).catch(() => {});
          }
        },
      });
      const store = this;
      pipeline(readable, counted, () => {});
      return super.write(counted, id, offset);
    }
  }
  let lastPatch = null;
  let lose = loseFinish;
  const onUploadFinish = async () => {
    if (lose) {
      lose = false;
      lastPatch.destroy();
    }
    return {};
  };
  const tus = new Server({ path: '/files', datastore: new CutFileStore({ directory }), ...(loseFinish ? { onUploadFinish } : {}), ...options });
  const requests = [];
  let patches = 0;
  const http1 = http.createServer((req, res) => {
    const seen = {
      method: req.method, tus: req.headers['tus-resumable'], offset: req.headers['upload-offset'],
      preflightHeaders: req.headers['access-control-request-headers'], authorization: req.headers.authorization,
    };
    requests.push(seen);
    if (token && req.method !== 'OPTIONS' && req.headers.authorization !== token) {
      seen.status = 401;
      res.writeHead(401, { 'Access-Control-Allow-Origin': req.headers.origin ?? '*' }).end('a token is needed');
      return;
    }
    const writeHead = res.writeHead.bind(res);
    res.writeHead = (status, ...rest) => {
      seen.status = status;
      // (An object, [[name, value]...] or [name, value, ...], as Node takes them.)
      if (exposeOnly) {
        rest = rest.map((r) => (r && typeof r === 'object' ? Object.fromEntries((Array.isArray(r) ? (Array.isArray(r[0]) ? r : r.flatMap((v, i) => (i % 2 ? [] : [[v, r[i + 1]]]))) : Object.entries(r))
          .filter(([name]) => String(name).toLowerCase() !== 'access-control-expose-headers')) : r));
        res.setHeader('Access-Control-Expose-Headers', exposeOnly);
      }
      const given = rest.find((r) => r && typeof r === 'object') ?? {};
      const flat = Array.isArray(given) ? given.flat() : Object.entries(given).flat();
      const at = flat.findIndex((v, i) => i % 2 === 0 && String(v).toLowerCase() === 'upload-offset');
      seen.answeredOffset = at >= 0 ? flat[at + 1] : res.getHeader('upload-offset');
      return writeHead(status, ...rest);
    };
    if (req.method === 'PATCH') lastPatch = req.socket;
    if (req.method === 'PATCH' && cut(req, ++patches)) cutNext = req.socket;
    if (req.method === 'PATCH' && patchDelay) setTimeout(() => tus.handle(req, res), patchDelay);
    else tus.handle(req, res);
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

test('@tus/server allowing Idempotency-Key receives the file whole, in 1 MiB PATCHes, with its metadata, and completed keeps the headers it exposes (Chromium)', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd');
    const size = 3 * MiB + 5;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB, metadata });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204, 'the last PATCH\'s answer');
    // Every header the server exposes to this cross-origin page is kept, not a fixed few.
    assert.equal(completed.response.headers['upload-offset'], String(size));
    assert.equal(completed.response.headers['tus-resumable'], '1.0.0');
    assert.equal(completed.attempt, 1);
    const progress = (await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress'), id)).map((e) => e.bytesSent);
    assert.deepEqual(progress, [MiB, 2 * MiB, 3 * MiB, size]);
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata }]);
    assert.equal(tus.requests.filter((r) => r.method === 'PATCH').length, 4);
  });
});

test('@tus/server behind a proxy that exposes only Location: the first PATCH answer, whose Upload-Offset cannot be read, fails the task saying so, not a completed upload nothing confirmed', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] }, { exposeOnly: 'Location' });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-hidden');
    const { id } = await uploadRandom(page, 2 * MiB + 3, { url: tus.url, protocol: 'tus', chunkSize: MiB });
    const failed = await eventOf(page, id, 'failed');
    assert.match(failed.reason, /answered 204 to a PATCH without an Upload-Offset Ferry can read/);
    assert.match(failed.reason, /Access-Control-Expose-Headers: Location, Upload-Offset/);
    assert.equal(failed.attempt, 1, 'retrying cannot help');
    const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind), id);
    assert.ok(!kinds.includes('completed'), kinds.join());
    assert.deepEqual(tus.requests.filter((r) => r.method !== 'OPTIONS').map((r) => `${r.method} ${r.status}`), ['POST 201', 'PATCH 204']);
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
    // A preflight allowed but the answer itself without the header fails alike: the reason names both.
    assert.match(failed.reason, new RegExp(`and the POST itself with Access-Control-Allow-Origin: ${new URL(server.url).origin} too\\.`));
    assert.doesNotMatch(failed.reason, /Allow-Credentials/, 'an upload without credentials needs none allowed');
    const retrying = await eventOf(page, id, 'retrying');
    assert.match(retrying.reason, /CORS/, 'each attempt says why');
    // The server saw preflights and Ferry's probes, never the creation itself.
    assert.ok(tus.requests.some((r) => r.method === 'OPTIONS' && /idempotency-key/.test(r.preflightHeaders ?? '')));
    assert.equal(tus.requests.filter((r) => r.method === 'POST').length, 0);
    assert.deepEqual(await stored(tus.directory), []);
  });
});

test('@tus/server: a connection cut mid-PATCH resumes at the offset the server answers to HEAD, and the file is whole', async () => {
  // The second PATCH is cut, and so is the browser's own silent retry of it on a new connection: the attempt fails.
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] }, { cut: (_req, n) => n === 2 || n === 3 });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-cut', { retry: { maxAttempts: 5, baseMs: 100, capMs: 200 } });
    const size = 3 * MiB + 5;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204);
    // The cut, or the conflict the server answers a PATCH that arrives after part of the cut one was kept.
    const retrying = await eventOf(page, id, 'retrying');
    assert.match(retrying.reason, /^network error|^tus offset mismatch: the server's offset is not \d+, where this PATCH began .*; resuming from the server's offset/);
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata: undefined }]);
    // One upload created; after the cut a HEAD, and the next PATCH starts at the offset it answered. (A
    // HEAD without Tus-Resumable is Ferry asking whether the server answers at all, after a failed fetch.)
    assert.equal(tus.requests.filter((r) => r.method === 'POST').length, 1);
    const head = tus.requests.findIndex((r) => r.method === 'HEAD' && r.tus);
    assert.ok(head > 0, 'the resume asks the server its offset');
    const answered = Number(tus.requests[head].answeredOffset);
    assert.ok(answered >= MiB && answered < 2 * MiB, `the server kept ${answered} bytes`);
    const next = tus.requests.slice(head).find((r) => r.method === 'PATCH');
    assert.equal(Number(next.offset), answered);
  });
});

test('@tus/server: cut twice before any PATCH was answered, the upload resumes each time at the offset HEAD answers, past what one chunk holds', async () => {
  // Every PATCH that starts inside the first 4 MiB chunk is cut once 2.5 MiB of it arrived: the first from 0,
  // then the one from the offset the first HEAD answers; the server then holds more than one chunk, though
  // no PATCH was ever answered. An offset a HEAD answered is the server's confirmation as much as a PATCH's.
  const chunk = 4 * MiB;
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] }, { cut: (req) => Number(req.headers['upload-offset']) < chunk, cutAfter: 2.5 * MiB });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-cut2', { retry: { maxAttempts: 5, baseMs: 100, capMs: 200 } });
    const size = 2 * chunk + 5;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: chunk });
    const ended = await Promise.race([eventOf(page, id, 'completed'), eventOf(page, id, 'failed')]);
    assert.equal(ended.kind, 'completed', ended.reason);
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata: undefined }]);
    assert.equal(tus.requests.filter((r) => r.method === 'POST').length, 1);
    const heads = tus.requests.filter((r) => r.method === 'HEAD' && r.tus).map((r) => Number(r.answeredOffset));
    assert.ok(heads.some((o) => o > chunk), `a HEAD answered more than one chunk: ${heads}`);
    assert.deepEqual(heads, [...heads].sort((a, b) => a - b), 'each resume further on');
  });
});

test('@tus/server: the answer to the PATCH that completed the file lost: the retry learns from HEAD that the server holds every byte, and completed reports that answer', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] }, { loseFinish: true });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-lost', { retry: { maxAttempts: 5, baseMs: 100, capMs: 200 } });
    const size = 2 * MiB + 3;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 200, 'the HEAD\'s answer, not one made up');
    assert.equal(completed.response.headers['upload-offset'], String(size));
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata: undefined }]);
    assert.equal(tus.requests.filter((r) => r.method === 'POST').length, 1);
    assert.ok(tus.requests.some((r) => r.method === 'HEAD' && r.tus && r.answeredOffset === String(size)), 'the server said it had every byte');
  });
});

test('@tus/server: an upload it has forgotten (removed from its store mid-PATCH) is started anew: HEAD answers 404, a new upload is created and the file arrives whole', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key'] }, { cut: (_req, n) => n === 2, forget: true });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tusd-forgot', { retry: { maxAttempts: 5, baseMs: 100, capMs: 200 } });
    const size = 3 * MiB + 5;
    const { id, sha256 } = await uploadRandom(page, size, { url: tus.url, protocol: 'tus', chunkSize: MiB });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204);
    // Only the new upload is in the store, whole.
    assert.deepEqual(await stored(tus.directory), [{ size, sha256, metadata: undefined }]);
    const posts = tus.requests.map((r, i) => [r, i]).filter(([r]) => r.method === 'POST' && r.status === 201);
    assert.equal(posts.length, 2, 'a second upload was created');
    const forgotten = tus.requests.findIndex((r) => r.method === 'HEAD' && r.tus && r.status === 404);
    assert.ok(forgotten > 0 && forgotten < posts[1][1], 'the resume asked with HEAD, was told 404, then created');
    const next = tus.requests.slice(posts[1][1]).find((r) => r.method === 'PATCH');
    assert.equal(Number(next.offset), 0, 'the new upload starts at byte 0');
  });
});

// A tus server behind a gateway that wants the app's token on every request ends a cancelled or cleared
// upload only if its DELETE carries the token too: the one the upload was queued with (which the cancelled
// task no longer keeps), the page's headerProvider's or the worker's beforeSend's, as the attempt's requests.
const TOKEN = 'Bearer tus-7';
const GATEWAY_WORKER = `import { installFerry } from '/ferry/worker.js';
installFerry(self, {
  async beforeSend(task) {
    if (new URL(task.request.url).pathname === '/files') return { headers: { Authorization: '${TOKEN}' } };
  },
});
`;

/** Uploads 2 MiB to `tus` from `page` with `request`, and once a PATCH went through, `cancel`s it or `clear`s the tag. */
async function endMidUpload(page, tus, request, op) {
  const { id } = await uploadRandom(page, 2 * MiB, { url: tus.url, protocol: 'tus', chunkSize: 256 * 1024, ...request });
  await until(() => tus.requests.some((r) => r.method === 'PATCH' && r.status === 204), { what: 'a PATCH taken' });
  const ended = await page.evaluate(({ id, op }) => (op === 'cancel' ? window.ferrySession.cancel(id) : window.ferrySession.clear()), { id, op });
  assert.equal(ended, op === 'cancel' ? true : 1);
  // The DELETE was answered before the call resolved.
  const deletes = tus.requests.filter((r) => r.method === 'DELETE');
  assert.deepEqual(deletes.map((r) => [r.status, r.authorization]), [[204, TOKEN]], 'one DELETE, with the token, and the server ended the upload');
  assert.deepEqual(tus.requests.filter((r) => r.status === 401), [], 'every request carried the token');
  assert.deepEqual(await stored(tus.directory), [], 'the server holds nothing of it');
}

test('@tus/server behind a gateway wanting a token on every request: a cancelled upload queued with the token in its headers is ended there (the DELETE carries it)', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key', 'authorization'] }, { token: TOKEN, patchDelay: 200 });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'tus-gw-h');
    await endMidUpload(page, tus, { headers: { Authorization: TOKEN } }, 'cancel');
  });
});

test('@tus/server behind a gateway wanting a token on every request: clear() ends an upload whose token the page\'s headerProvider gives, with that token', async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key', 'authorization'] }, { token: TOKEN, patchDelay: 200 });
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await harnessPage(ctx, server.url);
    await page.evaluate(async (token) => {
      const { Ferry } = await import('/ferry/index.js');
      window.ferrySession = await Ferry.register('tus-gw-p', { serviceWorker: '/sw.js', headerProvider: async () => ({ Authorization: token }) });
      await navigator.serviceWorker.ready;
    }, TOKEN);
    await endMidUpload(page, tus, {}, 'clear');
  });
});

test("@tus/server behind a gateway wanting a token on every request: a cancelled upload whose token the worker's beforeSend gives is ended there with it", async () => {
  const tus = await startTus({ allowedHeaders: ['idempotency-key', 'authorization'] }, { token: TOKEN, patchDelay: 200 });
  const app = await startAppServer({ 'sw.js': GATEWAY_WORKER });
  try {
    await withGrantedChromium(app.url, ['backgroundFetch'], async (ctx) => {
      const page = await openSession(ctx, app.url, 'tus-gw-w');
      await endMidUpload(page, tus, {}, 'cancel');
    });
  } finally {
    await app.close();
  }
});
