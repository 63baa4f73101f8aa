// Object storage: an app that outgrew one upload server hands Ferry an S3 presigned URL (SigV4 in the query
// string) and a PUT; the bytes go straight into the bucket, cross-origin, under the bucket's CORS rules. The
// S3 server is s3rver from npm (it checks SigV4 signatures, presigned ones included, and applies CORS), the
// URLs are signed with aws4fetch from npm: nothing here is written for the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { AwsV4Signer } from 'aws4fetch';
import { startServer, openSession, uploadRandom, eventOf, withGrantedChromium } from './harness.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';

// s3rver's one account.
const KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', service: 's3', region: 'us-east-1' };
const BUCKET = 'uploads';
const MiB = 1024 * 1024;

let server;
let firefoxPkg;
let s3;
let s3url;
let s3dir;
before(async () => {
  firefoxPkg = await snapshotPkg();
  server = await startServer({ args: ['--pkg', firefoxPkg] });
  // The app's origin may PUT any header and read the ETag, as an S3 bucket for browser uploads is set up.
  const cors = '<CORSConfiguration><CORSRule>'
    + `<AllowedOrigin>${new URL(server.url).origin}</AllowedOrigin>`
    + '<AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>'
    + '</CORSRule></CORSConfiguration>';
  s3dir = await mkdtemp(path.join(tmpdir(), 'ferry-s3-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET, configs: [cors] }] });
  const { port } = await s3.run();
  s3url = `http://127.0.0.1:${port}`;
});
after(async () => {
  await s3?.close();
  await server?.stop();
  await rm(s3dir, { recursive: true, force: true });
  await removeDir(firefoxPkg);
});

/** A presigned PUT URL for `key`, as an app's backend would hand one to its page. */
async function presignedPut(key, keys = KEYS) {
  const signed = await new AwsV4Signer({ ...keys, url: `${s3url}/${BUCKET}/${key}`, method: 'PUT', signQuery: true }).sign();
  return signed.url.toString();
}

/** The object as the bucket holds it (a signed GET): status, and SHA-256 and size of its bytes. */
async function object(key) {
  const signed = await new AwsV4Signer({ ...KEYS, url: `${s3url}/${BUCKET}/${key}`, method: 'GET' }).sign();
  const res = await fetch(signed.url, { headers: signed.headers });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

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
