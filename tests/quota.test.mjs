// Storage quota, in Firefox whose quota a pref can shrink (Chromium's CDP override did not limit writes
// here): refused before writing when the estimate says it cannot fit, and a QuotaExceededError during the
// write is a typed FerryQuotaExceeded with no partial record.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './harness.mjs';
import { snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox, openSession } from './firefox.mjs';

let server;
let browser;
let profile;
let page;
const pageErrors = [];
before(async () => {
  server = await startServer({ args: ['--pkg', await snapshotPkg()] });
  profile = await firefoxProfile();
  browser = await launchFirefox(profile, { prefs: { 'dom.quotaManager.temporaryStorage.fixedLimit': 8192 } });
  page = await openSession(browser, server.url, 'quota', { backgroundFetch: false });
  page.on('pageerror', (e) => pageErrors.push(String(e.message ?? e)));
  await page.evaluate(() => window.ferrySession.pause());
});
after(async () => {
  await closeFirefox(browser);
  await removeDir(profile);
  await server.stop();
});

const counts = () => page.evaluate(async () => {
  const db = await new Promise((r) => { const q = indexedDB.open('ferry'); q.onsuccess = () => r(q.result); });
  const count = (name) => new Promise((r) => { const q = db.transaction(name).objectStore(name).count(); q.onsuccess = () => r(q.result); });
  const out = { tasks: await count('tasks'), blobs: await count('blobs'), outbox: await count('outbox') };
  db.close();
  return out;
});

test('a Blob of 16 MiB or more, larger than the free quota, is refused before anything is written', async () => {
  const before = await counts();
  const got = await page.evaluate(async () => {
    try { await window.ferrySession.upload(new Blob([new Uint8Array(17 << 20)]), { url: '/upload/q' }); } catch (e) { return { name: e.name, message: e.message }; }
  });
  assert.equal(got?.name, 'FerryQuotaExceeded', JSON.stringify(got));
  assert.match(got.message, /persist/);
  assert.deepEqual(await counts(), before);
});

test('QuotaExceededError during the write is FerryQuotaExceeded and leaves no partial record', async () => {
  const before = await counts();
  // Each fits alone; together they do not: some writes hit the quota mid-transaction (below 16 MiB no
  // estimate is asked first).
  const results = await page.evaluate(async () => Promise.all([0, 1, 2, 3, 4, 5].map((i) => window.ferrySession
    .upload(new Blob([new Uint8Array(2 << 20).fill(i + 1)]), { url: `/upload/q/${i}` })
    .then((id) => ({ id }), (e) => ({ name: e.name, message: e.message })))));
  const ok = results.filter((r) => r.id);
  const refused = results.filter((r) => r.name);
  assert.ok(refused.length >= 1 && ok.length >= 1, JSON.stringify(results));
  assert.ok(refused.every((r) => r.name === 'FerryQuotaExceeded'), JSON.stringify(refused));
  // Never "needs N bytes, more than ... M bytes free" with M at least N: a refusal the estimate does not
  // explain says the storage is full instead.
  for (const { message } of refused) {
    const [, needs, free] = message.match(/needs (\d+) bytes.*estimates (\d+) bytes free/) ?? [];
    assert.ok(needs ? Number(free) < Number(needs) : /storage is full/.test(message), message);
  }
  const after = await counts();
  assert.equal(after.tasks - before.tasks, ok.length, 'a task for each accepted upload, none for the refused');
  assert.equal(after.blobs - before.blobs, ok.length, 'a Blob for each accepted upload, none for the refused');
  const listed = await page.evaluate(() => window.ferrySession.list());
  assert.deepEqual(listed.map((t) => t.id).sort(), ok.map((r) => r.id).sort());
  // An aborted write answers every request it had made; none may find its listener gone.
  assert.deepEqual(pageErrors, []);
});
