// S3 multipart uploads (`protocol: 's3-multipart'`) into s3rver (npm), which checks every presigned
// signature: the worker's `beforeSend` asks the app's presigning backend to sign each request for its
// step (create, every part, complete, abort), and an upload cut off mid-way resumes at the first part the
// bucket has not confirmed instead of byte 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  openSession, uploadRandom, eventOf, until, swControl, withGrantedChromium, profileDir, launchChromium, runThenKill,
  serviceWorker, FAST_SYNC_RETRY,
} from './harness.mjs';
import {
  withFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
  registerSession,
} from './firefox.mjs';
import { startAppServer } from './app-server.mjs';
import { startS3 } from './s3.mjs';
import { startWebKit, webkitProfile, openHarness, removeDir as removeWebKitDir } from './webkit.mjs';

const MiB = 1024 * 1024;

// The app's worker, as the README's recipe: the object's key is in the task's appData; each request of
// the upload is signed by the app's backend (\`presigner\`) for its step.
const WORKER = `import { installFerry } from '/ferry/worker.js';
const presigner = new URL(location.href).searchParams.get('presigner');
installFerry(self, {
  async beforeSend(task, step) {
    if (!step) return;
    const query = new URLSearchParams({ key: JSON.parse(task.appData).key, ...step });
    const res = await fetch(presigner + '/presign?' + query);
    if (!res.ok) throw new Error('the presigner answered ' + res.status);
    return { url: (await res.json()).url };
  },
});
`;
// A worker without beforeSend.
const PLAIN = `import { installFerry } from '/ferry/worker.js';
installFerry(self, {});
`;

let server;
before(async () => {
  server = await startAppServer({ 'sw.js': WORKER, 'sw-plain.js': PLAIN });
});
after(() => server?.close());

/**
 * s3rver and the app's presigning backend beside it. `fn({ s3, signed, aborted, worker, held })`: `signed`
 * the steps the backend signed (`'create'`, `'part 2'`, ...), `worker` the app's worker URL that asks this
 * backend; a step `hold(step)` returns true for is never answered (its response goes into `held`), one
 * `fail(step)` returns true for is answered 503, one `refuse(step)` returns true for is given a URL of the
 * backend's own that answers as S3 does a URL that expired (403, `AccessDenied`, CORS headers included:
 * s3rver's own refusal of an expired URL has none, so a browser sees only a network error).
 * s3rver has no AbortMultipartUpload: the backend signs an abort as a URL of its own, and `aborted` holds
 * the upload ids DELETEd there.
 */
async function withS3(fn, { exposeEtag = true, hold = () => false, fail = () => false, refuse = () => false } = {}) {
  const s3 = await startS3(new URL(server.url).origin, 'uploads', { exposeEtag });
  const signed = [];
  const aborted = [];
  const held = [];
  const presigner = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'DELETE', 'access-control-allow-headers': '*' };
    if (url.pathname === '/refuse') {
      res.writeHead(req.method === 'OPTIONS' ? 204 : 403, { 'content-type': 'application/xml', ...cors, 'access-control-allow-methods': 'PUT' });
      res.end(req.method === 'OPTIONS' ? '' : '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        + '<Message>Request has expired</Message><RequestId>1</RequestId></Error>');
      return;
    }
    if (url.pathname === '/abort') {
      if (req.method === 'DELETE') aborted.push(url.searchParams.get('uploadId'));
      res.writeHead(204, cors);
      res.end();
      return;
    }
    const q = url.searchParams;
    const [step, key, part, id] = ['step', 'key', 'partNumber', 'uploadId'].map((k) => q.get(k));
    const name = part ? `${step} ${part}` : step;
    signed.push(name);
    if (hold(name, signed)) {
      held.push(res);
      return;
    }
    if (fail(name, signed)) {
      res.writeHead(503, { 'access-control-allow-origin': '*' });
      res.end();
      return;
    }
    const upload = `uploadId=${encodeURIComponent(id)}`;
    if (step === 'abort') {
      res.writeHead(200, { 'content-type': 'application/json', ...cors });
      res.end(JSON.stringify({ url: `http://127.0.0.1:${presigner.address().port}/abort?${upload}` }));
      return;
    }
    const [method, query] = {
      create: ['POST', 'uploads'],
      part: ['PUT', `partNumber=${part}&${upload}`],
      complete: ['POST', upload],
      abort: ['DELETE', upload],
    }[step];
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
    const refused = `http://127.0.0.1:${presigner.address().port}/refuse?${query}&X-Amz-Signature=expired`;
    res.end(JSON.stringify({ url: refuse(name) ? refused : await s3.sign(key, { method, query, expires: 60 }) }));
  });
  await new Promise((resolve) => presigner.listen(0, '127.0.0.1', resolve));
  const worker = `/sw.js?presigner=${encodeURIComponent(`http://127.0.0.1:${presigner.address().port}`)}`;
  try {
    return await fn({ s3, signed, aborted, worker, held });
  } finally {
    for (const res of held) res.destroy();
    await new Promise((resolve) => presigner.close(resolve));
    await s3.close();
  }
}

