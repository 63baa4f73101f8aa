// Object storage: an app that outgrew one upload server hands Ferry an S3 presigned URL (SigV4 in the query
// string) and a PUT; the bytes go straight into the bucket, cross-origin, under the bucket's CORS rules. The
// S3 server is s3rver from npm (it checks SigV4 signatures, presigned ones included, and applies CORS), the
// URLs are signed with aws4fetch from npm: nothing here is written for the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openSession, uploadRandom, eventOf, withGrantedChromium } from './harness.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';
import { startS3 } from './s3.mjs';

const MiB = 1024 * 1024;

let server;
let firefoxPkg;
let s3;
before(async () => {
  firefoxPkg = await snapshotPkg();
  server = await startServer({ args: ['--pkg', firefoxPkg] });
  s3 = await startS3(new URL(server.url).origin);
});
after(async () => {
  await s3?.close();
  await server?.stop();
  await removeDir(firefoxPkg);
});

/** A presigned PUT URL for `key`, as an app's backend would hand one to its page. */
const presignedPut = (key) => s3.sign(key);
/** The object as the bucket holds it (a signed GET): status, and SHA-256 and size of its bytes. */
const object = (key) => s3.object(key);

// Background Fetch granted: Ferry would take it for a same-origin upload; not for these.
const withChromium = (fn) => withGrantedChromium(server.url, ['backgroundFetch'], fn);

test('a presigned S3 PUT (cross-origin, CORS) is delivered into the bucket by the worker\'s fetch on its first attempt', async () => {
  await withChromium(async (ctx) => {
    const page = await openSession(ctx, server.url, 's3');
    const key = 'photos/chromium.bin';
    const { id, sha256 } = await uploadRandom(page, 3 * MiB, { url: await presignedPut(key), method: 'PUT' });
    const started = await eventOf(page, id, 'started');
    // The worker's own fetch (started by its sync or the page's wake-up, whichever is first).
    assert.ok(['backgroundSync', 'fallback'].includes(started.transport),
      `a cross-origin upload is not handed to Background Fetch: ${started.transport}`);
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.attempt, 1);
    assert.equal(completed.response.status, 200);
    assert.match(completed.response.headers.etag ?? '', /^"[0-9a-f]{32}"$/, 'the ETag the bucket exposes');
    assert.deepEqual(await object(key), { status: 200, size: 3 * MiB, sha256 });
  });
});

test('Firefox: a presigned S3 PUT is delivered into the bucket through the fallback', async () => {
  const dir = await firefoxProfile();
  let browser = null;
  try {
    browser = await launchFirefox(dir);
    const page = await openFirefoxSession(browser, server.url, 's3');
    const key = 'photos/firefox.bin';
    const { id, sha256 } = await uploadRandomFirefox(page, 2 * MiB, { url: await presignedPut(key), method: 'PUT' });
    const completed = await eventOfFirefox(page, id, 'completed');
    assert.equal(completed.response.status, 200);
    assert.deepEqual(await object(key), { status: 200, size: 2 * MiB, sha256 });
  } finally {
    await closeFirefox(browser);
    await removeDir(dir);
  }
});
