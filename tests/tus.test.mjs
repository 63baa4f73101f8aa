// tus 1.0: chunks of the stored Blob, real progress events, and a killed upload that resumes at the
// server's offset instead of byte 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, openSession, uploadRandom, until, eventOf, runThenKill, serviceWorker, FAST_SYNC_RETRY } from './harness.mjs';

const server = await startServer();
after(() => server.stop());
const tusUploads = async () => (await fetch(new URL('/__ferry/tus', server.url))).json();
const MiB = 1024 * 1024;

test('tus: creation, 1 MiB PATCH chunks, monotonic progress ending at the total, completed with the last PATCH\'s 204', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await openSession(ctx, server.url, 'tus');
    const { id, sha256 } = await uploadRandom(page, 3 * MiB + 5, { url: '/tus', protocol: 'tus', chunkSize: MiB, metadata: { filename: 'clip.mp4' } });
    const completed = await eventOf(page, id, 'completed');
    assert.equal(completed.response.status, 204);
    const progress = (await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress'), id)).map((e) => e.bytesSent);
    assert.deepEqual(progress, [MiB, 2 * MiB, 3 * MiB, 3 * MiB + 5]);
    const [upload] = await tusUploads();
    assert.equal(upload.offset, 3 * MiB + 5);
    assert.equal(upload.patches, 4);
    assert.equal(upload.metadata.filename, 'clip.mp4');
    const records = (await server.uploads()).filter((r) => r.method === 'TUS');
    assert.equal(records.length, 1);
    assert.equal(records[0].sha256, sha256);
  } finally {
    await ctx.close();
  }
});

test('tus: small chunks are all confirmed, but told as throttled progress (every 5 % or 500 ms, the total always)', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await openSession(ctx, server.url, 'tus-small');
    const chunk = 64 * 1024;
    const size = 64 * chunk + 7;
    const { id, sha256 } = await uploadRandom(page, size, { url: '/tus', protocol: 'tus', chunkSize: chunk });
    await eventOf(page, id, 'completed');
    const [upload] = await tusUploads();
    assert.equal(upload.patches, 65);
    assert.equal(upload.offset, size);
    const progress = (await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind === 'progress'), id)).map((e) => e.bytesSent);
    // One event per chunk would be 65; 5 % steps of the file make 16 (every fourth chunk) plus the total.
    assert.ok(progress.length <= 32, `${progress.length} progress events for 65 chunks: ${progress}`);
    assert.equal(progress.at(-1), size);
    assert.ok(progress.every((b, i) => i === 0 || b > progress[i - 1]), `not rising: ${progress}`);
    const records = (await server.uploads()).filter((r) => r.method === 'TUS');
    assert.equal(records[0].sha256, sha256);
  } finally {
    await ctx.close();
  }
});

test('tus: SIGKILL mid-upload, relaunch with no page: resumes at the server\'s offset, applied once', async () => {
  await server.reset();
  const dir = await profileDir();
  const { sha256 } = await runThenKill(dir, async (ctx) => {
    const page = await openSession(ctx, server.url, 'tuskill');
    await server.fault({ count: 100, slowBytesPerSec: 2 * MiB, path: '/tus/' });
    const uploaded = await uploadRandom(page, 8 * MiB, { url: '/tus', protocol: 'tus', chunkSize: MiB });
    await until(async () => (await tusUploads())[0]?.offset >= 3 * MiB, { timeout: 30000, what: '3 MiB confirmed' });
    return uploaded;
  });
  const offsetAtKill = (await tusUploads())[0].offset;
  await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
  const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
  try {
    const sw = await serviceWorker(ctx);
    const record = await until(async () => (await server.uploads()).find((r) => r.method === 'TUS'), { timeout: 20000, what: 'the tus upload to complete' }).catch(async (e) => {
      // Say where it stands: the server's view and the worker's record of the task.
      console.log(JSON.stringify(await tusUploads()), JSON.stringify(await server.uploads()));
      console.log(JSON.stringify(await sw.evaluate(async () => new Promise((res) => { const rq = indexedDB.open('ferry'); rq.onsuccess = () => { const g = rq.result.transaction('tasks').objectStore('tasks').getAll(); g.onsuccess = () => res(g.result.map((t) => [t.state, t.attempt, t.lastError, t.lastStatus, t.transport, t.nextAttemptAt - Date.now()])); }; }))));
      throw e;
    });
    assert.equal(record.sha256, sha256);
    const [upload] = await tusUploads();
    assert.equal(upload.offset, 8 * MiB);
    // Resumed, not restarted: bytes after the kill were only the ones the server did not have.
    assert.ok(upload.patches <= 8 + 2, `patches ${upload.patches} (restart from 0 would need 8 more)`);
    assert.ok(offsetAtKill >= 3 * MiB && offsetAtKill < 8 * MiB, `killed at ${offsetAtKill}`);
    assert.equal((await server.uploads()).filter((r) => r.method === 'TUS').length, 1);
  } finally {
    await ctx.close();
  }
});

test('tus: cancel terminates the upload at the server', async () => {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await openSession(ctx, server.url, 'tuscancel');
    await server.fault({ count: 100, slowBytesPerSec: MiB, path: '/tus/' });
    const { id } = await uploadRandom(page, 4 * MiB, { url: '/tus', protocol: 'tus', chunkSize: MiB });
    // Once a PATCH has arrived the worker has recorded the upload URL, so the cancel knows what to end.
    await until(async () => (await tusUploads())[0]?.patches >= 1, { what: 'a first PATCH to arrive' });
    assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), id), true);
    await eventOf(page, id, 'cancelled');
    await until(async () => (await tusUploads()).length === 0, { what: 'the termination (DELETE)' });
  } finally {
    await ctx.close();
  }
});

test('tus to an endpoint that does not speak tus (creation answered 200): a final failure that says so, nothing reported sent', async () => {
  await server.reset();
  await server.fault({ count: 10, status: 200, path: '/upload/plain' });
  const ctx = await launchChromium(await profileDir());
  try {
    const page = await openSession(ctx, server.url, 'nottus', { backgroundFetch: false });
    const { id } = await uploadRandom(page, 64 * 1024, { url: '/upload/plain', protocol: 'tus', chunkSize: MiB });
    const failed = await eventOf(page, id, 'failed');
    assert.match(failed.reason, /not a tus server/);
    assert.equal(failed.attempt, 1, 'no retry: the endpoint will not learn tus');
    const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind), id);
    assert.deepEqual(kinds, ['queued', 'started', 'failed']);
    const records = (await server.uploads()).filter((r) => r.path === '/upload/plain');
    assert.equal(records.length, 1, 'only the creation request');
    assert.equal(records[0].bytes, 0, 'no byte of the file was sent');
  } finally {
    await ctx.close();
  }
});
