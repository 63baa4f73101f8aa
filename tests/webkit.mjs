// WebKit harness: WebKitGTK, Safari's engine, driven over classic WebDriver (HTTP) by WebKitWebDriver, with
// the browser in `webkit/browser.py` (a profile kept on disk) on an Xvfb display: WebKitGTK has no headless
// mode. Like Safari it has neither Background Sync nor Background Fetch: uploads go through Ferry's fallback.
// A page here answers `evaluate(fn, ...args)` as a puppeteer page does, so firefox.mjs's page helpers
// (registerSession, uploadRandom, eventOf, ...) serve it too.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEBKIT_DRIVER = process.env.FERRY_WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';
export const XVFB = process.env.FERRY_XVFB || '/usr/bin/Xvfb';
const BROWSER = path.join(here, 'webkit/browser.py');
/** `FERRY_WEBKIT_DUMPIO=1` shows what the driver and the browser print. */
const DUMPIO = process.env.FERRY_WEBKIT_DUMPIO === '1';

/** `promise`, or a rejection saying `what` after `ms`. */
function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} (no answer in ${ms} ms)`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

function exited(proc) {
  return proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));
}

/** Ends a process this harness started, by its PID: SIGTERM, then SIGKILL after 5 s. */
async function end(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const gone = await Promise.race([exited(proc).then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
  if (!gone) {
    proc.kill('SIGKILL');
    await exited(proc);
  }
}

/**
 * An Xvfb display and a WebKitWebDriver on it, for one test file. Every call to the driver is bounded (a
 * session whose browser failed to start never answers). `stop()` ends both; the browser ends with its driver.
 */
export async function startWebKit() {
  const io = DUMPIO ? 'inherit' : 'ignore';
  const xvfb = spawn(XVFB, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', io, io, 'pipe'] });
  const failed = new Promise((_, reject) => {
    xvfb.once('error', reject);
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before naming its display`)));
  });
  const display = await bounded(Promise.race([failed, new Promise((resolve) => {
    let out = '';
    xvfb.stdio[3].on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
  })]), 20000, 'Xvfb did not name its display');
  const port = await freePort();
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { stdio: ['ignore', io, io], env: { ...process.env, DISPLAY: `:${display}` } });
  driver.once('error', (e) => console.error('[webkit] driver:', e.message));
  const base = `http://127.0.0.1:${port}`;
  const webkit = {
    base,
    /** One WebDriver command; resolves with its `value`, rejects with the driver's error. */
    async command(method, route, body, ms = 60000) {
      const res = await bounded(fetch(base + route, {
        method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      }), ms, `WebDriver ${method} ${route}`);
      const json = await res.json();
      if (!res.ok) throw new Error(`WebDriver ${method} ${route}: ${res.status} ${json.value?.error}: ${json.value?.message}`);
      return json.value;
    },
    async stop() {
      await end(driver);
      await end(xvfb);
    },
  };
  for (let tries = 0; ; tries++) {
    try {
      if ((await webkit.command('GET', '/status', undefined, 2000)).ready) break;
    } catch (e) {
      if (tries >= 100 || driver.exitCode !== null) {
        await webkit.stop();
        throw new Error(`WebKitWebDriver did not get ready: ${e.message}`);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return webkit;
}

/** A fresh, empty WebKit profile directory under TMPDIR (what survives a relaunch lives there). */
export async function webkitProfile() {
  return mkdtemp(path.join(tmpdir(), 'ferry-webkit-profile-'));
}

/**
 * Removes a profile once its browser was closed. The session's end does not wait for WebKit's network
 * process, which may still write into the profile for a moment (seen: ENOTEMPTY): rm tries again then.
 */
export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

/** The fields of /proc/`pid`/stat after the command name (its state letter, then its parent's PID), or null once gone. */
async function statOf(pid) {
  try {
    return (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  } catch {
    return null;
  }
}

/** `root` and every process it started, and they started (WebKit's web and network processes), by /proc. */
async function processTree(root) {
  const all = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await statOf(entry);
    if (stat) all.push([Number(entry), Number(stat[1])]);
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of all) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

/** Resolves once every one of `pids` has ended (gone, or a zombie left to reap); rejects after `ms`. */
async function allEnded(pids, ms, what) {
  for (const deadline = Date.now() + ms; ;) {
    const alive = [];
    for (const pid of pids) if (((await statOf(pid))?.[0] ?? 'Z') !== 'Z') alive.push(pid); // gone counts as ended
    if (!alive.length) return;
    if (Date.now() > deadline) throw new Error(`${what}: PIDs ${alive.join(', ')} still run after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts the browser on `profile` (a WebDriver session) with one page. A page answers `goto(url)`,
 * `evaluate(fn, ...args)` (an async script: `fn`'s source with JSON arguments; a rejection is rethrown here
 * with its stack), `pickFile(css, file)`, `openPage()` (another tab of the same browser; WebKitWebDriver drives one browser at a
 * time) and `close()`: the first page's ends the session (the browser exits, its profile kept on disk),
 * another's closes its tab. The first page's `close()` resolves once the browser and every process it started
 * have ended: WebKit's web and network processes outlive the session's end for a moment, and a service
 * worker in them may still send a request then.
 */
export async function launchWebKit(webkit, profile) {
  const session = await webkit.command('POST', '/session', {
    capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary: BROWSER, args: [profile] } } },
  });
  const route = `/session/${session.sessionId}`;
  await webkit.command('POST', `${route}/timeouts`, { script: 120000, pageLoad: 60000 });
  let open = true;
  let current = await webkit.command('GET', `${route}/window`);
  const pageOf = (handle, first) => {
    // Commands go to the browser's current tab: each page makes its own tab current first.
    const focus = async () => {
      if (current === handle) return;
      await webkit.command('POST', `${route}/window`, { handle });
      current = handle;
    };
    return {
      async goto(url) {
        await focus();
        await webkit.command('POST', `${route}/url`, { url });
      },
      async evaluate(fn, ...args) {
        await focus();
        const script = `const done = arguments[arguments.length - 1];
          Promise.resolve().then(() => (${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
            .then((value) => done({ value: value === undefined ? null : value }),
              (e) => done({ error: e instanceof Error ? e.name + ': ' + e.message + (e.stack ? '\\n' + e.stack : '') : String(e) }));`;
        const out = await webkit.command('POST', `${route}/execute/async`, { script, args }, 130000);
        if (out && 'error' in out) throw new Error(`in the WebKit page: ${out.error}`);
        return out?.value;
      },
      /** Sets the files of the `<input type=file>` that `css` finds to `file` (WebDriver's Element Send Keys). */
      async pickFile(css, file) {
        await focus();
        const found = await webkit.command('POST', `${route}/element`, { using: 'css selector', value: css });
        const element = found[Object.keys(found).find((k) => k.startsWith('element-'))];
        await webkit.command('POST', `${route}/element/${element}/value`, { text: file });
      },
      async openPage() {
        const { handle: tab } = await webkit.command('POST', `${route}/window/new`, { type: 'tab' });
        return pageOf(tab, false);
      },
      async close() {
        if (!open) return;
        if (first) {
          open = false;
          const browser = Number(await readFile(path.join(profile, 'browser.pid'), 'utf8').catch(() => NaN));
          const processes = Number.isInteger(browser) ? await processTree(browser) : [];
          await webkit.command('DELETE', route, undefined, 30000);
          await allEnded(processes, 15000, 'the closed browser');
          return;
        }
        await focus();
        await webkit.command('DELETE', `${route}/window`);
        current = null;
      },
    };
  };
  return pageOf(current, true);
}

/**
 * SIGKILLs the browser running on `profile` (the PID it wrote there as it started), as a crash or the
 * system would, and resolves once it is gone: its driver has reaped it, or it is a zombie left to reap.
 * WebKit's web and network processes end with it. The driver that started it is then of no further use.
 */
export async function killWebKit(profile) {
  const pid = Number(await readFile(path.join(profile, 'browser.pid'), 'utf8'));
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no browser PID in ${profile}`);
  process.kill(pid, 'SIGKILL');
  await allEnded([pid], 5000, 'the browser outlived SIGKILL');
}

/** `launchWebKit`, then the (empty) harness page of the test server. */
export async function openHarness(webkit, profile, serverUrl) {
  const page = await launchWebKit(webkit, profile);
  try {
    await page.goto(new URL('/harness.html', serverUrl).href);
  } catch (e) {
    await page.close().catch(() => {});
    throw e;
  }
  return page;
}
