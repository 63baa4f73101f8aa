// The contenders of `cargo xtask bench` and the one scenario they all run, each time in a fresh origin (a new
// server on a new port, a new browser profile): store N Blobs with sending held back (timed: enqueue), then
// stop the origin's service workers, dispatch a `sync` event with CDP and wait until the server has every
// body (timed from the server's own clock: first byte and last answer).
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { startServer, profileDir, launchChromium, browserPid, until } from '../harness.mjs';

/** Runs `fn({ server, ctx, page })` in a fresh origin: its own server (new port) and browser profile. */
export async function inOrigin({ www, pkg }, fn) {
  const server = await startServer({ args: ['--www', www, '--pkg', pkg] });
  const dir = await profileDir();
  const ctx = await launchChromium(dir);
  try {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    await page.goto(new URL('/harness.html', server.url).href);
    return await fn({ server, ctx, page });
  } finally {
    await ctx.close().catch(() => {});
    await server.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 10 }).catch(() => {});
  }
}

/** CDP on the page: stops every service worker of the browser and dispatches `sync` events. */
async function control(page) {
  const cdp = await page.context().newCDPSession(page);
  const registrations = new Map();
  const versions = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: regs }) => {
    for (const r of regs) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: vs }) => {
    for (const v of vs) versions.set(v.versionId, v.runningStatus);
  });
  await cdp.send('ServiceWorker.enable');
  return {
    // A stopped worker may start again at once (events still queued for it), and a stop sent while it
    // starts is lost: ask again until every worker has stayed stopped for a second.
    async stopWorkers() {
      const stopped = () => [...versions.values()].every((s) => s === 'stopped');
      const end = Date.now() + 120000;
      let quietSince = null;
      while (Date.now() < end) {
        if (!stopped()) {
          quietSince = null;
          await cdp.send('ServiceWorker.stopAllWorkers');
        } else if (quietSince === null) {
          quietSince = Date.now();
        } else if (Date.now() - quietSince >= 1000) {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the service workers did not stay stopped within 120 s');
    },
    async dispatchSync(scopeURL, tag) {
      const registrationId = await until(() => registrations.get(scopeURL), { what: `registration of ${scopeURL}` });
      await cdp.send('ServiceWorker.dispatchSyncEvent', { origin: new URL(scopeURL).origin, registrationId, tag, lastChance: false });
    },
  };
}

/** In the page: registers a service worker and waits until it is activated. */
async function pageRegister({ url, scope }) {
  const reg = await navigator.serviceWorker.register(url, { scope });
  const worker = reg.installing || reg.waiting || reg.active;
  if (worker.state !== 'activated') {
    await new Promise((r) => worker.addEventListener('statechange', () => worker.state === 'activated' && r()));
  }
  window.peer = (msg) => new Promise((resolve, reject) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve(e.data.ms));
    reg.active.postMessage(msg, [channel.port2]);
  });
}

const idbPeer = (durability) => ({
  setup: (page) => page.evaluate(async () => {
    window.idbPeer = await import('/peers/idb.js');
    window.idbDb = await window.idbPeer.open();
  }),
  fill: (page, url) => page.evaluate(({ url, durability }) => window.idbPeer.putAll(window.idbDb, window.blobs, url, durability), { url, durability }),
});

const fetchPeer = (lanes) => ({
  ...idbPeer('default'),
  async setup(page) {
    await idbPeer('default').setup(page);
    await page.evaluate(pageRegister, { url: '/raw-sw.js', scope: '/' });
  },
  sync: { scope: '/', tag: `raw-${lanes}` },
});

/**
 * Each contender: `setup(page, options)`, `hold(page)` (sending held back while it stores), `fill(page, url)`
 * (stores `window.blobs`; resolves with ms), `settle(page)` (held-back work has finished), `release(page,
 * { stopped })` (the hold lifted, its worker stopped or not) and the `sync` its worker drains on.
 */
