// Launch events: `launch: 'notify'` shows a notification when a task ends with no page of its tag open;
// with a page open (it answers the worker's ping), or with `launch: 'none'`, nothing is shown.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, openSession, uploadRandom, until, settled, eventOf, serviceWorker } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

async function withNotifications(fn) {
  await server.reset();
  const ctx = await launchChromium(await profileDir());
  try {
    const cdp = await ctx.browser().newBrowserCDPSession();
    await cdp.send('Browser.grantPermissions', { origin: new URL(server.url).origin, permissions: ['notifications'] });
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

const notifications = (sw) => sw.evaluate(async () => (await self.registration.getNotifications())
  .map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })));

for (const [launch, pageOpen, expected] of [['notify', false, 1], ['notify', true, 0], ['none', false, 0]]) {
  test(`launch '${launch}', ${pageOpen ? 'a page of the tag open' : 'no page open'}: ${expected ? 'a notification' : 'no notification'}`, async () => {
    await withNotifications(async (ctx) => {
      const page = await openSession(ctx, server.url, 'launch', { launch, backgroundFetch: false });
      const sw = await serviceWorker(ctx);
      // A plain listener on the tag's channel (not a session: it does not answer the worker's ping)
      // hears the worker's decision for the task.
      const listener = await ctx.newPage();
      await listener.goto(new URL('/harness.html', server.url).href);
      await listener.evaluate(() => {
        window.decisions = [];
        new BroadcastChannel('ferry:launch').onmessage = (e) => { if (e.data.ferry === 'launch') window.decisions.push(e.data); };
      });
      await server.fault({ count: 1, slowBytesPerSec: 512 * 1024 });
      const { id } = await uploadRandom(page, 1024 * 1024, { url: '/upload/launch' });
      if (pageOpen) {
        await eventOf(page, id, 'completed');
      } else {
        await page.close();
        await settled(server, 1);
      }
      const decision = await until(() => listener.evaluate((id) => window.decisions.find((d) => d.taskId === id), id), { what: 'the launch decision' });
      assert.equal(decision.notified, expected === 1);
      const shown = await notifications(sw);
      assert.equal(shown.length, expected, JSON.stringify(shown));
      if (expected) {
        assert.equal(shown[0].title, 'Upload complete');
        assert.equal(shown[0].tag, 'ferry:launch');
        assert.deepEqual(shown[0].data, { ferryTag: 'launch', taskId: id });
      }
    });
  });
}
