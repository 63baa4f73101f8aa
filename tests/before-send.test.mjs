// The worker's `beforeSend` (an `installFerry` option): asked in the worker before each attempt, it gives
// the attempt a fresh URL and headers, so nothing that expires (a presigned URL, a token) waits in
// IndexedDB and no page needs to be open. Asserted on the reference server's record and on s3rver (from
// npm), which refuses a presigned URL once it has expired.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { openSession, uploadRandom, eventOf, settled, withGrantedChromium } from './harness.mjs';
import {
  withFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
  registerSession,
} from './firefox.mjs';
import { startAppServer } from './app-server.mjs';
import { startWebKit, webkitProfile, openHarness, removeDir as removeWebKitDir } from './webkit.mjs';
import { startS3 } from './s3.mjs';

const KiB = 1024;

// The app's worker: `beforeSend` answers by the stored URL's path, as an app would by route. For a
// presigned URL it asks the app's backend (here `presigner`) to sign the same object again.
const WORKER = `import { installFerry } from '/ferry/worker.js';
const presigner = new URL(location.href).searchParams.get('presigner');
installFerry(self, {
  async beforeSend(task) {
    const url = new URL(task.request.url);
    // An object URL signed earlier (/uploads/<key>), or one queued under the app's own /s3/<key>: signed now.
    const key = url.searchParams.has('X-Amz-Signature') ? url.pathname.slice('/uploads/'.length)
      : url.pathname.startsWith('/s3/') ? url.pathname.slice(4) : null;
    if (key) {
      const res = await fetch(presigner + '/presign?key=' + encodeURIComponent(key));
      return { url: (await res.json()).url };
    }
    switch (url.pathname) {
      case '/upload/bs/fresh':
        return { url: '/upload/bs/fresh/' + task.attempt, headers: { 'X-Token': 'token-' + task.attempt, 'X-Album': 'given' } };
      case '/upload/bs/throws': throw new TypeError('no token service');
      case '/upload/bs/forbidden': return { headers: { 'Idempotency-Key': 'mine' } };
      case '/upload/bs/never': return new Promise(() => {});
      case '/upload/bs/held': {
        // Tells the page it runs, then answers (with a token) once the page opens the gate.
        const gate = new BroadcastChannel('bs-gate');
        const opened = new Promise((resolve) => { gate.onmessage = resolve; });
        gate.postMessage({ entered: task.id });
        await opened;
        gate.close();
        return { headers: { Authorization: 'Bearer secret' } };
      }
      case '/upload/bs/number': return 42;
      case '/tus-elsewhere': return { url: '/tus' };
      default: return undefined;
    }
  },
});
`;
// A worker whose option is not a function.
const INVALID = `import { installFerry } from '/ferry/worker.js';
installFerry(self, { beforeSend: 'soon' }).catch(() => {});
`;
// A worker whose options are not an object.
const NOT_OBJECT = `import { installFerry } from '/ferry/worker.js';
installFerry(self, 'beforeSend').catch(() => {});
`;
// The same with the classic build (whose own option, wasmUrl, it reads first).
const CLASSIC_NOT_OBJECT = `importScripts('/ferry/ferry-sw.js');
ferry.installFerry(self, 42).catch(() => {});
`;
// A worker with a misspelt option and the classic build's wasmUrl: its console warnings are kept. Its
// `enqueueMisspelt()` hands Ferry a request with a misspelt option of enqueue's.
const MISSPELT = `import { installFerry, enqueue } from '/ferry/worker.js';
self.enqueueMisspelt = () => enqueue(new Request('/upload/bs/enqueued', { method: 'POST', body: 'y' }), { tag: 'bsmisspelt', expiresAT: 1 });
self.warnings = [];
const warn = console.warn;
console.warn = (...args) => { self.warnings.push(args.join(' ')); warn(...args); };
installFerry(self, { beforeSnd: () => ({}), wasmUrl: '/ferry/ferry_bg.wasm' });
`;

let server;
before(async () => {
  server = await startAppServer({ 'sw.js': WORKER, 'sw-invalid.js': INVALID, 'sw-not-object.js': NOT_OBJECT, 'sw-classic-not-object.js': CLASSIC_NOT_OBJECT, 'sw-misspelt.js': MISSPELT });
});
after(() => server?.close());

