// An upload's `appData`: the app's own data for the task (which photo, which album), committed in the same
// transaction as the task and its Blob, so no upload is ever left without it (iOS `taskDescription`,
// Workbox's `metadata`). It is never sent; `list()`, `get()`, `headerProvider` and the worker's
// `beforeSend` show it, and a page that opens after the upload ended finds it by the event's `taskId`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSession, eventOf, settled, withGrantedChromium } from './harness.mjs';
import {
  withFirefox,
  openSession as openFirefoxSession, eventOf as eventOfFirefox,
} from './firefox.mjs';
import { startAppServer } from './app-server.mjs';


// The app's worker: `beforeSend` sends a photo to its album's URL, read from the task's appData; a POST to
// /share (a Web Share Target, say) is handed to Ferry with appData of the worker's own.
const WORKER = `import { installFerry, enqueue } from '/ferry/worker.js';
installFerry(self, {
  beforeSend(task) {
    if (!task.appData) return undefined;
    const { album, photoId } = JSON.parse(task.appData);
    return { url: '/upload/albums/' + album + '/' + photoId };
  },
});
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'POST' || url.pathname !== '/share') return;
  const appData = url.searchParams.has('number') ? 7 : JSON.stringify({ album: 'shared', photoId: 1 });
  event.respondWith(enqueue(event.request.clone(), { tag: url.searchParams.get('tag'), appData })
    .then((id) => new Response(id, { status: 202 }), (e) => new Response(e.name + ': ' + e.message, { status: 400 })));
});
`;

let server;
before(async () => {
  server = await startAppServer({ 'sw.js': WORKER });
});
after(() => server?.close());

const photo = (album, photoId) => JSON.stringify({ album, photoId, caption: 'Été à la mer' });

test('appData is stored with the task: get() and list() show it, beforeSend routes by it, and a page opened after the upload ended finds it by the taskId of the replayed completed event', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    // `ack: 'manual'`: the first page never acknowledges, so an upload that ends before it is closed
    // still leaves its `completed` for the next page (with auto-ack its listener could take it first).
    const first = await openSession(ctx, server.url, 'appd', { ack: 'manual' });
    const { id, plain } = await first.evaluate(async (appData) => {
      await window.ferrySession.pause();
      const id = await window.ferrySession.upload(new Blob(['a photo']), { url: '/upload/unrouted', appData });
      const plain = await window.ferrySession.upload(new Blob(['no app data']), { url: '/upload/plain' });
      return { id, plain };
    }, photo('summer', 42));
    const listed = await first.evaluate(() => window.ferrySession.list());
    assert.deepEqual(listed.map((t) => [t.id, t.appData]), [[id, photo('summer', 42)], [plain, null]]);
    // The page that queued them goes away as soon as sending is allowed: no page is open meanwhile.
    await first.evaluate(() => window.ferrySession.resume());
    await first.close();
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => r.path).sort(), ['/upload/albums/summer/42', '/upload/plain']);
    assert.ok(records.every((r) => !JSON.stringify(r.headers).includes('summer')), 'appData is never sent');

    const next = await openSession(ctx, server.url, 'appd');
    const completed = await eventOf(next, id, 'completed');
    const task = await next.evaluate((taskId) => window.ferrySession.get(taskId), completed.taskId);
    assert.equal(task.state, 'done');
    assert.deepEqual(JSON.parse(task.appData), { album: 'summer', photoId: 42, caption: 'Été à la mer' });
  });
});

test('an appData that is not a string, or longer than 8192 bytes as UTF-8, rejects with FerryInvalidOptions naming it; nothing is stored, in upload and in uploadAll', async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    const page = await openSession(ctx, server.url, 'appdbad');
    const errors = await page.evaluate(async () => {
      const s = window.ferrySession;
      const attempt = async (call) => {
        try {
          await call();
          return null;
        } catch (e) {
          return { name: e.name, message: e.message, index: e.index };
        }
      };
      const blob = new Blob(['x']);
      return {
        object: await attempt(() => s.upload(blob, { url: '/upload/bad', appData: { photoId: 42 } })),
        number: await attempt(() => s.upload(blob, { url: '/upload/bad', appData: 42 })),
        // 4096 two-byte characters fit; one more is 8194 bytes.
        long: await attempt(() => s.upload(blob, { url: '/upload/bad', appData: 'é'.repeat(4097) })),
        fits: await attempt(() => s.upload(blob, { url: '/upload/fits', appData: 'é'.repeat(4096) })),
        all: await attempt(() => s.uploadAll([
          { blob, request: { url: '/upload/bad/0', appData: 'fine' } },
          { blob, request: { url: '/upload/bad/1', appData: ['not', 'a', 'string'] } },
        ])),
      };
    });
    assert.equal(errors.fits, null, 'exactly 8192 bytes is accepted');
    for (const [name, e] of Object.entries(errors)) {
      if (name === 'fits') continue;
      assert.equal(e?.name, 'FerryInvalidOptions', `${name}: ${JSON.stringify(e)}`);
      assert.match(e.message, /appData/, name);
    }
    assert.match(errors.object.message, /must be a string, got Object; pass JSON\.stringify\(data\)/);
    assert.match(errors.long.message, /is 8194 bytes \(UTF-8\), more than 8192/);
    assert.equal(errors.all.index, 1, 'uploadAll names the item');
    const listed = await page.evaluate(() => window.ferrySession.list());
    assert.deepEqual(listed.map((t) => new URL(t.request.url).pathname), ['/upload/fits'], 'only the valid upload was stored');
  });
});

test("the worker's enqueue stores its appData with the task (and refuses one that is not a string)", async () => {
  await server.reset();
  await withGrantedChromium(server.url, [], async (ctx) => {
    // The first page installs the worker; the second is controlled by it (its fetches go through it).
    await (await openSession(ctx, server.url, 'appdsw')).close();
    const page = await openSession(ctx, server.url, 'appdsw');
    const answers = await page.evaluate(async () => {
      if (!navigator.serviceWorker.controller) throw new Error('the page is not controlled');
      await window.ferrySession.pause();
      const post = async (query) => {
        const res = await fetch('/share?' + query, { method: 'POST', body: new Blob(['shared photo']) });
        return { status: res.status, text: await res.text() };
      };
      return { ok: await post('tag=appdsw'), bad: await post('tag=appdsw&number') };
    });
    assert.equal(answers.ok.status, 202, answers.ok.text);
    assert.equal(answers.bad.status, 400);
    assert.match(answers.bad.text, /^FerryInvalidOptions: .*appData: must be a string, got number/);
    const task = await page.evaluate((id) => window.ferrySession.get(id), answers.ok.text);
    assert.deepEqual(JSON.parse(task.appData), { album: 'shared', photoId: 1 });
    assert.equal((await page.evaluate(() => window.ferrySession.list())).length, 1, 'the refused one was not stored');
  });
});

test('Firefox: appData is stored with the task and read by beforeSend in the fallback transport', async () => {
  await server.reset();
  await withFirefox(async (browser) => {
    const page = await openFirefoxSession(browser, server.url, 'appdff');
    const id = await page.evaluate((appData) => window.ferrySession.upload(new Blob(['a photo']), { url: '/upload/unrouted', appData }),
      photo('winter', 7));
    const completed = await eventOfFirefox(page, id, 'completed');
    assert.equal(completed.response.status, 201);
    const [record] = await settled(server, 1);
    assert.equal(record.path, '/upload/albums/winter/7');
    const task = await page.evaluate((taskId) => window.ferrySession.get(taskId), id);
    assert.equal(task.appData, photo('winter', 7));
  });
});
