// `cargo xtask bench`, peers: Ferry side by side with raw `idb`, a bare fetch loop in a worker and Workbox
// background-sync, in one headless Chromium against one reference server build, in one run, each
// repetition in a fresh origin. Measures enqueue (1000 x 64 KiB, 100 x 1 MiB), drain (1000 x 1 KiB after
// a CDP-dispatched sync), service-worker wake, the memory of a 256 MiB upload and the bytes shipped; writes
// bench/RESULTS.md with each target of issue 11 met or missed. Asserts nothing.
//
// FERRY_BENCH_REPS (default 3) repetitions; FERRY_BENCH_DRAIN_CAP_S (default 45) bounds each drain;
// FERRY_BENCH_ONLY=drain,wake runs only those scenarios and prints their figures instead of writing the file;
// with it, FERRY_BENCH_CONTENDERS=ferry,fetch-4 runs only those contenders. FERRY_BENCH_TRACE=dir records a
// Chromium trace of each timed phase (peers/contenders.mjs, `startTrace`; read with peers/trace-top.mjs).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './harness.mjs';
import { CONTENDERS, runQueue } from './peers/contenders.mjs';
import { report } from './peers/report.mjs';
import { sizes as measureSizes } from './peers/sizes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = process.env.FERRY_ROOT || path.resolve(here, '..');
const PKG = process.env.FERRY_PKG || path.join(ROOT, 'pkg');
const REPS = Number(process.env.FERRY_BENCH_REPS || 3);
const DRAIN_CAP_S = Number(process.env.FERRY_BENCH_DRAIN_CAP_S || 45);
const STARTED = Number(process.env.FERRY_BENCH_STARTED || Date.now());
const KiB = 1024;
const MiB = 1024 * KiB;

// The demo origin's files, plus the peers bundled from npm.
const www = await mkdtemp(path.join(tmpdir(), 'ferry-bench-www-'));
await cp(path.join(ROOT, 'www'), www, { recursive: true });
const bundle = (entry, outfile, format) => build({
  entryPoints: [path.join(here, 'peers', entry)], bundle: true, format, minify: true,
  outfile: path.join(www, outfile), logLevel: 'warning', define: { 'process.env.NODE_ENV': '"production"' },
});
await bundle('workbox-sw.js', 'wb-sw.js', 'iife');
await bundle('raw-sw.js', 'raw-sw.js', 'iife');
await bundle('idb-page.js', 'peers/idb.js', 'esm');
const env = { www, pkg: PKG };

/** Each repetition runs the contenders in a rotated order, so a drift in the machine favours nobody. */
const rotate = (keys, rep) => keys.map((_, i) => keys[(i + rep) % keys.length]);
const results = { enqueue64: {}, enqueue1m: {}, enqueueLive: {}, drain: {}, wake: {}, rss: {} };
const SCENARIOS = [
  ['enqueue64', ['ferry', 'ferry-together', 'ferry-all', 'idb-default', 'idb-strict', 'idb-shaped', 'workbox'], { n: 1000, size: 64 * KiB, cpu: true }],
  ['enqueue1m', ['ferry', 'ferry-together', 'ferry-all', 'idb-default', 'idb-strict', 'idb-shaped', 'workbox'], { n: 100, size: MiB }],
  // One at a time while sending: the server takes what arrives meanwhile (not timed here).
  ['enqueueLive', ['ferry-live', 'ferry', 'idb-strict', 'workbox-live'], { n: 500, size: 64 * KiB, concurrency: 4 }],
  ['drain', ['ferry', 'fetch-1', 'fetch-4', 'workbox'], { n: 1000, size: KiB, drain: true, capMs: DRAIN_CAP_S * 1000, concurrency: 4, cpu: true }],
  ['wake', ['ferry', 'workbox', 'fetch-1'], { n: 1, size: KiB, drain: true, capMs: 30000 }],
  ['rss', ['ferry', 'workbox'], { n: 1, size: 256 * MiB, drain: true, stop: false, rss: true, capMs: 120000 }],
];
for (const [name, keys] of SCENARIOS) for (const k of keys) results[name][k] = [];
const ONLY = process.env.FERRY_BENCH_ONLY?.split(',');
const WHO = ONLY && process.env.FERRY_BENCH_CONTENDERS?.split(',');