const SIZE = 11 * MiB + 7;
const request = (key) => ({ url: '/s3-upload', protocol: 's3-multipart', chunkSize: 5 * MiB, appData: JSON.stringify({ key }) });

/** The upload of `SIZE` bytes as 3 parts: each signed once, the bucket's object whole, progress per part. */
async function threeParts({ s3, signed, page, uploadRandom, eventOf }, key) {
  const { id, sha256 } = await uploadRandom(page, SIZE, request(key));
  const completed = await eventOf(page, id, 'completed', { timeout: 60000 });
  assert.equal(completed.response.status, 200);
  assert.match(completed.response.body, /CompleteMultipartUploadResult/);
  assert.deepEqual(signed, ['create', 'part 1', 'part 2', 'part 3', 'complete']);
  assert.deepEqual(await s3.object(key), { status: 200, size: SIZE, sha256 });
  const progress = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress')
    .map((e) => e.bytesSent), id);
  assert.deepEqual(progress, [5 * MiB, 10 * MiB, SIZE]);
  const task = await page.evaluate((id) => window.ferrySession.get(id), id);
  assert.equal(task.request.protocol.kind, 's3-multipart');
  assert.equal(task.request.protocol.etags.length, 3);
  return completed;
}

test('S3 multipart: an 11 MiB file goes as 3 parts of 5 MiB, each request presigned by beforeSend for its step; the bucket holds the bytes', async () => {
  await server.reset();
  await withS3(async ({ s3, signed, worker }) => {
    await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
      const page = await openSession(ctx, server.url, 's3mp', { serviceWorker: worker });
      const completed = await threeParts({ s3, signed, page, uploadRandom, eventOf }, 'videos/a.bin');
      assert.equal(completed.attempt, 1);
    });
  });
});

test('S3 multipart: a worker stopped while part 3 waits for its signature resumes at part 3; parts 1 and 2 are not sent again', async () => {
  await server.reset();
  // The first request to sign part 3 is never answered: the worker is stopped meanwhile.
  const hold = (name, signed) => name === 'part 3' && signed.filter((s) => s === 'part 3').length === 1;
  await withS3(async ({ s3, signed, worker }) => {
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, 's3stop', { serviceWorker: worker });
      const { id, sha256 } = await uploadRandom(page, SIZE, request('videos/b.bin'));
      await until(() => signed.includes('part 3'), { what: 'part 3 asked to be signed', timeout: 30000 });
      const { cdp } = await swControl(page);
      await cdp.send('ServiceWorker.stopAllWorkers');
      const completed = await eventOf(page, id, 'completed', { timeout: 60000 });
      assert.equal(completed.response.status, 200);
      assert.deepEqual(signed, ['create', 'part 1', 'part 2', 'part 3', 'part 3', 'complete']);
      assert.deepEqual(await s3.object('videos/b.bin'), { status: 200, size: SIZE, sha256 });
    });
  }, { hold });
});