export const CONTENDERS = {
  ferry: {
    label: 'Ferry',
    setup: (page, { concurrency = 2 } = {}) => page.evaluate(async (concurrency) => {
      const { Ferry } = await import('/ferry/index.js');
      window.session = await Ferry.register('bench', { serviceWorker: '/sw.js', concurrency });
      await navigator.serviceWorker.ready;
    }, concurrency),
    // A paused session stores but sends nothing (persisted, so it holds across worker restarts).
    hold: (page) => page.evaluate(() => window.session.pause()),
    fill: (page, url) => page.evaluate(async (url) => {
      const t0 = performance.now();
      for (const blob of window.blobs) await window.session.upload(blob, { url });
      return performance.now() - t0;
    }, url),
    // With its worker stopped: what `resume()` writes, without the message `resume()` also posts to wake
    // the worker (the measured wake-up is the dispatched sync event).
    release: (page) => page.evaluate(async () => {
      const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      const db = await request(indexedDB.open('ferry'));
      const tx = db.transaction('meta', 'readwrite');
      const key = `session:${window.session.tag}`;
      const record = await request(tx.objectStore('meta').get(key));
      if (record?.paused !== true) throw new Error(`bench: no paused session record at ferry/meta/${key}; update peers/contenders.mjs to the store's schema`);
      await request(tx.objectStore('meta').put({ ...record, paused: false }, key));
      await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onabort = () => reject(tx.error); });
      db.close();
    }),
    sync: { scope: '/', tag: 'ferry' },
  },
  // The same, every call made at once (`Promise.all`), as apps write it for a picked list of files.
  'ferry-together': {
    label: 'Ferry `upload()` calls made together (`Promise.all`)',
    setup: (page, options) => CONTENDERS.ferry.setup(page, options),
    hold: (page) => CONTENDERS.ferry.hold(page),
    fill: (page, url) => page.evaluate(async (url) => {
      const t0 = performance.now();
      await Promise.all(window.blobs.map((blob) => window.session.upload(blob, { url })));
      return performance.now() - t0;
    }, url),
  },
  // The same, every Blob in one `uploadAll` call (one transaction): what an app picking 500 photos does.
  'ferry-all': {
    label: 'Ferry `uploadAll` (one call)',
    setup: (page, options) => CONTENDERS.ferry.setup(page, options),
    hold: (page) => CONTENDERS.ferry.hold(page),
    fill: (page, url) => page.evaluate(async (url) => {
      const t0 = performance.now();
      await window.session.uploadAll(window.blobs.map((blob) => ({ blob, request: { url } })));
      return performance.now() - t0;
    }, url),
  },
  // The same calls with the session sending (not paused): what a user who picks files while earlier ones
  // upload waits for. Every call still commits its task before it resolves; the attempts run beside.
  'ferry-live': {
    label: 'Ferry, sending meanwhile (not paused)',
    setup: (page, options) => CONTENDERS.ferry.setup(page, options),
    fill: (page, url) => CONTENDERS.ferry.fill(page, url),
  },
  'idb-default': { label: 'raw `idb` put, default durability', ...idbPeer('default') },
  'idb-strict': { label: 'raw `idb` put, strict durability', ...idbPeer('strict') },
  // Ferry's own enqueue transaction written by hand in plain `idb`: how fast a loop of uploads can be with
  // the guarantees (task, Blob and event in one strict transaction, per-tag order), whatever the code.
  'idb-shaped': {
    label: 'Ferry\'s enqueue transaction, by hand in plain `idb`',
    setup: (page) => page.evaluate(async () => {
      window.idbPeer = await import('/peers/idb.js');
      window.idbShaped = await window.idbPeer.openShaped();
    }),
    fill: (page, url) => page.evaluate((url) => window.idbPeer.enqueueAll(window.idbShaped, window.blobs, url), url),
  },
  workbox: {
    label: 'Workbox background-sync `Queue`',
    setup: (page) => page.evaluate(pageRegister, { url: '/wb-sw.js', scope: '/' }),
    hold: (page) => page.evaluate(() => window.peer({ op: 'hold' })),
    // One message per Blob; the worker times its own pushRequest calls.
    fill: (page, url) => page.evaluate(async (url) => {
      let ms = 0;
      for (const blob of window.blobs) ms += await window.peer({ op: 'push', blobs: [blob], url });
      return ms;
    }, url),
    settle: (page) => page.evaluate(() => window.peer({ op: 'settle' })),
    // A running worker (not stopped first) is told; a stopped one restarts without the hold.
    release: (page, { stopped }) => (stopped ? undefined : page.evaluate(() => window.peer({ op: 'release' }))),
    sync: { scope: '/', tag: 'workbox-background-sync:bench' },
  },
  // Workbox with its sync events replaying as the pushes register them (nothing held back).
  'workbox-live': {
    label: 'Workbox background-sync `Queue`, replaying meanwhile',
    setup: (page) => CONTENDERS.workbox.setup(page),
    fill: (page, url) => CONTENDERS.workbox.fill(page, url),
  },
  'fetch-1': { label: 'raw fetch loop in a worker, sequential', ...fetchPeer(1) },
  'fetch-4': { label: 'raw fetch loop in a worker, 4 concurrent', ...fetchPeer(4) },
};

