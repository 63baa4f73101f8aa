// `credentials` (fetch's): whether an upload's requests carry the browser's cookies. The page sets a cookie
// for 127.0.0.1 (cookies ignore ports), so it may go both to the app's origin (the reference server) and to
// an API on another origin (another port: a node:http server here that answers CORS with credentials, as
// such an API must). Each server's own record of the `Cookie` header is the evidence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { openSession, uploadRandom, eventOf, settled, withChromium, withGrantedChromium } from './harness.mjs';
import {
  withFirefox, openSession as openFirefoxSession, uploadRandom as uploadRandomFirefox, eventOf as eventOfFirefox,
} from './firefox.mjs';
import { startAppServer } from './app-server.mjs';

// The app's worker: a POST the page makes to `/handed` on any origin is handed to Ferry (`enqueue`), which
// keeps the request's credentials mode.
const WORKER = `import { installFerry, enqueue } from '/ferry/worker.js';
installFerry(self, {});
self.addEventListener('fetch', (event) => {
  if (event.request.method !== 'POST' || new URL(event.request.url).pathname !== '/handed') return;
  event.respondWith(enqueue(event.request.clone(), { tag: 'credssw' })
    .then((id) => new Response(id, { status: 202 }), (e) => new Response(e.name + ': ' + e.message, { status: 400 })));
});
`;

const COOKIE = 'ferry_sid=s3cret';
let server;
let api;

/**
 * An API on its own origin: `POST /plain` takes a body; `POST /tus` and `PATCH /tus/N` are a minimal tus
 * 1.0 creation and upload; `POST /handed` takes what the app's worker handed over. CORS for credentials: the
 * page's origin named, credentials allowed (`POST /nocreds`: the same without credentials allowed). `received`: each request's method, path, query and `Cookie`
 * header (null when none).
 */
async function startApi() {
  const received = [];
  const uploads = new Map();
  const srv = http.createServer((req, res) => {
    // `/nocreds`: CORS that lets the page's origin in, but not with credentials.
    const credentials = req.url.startsWith('/nocreds') ? {} : { 'access-control-allow-credentials': 'true' };
    const cors = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      ...credentials,
      'access-control-expose-headers': 'Location, Upload-Offset, Tus-Resumable',
      vary: 'Origin',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'POST, PATCH, HEAD',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
      });
      res.end();
      return;
    }
    let bytes = 0;
    req.on('data', (d) => { bytes += d.length; });
    req.on('end', () => {
      const { pathname: path, search } = new URL(req.url, 'http://x');
      received.push({ method: req.method, path, query: search.slice(1), cookie: req.headers.cookie ?? null, bytes });
      if (req.method === 'POST' && (path === '/plain' || path === '/nocreds')) {
        res.writeHead(201, { ...cors, 'content-type': 'text/plain' });
        res.end('stored');
      } else if (req.method === 'POST' && path === '/handed') {
        res.writeHead(201, cors);
        res.end();
      } else if (req.method === 'POST' && path === '/tus') {
        const id = uploads.size + 1;
        uploads.set(`/tus/${id}`, 0);
        res.writeHead(201, { ...cors, location: `/tus/${id}`, 'tus-resumable': '1.0.0' });
        res.end();
      } else if (req.method === 'PATCH' && uploads.has(path)) {
        const offset = uploads.get(path) + bytes;
        uploads.set(path, offset);
        res.writeHead(204, { ...cors, 'upload-offset': String(offset), 'tus-resumable': '1.0.0' });
        res.end();
      } else {
        res.writeHead(404, cors);
        res.end();
      }
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    received,
    reset: () => { received.length = 0; uploads.clear(); },
    close: () => { srv.closeAllConnections(); return new Promise((resolve) => srv.close(resolve)); },
  };
}

before(async () => {
  server = await startAppServer({ 'sw.js': WORKER });
  api = await startApi();
});
after(async () => {
  await api?.close();
  await server?.close();
});

/** Sets the cookie in the page: the browser holds it for 127.0.0.1, whatever the port. */
const setCookie = (page) => page.evaluate((c) => { document.cookie = `${c}; path=/; SameSite=Lax`; }, COOKIE);

