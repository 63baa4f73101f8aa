// Launch events: `launch: 'notify'` shows a notification when a task ends with no page of its tag open;
// with a page open (it answers the worker's ping), or with `launch: 'none'`, nothing is shown.
// `launch: 'open'`: the user's click on that notification opens the page that registered the session,
// or focuses it when it is open. The click is a real one: Chromium shows its notifications through a
// stand-in desktop notification server (tests/notifications.mjs) whose click Chromium treats as the user's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, profileDir, launchChromium, openSession, uploadRandom, until, settled, eventOf, serviceWorker, grant, routeWorker, swControl,
} from './harness.mjs';
import { startNotificationServer } from './notifications.mjs';

const server = await startServer();
after(() => server.stop());

async function withNotifications(fn) {
  await server.reset();
  const desktop = await startNotificationServer();
  const ctx = await launchChromium(await profileDir(), { env: { DBUS_SESSION_BUS_ADDRESS: desktop.address } });
  try {
    await grant(ctx, server.url, ['notifications']);
    return await fn(ctx, desktop);
  } finally {
    await ctx.close();
    await desktop.stop();
  }
}

/** A plain listener on the tag's channel (not a session: it does not answer the worker's ping) that
 * records the worker's launch decisions; its URL differs from the session page's. */
async function launchListener(ctx, tag) {
  const listener = await ctx.newPage();
  await listener.goto(new URL('/harness.html?listener', server.url).href);
  await listener.evaluate((tag) => {
    window.decisions = [];
    new BroadcastChannel(`ferry:${tag}`).onmessage = (e) => { if (e.data.ferry === 'launch') window.decisions.push(e.data); };
  }, tag);
  const decision = (id, key) => until(() => listener.evaluate(({ id, key }) => window.decisions.find((d) => d.taskId === id && key in d), { id, key }),
    { what: `the launch decision (${key})` });
  decision.page = listener;
  return decision;
}

/** A session page uploads and closes; resolves once the server has the upload, with the task id and the
 * page's address without its fragment (`path` may carry one: page state, not part of what to open). */
async function uploadAndClose(ctx, options, { path } = {}) {
  const page = await openSession(ctx, server.url, 'launch', { backgroundFetch: false, ...options }, { path });
  const pageUrl = page.url().split('#')[0];
  // The body takes seconds to arrive: the upload ends after the page closed, whatever the machine's pace.
  await server.fault({ count: 1, slowBytesPerSec: 16 * 1024, path: '/upload/launch' });
  const { id } = await uploadRandom(page, 64 * 1024, { url: '/upload/launch' });
  await page.close();
  await settled(server, 1);
  return { id, pageUrl };
}

const notifications = (sw) => sw.evaluate(async () => (await self.registration.getNotifications())
  .map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })));

for (const [launch, pageOpen, expected] of [['notify', false, 1], ['notify', true, 0], ['none', false, 0]]) {
  test(`launch '${launch}', ${pageOpen ? 'a page of the tag open' : 'no page open'}: ${expected ? 'a notification' : 'no notification'}`, async () => {
    await withNotifications(async (ctx, desktop) => {
      const page = await openSession(ctx, server.url, 'launch', { launch, backgroundFetch: false });
      const sw = await serviceWorker(ctx);
      const decision = await launchListener(ctx, 'launch');
      await server.fault({ count: 1, slowBytesPerSec: 512 * 1024 });
      const { id } = await uploadRandom(page, 1024 * 1024, { url: '/upload/launch' });
      if (pageOpen) {
        await eventOf(page, id, 'completed');
      } else {
        await page.close();
        await settled(server, 1);
      }
      assert.equal((await decision(id, 'notified')).notified, expected === 1);
      const shown = await notifications(sw);
      assert.equal(shown.length, expected, JSON.stringify(shown));
      if (expected) {
        assert.equal(shown[0].title, 'Upload complete');
        assert.equal(shown[0].tag, 'ferry:launch');
        assert.deepEqual(shown[0].data, { ferryTag: 'launch', taskId: id });
        // The desktop showed it; with 'notify' a click only dismisses it: nothing opens.
        const note = await desktop.shown();
        assert.equal(note.summary, 'Upload complete');
        const pages = ctx.pages().length;
        desktop.click(note.id);
        assert.equal((await decision(id, 'clicked')).clicked, 'none');
        assert.equal(ctx.pages().length, pages);
        await until(() => desktop.closed.includes(note.id), { what: 'the notification closed' });
      }
    });
  });
}