/**
 * A 503, then 201: each attempt went where beforeSend said, with its headers replacing the stored ones of
 * the same name; one Idempotency-Key; the task keeps its own URL. Returns the `started` event.
 */
async function freshEachAttempt(page, { uploadRandom, eventOf }) {
  await server.fault({ count: 1, status: 503 });
  const { id, sha256 } = await uploadRandom(page, 100 * KiB, { url: '/upload/bs/fresh', headers: { 'X-Album': 'stored', 'X-Keep': 'kept' } });
  const started = await eventOf(page, id, 'started');
  const completed = await eventOf(page, id, 'completed');
  assert.equal(completed.response.status, 201);
  assert.equal(completed.attempt, 2);
  const records = await settled(server, 2);
  assert.deepEqual(records.map((r) => [r.path, r.headers['x-token'], r.headers['x-album'], r.headers['x-keep'], r.applied]), [
    ['/upload/bs/fresh/1', 'token-1', 'given', 'kept', false],
    ['/upload/bs/fresh/2', 'token-2', 'given', 'kept', true],
  ]);
  assert.equal(records[1].sha256, sha256);
  assert.equal(new Set(records.map((r) => r.idempotencyKey)).size, 1, 'one Idempotency-Key for both attempts');
  const task = await page.evaluate((id) => window.ferrySession.get(id), id);
  assert.equal(new URL(task.request.url).pathname, '/upload/bs/fresh', 'the stored URL is left as it was');
  return started;
}

const fast = { retry: { baseMs: 200, capMs: 500 } };

test('beforeSend gives each attempt its URL and headers (a 503, then 201): they replace the stored ones of the same name, the task keeps its own, and no Background Fetch carries it', async () => {
  await server.reset();
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'bs', fast);
    const started = await freshEachAttempt(page, { uploadRandom, eventOf });
    assert.notEqual(started.transport, 'backgroundFetch', 'the browser would send a Background Fetch as it was started');
  });
});

test('Firefox: beforeSend gives each attempt of the fallback transport its URL and headers', async () => {
  await server.reset();
  await withFirefox(async (browser) => {
    const page = await openFirefoxSession(browser, server.url, 'bsff', fast);
    const started = await freshEachAttempt(page, { uploadRandom: uploadRandomFirefox, eventOf: eventOfFirefox });
    assert.equal(started.transport, 'fallback');
  });
});

test('WebKit: beforeSend gives each attempt of the fallback transport its URL and headers', async () => {
  await server.reset();
  const webkit = await startWebKit();
  const profile = await webkitProfile();
  try {
    const page = await openHarness(webkit, profile, server.url);
    try {
      await registerSession(page, 'bswk', fast);
      const started = await freshEachAttempt(page, { uploadRandom: uploadRandomFirefox, eventOf: eventOfFirefox });
      assert.equal(started.transport, 'fallback');
    } finally {
      await page.close();
    }
  } finally {
    await webkit.stop();
    await removeWebKitDir(profile);
  }
});

test('tus: the URL beforeSend gives is the creation endpoint; the chunks go to the upload it created', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    const page = await openSession(ctx, server.url, 'bstus', fast);
    // Stored with an endpoint that is not a tus server (a final failure if it were used).
    const { id, sha256 } = await uploadRandom(page, 2 * 256 * KiB + 7, { url: '/tus-elsewhere', protocol: 'tus', chunkSize: 256 * KiB });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204);
    const [upload] = await (await fetch(new URL('/__ferry/tus', server.url))).json();
    assert.equal(upload.offset, 2 * 256 * KiB + 7);
    assert.equal(upload.patches, 3);
    const records = (await server.uploads()).filter((r) => r.method === 'TUS');
    assert.deepEqual(records.map((r) => r.sha256), [sha256]);
    assert.ok(!(await server.uploads()).some((r) => r.path.startsWith('/tus-elsewhere')), 'nothing went to the stored endpoint');
  });
});