/**
 * The four cases in one session of `page`: to the API on another origin with `'include'` (the cookie
 * goes) and with the default (it does not), tus to the API with `'include'` (every request carries it); to
 * the app's own origin with the default (it goes) and with `'omit'` (it does not).
 */
async function fourCases(page, { upload, completed }) {
  api.reset();
  await server.reset();
  const size = 200 * 1024 + 7;
  const included = await upload(page, size, { url: `${api.url}/plain`, credentials: 'include' });
  assert.equal((await completed(page, included.id)).response.status, 201);
  const plain = await upload(page, size, { url: `${api.url}/plain` });
  assert.equal((await completed(page, plain.id)).response.status, 201);
  const tus = await upload(page, 3 * 1024 * 1024, {
    url: `${api.url}/tus`, protocol: 'tus', chunkSize: 1024 * 1024, credentials: 'include',
  });
  assert.equal((await completed(page, tus.id)).response.status, 204);
  assert.deepEqual(
    api.received.map(({ method, path, cookie }) => [method, path, cookie]),
    [
      ['POST', '/plain', COOKIE],
      ['POST', '/plain', null],
      ['POST', '/tus', COOKIE],
      ['PATCH', '/tus/1', COOKIE],
      ['PATCH', '/tus/1', COOKIE],
      ['PATCH', '/tus/1', COOKIE],
    ],
  );
  const own = await upload(page, size, { url: '/upload/own' });
  const omitted = await upload(page, size, { url: '/upload/omitted', credentials: 'omit' });
  await completed(page, own.id);
  await completed(page, omitted.id);
  const records = await settled(server, 2);
  const cookieOf = (path) => records.find((r) => r.path === path)?.headers.cookie ?? null;
  assert.equal(cookieOf('/upload/own'), COOKIE, 'the default sends the cookie to the own origin');
  assert.equal(cookieOf('/upload/omitted'), null, "'omit' sends no cookie");
  const task = await page.evaluate((id) => window.ferrySession.get(id), included.id);
  assert.equal(task.request.credentials, 'include');
  const byDefault = await page.evaluate((id) => window.ferrySession.get(id), plain.id);
  assert.equal(byDefault.request.credentials, 'same-origin');
}

test("credentials: 'include' sends the cookie to an API on another origin (plain and tus), the default only to the own origin, 'omit' nowhere (Chromium, the worker's fetch)", async () => {
  await withChromium(async (ctx) => {
    const page = await openSession(ctx, server.url, 'creds', { backgroundFetch: false });
    await setCookie(page);
    await fourCases(page, { upload: uploadRandom, completed: (p, id) => eventOf(p, id, 'completed') });
  });
});

test("credentials: 'omit' on a Background Fetch (Chromium): the browser's fetch to the own origin carries no cookie", async () => {
  // Uploads to another origin never go by Background Fetch (README): 'omit' is what changes one.
  await withGrantedChromium(server.url, ['backgroundFetch'], async (ctx) => {
    const page = await openSession(ctx, server.url, 'credsbgf');
    await setCookie(page);
    await server.reset();
    const { id } = await uploadRandom(page, 100 * 1024, { url: '/upload/bgf-omitted', credentials: 'omit' });
    assert.equal((await eventOf(page, id, 'started')).transport, 'backgroundFetch');
    assert.equal((await eventOf(page, id, 'completed')).response.status, 201);
    const [record] = await settled(server, 1);
    assert.equal(record.path, '/upload/bgf-omitted');
    assert.equal(record.headers.cookie ?? null, null);
  });
});

test("the worker's enqueue keeps a request's credentials mode: a page's fetch with 'include' handed over goes with the cookie, one without it goes without (Chromium)", async () => {
  await withChromium(async (ctx) => {
    // The first page installs the worker; the second is controlled by it (its fetches go through it).
    await (await openSession(ctx, server.url, 'credssw')).close();
    const page = await openSession(ctx, server.url, 'credssw');
    await setCookie(page);
    api.reset();
    const ids = await page.evaluate(async (url) => {
      if (!navigator.serviceWorker.controller) throw new Error('the page is not controlled');
      const hand = async (credentials) => {
        const res = await fetch(`${url}?${credentials}`, { method: 'POST', body: new Blob(['a shared photo']), credentials });
        if (res.status !== 202) throw new Error(`${res.status} ${await res.text()}`);
        return res.text();
      };
      return [await hand('include'), await hand('same-origin')];
    }, `${api.url}/handed`);
    for (const id of ids) assert.equal((await eventOf(page, id, 'completed')).response.status, 201);
    const credentials = await page.evaluate((ids) => Promise.all(ids.map(async (id) => (await window.ferrySession.get(id)).request.credentials)), ids);
    assert.deepEqual(credentials, ['include', 'same-origin']);
    // Sent side by side (the tag's two lanes): in either order.
    const sent = api.received.map(({ path, query, cookie }) => [path, query, cookie]).sort();
    assert.deepEqual(sent, [['/handed', 'include', COOKIE], ['/handed', 'same-origin', null]]);
  });
});

