// `cargo xtask bench`, peers: Ferry side by side with Workbox background-sync (the web's usual answer to
// "send this upload later"), in one browser against one server, in one run. Each stores the same
// payloads with sending held back (Ferry's session paused, Workbox's queue not replayed), then delivers
// them when told (`resume()`, `replayRequests()`). Reported: time until stored, time until the server
// answered every upload, and the peak growth of the browser's memory (RSS of all its processes) in
// each phase, with Workbox/Ferry ratios. Asserts nothing.
import { build } from 'esbuild';
import { cp, mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, profileDir, launchChromium, browserPid, until } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const www = await mkdtemp(path.join(tmpdir(), 'ferry-bench-www-'));
await cp(path.join(here, '../www'), www, { recursive: true });
await build({
  entryPoints: [path.join(here, 'peers/workbox-sw.js')], bundle: true, format: 'iife', minify: true,
  outfile: path.join(www, 'wb/sw.js'), logLevel: 'warning',
});

const MiB = 1024 * 1024;
const CASES = [{ name: '20 x 1 MiB', slug: 'small', count: 20, size: MiB }, { name: '1 x 256 MiB', slug: 'large', count: 1, size: 256 * MiB }];

/** Resident memory (KiB) of a process and all its descendants, read from /proc. */
async function treeRss(root) {
  const parent = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const [pid, ppid] of parent) if (ppid === pids[i]) pids.push(pid);
  let kib = 0;
  for (const pid of pids) {
    try {
      const m = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/VmRSS:\s+(\d+)/);
      if (m) kib += Number(m[1]);
    } catch { /* gone meanwhile */ }
  }
  return kib;
}

/** Runs `fn`, sampling the browser's memory meanwhile; resolves with its time and peak RSS growth. */
async function measured(pid, fn) {
  const base = await treeRss(pid);
  let peak = base;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await treeRss(pid));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  running = false;
  await sampler;
  return { ms, peakMiB: (peak - base) / 1024 };
}

const server = await startServer({ args: ['--www', www, '--pkg', process.env.FERRY_BENCH_PKG] });
const ctx = await launchChromium(await profileDir());
const rows = [];
try {
  const pid = await browserPid(ctx);
  const page = await ctx.newPage();
  await page.goto(new URL('/harness.html', server.url).href);
  await page.evaluate(async () => {
    const { Ferry } = await import('/ferry/index.js');
    window.session = await Ferry.register('bench', { serviceWorker: '/sw.js', backgroundFetch: false });
    const wb = await navigator.serviceWorker.register('/wb/sw.js', { scope: '/wb/' });
    const worker = wb.installing || wb.waiting || wb.active;
    if (worker.state !== 'activated') await new Promise((r) => worker.addEventListener('statechange', () => worker.state === 'activated' && r()));
    window.workbox = (msg) => new Promise((resolve, reject) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data.ms));
      worker.postMessage(msg, [channel.port2]);
    });
  });
  // Delivered = the server answered, with every byte there.
  const answered = async (prefix, n, size) => until(async () => (await server.uploads())
    .filter((r) => r.path === prefix && r.outcome === 'answered' && r.status === 201 && r.bytes === size).length >= n,
  { timeout: 120000, what: `${n} uploads at ${prefix}` });

  for (const { name, slug, count, size } of CASES) {
    await page.evaluate(async ({ count, size }) => {
      window.blobs = [];
      for (let i = 0; i < count; i++) {
        const bytes = new Uint8Array(size);
        for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
        window.blobs.push(new Blob([bytes], { type: 'application/octet-stream' }));
      }
    }, { count, size });
    const row = { name, payloadMiB: (count * size) / MiB };
    await page.evaluate(() => window.session.pause());
    row.wbStore = await measured(pid, () => page.evaluate(async (slug) => {
      for (const blob of window.blobs) await window.workbox({ op: 'push', blob, url: `/upload/wb/${slug}` });
    }, slug));
    row.ferryStore = await measured(pid, () => page.evaluate(async (slug) => {
      for (const blob of window.blobs) await window.session.upload(blob, { url: `/upload/ferry/${slug}` });
    }, slug));
    row.wbSend = await measured(pid, async () => {
      await page.evaluate(() => window.workbox({ op: 'replay' }));
      await answered(`/upload/wb/${slug}`, count, size);
    });
    row.ferrySend = await measured(pid, async () => {
      await page.evaluate(() => window.session.resume());
      await answered(`/upload/ferry/${slug}`, count, size);
    });
    rows.push(row);
    await page.evaluate(() => { window.blobs = []; });
  }
} finally {
  await ctx.close();
  await server.stop();
}

const pad = (s, n) => String(s).padStart(n);
const ms = (v) => pad(`${v.ms.toFixed(0)} ms`, 9);
const mem = (v, payloadMiB) => pad(`${Math.max(v.peakMiB, 0).toFixed(0)} MiB (${(Math.max(v.peakMiB, 0) / payloadMiB).toFixed(2)}x)`, 18);
console.log('\nFerry and Workbox background-sync, same browser, same server (store with sending held back, then deliver)');
console.log('case         phase        workbox: time  memory (x payload)   ferry: time  memory (x payload)   time workbox/ferry');
for (const r of rows) {
  for (const [phase, wb, fe] of [['store', r.wbStore, r.ferryStore], ['deliver', r.wbSend, r.ferrySend]]) {
    console.log(`${r.name.padEnd(12)} ${phase.padEnd(8)} ${ms(wb)} ${mem(wb, r.payloadMiB)}   ${ms(fe)} ${mem(fe, r.payloadMiB)}   ${pad(`${(wb.ms / fe.ms).toFixed(2)}x`, 8)}`);
  }
}
console.log('memory: peak growth of the resident memory of all the browser\'s processes during the phase, and that');
console.log('growth divided by the payload\'s size. Ferry runs after Workbox in the same browser; each delivers with');
console.log('its defaults (Workbox one request at a time, Ferry up to the session\'s concurrency).');