test('S3 multipart: the browser killed (SIGKILL) while part 3 waits for its signature, relaunched with no page: the worker resumes at part 3 and completes', async () => {
  await server.reset();
  const hold = (name, signed) => name === 'part 3' && signed.filter((s) => s === 'part 3').length === 1;
  await withS3(async ({ s3, signed, worker }) => {
    const dir = await profileDir();
    const { id, sha256 } = await runThenKill(dir, async (ctx) => {
      const page = await openSession(ctx, server.url, 's3kill', { serviceWorker: worker });
      const uploaded = await uploadRandom(page, SIZE, request('videos/f.bin'));
      await until(() => signed.includes('part 3'), { what: 'part 3 asked to be signed', timeout: 30000 });
      return uploaded;
    });
    const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
    try {
      await serviceWorker(ctx);
      await until(() => signed.includes('complete'), { what: 'the upload completed by the relaunched worker', timeout: 30000 });
      // A page opened now hears how it ended.
      const later = await openSession(ctx, server.url, 's3kill', { serviceWorker: worker });
      assert.equal((await eventOf(later, id, 'completed')).response.status, 200);
      assert.deepEqual(signed, ['create', 'part 1', 'part 2', 'part 3', 'part 3', 'complete']);
      // s3rver answers a completion while its file of the object may still be flushing (it writes it in
      // place): read once it has every byte, then compare them.
      const object = await until(async () => { const o = await s3.object('videos/f.bin'); return o.size === SIZE && o; },
        { what: 'the object written whole' });
      assert.deepEqual(object, { status: 200, size: SIZE, sha256 });
    } finally {
      await ctx.close();
    }
  }, { hold });
});

/**
 * An upload of `key` that fails (with the bucket set up by `s3Options`): `check(failed, task)` judges the
 * `failed` event and the task; the upload must then be aborted at the bucket, the backend having signed `steps`.
 */
async function failsAndIsAborted(tag, key, s3Options, steps, check) {
  await server.reset();
  await withS3(async ({ signed, aborted, worker }) => {
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, tag, { serviceWorker: worker });
      const { id } = await uploadRandom(page, SIZE, request(key));
      const failed = await eventOf(page, id, 'failed', { timeout: 30000 });
      const task = await page.evaluate((id) => window.ferrySession.get(id), id);
      check(failed, task);
      await until(() => aborted.length > 0, { what: 'the upload aborted', timeout: 20000 });
      assert.deepEqual(aborted, [task.request.protocol.uploadId]);
      assert.deepEqual(signed, steps);
    });
  }, s3Options);
}

test('S3 multipart: a bucket whose CORS rules hide the ETag fails the upload with a reason that says so, and the upload is aborted', async () => {
  await failsAndIsAborted('s3etag', 'videos/c.bin', { exposeEtag: false }, ['create', 'part 1', 'abort'], (failed) => {
    assert.match(failed.reason, /ETag header cannot be read.*ExposeHeaders/);
  });
});

test('S3 multipart: a part refused as S3 refuses an expired URL (403 AccessDenied) fails the upload with a reason that names the step and quotes S3, and the upload is aborted', async () => {
  const refuse = (step) => step === 'part 2';
  await failsAndIsAborted('s3refused', 'videos/r.bin', { refuse }, ['create', 'part 1', 'part 2', 'abort'], (failed, task) => {
    assert.match(failed.reason, /^UploadPart 2 answered 403 Forbidden on attempt 1; .* \(the server said: \w+: Request has expired\)$/);
    assert.match(failed.response.body, /Request has expired/);
    assert.equal(task.lastStatus, 403);
    assert.match(task.lastError, /^UploadPart 2 answered 403 Forbidden \(the server said: \w+: Request has expired\)$/);
  });
});

