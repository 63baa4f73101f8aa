// The back/forward cache: a page with a session open that the user leaves and comes back to is kept in
// the cache (not evicted by the tag's events while away) and, on its return, hears what it missed and
// then live events. Playwright launches Chromium with the cache switched off; these tests switch it on.
// Firefox keeps its default (on).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import * as chromiumHarness from './harness.mjs';
import { CHROMIUM, CHROMIUM_ARGS, startServer, profileDir, harnessPage, until } from './harness.mjs';
import * as firefox from './firefox.mjs';

// A snapshot of pkg/ (see firefox.mjs): a rebuild during the run must not leave half a package served.
const pkg = await firefox.snapshotPkg();
const server = await startServer({ args: ['--pkg', pkg] });
after(async () => {
  await server.stop();
  await firefox.removeDir(pkg);
});

/** Chromium as the harness launches it, with the back/forward cache on. */
async function withCachingChromium(fn) {
  const ctx = await chromium.launchPersistentContext(await profileDir(), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--disable-back-forward-cache'],
  });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** Where `page` is (its query string), or undefined while it navigates. */
const whereIs = (page) => page.evaluate(() => location.search).catch(() => undefined);

/** Leaves `page` for another document of the origin. */
async function leave(page) {
  await page.evaluate(() => {
    window.left = true;
    addEventListener('pageshow', (e) => { window.restored = e.persisted; }, { once: true });
    setTimeout(() => { location.href = '/harness.html?elsewhere'; }, 0);
  });
  await until(async () => (await whereIs(page)) === '?elsewhere', { what: 'the other document' });
}

/** Goes back to the page left; answers whether it came back from the cache (not loaded afresh). */
async function back(page) {
  await page.evaluate(() => { setTimeout(() => history.back(), 0); });
  return until(() => page.evaluate(() => (location.search === '' && document.readyState === 'complete'
    ? (window.restored === true ? 'cached' : window.left ? undefined : 'loaded afresh') : undefined)).catch(() => undefined),
  { what: 'the page left, back' });
}

/**
 * The page (a session of `tag` open, listening to every kind) is left with an upload paused; another tab
 * lets it go and sees its `completed` broadcast; then the user comes back to the page.
 */
async function leftAndBack({ page, other, tag, eventOf }) {
  const url = `/upload/${tag}`;
  await page.evaluate(() => window.ferrySession.pause());
  const id = await page.evaluate((url) => window.ferrySession.upload(new Blob(['left behind']), { url }), url);
  await eventOf(page, id, 'queued');
  await leave(page);

  // The other tab listens on the tag's channel (as the page left would) and resumes the tag: the
  // upload's `completed` is broadcast while the page is in the cache.
  const o = await other();
  await o.evaluate(async (tag) => {
    window.heard = [];
    const channel = new BroadcastChannel(`ferry:${tag}`);
    channel.onmessage = ({ data }) => window.heard.push(...(data?.ferry === 'events' ? data.events : [data]));
    const { Ferry } = await import(new URL('/ferry/index.js', location.href).href);
    // No listeners here: nothing of the tag is acknowledged by this tab.
    const s = await Ferry.register(tag, { serviceWorker: '/sw.js' });
    await s.resume();
  }, tag);
  await until(() => o.evaluate((id) => window.heard.some((e) => e.taskId === id && e.kind === 'completed'), id),
    { timeout: 60000, what: 'the other tab to hear `completed`' });
  await o.close();

  assert.equal(await back(page), 'cached', 'the page was evicted from the back/forward cache');
  const completed = await eventOf(page, id, 'completed');
  assert.equal(completed.response.status, 201);
  const kinds = await page.evaluate((id) => window.ferryEvents.filter((e) => e.taskId === id && e.kind !== 'progress')
    .map((e) => e.kind), id);
  assert.deepEqual(kinds, ['queued', 'started', 'completed'], 'each event of the task once, in order');
  const seqs = await page.evaluate(() => window.ferryEvents.map((e) => e.seq));
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'seq order, none twice');

  // Live again: a new upload's events arrive on the channel opened anew.
  const second = await page.evaluate((url) => window.ferrySession.upload(new Blob(['after the return']), { url }), url);
  assert.equal((await eventOf(page, second, 'completed')).response.status, 201);
  const arrived = (await server.uploads()).filter((u) => u.path === url);
  assert.equal(arrived.length, 2, 'each upload arrived once');
}

test('a page left with its session open stays in the back/forward cache while its upload ends, and on its return hears `completed`, then live events', async () => {
  await withCachingChromium(async (ctx) => {
    const page = await chromiumHarness.openSession(ctx, server.url, 'bfcache');
    await leftAndBack({ page, other: () => harnessPage(ctx, server.url), tag: 'bfcache', eventOf: chromiumHarness.eventOf });
  });
});

test('Firefox: a page left with its session open stays in the back/forward cache while its upload ends, and on its return hears `completed`, then live events', async () => {
  await firefox.withFirefox(async (browser) => {
    const page = await firefox.openSession(browser, server.url, 'ff-bfcache');
    await leftAndBack({ page, other: () => firefox.openHarness(browser, server.url), tag: 'ff-bfcache', eventOf: firefox.eventOf });
  });
});
