// Bundles the page and the service worker with esbuild into dist/. esbuild leaves
// `new URL('./ferry_bg.wasm', import.meta.url)` as it is and emits no wasm, so the wasm is copied next
// to the bundles (both are served from the root).
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

export async function buildApp() {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  await build({
    entryPoints: { sw: path.join(here, 'src/sw.js'), page: path.join(here, 'src/page.js') },
    outdir: dist,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    // Workbox reads process.env.NODE_ENV to drop its dev logging.
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
  const wasm = path.join(path.dirname(createRequire(import.meta.url).resolve('ferry-upload')), 'ferry_bg.wasm');
  await copyFile(wasm, path.join(dist, 'ferry_bg.wasm'));
  await copyFile(path.join(here, 'src/index.html'), path.join(dist, 'index.html'));
  return dist;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildApp();