/** In the page: `n` Blobs of `size` random bytes in `window.blobs`. */
function makeBlobs({ n, size }) {
  window.blobs = [];
  for (let i = 0; i < n; i++) {
    const bytes = new Uint8Array(size);
    for (let off = 0; off < size; off += 65536) crypto.getRandomValues(bytes.subarray(off, Math.min(size, off + 65536)));
    window.blobs.push(new Blob([bytes], { type: 'application/octet-stream' }));
  }
}

/**
 * One run of contender `key` in a fresh origin: stores `n` x `size` (always), then with `drain` delivers
 * them through a CDP-dispatched `sync` (after stopping the workers, unless `stop` is false) and waits up to
 * `capMs` for the server to have every body. With `rss`, samples the browser's memory in both phases.
 */
export async function runQueue(env, key, { n, size, drain = false, stop = true, rss = false, capMs = 60000, concurrency, cpu = false }) {
  const c = CONTENDERS[key];
  const step = process.env.FERRY_BENCH_DEBUG ? (what) => console.error(`  ${new Date().toISOString()} ${key}: ${what}`) : () => {};
  // Memory samplers started, stopped whatever happens (one left running would load the machine for the
  // rest of the bench).
  const samplers = [];
  const sample = async (pid) => {
    const s = await sampleRss(pid);
    samplers.push(s);
    return s;
  };
  return inOrigin(env, async ({ server, ctx, page }) => {
    step('origin ready');
    const ctl = drain ? await control(page) : null;
    await c.setup(page, { concurrency });
    step('set up');
    await page.evaluate(makeBlobs, { n, size });
    const pid = rss ? await browserPid(ctx) : null;
    if (rss) await settleMemory(page, pid);
    const url = `/upload/${key}`;
    if (c.hold) await c.hold(page);
    const fillMem = rss ? await sample(pid) : null;
    const fillRoots = cpu ? [await browserPid(ctx), server.proc.pid] : null;
    const fillBefore = cpu ? await threadTicks(fillRoots) : null;
    const fillTrace = process.env.FERRY_BENCH_TRACE ? await startTrace(ctx) : null;
    const fillMs = await c.fill(page, url);
    if (fillTrace) await fillTrace.stop(`fill-${key}`);
    const fillCpu = cpu ? cpuSpent(fillBefore, await threadTicks(fillRoots)) : null;
    step('filled');
    const out = { n, size, fillMs, opsPerSec: n / (fillMs / 1000) };
    if (fillCpu) out.fillCpu = fillCpu;
    if (fillMem) out.fillRssMiB = await fillMem.stop();
    // What the server had received when the last call resolved (a contender that sends meanwhile).
    out.arrivedWhileStoring = (await server.uploads()).filter((r) => r.path === url).length;
    await page.evaluate(() => { window.blobs = null; });
    if (!drain) return out;
    if (c.settle) await c.settle(page);
    if (stop) await ctl.stopWorkers();
    step('workers stopped');
    if (c.release) await c.release(page, { stopped: stop });
    const sendMem = rss ? await sample(pid) : null;
    const cpuRoots = cpu ? [await browserPid(ctx), server.proc.pid] : null;
    const cpuBefore = cpu ? await threadTicks(cpuRoots) : null;
    const trace = process.env.FERRY_BENCH_TRACE ? await startTrace(ctx) : null;
    const t0 = Date.now();
    await ctl.dispatchSync(new URL(c.sync.scope, server.url).href, c.sync.tag);
    step('sync dispatched');
    Object.assign(out, await arrivals(server, url, n, size, t0, capMs));
    if (trace) await trace.stop(`send-${key}`);
    if (sendMem) out.sendRssMiB = await sendMem.stop();
    if (cpu) out.cpu = cpuSpent(cpuBefore, await threadTicks(cpuRoots));
    return out;
  }).finally(() => Promise.all(samplers.map((s) => s.stop())));
}

/**
 * Polls the server until it has answered 2xx to `n` distinct complete bodies at `path` (or `capMs` passed);
 * times come from the server's record: first byte = earliest `received_at`, all = latest `finished_at`.
 */
