// End-to-end harness: the real reference server on 127.0.0.1 and real headless Chromium (Debian's),
// driven by playwright-core. No mocks: tests assert on the server's own record of what arrived.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = process.env.FERRY_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER_BIN = process.env.FERRY_SERVER_BIN || path.join(ROOT, 'target/release/ferry-server');
export const CHROMIUM = process.env.FERRY_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** Chromium's own retry of a rejected sync event, shortened (attempts at 0, 2, 6, 14 s) for tests that wait on it. */
export const FAST_SYNC_RETRY = ['--force-fieldtrials=BackgroundSync/Test',
  '--force-fieldtrial-params=BackgroundSync.Test:initial_retry_delay_sec/2/retry_delay_factor/2/max_sync_attempts/4'];

/** Resolves when `predicate()` is truthy (returns it); polls a condition the test cannot subscribe to. */
export async function until(predicate, { timeout = 20000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await predicate();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
}

export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic pseudo-random bytes, so a corrupted or truncated body changes the hash. */
export function payload(size, seed = 1) {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** Starts the reference server on a free loopback port; `stop()` ends it. */
export async function startServer({ args = [] } = {}) {
  const uploads = await mkdtemp(path.join(tmpdir(), 'ferry-uploads-'));
  const proc = spawn(SERVER_BIN, ['--port', '0', '--uploads', uploads, '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) resolve(m[0]);
    });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}) before printing its URL: ${out}`)));
    proc.on('error', reject);
  });
  const api = async (p, init) => {
    const res = await fetch(new URL(p, url), init);
    if (!res.ok) throw new Error(`${p}: ${res.status}`);
    return res.status === 204 ? null : res.json();
  };
  return {
    url,
    proc,
    uploads: () => api('/__ferry/uploads'),
    keys: () => api('/__ferry/keys'),
    reset: () => api('/__ferry/reset', { method: 'POST' }),
    fault: (rule) => api('/__ferry/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) }),
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(uploads, { recursive: true, force: true });
    },
  };
}

const profiles = [];

/**
 * A new browser profile folder, removed when this test process exits (a test relaunches on its profile
 * after a kill, so it lives as long as the process; a profile is about 25 MB).
 */
export async function profileDir() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-profile-'));
  if (profiles.length === 0) {
    process.once('exit', () => {
      for (const p of profiles) rmSync(p, { recursive: true, force: true, maxRetries: 3 });
    });
  }
  profiles.push(dir);
  return dir;
}

/** Headless Chromium with a persistent profile (what survives a kill lives there). */
export async function launchChromium(dir, { args = [], env = {} } = {}) {
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...args], env: { ...process.env, ...env },
  });
}

/** The browser process's PID, from the browser itself. */
export async function browserPid(ctx) {
  const cdp = await ctx.browser()?.newBrowserCDPSession?.() ?? null;
  if (!cdp) throw new Error('no browser CDP session');
  const info = await cdp.send('SystemInfo.getProcessInfo');
  return info.processInfo.find((p) => p.type === 'browser').id;
}

/** SIGKILLs the browser (no clean shutdown: nothing gets to flush or say goodbye). */
export async function killBrowser(ctx) {
  const pid = await browserPid(ctx);
  const closed = new Promise((r) => ctx.once('close', r));
  process.kill(pid, 'SIGKILL');
  await closed;
  await until(() => !alive(pid), { what: `browser ${pid} to exit` });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Launches Chromium on the profile `dir` (fast Background Sync retries), runs `fn(ctx)` and then kills the
 * browser (SIGKILL), answering what `fn` answered; if `fn` fails, the browser is closed instead.
 */
export async function runThenKill(dir, fn) {
  const ctx = await launchChromium(dir, { args: FAST_SYNC_RETRY });
  try {
    const result = await fn(ctx);
    await killBrowser(ctx);
    return result;
  } catch (e) {
    await ctx.close();
    throw e;
  }
}

/** The service worker of the context, waiting for it to start if needed. */
export async function serviceWorker(ctx, { timeout = 20000 } = {}) {
  const [sw] = ctx.serviceWorkers();
  return sw ?? ctx.waitForEvent('serviceworker', { timeout });
}

/** Prelude code that answers a page's `{ test: name }` message with the worker's `value` (an expression). */
export const answering = (name, value) => `
self.addEventListener('message', (e) => {
  if (e.data?.test !== '${name}') return;
  e.stopImmediatePropagation();
  e.ports[0].postMessage(${value});
});`;

/** What the active worker's prelude (`answering`) answers to `{ test: name }`. */
export function askWorker(page, name) {
  return page.evaluate((name) => new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data);
    navigator.serviceWorker.ready.then((r) => r.active.postMessage({ test: name }, [channel.port2]));
  }), name);
}

/**
 * Serves `/<name>` (through the browser context, not the server): the demo's worker with `prelude` run
 * first (static imports run in order), so the prelude's listeners and stand-ins come before Ferry's.
 */
export async function routeWorker(ctx, name, prelude) {
  await ctx.route(`**/${name}`, (route) => route.fulfill({
    contentType: 'text/javascript', body: `import '/prelude-of-${name}';\nimport '/sw.js';\n`,
  }));
  await ctx.route(`**/prelude-of-${name}`, (route) => route.fulfill({ contentType: 'text/javascript', body: prelude }));
}

/** CDP on a page: lets a test fire real `sync` events (`dispatchSync`). */
export async function swControl(page) {
  const cdp = await page.context().newCDPSession(page);
  const registrations = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: regs }) => {
    for (const r of regs) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  await cdp.send('ServiceWorker.enable');
  return {
    cdp,
    async dispatchSync(scopeURL, tag, lastChance = false) {
      const registrationId = await until(() => registrations.get(scopeURL), { what: `registration of ${scopeURL}` });
      await cdp.send('ServiceWorker.dispatchSyncEvent', { origin: new URL(scopeURL).origin, registrationId, tag, lastChance });
    },
  };
}

/** Grants `permissions` (CDP names: 'backgroundFetch', 'notifications') to the origin of `serverUrl`. */
export async function grant(ctx, serverUrl, permissions) {
  const cdp = await ctx.browser().newBrowserCDPSession();
  await cdp.send('Browser.grantPermissions', { origin: new URL(serverUrl).origin, permissions });
}

/** Denies Background Sync to the origin of `serverUrl`: the browser fires no `sync` event by itself (as
 * where it has none: Firefox, Safari), so only pages (or a CDP-forced `sync`) wake the worker. */
export async function denyBackgroundSync(ctx, serverUrl) {
  const cdp = await ctx.browser().newBrowserCDPSession();
  await cdp.send('Browser.setPermission', { origin: new URL(serverUrl).origin, permission: { name: 'background-sync' }, setting: 'denied' });
}

/** Runs `fn(ctx)` in Chromium with a fresh profile; closes it after, whatever `fn` did. */
export async function withChromium(fn) {
  const ctx = await launchChromium(await profileDir());
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** Runs `fn(ctx)` in a fresh Chromium profile whose origin `serverUrl` holds `permissions`; closes it after. */
export async function withGrantedChromium(serverUrl, permissions, fn) {
  return withChromium(async (ctx) => {
    await grant(ctx, serverUrl, permissions);
    return fn(ctx);
  });
}

/** A new page of `ctx` on the harness page of the demo origin (no session registered). */
export async function harnessPage(ctx, serverUrl) {
  const page = await ctx.newPage();
  await page.goto(new URL('/harness.html', serverUrl).href);
  return page;
}

/** Opens the harness page of the demo origin and registers a Ferry session there. */
export async function openSession(ctx, serverUrl, tag, options = {}, { path = '/harness.html', init } = {}) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e));
  // A script run in the page before its own (`page.addInitScript`).
  if (init) await page.addInitScript(init);
  await page.goto(new URL(path, serverUrl).href);
  await page.evaluate(async ({ tag, options }) => {
    const { Ferry } = await import('/ferry/index.js');
    window.ferrySession = await Ferry.register(tag, { serviceWorker: '/sw.js', ...options });
    window.ferryEvents = [];
    for (const kind of ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired']) {
      window.ferrySession.addEventListener(kind, (e) => window.ferryEvents.push(e.detail));
    }
    await navigator.serviceWorker.ready;
  }, { tag, options });
  return page;
}

/**
 * Runs in the page (Playwright and Puppeteer alike pass it one argument): uploads `size` random bytes
 * through the page's session; returns the task id and the bytes' SHA-256 (hex).
 */
export async function pageUploadRandom({ size, request }) {
  const bytes = new Uint8Array(size);
  for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const sha256 = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
  const id = await window.ferrySession.upload(new Blob([bytes], { type: 'application/octet-stream' }), request);
  return { id, sha256 };
}

/**
 * The multipart upload the form tests send (two text fields and the Blob as `photo` named `beach.jpg`),
 * and the parts the server must record for it, in order, as `formParts` reads them off a record.
 */
export const FORM = {
  request: (url) => ({ url, protocol: 'multipart', field: 'photo', filename: 'beach.jpg', fields: { album: '7', caption: 'sea' } }),
  parts: (size, fileSha256) => [
    ['album', null, null, 1, sha256(Buffer.from('7'))],
    ['caption', null, null, 3, sha256(Buffer.from('sea'))],
    ['photo', 'beach.jpg', 'application/octet-stream', size, fileSha256],
  ],
};

/** A server record's multipart parts as `[name, filename, contentType, bytes, sha256]`. */
export function formParts(record) {
  return record.parts?.map((p) => [p.name, p.filename, p.contentType, p.bytes, p.sha256]);
}

/** Uploads `size` random bytes from the page; returns the task id and the bytes' SHA-256 (hex). */
export async function uploadRandom(page, size, request) {
  return page.evaluate(pageUploadRandom, { size, request });
}

/** Record counts of every Ferry object store, read straight from IndexedDB in the page. */
export async function dbCounts(page) {
  return page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open('ferry');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const names = [...db.objectStoreNames];
    const tx = db.transaction(names, 'readonly');
    const counts = {};
    await Promise.all(names.map((n) => new Promise((resolve) => {
      const r = tx.objectStore(n).count();
      r.onsuccess = () => { counts[n] = r.result; resolve(); };
    })));
    db.close();
    return counts;
  });
}

/** Every record of one Ferry object store (`tasks`, `outbox`, ...), read straight from IndexedDB in the page. */
export async function dbRecords(page, store) {
  return page.evaluate(async (store) => {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open('ferry');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const all = await new Promise((resolve, reject) => {
      const req = db.transaction(store).objectStore(store).getAll();
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    db.close();
    return all;
  }, store);
}

/** Waits until the server has `n` finished exchanges (records whose outcome is no longer `receiving`). */
export async function settled(server, n = 1, { timeout = 30000, filter = () => true } = {}) {
  return until(async () => {
    const all = (await server.uploads()).filter(filter);
    return all.length >= n && all.every((r) => r.outcome !== 'receiving') ? all : null;
  }, { timeout, what: `${n} finished upload(s) at the server` });
}

/** Resolves with the page's first event of `kind` for task `id` (already received or still to come). */
export async function eventOf(page, id, kind, { timeout = 30000 } = {}) {
  return page.evaluate(({ id, kind, timeout }) => new Promise((resolve, reject) => {
    const seen = window.ferryEvents.find((e) => e.taskId === id && e.kind === kind);
    if (seen) return resolve(seen);
    const timer = setTimeout(() => reject(new Error(`no ${kind} event for ${id} within ${timeout} ms`)), timeout);
    window.ferrySession.addEventListener(kind, (e) => {
      if (e.detail.taskId === id) { clearTimeout(timer); resolve(e.detail); }
    });
  }), { id, kind, timeout });
}