test('launch \'notify\': a page of the tag that opens and listens closes the tag\'s notification (it tells the user itself)', async () => {
  await withNotifications(async (ctx, desktop) => {
    const decision = await launchListener(ctx, 'launch');
    const { id } = await uploadAndClose(ctx, { launch: 'notify' });
    assert.equal((await decision(id, 'notified')).notified, true);
    const note = await desktop.shown();
    const sw = await serviceWorker(ctx);
    assert.equal((await notifications(sw)).length, 1);
    // A page of another tag that listens leaves it.
    const other = await openSession(ctx, server.url, 'other', { backgroundFetch: false });
    await other.evaluate(() => window.ferrySession.list());
    assert.equal((await notifications(sw)).length, 1, 'another tag\'s page closed the notification');
    // The user opens the app by other means (not the notification): the page hears how it ended.
    const page = await openSession(ctx, server.url, 'launch', { launch: 'notify', backgroundFetch: false });
    assert.equal((await eventOf(page, id, 'completed')).response.status, 201);
    await until(() => desktop.closed.includes(note.id), { what: 'the notification closed' });
    assert.deepEqual(await notifications(sw), []);
  });
});

test('launch \'notify\': a task whose time runs out with no page of its tag open is told too (\'Upload expired\')', async () => {
  await withNotifications(async (ctx) => {
    const page = await openSession(ctx, server.url, 'launch', { launch: 'notify', backgroundFetch: false });
    const sw = await serviceWorker(ctx);
    const decision = await launchListener(ctx, 'launch');
    await page.evaluate(() => window.ferrySession.pause());
    const expiresAt = Date.now() + 1500;
    const { id } = await uploadRandom(page, 1024, { url: '/upload/launch', expiresAt });
    await page.close();
    await until(() => Date.now() > expiresAt, { what: 'the deadline' });
    // A page of another tag wakes the worker, whose look finds the task past its time.
    await openSession(ctx, server.url, 'other', { backgroundFetch: false });
    assert.equal((await decision(id, 'notified')).notified, true);
    const shown = await notifications(sw);
    assert.deepEqual(shown.map((n) => [n.title, n.data.taskId]), [['Upload expired', id]]);
  });
});

test('launch \'notify\': a notification owed by a worker instance stopped before it showed it is shown by the next instance', async () => {
  await withNotifications(async (ctx, desktop) => {
    // The first instance to show a notification never finishes showing it (nothing is shown), as one
    // stopped between recording the task's end and showing the notification; it tells the pages so.
    // Later instances show theirs.
    await routeWorker(ctx, 'sw-holds-note.js', `const show = ServiceWorkerRegistration.prototype.showNotification;
ServiceWorkerRegistration.prototype.showNotification = async function (...args) {
  if (await caches.has('held-note')) return show.apply(this, args);
  await caches.open('held-note');
  for (const c of await clients.matchAll({ includeUncontrolled: true })) c.postMessage({ heldNote: args[1]?.data?.taskId });
  return new Promise(() => {});
};`);
    const serviceWorker = '/sw-holds-note.js';
    const decision = await launchListener(ctx, 'launch');
    const listener = decision.page;
    await listener.evaluate(() => {
      window.held = new Promise((resolve) => navigator.serviceWorker.addEventListener('message', (e) => {
        if (e.data?.heldNote) resolve(e.data.heldNote);
      }));
    });
    const { id } = await uploadAndClose(ctx, { launch: 'notify', serviceWorker });
    assert.equal(await listener.evaluate(() => window.held), id, 'the first instance began to show it');
    const { cdp } = await swControl(listener);
    await cdp.send('ServiceWorker.stopAllWorkers');
    // Any page's call starts a new instance (here one of another tag, which does not answer for 'launch').
    await openSession(ctx, server.url, 'other', { backgroundFetch: false, serviceWorker });
    assert.equal((await decision(id, 'notified')).notified, true);
    const note = await desktop.shown();
    assert.equal(note.summary, 'Upload complete');
  });
});