test('a beforeSend that throws, gives a header Ferry cannot send, resolves with a number or never settles ends the attempt unsent, counted in maxAttempts, its reason saying why', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    const page = await openSession(ctx, server.url, 'bsfail', { retry: { maxAttempts: 1 }, concurrency: 4 });
    const cases = ['throws', 'forbidden', 'number', 'never'];
    const ids = [];
    for (const name of cases) ids.push((await uploadRandom(page, KiB, { url: `/upload/bs/${name}` })).id);
    const reasons = {};
    for (const [i, name] of cases.entries()) {
      const { reason } = await eventOf(page, ids[i], 'failed', { timeout: 20000 });
      const last = 'gave up after 1 attempt; last: ';
      assert.ok(reason.startsWith(last), reason);
      reasons[name] = reason.slice(last.length);
    }
    assert.equal(reasons.throws, "the worker's beforeSend failed: TypeError: no token service");
    assert.match(reasons.forbidden, /^the worker's beforeSend gave an unusable header: .*Idempotency-Key/);
    assert.match(reasons.number, /^the worker's beforeSend failed: resolved with 42/);
    assert.equal(reasons.never, "the worker's beforeSend did not settle within 10 s");
    assert.deepEqual(await server.uploads(), [], 'nothing was sent');
  });
});

for (const [how, call] of [['cancel()', 'cancel'], ['clear()', 'clear']]) {
  test(`${how} while beforeSend runs: its answer is not sent (nor its token)`, async () => {
    await server.reset();
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, `bsstop${call}`, { concurrency: 1 });
      await page.evaluate(() => {
        const gate = new BroadcastChannel('bs-gate');
        window.entered = new Promise((resolve) => { gate.onmessage = (e) => resolve(e.data.entered); });
        window.openGate = () => gate.postMessage({ open: true });
      });
      const held = (await uploadRandom(page, KiB, { url: '/upload/bs/held' })).id;
      assert.equal(await page.evaluate(() => window.entered), held, 'beforeSend runs for the first upload');
      const answer = await page.evaluate(([call, id]) => window.ferrySession[call](id), [call, held]);
      assert.equal(answer, call === 'cancel' ? true : 1);
      await page.evaluate(() => window.openGate());
      // One lane: the next upload starts only once the stopped attempt has ended.
      const next = (await uploadRandom(page, KiB, { url: '/upload/bs/next' })).id;
      assert.equal((await eventOf(page, next, 'completed')).response.status, 201);
      const records = await settled(server, 1);
      assert.deepEqual(records.map((r) => new URL(r.path, server.url).pathname), ['/upload/bs/next'], 'the stopped upload never reached the server');
    });
  });
}

for (const [what, worker, says] of [
  ['a beforeSend that is not a function', '/sw-invalid.js', /beforeSend/],
  ['options that are not an object', '/sw-not-object.js', /installFerry\(self, options\): options must be an object/],
  ['options that are not an object (classic build)', { url: '/sw-classic-not-object.js', type: 'classic' }, /installFerry\(self, options\): options must be an object/],
]) {
  test(`installFerry refuses ${what}: the page's calls reject with FerryInvalidOptions naming it`, async () => {
    await server.reset();
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await ctx.newPage();
      await page.goto(new URL('/harness.html', server.url).href);
      const error = await page.evaluate(async (worker) => {
        const { Ferry } = await import('/ferry/index.js');
        try {
          const session = await Ferry.register('bsbad', { serviceWorker: worker });
          await session.upload(new Blob(['x']), { url: '/upload/bs/invalid' });
          return null;
        } catch (e) {
          return { name: e.name, message: e.message };
        }
      }, worker);
      assert.equal(error?.name, 'FerryInvalidOptions', JSON.stringify(error));
      assert.match(error.message, says);
      assert.deepEqual(await server.uploads(), []);
    });
  });
}