test('S3 multipart: cancel aborts the upload at the bucket before it resolves', async () => {
  await server.reset();
  await withS3(async ({ signed, aborted, worker }) => {
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, 's3cancel', { serviceWorker: worker });
      const { id } = await uploadRandom(page, SIZE, request('videos/d.bin'));
      await until(() => signed.includes('part 2'), { what: 'part 2 asked to be signed', timeout: 30000 });
      const { uploadId } = (await page.evaluate((id) => window.ferrySession.get(id), id)).request.protocol;
      assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), id), true);
      // cancel() resolves once the abort was sent.
      assert.deepEqual(aborted, [uploadId]);
      assert.deepEqual(signed, ['create', 'part 1', 'part 2', 'abort']);
      await eventOf(page, id, 'cancelled');
    });
  }, { hold: (name) => name === 'part 2' });
});

test('S3 multipart: clear() aborts an upload that waits for its next attempt (queued, its upload created)', async () => {
  await server.reset();
  // Part 2's signature fails once: the attempt ends unsent and the task waits a minute to retry.
  const fail = (name) => name === 'part 2';
  await withS3(async ({ signed, aborted, worker }) => {
    await withGrantedChromium(server.url, [], async (ctx) => {
      const page = await openSession(ctx, server.url, 's3clear', { serviceWorker: worker, retry: { baseMs: 60000, capMs: 60000 } });
      const { id } = await uploadRandom(page, SIZE, request('videos/h.bin'));
      const retrying = await eventOf(page, id, 'retrying');
      assert.match(retrying.reason, /beforeSend failed: Error: the presigner answered 503/);
      const task = await page.evaluate((id) => window.ferrySession.get(id), id);
      assert.equal(task.state, 'queued');
      assert.equal(await page.evaluate(() => window.ferrySession.clear()), 1);
      assert.deepEqual(aborted, [task.request.protocol.uploadId], 'clear() resolved once the abort was sent');
      assert.deepEqual(signed, ['create', 'part 1', 'part 2', 'abort']);
    });
  }, { fail });
});

test('S3 multipart needs the worker\'s beforeSend: without one, upload rejects with FerryInvalidProtocol and stores nothing', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    const page = await openSession(ctx, server.url, 's3plain', { serviceWorker: '/sw-plain.js' });
    const error = await page.evaluate(async () => {
      try {
        await window.ferrySession.upload(new Blob(['x']), { url: '/s3/x', protocol: 's3-multipart' });
        return null;
      } catch (e) {
        return { name: e.name, message: e.message };
      }
    });
    assert.equal(error?.name, 'FerryInvalidProtocol', JSON.stringify(error));
    assert.match(error.message, /installFerry\(self, \{ beforeSend \}\)/);
    assert.deepEqual(await page.evaluate(() => window.ferrySession.list()), []);
  });
});

test('Firefox: S3 multipart by the fallback transport, 3 parts each presigned by beforeSend', async () => {
  await server.reset();
  await withS3(async ({ s3, signed, worker }) => {
    await withFirefox(async (browser) => {
      const page = await openFirefoxSession(browser, server.url, 's3mpff', { serviceWorker: worker });
      await threeParts({ s3, signed, page, uploadRandom: uploadRandomFirefox, eventOf: eventOfFirefox }, 'videos/e.bin');
    });
  });
});

test('WebKit: S3 multipart by the fallback transport, 3 parts each presigned by beforeSend', async () => {
  await server.reset();
  await withS3(async ({ s3, signed, worker }) => {
    const webkit = await startWebKit();
    const profile = await webkitProfile();
    try {
      const page = await openHarness(webkit, profile, server.url);
      try {
        await registerSession(page, 's3mpwk', { serviceWorker: worker });
        await threeParts({ s3, signed, page, uploadRandom: uploadRandomFirefox, eventOf: eventOfFirefox }, 'videos/g.bin');
      } finally {
        await page.close();
      }
    } finally {
      await webkit.stop();
      await removeWebKitDir(profile);
    }
  });
});