try {
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, keys, opts] of SCENARIOS) {
      if (ONLY && !ONLY.includes(name)) continue;
      for (const key of rotate(keys, rep).filter((k) => !WHO || WHO.includes(k))) {
        const t = Date.now();
        let r;
        try {
          r = await runQueue(env, key, opts);
        } catch (e) {
          // Recorded and reported: a peer that cannot do the work is a figure too.
          r = { error: String(e.message || e).split('\n')[0] };
        }
        results[name][key].push(r);
        const shown = r.error ? `failed: ${r.error}` : opts.drain ? `all ${r.allMs ?? `not delivered (${r.delivered}/${opts.n})`} ms, first byte ${r.firstByteMs} ms` : `${r.opsPerSec.toFixed(1)} ops/s`;
        console.log(`bench ${rep + 1}/${REPS} ${name.padEnd(9)} ${key.padEnd(11)} store ${r.fillMs?.toFixed(0)} ms; ${shown} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
      }
    }
  }
} finally {
  await rm(www, { recursive: true, force: true });
}

if (ONLY) {
  console.log(JSON.stringify(results, null, 1));
  process.exit(0);
}
const sizes = await measureSizes({ pkg: PKG, tests: here });
const nextDue = await readFile(path.join(process.env.FERRY_BENCH_OUT || '/nonexistent', 'next-due.json'), 'utf8')
  .then(JSON.parse, () => null);
const sizeNotes = await readFile(path.join(ROOT, 'bench/wasm-size.md'), 'utf8').catch(() => null);

const cmd = (bin, args) => {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
};
const npmVersion = async (name) => JSON.parse(await readFile(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
const meminfo = await readFile('/proc/meminfo', 'utf8');
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
const chromiumVersion = browser.version();
await browser.close();
const dirty = cmd('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']) ? ' (with uncommitted changes)' : '';
const info = {
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  runSeconds: (Date.now() - STARTED) / 1000,
  reps: REPS,
  drainCapS: DRAIN_CAP_S,
  cpu: (cpuinfo.match(/^model name\s*:\s*(.+)$/m) || [, 'unknown CPU'])[1],
  cores: (cpuinfo.match(/^processor\s*:/gm) || []).length,
  memGiB: (Number((meminfo.match(/MemTotal:\s+(\d+)/) || [, 0])[1]) / MiB).toFixed(1),
  os: `${os.type()} ${os.release()}`,
  versions: {
    Ferry: `${cmd('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${dirty}`,
    rustc: cmd('rustc', ['--version']),
    'wasm-bindgen': cmd('wasm-bindgen', ['--version']),
    'wasm-opt': cmd(path.join(here, 'node_modules/.bin/wasm-opt'), ['--version']),
    Chromium: chromiumVersion,
    Node: process.version,
    'playwright-core': await npmVersion('playwright-core'),
    esbuild: await npmVersion('esbuild'),
    idb: await npmVersion('idb'),
    'workbox-background-sync': await npmVersion('workbox-background-sync'),
  },
};
const labels = Object.fromEntries(Object.entries(CONTENDERS).map(([k, c]) => [k, c.label]));
const text = report({ info, results, sizes, nextDue, sizeNotes, labels });
await mkdir(path.join(ROOT, 'bench'), { recursive: true });
await writeFile(path.join(ROOT, 'bench/RESULTS.md'), `${text}\n`);
await writeFile(path.join(process.env.FERRY_BENCH_OUT || tmpdir(), 'peers.json'), JSON.stringify({ info, results, sizes }, null, 1));
const targetsStart = text.indexOf('## Targets');
console.log(`\n${text.slice(targetsStart, text.indexOf('\n## ', targetsStart + 1))}`);
console.log(`wrote ${path.join(ROOT, 'bench/RESULTS.md')}`);