test('installFerry and enqueue warn of an option they do not have (a misspelt beforeSend, the classic build\'s wasmUrl, a misspelt expiresAt) and run without it', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    const page = await ctx.newPage();
    await page.goto(new URL('/harness.html', server.url).href);
    const id = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      window.session = await Ferry.register('bsmisspelt', { serviceWorker: '/sw-misspelt.js' });
      return window.session.upload(new Blob(['x']), { url: '/upload/bs/misspelt' });
    });
    const [sw] = ctx.serviceWorkers().filter((w) => w.url().endsWith('/sw-misspelt.js'));
    const warnings = await sw.evaluate(() => self.warnings);
    assert.equal(warnings.length, 2, JSON.stringify(warnings));
    assert.match(warnings[0], /installFerry has no option "beforeSnd"; it is ignored \(its options: beforeSend\)/);
    assert.match(warnings[1], /no option "wasmUrl".*classic build's \(ferry-sw\.js\)/);
    await page.waitForFunction((id) => window.session.get(id).then((t) => t?.state === 'done'), id);
    const enqueued = await sw.evaluate(() => self.enqueueMisspelt());
    await page.waitForFunction((id) => window.session.get(id).then((t) => t?.state === 'done'), enqueued);
    const all = await sw.evaluate(() => self.warnings);
    assert.equal(all.length, 3, JSON.stringify(all));
    assert.match(all[2], /enqueue has no option "expiresAT"; it is ignored \(its options: tag, retry, expiresAt, earliestBegin, discretionary, appData\)/);
    assert.deepEqual((await server.uploads()).map((u) => new URL(u.path, server.url).pathname), ['/upload/bs/misspelt', '/upload/bs/enqueued']);
  });
});

/**
 * s3rver (`tests/s3.mjs`) and the app's presigning backend beside it (signs a PUT of an object for a
 * minute; the worker's origin may ask). `fn({ s3, signed, worker })`: `signed` the keys the backend
 * signed, `worker` the app's worker URL that asks this backend.
 */
async function withS3(fn) {
  const s3 = await startS3(new URL(server.url).origin);
  const signed = [];
  const presigner = createServer(async (req, res) => {
    const key = new URL(req.url, 'http://x').searchParams.get('key');
    signed.push(key);
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
    res.end(JSON.stringify({ url: await s3.sign(key, { expires: 60 }) }));
  });
  await new Promise((resolve) => presigner.listen(0, '127.0.0.1', resolve));
  const worker = `/sw.js?presigner=${encodeURIComponent(`http://127.0.0.1:${presigner.address().port}`)}`;
  try {
    return await fn({ s3, signed, worker });
  } finally {
    await new Promise((resolve) => presigner.close(resolve));
    await s3.close();
  }
}

test('an S3 presigned URL that expired while the upload waited is signed again by beforeSend (no page asked): the bucket takes it on the first attempt', async () => {
  await withS3(async ({ s3, signed, worker }) => {
    // Signed two hours ago for a minute: the bucket refuses it.
    const twoHoursAgo = new Date(Date.now() - 2 * 3600e3).toISOString().replace(/[:-]|\.\d{3}/g, '');
    const expired = await s3.sign('photos/expired.bin', { expires: 60, datetime: twoHoursAgo });
    const refused = await fetch(expired, { method: 'PUT', body: 'x' });
    assert.equal(refused.status, 403, 'an expired presigned URL is refused');
    assert.match(await refused.text(), /Request has expired/);

    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, 'bss3', { serviceWorker: worker });
      const { id, sha256 } = await uploadRandom(page, 300 * KiB, { url: expired, method: 'PUT' });
      const completed = await eventOf(page, id, 'completed');
      assert.equal(completed.attempt, 1);
      assert.equal(completed.response.status, 200);
      assert.deepEqual(signed, ['photos/expired.bin']);
      assert.deepEqual(await s3.object('photos/expired.bin'), { status: 200, size: 300 * KiB, sha256 });
    });
  });
});

test('queued offline under the app\'s own URL (/s3/<key>), signed by beforeSend when the network is back: the bucket takes it, nothing asked at pick time', async () => {
  await server.reset();
  await withS3(async ({ s3, signed, worker }) => {
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, 'bss3off', { serviceWorker: worker });
      await ctx.setOffline(true);
      const { id, sha256 } = await uploadRandom(page, 200 * KiB, { url: '/s3/photos/offline.bin', method: 'PUT' });
      assert.equal((await page.evaluate((id) => window.ferrySession.get(id), id)).state, 'queued');
      assert.deepEqual(signed, [], 'nothing signed while offline');
      await ctx.setOffline(false);
      const completed = await eventOf(page, id, 'completed');
      assert.equal(completed.response.status, 200);
      assert.deepEqual(signed, ['photos/offline.bin']);
      assert.deepEqual(await s3.object('photos/offline.bin'), { status: 200, size: 200 * KiB, sha256 });
      assert.deepEqual(await server.uploads(), [], 'nothing went to the app\'s own /s3/ URL');
    });
  });
});