test("Firefox: credentials 'include', the default and 'omit', as in Chromium", async () => {
  await withFirefox(async (browser) => {
    const page = await openFirefoxSession(browser, server.url, 'creds');
    await setCookie(page);
    await fourCases(page, { upload: uploadRandomFirefox, completed: (p, id) => eventOfFirefox(p, id, 'completed') });
  });
});

test("credentials 'include' to an API whose CORS does not allow credentials: the reason names Access-Control-Allow-Credentials (and the URL without its query), and the same upload without credentials is delivered (Chromium)", async () => {
  await withChromium(async (ctx) => {
    const page = await openSession(ctx, server.url, 'credscors', { backgroundFetch: false });
    await setCookie(page);
    api.reset();
    // A query as a presigned URL's: the reason names the URL without it (it holds a signature).
    const url = `${api.url}/nocreds?X-Amz-Signature=f00dfeed`;
    const refused = await uploadRandom(page, 1024, { url, credentials: 'include', retry: { maxAttempts: 1 } });
    const failed = await eventOf(page, refused.id, 'failed');
    assert.match(failed.reason, /CORS policy/);
    assert.match(failed.reason, /Access-Control-Allow-Credentials: true \(this upload's credentials are 'include'\)/);
    assert.match(failed.reason, new RegExp(`preflight \\(OPTIONS\\) of POST ${api.url}/nocreds with`));
    // The headers to allow are those the preflight asked for: the Blob's type is one...
    assert.match(failed.reason, /Access-Control-Allow-Headers: idempotency-key, content-type, and the POST itself/);
    // ... and multipart's Content-Type, which CORS lets through unasked, is not.
    const form = await uploadRandom(page, 1024, { url, credentials: 'include', retry: { maxAttempts: 1 }, protocol: 'multipart' });
    const formFailed = await eventOf(page, form.id, 'failed');
    assert.match(formFailed.reason, /Access-Control-Allow-Headers: idempotency-key, and the POST itself/);
    const stored = await page.evaluate((id) => window.ferrySession.get(id), refused.id);
    assert.doesNotMatch(`${failed.reason} ${stored.lastError}`, /f00dfeed/);
    const plain = await uploadRandom(page, 1024, { url, retry: { maxAttempts: 1 } });
    assert.equal((await eventOf(page, plain.id, 'completed')).response.status, 201);
    // The credentialed request never got past its preflight; the one without credentials arrived.
    assert.deepEqual(api.received.filter((r) => r.method === 'POST').map((r) => [r.path, r.cookie]), [['/nocreds', null]]);
  });
});

test('a credentials value fetch does not know rejects with FerryInvalidOptions and stores nothing', async () => {
  await withChromium(async (ctx) => {
    const page = await openSession(ctx, server.url, 'credsbad');
    const out = await page.evaluate(async () => {
      const blob = new Blob(['x']);
      const tries = [];
      for (const credentials of ['cors', 'Include', true]) {
        try {
          await window.ferrySession.upload(blob, { url: '/upload', credentials });
          tries.push('stored');
        } catch (e) {
          tries.push(`${e.name}: ${e.message}`);
        }
      }
      return { tries, tasks: (await window.ferrySession.list()).length };
    });
    assert.equal(out.tasks, 0);
    assert.match(out.tries[0], /^FerryInvalidOptions: .*credentials.*'omit', 'same-origin' or 'include'/);
    assert.match(out.tries[1], /^FerryInvalidOptions: .*"Include"/);
    assert.match(out.tries[2], /^FerryInvalidOptions: .*credentials.*must be a string/);
  });
});
