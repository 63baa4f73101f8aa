// The reference server for tests that bring their own service worker: the harness page and the given
// worker scripts served from a folder of their own, next to a snapshot of the built package.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './harness.mjs';
import { snapshotPkg, removeDir } from './firefox.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Starts the server with `files` (path -> source, e.g. `{ 'sw.js': WORKER, 'a/index.html': PAGE }`) beside `harness.html`.
 * Answers the server; its `close()` stops it and removes the folder and the package snapshot.
 */
export async function startAppServer(files) {
  const pkg = await snapshotPkg();
  const www = await mkdtemp(path.join(tmpdir(), 'ferry-app-'));
  await copyFile(path.join(here, '../www/harness.html'), path.join(www, 'harness.html'));
  for (const [name, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(www, name)), { recursive: true });
    await writeFile(path.join(www, name), source);
  }
  const server = await startServer({ args: ['--www', www, '--pkg', pkg] });
  server.close = async () => {
    await server.stop();
    await rm(www, { recursive: true, force: true });
    await removeDir(pkg);
  };
  return server;
}
