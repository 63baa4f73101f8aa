// What a drain asks of IndexedDB: each request costs the worker, the browser's IPC and its storage thread
// about the same whatever the record, so a transaction reads each record once. The worker's requests are
// counted by a prelude: every read of a record by key or by range, per transaction, and every request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openSession, until, withChromium, routeWorker, answering, askWorker } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

const COUNTING = `
const counts = { requests: {}, twice: [] };
const seen = new WeakMap();
const readOf = (tx, key) => {
  let keys = seen.get(tx);
  if (!keys) seen.set(tx, (keys = new Set()));
  if (keys.has(key)) counts.twice.push(key);
  keys.add(key);
};
const storeOf = (source) => (source instanceof IDBIndex ? source.objectStore : source);
for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
  for (const name of ['get', 'getAll', 'put', 'add', 'delete', 'count', 'getAllKeys', 'openCursor']) {
    const original = proto[name];
    if (!original) continue;
    proto[name] = function (...args) {
      const request = original.apply(this, args);
      counts.requests[name] = (counts.requests[name] ?? 0) + 1;
      const store = storeOf(this);
      const tx = store.transaction;
      if (name === 'get' && this instanceof IDBObjectStore) readOf(tx, store.name + ' ' + JSON.stringify(args[0]));
      if (name === 'getAll' && store.name === 'tasks') {
        request.addEventListener('success', () => { for (const t of request.result) readOf(tx, 'tasks ' + JSON.stringify(t.id)); });
      }
      return request;
    };
  }
}
${answering('requests', 'counts')}`;

test('no transaction of a drain reads a record twice: a settle takes its tasks from the lease\'s in-flight read, and a tag\'s session is read once', async (t) => {
  await server.reset();
  await withChromium(async (ctx) => {
    await routeWorker(ctx, 'requests-sw.js', COUNTING);
    const page = await openSession(ctx, server.url, 'requests', { concurrency: 4, backgroundFetch: false, serviceWorker: '/requests-sw.js' });
    const n = 200;
    await page.evaluate(async (n) => {
      await window.ferrySession.pause();
      await window.ferrySession.uploadAll(Array.from({ length: n }, (_, i) => ({ blob: new Blob([`upload ${i}`]), request: { url: '/upload/requests' } })));
    }, n);
    const counts = () => askWorker(page, 'requests');
    const before = await counts();
    await page.evaluate(() => window.ferrySession.resume());
    await until(() => page.evaluate((n) => window.ferryEvents.filter((e) => e.kind === 'completed').length === n, n),
      { timeout: 60000, what: `all ${n} uploads completed` });
    const done = await counts();
    assert.equal(new Set((await server.uploads()).filter((r) => r.path === '/upload/requests' && r.applied).map((r) => r.idempotencyKey)).size, n);
    const requests = Object.entries(done.requests).map(([k, v]) => [k, v - (before.requests[k] ?? 0)]);
    const gets = Object.fromEntries(requests).get ?? 0;
    // The count sees the drain: each upload's lease reads its task and its Blob by key.
    assert.ok(gets >= 2 * n, `the drain made ${gets} get requests for ${n} uploads: the count does not see them`);
    t.diagnostic(`requests of the drain of ${n} uploads: ${JSON.stringify(requests)}`);
    const twice = done.twice.slice(before.twice.length);
    assert.deepEqual([...new Set(twice)].slice(0, 5), [], `${twice.length} reads of a record its transaction had read already (${JSON.stringify(requests)})`);
  });
});
