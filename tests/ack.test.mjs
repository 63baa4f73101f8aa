// Events are acknowledged only once handled: with `ack: 'auto'`, an event leaves the outbox after a
// listener of its kind ran for it in a page; one nobody listened to stays for a later listener or page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, until, settled } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

/** The kinds of the tag's events still in the outbox, in seq order (read straight from IndexedDB). */
const outboxKinds = (page, tag) => page.evaluate(async (tag) => {
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open('ferry');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const all = await new Promise((resolve) => {
    const r = db.transaction('outbox').objectStore('outbox').getAll();
    r.onsuccess = () => resolve(r.result);
  });
  db.close();
  return all.filter((e) => e.tag === tag).sort((a, b) => a.seq - b.seq).map((e) => e.kind);
}, tag);

test('auto-ack drops only what a listener heard; a listener added late, or a later page, hears the rest', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await ctx.newPage();
    await page.goto(new URL('/harness.html', server.url).href);
    // A session with no listener yet: the upload ends while nobody listens.
    const id = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      window.s = await Ferry.register('ack', { serviceWorker: '/sw.js', backgroundFetch: false });
      await navigator.serviceWorker.ready;
      return window.s.upload(new Blob(['hello']), { url: '/upload/ack' });
    });
    await settled(server, 1);
    await until(async () => (await page.evaluate((id) => window.s.get(id), id)).state === 'done', { what: 'done' });
    // A listener for `completed` only, added a moment later, still hears it.
    const heard = await page.evaluate(() => new Promise((resolve) => {
      window.s.addEventListener('completed', (e) => resolve(e.detail));
    }));
    assert.equal(heard.taskId, id);
    assert.equal(heard.response.status, 201);
    const kinds = await until(async () => {
      const k = await outboxKinds(page, 'ack');
      return k.includes('completed') ? null : k;
    }, { what: '`completed` acknowledged' });
    assert.deepEqual(kinds, ['queued', 'started', 'progress'], 'events no listener heard stay in the outbox');
    // In the same page, a `queued` listener added now hears the `queued` event it missed.
    const queued = await page.evaluate(() => new Promise((resolve) => {
      window.s.addEventListener('queued', (e) => resolve(e.detail));
    }));
    assert.equal(queued.taskId, id);
    await until(async () => !(await outboxKinds(page, 'ack')).includes('queued'), { what: '`queued` acknowledged' });
    // A later page of the tag replays what is left (started, progress) to its listeners.
    const later = await ctx.newPage();
    await later.goto(new URL('/harness.html', server.url).href);
    const replayed = await later.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const s = await Ferry.register('ack', { serviceWorker: '/sw.js', backgroundFetch: false });
      return new Promise((resolve) => {
        const got = [];
        for (const kind of ['started', 'progress']) {
          s.addEventListener(kind, (e) => {
            got.push(e.detail.kind);
            if (got.length === 2) resolve(got);
          });
        }
      });
    });
    assert.deepEqual(replayed, ['started', 'progress']);
    await until(async () => (await outboxKinds(later, 'ack')).length === 0, { what: 'outbox empty' });
  } finally {
    await ctx.close();
  }
});
