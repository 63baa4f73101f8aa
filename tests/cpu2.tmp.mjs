import { build } from 'esbuild';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runQueue } from './peers/contenders.mjs';
const www = await mkdtemp(path.join(tmpdir(), 'ferry-cpu-www-'));
await cp('/work/main/www', www, { recursive: true });
for (const [entry, out, format] of [['raw-sw.js', 'raw-sw.js', 'iife'], ['idb-page.js', 'peers/idb.js', 'esm'], ['workbox-sw.js', 'wb-sw.js', 'iife']]) {
  await build({ entryPoints: [`/work/main/tests/peers/${entry}`], bundle: true, format, minify: true, outfile: path.join(www, out), logLevel: 'warning', define: { 'process.env.NODE_ENV': '"production"' } });
}
const n = Number(process.env.N || 500);
try {
  for (const key of (process.env.WHO || 'ferry,idb-strict,workbox').split(',')) {
    const r = await runQueue({ www, pkg: '/work/main/pkg' }, key, { n, size: 65536, concurrency: 4, cpu: true });
    const total = r.fillCpu.reduce((a, [, s]) => a + s, 0);
    console.log(`${key}: ${r.fillMs.toFixed(0)} ms (${(r.fillMs / n).toFixed(1)} ms/call); CPU ${(total * 1000 / n).toFixed(2)} ms/call`);
    for (const [k, s] of r.fillCpu.slice(0, 7)) console.log(`   ${(s * 1000 / n).toFixed(2)} ms/call  ${k}`);
  }
} finally { await rm(www, { recursive: true, force: true }); }
