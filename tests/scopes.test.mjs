// Two apps on one origin, each with its own Ferry worker in its own scope (`/a/sw.js`, `/b/sw.js`) and
// its own `beforeSend`: they share the origin's database, and each worker must send only the uploads of
// the tags its pages registered with it, with its own headers (a token of app A must never go with
// app B's upload). In Chromium (the workers stopped through CDP) and Firefox (relaunched on its profile:
// a worker starts again only when a page of its app talks to it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { withChromium, swControl, until } from './harness.mjs';
import { firefoxProfile, launchFirefox, launchToHarness, closeFirefox, removeDir } from './firefox.mjs';
import { startAppServer } from './app-server.mjs';

const worker = (app) => `import { installFerry, enqueue } from '/ferry/worker.js';
installFerry(self, { beforeSend: () => ({ headers: { 'X-App': '${app}' } }) });
// The app's own worker code hands a request over (as a Workbox plugin would), here when its page asks.
self.addEventListener('message', (e) => {
  if (e.data && e.data.enqueueHere) {
    const url = e.data.enqueueHere;
    e.waitUntil(enqueue(new Request(url, { method: 'POST', body: url }), { tag: 'worker${app}' }));
  }
});
`;
const PAGE = '<!doctype html><meta charset="utf-8"><title>app</title>';
const server = await startAppServer({ 'a/sw.js': worker('a'), 'b/sw.js': worker('b'), 'a/index.html': PAGE, 'b/index.html': PAGE });
after(() => server.close());

/** In `page` (a new tab), opens app `app`'s page and registers its tag with its own worker, listening to every event. */
async function openApp(page, app) {
  await page.goto(new URL(`/${app}/index.html`, server.url).href);
  await page.evaluate(async (app) => {
    const { Ferry } = await import('/ferry/index.js');
    window.session = await Ferry.register(`app${app}`, { serviceWorker: `/${app}/sw.js`, backgroundFetch: false });
    window.events = [];
    for (const kind of ['retrying', 'completed', 'failed']) window.session.addEventListener(kind, (e) => window.events.push(e.detail));
  }, app);
  return page;
}

const upload = (page, path) => page.evaluate((url) => window.session.upload(new Blob([url]), { url }), path);
const eventsOf = (page, kind, n) => until(() => page.evaluate(({ kind, n }) => {
  const seen = window.events.filter((e) => e.kind === kind);
  return seen.length >= n ? seen : null;
}, { kind, n }), { what: `${n} ${kind} event(s)`, timeout: 30000 });

/**
 * The scenario, with the browser's part given: `newTab()` opens a tab, `stopWorkers()` leaves no worker
 * of the origin running (every tab closed first).
 */
async function twoApps({ newTab, stopWorkers }) {
  await server.reset();
  // App B's uploads fail once and are due again in 2 s; its page closes and its worker is stopped.
  // One of them B's worker code enqueued itself, under a tag no page registered.
  await server.fault({ count: 4, status: 503, retryAfter: 2, path: '/upload/b/' });
  let b = await openApp(await newTab(), 'b');
  for (const n of [1, 2, 3]) await upload(b, `/upload/b/${n}`);
  await b.evaluate(async () => (await navigator.serviceWorker.getRegistration('/b/')).active.postMessage({ enqueueHere: '/upload/b/worker' }));
  await eventsOf(b, 'retrying', 3);
  await until(async () => (await server.uploads()).find((r) => r.path === '/upload/b/worker' && r.status === 503),
    { what: 'the worker-enqueued upload refused once' });
  const due = Math.max(...(await b.evaluate(() => window.session.list())).map((t) => t.nextAttemptAt));
  await b.close();
  await stopWorkers();
  await until(() => Date.now() > due + 200, { what: 'app B\'s uploads due again' });

  // App A's worker wakes for an upload of its own, with B's uploads due in the same database.
  const a = await openApp(await newTab(), 'a');
  await upload(a, '/upload/a/1');
  await eventsOf(a, 'completed', 1);
  const sent = (await server.uploads()).filter((r) => r.outcome !== 'receiving');
  assert.deepEqual(sent.filter((r) => r.path.startsWith('/upload/a/')).map((r) => r.headers['x-app']), ['a']);
  assert.deepEqual(sent.filter((r) => r.path.startsWith('/upload/b/')).map((r) => [r.path, r.status, r.headers['x-app']]).sort(),
    [['/upload/b/1', 503, 'b'], ['/upload/b/2', 503, 'b'], ['/upload/b/3', 503, 'b'], ['/upload/b/worker', 503, 'b']],
    'app A\'s worker sent app B\'s uploads');

  // B's page comes back: its worker sends them, once each, with B's headers.
  b = await openApp(await newTab(), 'b');
  const done = await eventsOf(b, 'completed', 3);
  assert.deepEqual(done.map((e) => e.response.status), [201, 201, 201]);
  const ok = await until(async () => {
    const all = (await server.uploads()).filter((r) => r.status === 201);
    return all.length >= 5 ? all : null;
  }, { what: 'every upload delivered' });
  assert.deepEqual(ok.map((r) => [r.path, r.headers['x-app']]).sort(),
    [['/upload/a/1', 'a'], ['/upload/b/1', 'b'], ['/upload/b/2', 'b'], ['/upload/b/3', 'b'], ['/upload/b/worker', 'b']]);
  assert.equal(new Set(ok.map((r) => r.idempotencyKey)).size, 5, 'each upload applied once');
}

test('two apps on one origin: each worker sends only its own tags\' uploads, with its own beforeSend headers, even with the other app closed', async () => {
  await withChromium(async (ctx) => {
    await twoApps({
      newTab: () => ctx.newPage(),
      stopWorkers: async () => {
        const { cdp } = await swControl(await ctx.newPage());
        await cdp.send('ServiceWorker.stopAllWorkers');
      },
    });
  });
});

test('Firefox: two apps on one origin: each worker sends only its own tags\' uploads, with its own beforeSend headers', async () => {
  const dir = await firefoxProfile();
  let browser = await launchFirefox(dir);
  // The tab a relaunch opened (on the origin's harness page), used before any new one.
  let spare = null;
  try {
    await twoApps({
      newTab: async () => {
        const tab = spare ?? await browser.newPage();
        spare = null;
        return tab;
      },
      // Relaunched on its profile, Firefox starts a worker only when a page of its app talks to it
      // (`launchToHarness` relaunches once more if Firefox comes back unable to navigate).
      stopWorkers: async () => {
        await closeFirefox(browser);
        browser = null;
        ({ browser, page: spare } = await launchToHarness(dir, server.url));
      },
    });
  } finally {
    await closeFirefox(browser);
    await removeDir(dir);
  }
});
