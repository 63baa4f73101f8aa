// What a look reads: past the window it reads first only when a task it did not read could start (a paused
// tag's uploads must not hide another tag's), then only the due tasks of the tags with a slot left, each on
// its own; in a drain each queued upload about once, not the queue again at every look, also beside a
// registered tag with nothing queued. The worker's due-index reads (`by_due`, and a tag's `by_tag_due`)
// are counted by a prelude (the records IndexedDB returned, and the count each read asked for), with a
// page open that hears and acknowledges every event and stores more uploads while the drain runs (each
// call, each acknowledgement and wake reaches the worker while every lane is busy).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openSession, until, withChromium, routeWorker, answering, askWorker } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

const COUNTING = `
const reads = { records: 0, asked: [], tag: { records: 0, asked: [] } };
const getAll = IDBIndex.prototype.getAll;
IDBIndex.prototype.getAll = function (...args) {
  const request = getAll.apply(this, args);
  const count = { by_due: reads, by_tag_due: reads.tag }[this.name];
  if (count) {
    count.asked.push(args[1] ?? 0);
    request.addEventListener('success', () => { count.records += request.result.length; });
  }
  return request;
};
${answering('reads', 'reads')}`;

test('a drain reads each queued upload from the due index about once, and no look reads past its first window while every lane is busy, a registered idle tag beside it', async (t) => {
  await server.reset();
  await withChromium(async (ctx) => {
    await routeWorker(ctx, 'reads-sw.js', COUNTING);
    const page = await openSession(ctx, server.url, 'reads', { concurrency: 4, backgroundFetch: false, serviceWorker: '/reads-sw.js' });
    const [queued, more] = [300, 30];
    await page.evaluate(async (n) => {
      // A second tag, registered, with nothing queued: it has a free slot all along.
      const { Ferry } = await import('/ferry/index.js');
      window.idle = await Ferry.register('idle', { backgroundFetch: false, serviceWorker: '/reads-sw.js' });
      await window.ferrySession.pause();
      await window.ferrySession.uploadAll(Array.from({ length: n }, (_, i) => ({ blob: new Blob([`upload ${i}`]), request: { url: '/upload/reads' } })));
    }, queued);
    const reads = () => askWorker(page, 'reads');
    const before = await reads();
    // Resumed, then more uploads stored one at a time while the queue drains.
    await page.evaluate(async (more) => {
      await window.ferrySession.resume();
      for (let i = 0; i < more; i++) await window.ferrySession.upload(new Blob([`more ${i}`]), { url: '/upload/reads' });
    }, more);
    const n = queued + more;
    await until(() => page.evaluate((n) => window.ferryEvents.filter((e) => e.kind === 'completed').length === n, n),
      { timeout: 60000, what: `all ${n} uploads completed` });
    const after = await reads();
    const read = after.records - before.records;
    const asked = after.asked.slice(before.asked.length);
    assert.equal(new Set((await server.uploads()).filter((r) => r.path === '/upload/reads' && r.applied).map((r) => r.idempotencyKey)).size, n);
    assert.ok(read >= n, `the drain read ${read} task records for ${n} uploads: the count does not see the reads`);
    // Nothing is held (one tag, not paused, all due): a look reads its window (and the first task due
    // later, a count of 1), never past it.
    const windows = asked.filter((c) => c > 1);
    assert.ok(windows.length > 0, 'the looks read the due index');
    assert.deepEqual([...new Set(windows)], [windows[0]], `the looks asked for ${[...new Set(windows)].join(', ')} records`);
    const tagRecords = after.tag.records - before.tag.records;
    t.diagnostic(`records read: ${read} from the due index, ${tagRecords} by tag (${after.tag.asked.length - before.tag.asked.length} reads)`);
    assert.ok(read + tagRecords <= 3 * n, `the drain read ${read} + ${tagRecords} task records for ${n} uploads`);
  });
});

test('a paused tag\'s 40 uploads, due first, do not hide another tag\'s upload behind them: the look reads that tag on its own', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    await routeWorker(ctx, 'reads-sw.js', COUNTING);
    const page = await openSession(ctx, server.url, 'held', { backgroundFetch: false, serviceWorker: '/reads-sw.js' });
    const { id, asked, tagAsked } = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const free = await Ferry.register('free', { backgroundFetch: false, serviceWorker: '/reads-sw.js' });
      await window.ferrySession.pause();
      await window.ferrySession.uploadAll(Array.from({ length: 40 }, (_, i) => ({ blob: new Blob([`held ${i}`]), request: { url: '/upload/held' } })));
      // Stored later (due later than every held one) while its tag is paused too, then resumed: the
      // look that follows reads the held tag's 40 first.
      await free.pause();
      await new Promise((r) => setTimeout(r, 20));
      const id = await free.upload(new Blob(['free']), { url: '/upload/free' });
      const reads = () => new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = (e) => resolve(e.data);
        navigator.serviceWorker.ready.then((r) => r.active.postMessage({ test: 'reads' }, [channel.port2]));
      });
      const before = await reads();
      const completed = new Promise((resolve) => free.addEventListener('completed', (e) => e.detail.taskId === id && resolve()));
      await free.resume();
      await Promise.race([completed, new Promise((_, reject) => setTimeout(() => reject(new Error('the free tag\'s upload did not complete within 20 s')), 20000))]);
      const after = await reads();
      return { id, asked: after.asked.slice(before.asked.length), tagAsked: after.tag.asked.slice(before.tag.asked.length) };
    });
    assert.ok(id);
    const paths = (await server.uploads()).map((r) => r.path);
    assert.deepEqual(paths, ['/upload/free'], 'the free tag\'s upload was sent, nothing of the paused tag');
    const windows = asked.filter((c) => c > 1);
    assert.deepEqual([...new Set(windows)], [windows[0]], `the due index read a window at a time (asked ${windows.join(', ')})`);
    assert.ok(tagAsked.some((c) => c > 1), `the free tag was read on its own (asked ${tagAsked.join(', ')})`);
  });
});