async function arrivals(server, path, n, size, t0, capMs) {
  const deadline = t0 + capMs;
  for (;;) {
    const records = (await server.uploads()).filter((r) => r.path === path);
    const done = records.filter((r) => r.outcome === 'answered' && r.status >= 200 && r.status < 300 && r.bytes === size);
    const bodies = new Set(done.map((r) => r.sha256));
    if (bodies.size >= n || Date.now() > deadline) {
      return {
        delivered: bodies.size,
        firstByteMs: records.length ? Math.min(...records.map((r) => r.receivedAt)) - t0 : null,
        allMs: bodies.size >= n ? Math.max(...done.map((r) => r.finishedAt)) - t0 : null,
        requests: records.length,
      };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Processes under `roots` (themselves included), from /proc. */
async function descendants(roots) {
  const parent = new Map();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const pids = [...roots];
  for (let i = 0; i < pids.length; i++) for (const [pid, ppid] of parent) if (ppid === pids[i]) pids.push(pid);
  return pids;
}

/** CPU ticks (user + system) of every thread under `roots` (the browser, the server), keyed `process / thread`. */
async function threadTicks([browser, server]) {
  const out = new Map();
  for (const pid of await descendants([browser, server])) {
    try {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const proc = pid === browser ? 'browser' : pid === server ? 'server'
        : cmd.includes('--renderer-client-id') ? 'renderer' : 'browser child';
      for (const tid of await readdir(`/proc/${pid}/task`)) {
        const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const k = `${proc} / ${name}`;
        out.set(k, (out.get(k) || 0) + Number(f[11]) + Number(f[12]));
      }
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** CPU seconds spent between two `threadTicks` readings, largest first (threads that spent any). */
function cpuSpent(before, after) {
  const hz = 100; // USER_HZ: the unit of /proc tick counts on Linux
  return [...after].map(([k, v]) => [k, (v - (before.get(k) || 0)) / hz]).filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1]);
}

/** Resident memory (KiB) of a process and all its descendants, read from /proc. */
async function treeRss(root) {
  let kib = 0;
  for (const pid of await descendants([root])) {
    try {
      const m = (await readFile(`/proc/${pid}/status`, 'utf8')).match(/VmRSS:\s+(\d+)/);
      if (m) kib += Number(m[1]);
    } catch { /* gone meanwhile */ }
  }
  return kib;
}

/**
 * After a large Blob was made: the page's garbage collected and the browser's memory steady (two readings
 * 500 ms apart within 2 MiB, at most 15 s), so the phase measured next is not charged with making it.
 */
async function settleMemory(page, pid) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.detach();
  let last = await treeRss(pid);
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await treeRss(pid);
    if (Math.abs(now - last) < 2048) return;
    last = now;
  }
}

/** Samples the browser's memory from now until `stop()`, which resolves with the peak rise (MiB). */
async function sampleRss(pid) {
  const base = await treeRss(pid);
  let peak = base;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await treeRss(pid));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      peak = Math.max(peak, await treeRss(pid));
      return Math.max(0, (peak - base) / 1024);
    },
  };
}

/**
 * With `FERRY_BENCH_TRACE=dir`: a Chromium trace of every process over the timed phase, written to
 * `dir/<phase>-<contender>-<ms>.json` (V8's sampling profiler by default, or the categories listed in
 * `FERRY_BENCH_TRACE_CATEGORIES`; `node peers/trace-top.mjs <file>` prints where each thread spent its
 * time). Tracing slows what it watches: a traced run's figures are not the bench's.
 */
async function startTrace(ctx) {
  const cdp = await ctx.browser().newBrowserCDPSession();
  const events = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
  const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  const categories = process.env.FERRY_BENCH_TRACE_CATEGORIES || 'disabled-by-default-v8.cpu_profiler,v8.execute,__metadata';
  await cdp.send('Tracing.start', { traceConfig: { includedCategories: categories.split(',') }, transferMode: 'ReportEvents' });
  return {
    async stop(name) {
      await cdp.send('Tracing.end');
      await done;
      await mkdir(process.env.FERRY_BENCH_TRACE, { recursive: true });
      const file = `${process.env.FERRY_BENCH_TRACE}/${name}-${Date.now()}.json`;
      await writeFile(file, JSON.stringify(events));
      console.error(`trace: ${events.length} events in ${file}`);
    },
  };
}
