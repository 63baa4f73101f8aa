// `cargo xtask bench`: next-due selection in a real browser, Ferry's `by_due` index side by side with an
// index-less scan of the same database, at 1k and 100k tasks. Reports times and ratios (and writes them to
// $FERRY_BENCH_OUT/next-due.json for bench/RESULTS.md); asserts nothing.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startServer, profileDir, launchChromium } from './harness.mjs';

const server = await startServer({ args: ['--pkg', process.env.FERRY_BENCH_PKG] });
const ctx = await launchChromium(await profileDir());
const rows = {};
try {
  const page = await ctx.newPage();
  await page.goto(new URL('/harness.html', server.url).href);
  for (const n of [1000, 100000]) {
    rows[n] = await page.evaluate(async (n) => {
      const mod = await import('/ferry/ferry.js');
      await mod.default({ module_or_path: '/ferry/ferry_bg.wasm' });
      const name = `bench-${n}`;
      const t0 = performance.now();
      await mod.bench_fill(name, n);
      const fillMs = performance.now() - t0;
      const reps = n > 10000 ? 5 : 50;
      await mod.bench_next_due(name, 3); // warm up
      const ferry = await mod.bench_next_due(name, reps);
      const scan = await mod.bench_scan(name, reps);
      return { fillMs, ferry, scan };
    }, n);
  }
} finally {
  await ctx.close();
  await server.stop();
}
const ms = (v) => `${v.toFixed(2)} ms`.padStart(11);
const x = (v) => `${v.toFixed(1)}x`.padStart(9);
const [a, b] = [rows[1000], rows[100000]];
console.log('next-due selection (Chromium, IndexedDB)   1k tasks   100k tasks   100k/1k');
console.log(`ferry: by_due index range, limit 1    ${ms(a.ferry)}  ${ms(b.ferry)}  ${x(b.ferry / a.ferry)}`);
console.log(`index-less: read all, filter, sort    ${ms(a.scan)}  ${ms(b.scan)}  ${x(b.scan / a.scan)}`);
console.log(`index-less / ferry                     ${x(a.scan / a.ferry)}    ${x(b.scan / b.ferry)}`);
console.log(`(fill: ${(a.fillMs / 1000).toFixed(1)} s for 1k, ${(b.fillMs / 1000).toFixed(1)} s for 100k)`);
if (process.env.FERRY_BENCH_OUT) await writeFile(path.join(process.env.FERRY_BENCH_OUT, 'next-due.json'), JSON.stringify(rows));
