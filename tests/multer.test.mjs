// multipart against a server nobody here wrote: Express 5 with multer (the usual Node stack for file forms),
// on another origin than the app, set up as their READMEs say: `cors({ exposedHeaders })` and
// `multer({ defParamCharset: 'utf8' })` with `upload.single(field)`. What multer hands the route is checked:
// the field, the UTF-8 file name, the text fields, the bytes; and `completed` carries the route's answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import cors from 'cors';
import express from 'express';
import multer from 'multer';
import { startServer, profileDir, launchChromium, openSession, uploadRandom, eventOf } from './harness.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox,
  openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';

const filename = 'photo été ✓.jpg';
const fields = { album: '7', caption: 'la mer ✓' };

let server;
let pkg;
let app;

/** Express + multer on 127.0.0.1 (its own origin): `received` is what the route was handed, in order. */
async function startExpress() {
  const received = [];
  const upload = multer({ storage: multer.memoryStorage(), defParamCharset: 'utf8' });
  const web = express();
  web.use(cors({ exposedHeaders: ['ETag', 'Location'] }));
  web.post('/photos', upload.single('photo'), (req, res) => {
    const f = req.file;
    received.push({
      key: req.get('idempotency-key'), field: f.fieldname, filename: f.originalname, mimetype: f.mimetype,
      size: f.size, sha256: createHash('sha256').update(f.buffer).digest('hex'), fields: { ...req.body },
    });
    res.status(201).set('ETag', `"${received.length}"`).set('Location', `/photos/${received.length}`)
      .json({ id: received.length, name: f.originalname });
  });
  const listening = await new Promise((resolve) => { const s = web.listen(0, '127.0.0.1', () => resolve(s)); });
  return {
    url: `http://127.0.0.1:${listening.address().port}/photos`,
    received,
    close: () => { listening.closeAllConnections(); return new Promise((resolve) => listening.close(resolve)); },
  };
}

before(async () => {
  pkg = await snapshotPkg();
  server = await startServer({ args: ['--pkg', pkg] });
  app = await startExpress();
});
after(async () => {
  await app?.close();
  await server?.stop();
  await removeDir(pkg);
});

/** What a browser's upload must have handed the route, and what `completed` must say of the answer. */
function check(received, completed, size, sha256) {
  assert.equal(received.length, 1);
  const [got] = received;
  assert.deepEqual({ ...got, key: undefined }, {
    key: undefined, field: 'photo', filename, mimetype: 'application/octet-stream', size, sha256, fields,
  });
  assert.ok(got.key, 'the Idempotency-Key reached the route');
  assert.equal(completed.response.status, 201);
  assert.equal(completed.response.headers.etag, '"1"', 'a header the server exposes reaches completed');
  assert.deepEqual(JSON.parse(completed.response.body), { id: 1, name: filename });
}

const request = (url) => ({ url, protocol: 'multipart', field: 'photo', filename, fields });

test('multer (Express 5, another origin) takes a multipart upload from the worker: the file field, its UTF-8 name, the text fields, every byte (Chromium)', async () => {
  app.received.length = 0;
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await openSession(ctx, server.url, 'multer');
    const size = 700 * 1024 + 3;
    const { id, sha256 } = await uploadRandom(page, size, request(app.url));
    check(app.received, await eventOf(page, id, 'completed'), size, sha256);
  } finally {
    await ctx.close();
  }
});

test('Firefox: multer takes the same multipart upload through the fallback', async () => {
  app.received.length = 0;
  const dir = await firefoxProfile();
  let browser = null;
  try {
    browser = await launchFirefox(dir);
    const page = await openFirefoxSession(browser, server.url, 'multer');
    const size = 300 * 1024 + 1;
    const { id, sha256 } = await uploadRandomFirefox(page, size, request(app.url));
    check(app.received, await eventOfFirefox(page, id, 'completed'), size, sha256);
  } finally {
    await closeFirefox(browser);
  }
  await removeDir(dir);
});
