// Shared by the bundler tests: pack pkg/ the way `npm publish` would, install the tarball into a small app
// under tests/apps/<tool>/ (whose own package-lock.json pins the tool), build it, serve it from the
// reference server, upload a file from its page in a real browser and wait for `completed`.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { launchChromium, payload, profileDir, sha256, startServer } from '../harness.mjs';

const exec = promisify(execFile);

export const APPS = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.FERRY_ROOT || path.resolve(APPS, '../..');
/** The built package (`cargo xtask build`): what `npm pack` packs. */
export const PKG = process.env.FERRY_PKG || path.join(ROOT, 'pkg');

/** Runs a command in `cwd`; a failure carries its output. */
export async function run(cmd, args, cwd) {
  return (await runBoth(cmd, args, cwd)).stdout;
}

/** `run`, resolving with both streams (`{ stdout, stderr }`): where a tool prints its warnings. */
export async function runBoth(cmd, args, cwd) {
  try {
    return await exec(cmd, args, { cwd, maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout}\n${e.stderr}`);
  }
}

/** `npm pack` of pkg/ into a fresh folder: the tarball users get from the registry. */
export async function pack() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-pack-'));
  const out = await run('npm', ['pack', '--json', '--loglevel=error', '--pack-destination', dir], PKG);
  const [{ filename }] = JSON.parse(out);
  return { tarball: path.join(dir, filename), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Installs the tarball into an app (after `npm ci` there), as `npm i ./ferry-upload-x.y.z.tgz` would. */
export async function install(app, tarball) {
  await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], app);
}

/** The app's own `npm run build`, into a fresh dist/ (nothing left from an earlier build can help it);
 * resolves with what it printed (`{ stdout, stderr }`). */
export async function build(app) {
  await rm(path.join(app, 'dist'), { recursive: true, force: true });
  return runBoth('npm', ['run', '--silent', 'build'], app);
}

/**
 * Collects a page's console lines (Playwright and Puppeteer pages alike); `next(re)` resolves with the
 * first line matching `re`, seen already or still to come. A page error ends every wait with it.
 */
export function consoleOf(page) {
  const lines = [];
  const waiters = new Set();
  let failure = null;
  const check = () => {
    for (const w of waiters) {
      const line = lines.find((l) => w.re.test(l));
      if (line !== undefined) { waiters.delete(w); w.resolve(line); } else if (failure) { waiters.delete(w); w.reject(failure); }
    }
  };
  page.on('console', (m) => { lines.push(m.text()); check(); });
  page.on('pageerror', (e) => { failure = new Error(`page error: ${e?.name}: ${e?.message}\nconsole:\n${lines.join('\n')}`); check(); });
  return {
    lines,
    next(re, { timeout = 60000 } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`no console line ${re} within ${timeout} ms; console:\n${lines.join('\n')}`)); }, timeout);
        const w = { re, resolve: (l) => { clearTimeout(timer); resolve(l); }, reject: (e) => { clearTimeout(timer); reject(e); } };
        waiters.add(w);
        check();
      });
    },
  };
}

/** A file of `size` deterministic bytes on disk (file inputs take paths in every driver). */
export async function fileOf(size, seed) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-file-'));
  const bytes = payload(size, seed);
  const file = path.join(dir, `photo-${seed}.bin`);
  await writeFile(file, bytes);
  return { file, sha256: sha256(bytes), remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The app's page at `url` (already open in `page`, console collected by `log`): picks a file in its file
 * input once Ferry has registered (the input is enabled then), waits for the page to log `completed <id>
 * 200`, and checks that the server holds exactly those bytes. `pick(input, file)` sets the input's files.
 */
export async function uploadThroughPage({ page, log, server, pick, size = 300 * 1024, seed = 7 }) {
  const f = await fileOf(size, seed);
  try {
    const input = await page.waitForSelector('input[type=file]:enabled');
    await pick(input, f.file);
    const id = (await log.next(/^queued /)).split(' ')[1];
    const done = await log.next(new RegExp(`^(completed|failed) ${id}`));
    const records = (await server.uploads()).filter((r) => r.sha256 === f.sha256);
    return { id, done, records, sha256: f.sha256, lines: log.lines };
  } finally {
    await f.remove();
  }
}

/**
 * Serves `www` (a built app) from the reference server, whose `/upload` records what arrives, opens it in
 * headless Chromium and hands `{ page, log, server, url }` to `body`; cleans everything up afterwards.
 * `pkg` also serves a package folder at `/ferry/`; `url` overrides the page to open (e.g. a dev server).
 */
export async function inChromium({ www, pkg, url, args = [] }, body) {
  const server = await startServer({ args: [...(www ? ['--www', www] : []), ...(pkg ? ['--pkg', pkg] : []), ...args] });
  const dir = await profileDir();
  const ctx = await launchChromium(dir);
  try {
    const page = await ctx.newPage();
    const log = consoleOf(page);
    await page.goto(url ? url(server) : server.url);
    return await body({ page, log, server, ctx });
  } finally {
    await ctx.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Playwright's way to pick a file in an `<input type=file>`. */
export const pickPlaywright = (input, file) => input.setInputFiles(file);

/** What a completed upload looks like: the page logged `completed <id> <2xx>`, the server applied those bytes with that status. */
export function assertCompleted(assert, r) {
  assert.match(r.done, new RegExp(`^completed ${r.id} 2\\d\\d$`), `console:\n${r.lines.join('\n')}`);
  const status = Number(r.done.split(' ')[2]);
  assert.ok(r.records.some((rec) => rec.status === status && rec.applied), `server records: ${JSON.stringify(r.records)}`);
}
