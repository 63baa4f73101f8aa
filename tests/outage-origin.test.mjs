// A server that answers is not down. After a network error to another origin, Ferry asks that origin
// whether it answers at all (a no-cors HEAD); one that does refused the request by its CORS policy (or cut
// the connection mid-request), and its other endpoints, set up right, take their uploads at once. (A
// server that answers nothing is held as down for a while, and then one upload at a time asks:
// `engine.test.mjs`.) The API here (another port, so another origin) answers every preflight, but
// `POST /bad` without Access-Control-Allow-Origin; `POST /good` answers only once two uploads are at it
// together (or after 10 s), so that the two good uploads overlap only if neither waited for the other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, openSession, eventOf, withChromium } from './harness.mjs';
import {
  snapshotPkg, removeDir, withFirefox, openSession as openFirefoxSession, eventOf as eventOfFirefox,
} from './firefox.mjs';

let server;
let pkg;

before(async () => {
  pkg = await snapshotPkg();
  server = await startServer({ args: ['--pkg', pkg] });
});
after(async () => {
  await server?.stop();
  await removeDir(pkg);
});

/** The API on its own origin; `most`: the most `POST /good` requests it held at once. */
async function startApi() {
  const held = [];
  const api = { most: 0, bad: 0, good: 0 };
  const srv = http.createServer((req, res) => {
    const cors = { 'access-control-allow-origin': req.headers.origin ?? '*' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
      }).end();
      return;
    }
    req.resume();
    req.on('end', () => {
      if (req.url === '/bad') {
        api.bad++;
        res.writeHead(201).end('stored');   // the browser hides it: no Access-Control-Allow-Origin
        return;
      }
      api.good++;
      const answer = () => res.writeHead(201, cors).end('stored');
      held.push(answer);
      api.most = Math.max(api.most, held.length);
      if (held.length >= 2) held.splice(0).forEach((a) => a());
      else setTimeout(() => { const at = held.indexOf(answer); if (at >= 0) held.splice(at, 1)[0](); }, 10_000);
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${srv.address().port}`;
  api.close = () => { srv.closeAllConnections(); return new Promise((resolve) => srv.close(resolve)); };
  return api;
}

/**
 * Queues, in one call with two lanes: an upload its server's CORS refuses, then two to an endpoint set up
 * right. The first two start; the refused one ends at once, and its lane takes the third while the second
 * is still at the server.
 */
async function refusedThenGood(page, api, completed) {
  const ids = await page.evaluate((url) => window.ferrySession.uploadAll(['bad', 'good', 'good'].map((path, i) => ({
    blob: new Blob([`upload ${i} `.repeat(100)]), request: { url: `${url}/${path}` },
  }))), api.url);
  const [, ...good] = ids;
  for (const id of good) await completed(page, id);
  assert.equal(api.most, 2, 'the second good upload went while the first was at the server, not after it');
  assert.ok(api.bad >= 1);
}

test('an upload refused by its server\'s CORS policy holds back no upload to another endpoint of that server: it answers, so it is up', async () => {
  const api = await startApi();
  try {
    await withChromium(async (ctx) => {
      const page = await openSession(ctx, server.url, 'refused', { concurrency: 2, backgroundFetch: false, retry: { maxAttempts: 1 } });
      await refusedThenGood(page, api, (p, id) => eventOf(p, id, 'completed'));
    });
  } finally {
    await api.close();
  }
});

test('Firefox: an upload refused by its server\'s CORS policy holds back no upload to another endpoint of that server', async () => {
  const api = await startApi();
  try {
    await withFirefox(async (browser) => {
      const page = await openFirefoxSession(browser, server.url, 'refused', { concurrency: 2, retry: { maxAttempts: 1 } });
      await refusedThenGood(page, api, (p, id) => eventOfFirefox(p, id, 'completed'));
    });
  } finally {
    await api.close();
  }
});