test('launch \'open\': clicking the notification opens the page that registered the session (without its fragment)', async () => {
  await withNotifications(async (ctx, desktop) => {
    const decision = await launchListener(ctx, 'launch');
    const { id, pageUrl } = await uploadAndClose(ctx, { launch: 'open' }, { path: '/harness.html?album=7#photo-12' });
    assert.match(pageUrl, /\?album=7$/);
    assert.equal((await decision(id, 'notified')).notified, true);
    const note = await desktop.shown();
    assert.match(note.body, /delivered/);
    const opened = ctx.waitForEvent('page');
    desktop.click(note.id);
    const page = await opened;
    await page.waitForLoadState('domcontentloaded');
    assert.equal(page.url(), pageUrl);
    assert.equal((await decision(id, 'clicked')).clicked, 'opened');
    await until(() => desktop.closed.includes(note.id), { what: 'the notification closed' });
    // The page it opened registers the tag and learns how the upload ended.
    const session = await openSession(ctx, server.url, 'launch');
    assert.equal((await eventOf(session, id, 'completed')).response.status, 201);
  });
});

test('launch \'open\': with the session\'s page open in a window, the click focuses it instead', async () => {
  await withNotifications(async (ctx, desktop) => {
    const decision = await launchListener(ctx, 'launch');
    const { id, pageUrl } = await uploadAndClose(ctx, { launch: 'open' });
    const note = await desktop.shown();
    // The user opened the page meanwhile (it has not registered the tag yet).
    const page = await ctx.newPage();
    await page.goto(pageUrl);
    const pages = ctx.pages().length;
    desktop.click(note.id);
    assert.equal((await decision(id, 'clicked')).clicked, 'focused');
    assert.equal(ctx.pages().length, pages, 'no second window');
    assert.equal(await page.evaluate(() => document.visibilityState), 'visible');
  });
});

// Headless Chromium has no Background Fetch UI to click. A synthetic `backgroundfetchclick` (built in the
// worker around the real registration) proves the event reaches the same launch path; being synthetic,
// it carries no permission to open windows, so with 'open' the worker's attempt is `refused`.
for (const [launch, clicked] of [['open', 'refused'], ['notify', 'none']]) {
  test(`backgroundfetchclick with launch '${launch}': the worker ${launch === 'open' ? 'tries to open the session\'s page' : 'does nothing'}`, async () => {
    await withNotifications(async (ctx) => {
      await grant(ctx, server.url, ['backgroundFetch']);
      const decision = await launchListener(ctx, 'launch');
      const page = await openSession(ctx, server.url, 'launch', { launch });
      await server.fault({ count: 1, slowBytesPerSec: 64 * 1024 });
      const { id } = await uploadRandom(page, 1024 * 1024, { url: '/upload/launch' });
      assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
      const sw = await serviceWorker(ctx);
      await sw.evaluate(async (id) => {
        const registration = await self.registration.backgroundFetch.get(id);
        self.dispatchEvent(new BackgroundFetchEvent('backgroundfetchclick', { registration }));
      }, id);
      assert.equal((await decision(id, 'clicked')).clicked, clicked);
    });
  });
}
