// Bytes shipped, gzip -9 (the `gzip` program; zlib level 9 where it is missing):
// Ferry's package files as `cargo xtask build` writes them, what its page entry and worker entry each make
// a browser download, and the peers bundled and minified by esbuild (what an app would ship).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

function gzip(bytes) {
  try {
    return execFileSync('gzip', ['-9', '-c', '-n'], { input: bytes, maxBuffer: 64 << 20 }).length;
  } catch {
    return gzipSync(bytes, { level: 9 }).length;
  }
}

/** Bundles `source` (ES module text resolved from `dir`) with esbuild, minified for production. */
async function bundle(source, dir) {
  const out = await build({
    stdin: { contents: source, resolveDir: dir, loader: 'js' }, bundle: true, format: 'esm', minify: true,
    write: false, logLevel: 'warning', define: { 'process.env.NODE_ENV': '"production"' },
  });
  return out.outputFiles[0].contents;
}

/** The page entry's modules. */
const PAGE = ['index.js', 'page-link.js', 'page-upload.js', 'page-events.js'];

export async function sizes({ pkg, tests }) {
  const files = {};
  // Every .js and .wasm of the package: the page entry (plain JS, index.js and the three modules it
  // imports), the module worker entry and what it imports, and the classic worker build.
  // page-diagnose.js: loaded only to explain a worker the browser refused to register; page-bgfetch.js:
  // only by a page the worker hands a Background Fetch to start.
  for (const name of [...PAGE, 'page-diagnose.js', 'page-bgfetch.js', 'worker.js', 'install.js', 'workbox.js', 'ferry.js', 'ferry_bg.wasm', 'ferry-sw.js']) {
    const bytes = await readFile(path.join(pkg, name));
    files[name] = { raw: bytes.length, gzip: gzip(bytes) };
  }
  const sum = (names) => names.reduce((a, n) => ({ raw: a.raw + files[n].raw, gzip: a.gzip + files[n].gzip }), { raw: 0, gzip: 0 });
  // What an app's bundler makes of the JS (esbuild leaves the .wasm URL alone: the .wasm ships as is).
  const minified = async (entry, wasm) => {
    const js = await bundle(`export * from ${JSON.stringify(path.join(pkg, entry))};`, pkg);
    const w = wasm ? files['ferry_bg.wasm'] : { raw: 0, gzip: 0 };
    return { raw: js.length + w.raw, gzip: gzip(js) + w.gzip, js: gzip(js) };
  };
  const peer = async (source) => {
    const js = await bundle(source, tests);
    return { raw: js.length, gzip: gzip(js) };
  };
  return {
    files,
    ferry: {
      // The page entry loads no wasm: the engine runs in the worker.
      page: sum(PAGE),
      worker: sum(['worker.js', 'install.js', 'workbox.js', 'ferry.js', 'ferry_bg.wasm']),
      shipped: sum(Object.keys(files)),
      pageMinified: await minified('index.js', false),
      workerMinified: await minified('worker.js', true),
    },
    workbox: await peer("export { Queue } from 'workbox-background-sync';"),
    idb: await peer("export { openDB } from 'idb';"),
  };
}
