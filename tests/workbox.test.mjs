// Workbox users switch in one line: an app whose service worker routes uploads with workbox-routing and
// workbox-strategies (NetworkOnly) adds `new FerryPlugin({ tag })` to that route. When the app's own
// upload fails on the network, Ferry takes the request over, and the app's page, registered for the tag,
// hears `completed` once the server has the bytes. The app is built with esbuild from npm packages
// (tests/apps/workbox), against the built ferry-upload package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventOf, launchChromium, payload, profileDir, settled, sha256, startServer } from './harness.mjs';

const APP = path.join(path.dirname(fileURLToPath(import.meta.url)), 'apps/workbox');

/** `npm ci` in the app's folder unless its node_modules matches its lock file. */
function installApp() {
  const mtime = (p) => { try { return statSync(p).mtimeMs; } catch { return -1; } };
  if (mtime(path.join(APP, 'node_modules/.package-lock.json')) >= mtime(path.join(APP, 'package-lock.json'))) return;
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: APP, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm ci in ${APP} failed:\n${r.stdout}${r.stderr}`);
}

let server;
let ctx;
let profile;
before(async () => {
  installApp();
  const { buildApp } = await import(path.join(APP, 'build.mjs'));
  const dist = await buildApp();
  server = await startServer({ args: ['--www', dist] });
  profile = await profileDir();
  ctx = await launchChromium(profile);
  ctx.on('console', (m) => process.env.DEBUG_WB && console.log('[console]', m.text()));
});
after(async () => {
  await ctx?.close();
  await server?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** Opens the app's page and waits for its session (page.js runs once the package's module graph has loaded). */
async function openApp() {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e));
  await page.goto(server.url);
  await page.waitForFunction(() => window.appReady);
  await page.evaluate(() => window.appReady);
  return page;
}

/** The network is "down" for the upload route: the server drops every connection until `networkBack`. */
const networkDown = () => server.fault({ count: 1000, dropAfter: 0, path: '/upload/album' });
async function networkBack() {
  const lifted = await fetch(new URL('/__ferry/faults', server.url), { method: 'DELETE' });
  assert.equal(lifted.status, 204);
}

/** The app uploads `bytes` with its own fetch, which fails; returns the task Ferry made of it. */
async function failedUpload(page, bytes, key) {
  const before = (await page.evaluate(() => window.ferrySession.list())).length;
  const result = await page.evaluate(({ b, key }) => window.appUpload(new Uint8Array(b), key), { b: [...bytes], key });
  assert.match(result.error ?? '', /TypeError/, `the app's own fetch should fail: ${JSON.stringify(result)}`);
  // fetchDidFail resolved before the app's fetch rejected: the task is already stored for the tag.
  const listed = await page.evaluate(() => window.ferrySession.list());
  assert.equal(listed.length, before + 1, 'Ferry holds the failed upload as a task of the tag');
  const task = listed.at(-1);
  assert.equal(task.request.method, 'POST');
  assert.equal(new URL(task.request.url).pathname, '/upload/album');
  assert.equal(task.body.size, bytes.length);
  assert.deepEqual(task.request.headers.filter(([n]) => n.startsWith('sec-') || n === 'user-agent'), [],
    'headers the browser set itself are left to the browser');
  if (key) assert.equal(task.idempotencyKey, key, "the app's Idempotency-Key is the task's");
  return task;
}

/** The server applied `bytes` once, with the app's header, under the task's Idempotency-Key. */
async function assertApplied(task, bytes) {
  const applied = await settled(server, 1, { filter: (r) => r.applied && r.idempotencyKey === task.idempotencyKey });
  assert.equal(applied.length, 1, JSON.stringify(applied));
  assert.equal(applied[0].sha256, sha256(bytes));
  assert.equal(applied[0].headers['x-album'], '7');
}

async function assertCompleted(page, task) {
  const completed = await eventOf(page, task.id, 'completed');
  assert.equal(completed.tag, 'album');
  assert.ok(completed.response.status >= 200 && completed.response.status < 300, JSON.stringify(completed));
}

test('a POST that fails under a Workbox NetworkOnly route is handed to Ferry; the open page hears completed', async () => {
  const page = await openApp();
  await networkDown();
  const bytes = payload(200_000, 1);
  const task = await failedUpload(page, bytes);
  await networkBack();
  await assertCompleted(page, task);
  const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id).map((e) => e.kind), task.id);
  assert.equal(kinds[0], 'queued', `events in order: ${kinds}`);
  await assertApplied(task, bytes);
  await page.close();
});

test('when the page that failed is closed, Ferry still delivers and the next page of the tag hears completed', async () => {
  const page = await openApp();
  await networkDown();
  const bytes = payload(50_000, 2);
  const task = await failedUpload(page, bytes, 'album-7-photo-2');
  await page.close();
  await networkBack();
  await assertApplied(task, bytes);
  const next = await openApp();
  await assertCompleted(next, task);
});
