// Every bad input is a typed error (`name` starts with Ferry) and leaves IndexedDB exactly as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, profileDir, launchChromium, openSession, dbCounts, until } from './harness.mjs';

const server = await startServer();
let ctx;
let page;
before(async () => {
  ctx = await launchChromium(await profileDir());
  page = await openSession(ctx, server.url, 'valid');
  // One good upload first, so "unchanged" is checked against a database that has content.
  const id = await page.evaluate(() => window.ferrySession.upload(new Blob(['ok']), { url: '/upload/ok' }));
  // Wait until the worker and the page are done with it (events delivered and acknowledged).
  await until(async () => (await page.evaluate((id) => window.ferrySession.get(id), id)).state === 'done'
    && (await dbCounts(page)).outbox === 0, { what: 'the first upload to settle' });
});
after(async () => { await ctx?.close(); await server.stop(); });

const blob = "new Blob(['payload'], { type: 'text/plain' })";
const uploads = [
  ['unparsable URL', 'FerryInvalidUrl', `${blob}, { url: 'http://[::1' }`],
  ['ftp URL', 'FerryInvalidUrl', `${blob}, { url: 'ftp://127.0.0.1/x' }`],
  ['javascript: URL', 'FerryInvalidUrl', `${blob}, { url: 'javascript:alert(1)' }`],
  ['data: URL', 'FerryInvalidUrl', `${blob}, { url: 'data:text/plain,x' }`],
  ['URL with credentials', 'FerryInvalidUrl', `${blob}, { url: 'http://user:pw@127.0.0.1/upload' }`],
  ['URL missing', 'FerryInvalidUrl', `${blob}, {}`],
  ['URL not a string', 'FerryInvalidUrl', `${blob}, { url: 42 }`],
  ['GET with a body', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 'GET' }`],
  ['HEAD with a body', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 'HEAD' }`],
  ['CONNECT', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 'CONNECT' }`],
  ['TRACE', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 'TRACE' }`],
  ['DELETE', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 'DELETE' }`],
  ['a method that is not a string', 'FerryInvalidMethod', `${blob}, { url: '/u', method: 42 }`],
  ['Content-Length header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'Content-Length': '7' } }`],
  ['Cookie header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { Cookie: 'a=b' } }`],
  ['Host header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { Host: 'x' } }`],
  ['Sec- header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'Sec-Fetch-Mode': 'cors' } }`],
  ['Proxy- header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'Proxy-Authorization': 'x' } }`],
  ['Idempotency-Key header', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'Idempotency-Key': 'mine' } }`],
  ['header name with a space', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X Bad': '1' } }`],
  ['header value with CR LF', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': 'a\\r\\nX-B: b' } }`],
  ['header value with NUL', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': 'a\\u0000' } }`],
  ['non-ASCII header value', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': 'caf\\u00e9' } }`],
  ['header value not a string', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': 7 } }`],
  ['duplicate header names', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': '1', 'x-a': '2' } }`],
  ['string body', 'FerryInvalidBody', `'hello', { url: '/u' }`],
  ['ArrayBuffer body', 'FerryInvalidBody', `new ArrayBuffer(8), { url: '/u' }`],
  ['null body', 'FerryInvalidBody', `null, { url: '/u' }`],
  ['expiresAt in the past', 'FerryInvalidOptions', `${blob}, { url: '/u', expiresAt: Date.now() - 1000 }`],
  ['expiresAt before earliestBegin', 'FerryInvalidOptions', `${blob}, { url: '/u', earliestBegin: Date.now() + 60000, expiresAt: Date.now() + 30000 }`],
  ['earliestBegin NaN', 'FerryInvalidOptions', `${blob}, { url: '/u', earliestBegin: NaN }`],
  ['retry.maxAttempts NaN', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { maxAttempts: NaN } }`],
  ['retry.baseMs negative', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { baseMs: -1 } }`],
  ['retry.capMs zero', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { capMs: 0 } }`],
  ['retry.baseMs above capMs', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { baseMs: 5000, capMs: 1000 } }`],
  ['retry.maxAttempts fractional', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { maxAttempts: 2.5 } }`],
  ['request not an object', 'FerryInvalidOptions', `${blob}, '/u'`],
  ['unknown protocol', 'FerryInvalidProtocol', `${blob}, { url: '/u', protocol: 'ftp' }`],
  ['multipart with PUT', 'FerryInvalidProtocol', `${blob}, { url: '/u', method: 'PUT', protocol: 'multipart' }`],
  ['multipart with an empty field name', 'FerryInvalidProtocol', `${blob}, { url: '/u', protocol: 'multipart', field: '' }`],
  ['multipart with its own Content-Type', 'FerryInvalidHeader', `${blob}, { url: '/u', protocol: 'multipart', headers: { 'Content-Type': 'multipart/form-data' } }`],
  ['tus with chunkSize 0', 'FerryInvalidProtocol', `${blob}, { url: '/tus', protocol: 'tus', chunkSize: 0 }`],
  ['multipart option on plain http', 'FerryInvalidProtocol', `${blob}, { url: '/u', field: 'file' }`],
  // A protocol setting of the wrong type is refused as that protocol's, naming it.
  ['tus with chunkSize a string', 'FerryInvalidProtocol', `${blob}, { url: '/tus', protocol: 'tus', chunkSize: '5' }`, /"tus": chunkSize must be a number/],
  ['multipart with a field value not a string', 'FerryInvalidProtocol', `${blob}, { url: '/u', protocol: 'multipart', fields: { album: 7 } }`, /"multipart": fields\.album has a value that is not a string/],
  ['tus with a metadata value not a string', 'FerryInvalidProtocol', `${blob}, { url: '/tus', protocol: 'tus', metadata: { note: null } }`, /"tus": metadata\.note has a value/],
  ['multipart with filename a number', 'FerryInvalidProtocol', `${blob}, { url: '/u', protocol: 'multipart', filename: 3 }`, /filename must be a string/],
  // Values a page cannot post to the worker as they are: refused as the engine refuses any wrong type.
  ['URL a function', 'FerryInvalidUrl', `${blob}, { url: () => '/u' }`],
  ['header value a function', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': () => '1' } }`],
  ['header value a Symbol in a pair', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: [['X-A', Symbol('x')]] }`],
  ['retry a function', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: () => ({}) }`],
  ['expiresAt a function', 'FerryInvalidOptions', `${blob}, { url: '/u', expiresAt: () => 1 }`],
  ['request a function', 'FerryInvalidOptions', `${blob}, () => ({ url: '/u' })`],
  // Objects with a method of their own cannot be posted either: refused as the wrong type, by name.
  ['header value an object with its own toString', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: { 'X-A': { toString() { return 'a'; } } } }`,
    /x-a.*not a string/i],
  ['URL an object with its own toString', 'FerryInvalidUrl', `${blob}, { url: { toString() { return '/u'; } } }`],
  ['a multipart field an object with its own toString', 'FerryInvalidProtocol', `${blob}, { url: '/u', protocol: 'multipart', fields: { a: { toString() { return 'a'; } } } }`],
  // `null` is no value of an option that does not take it (as fetch refuses a null method); only
  // expiresAt, earliestBegin and appData take null, for none.
  ['method null', 'FerryInvalidMethod', `${blob}, { url: '/u', method: null }`],
  ['headers null', 'FerryInvalidHeader', `${blob}, { url: '/u', headers: null }`, /headers.*is null/],
  ['credentials null', 'FerryInvalidOptions', `${blob}, { url: '/u', credentials: null }`, /credentials: is null; leave it out for its default/],
  ['retry null', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: null }`, /retry: is null/],
  ['retry.maxAttempts null', 'FerryInvalidOptions', `${blob}, { url: '/u', retry: { maxAttempts: null } }`, /retry\.maxAttempts: is null/],
];

for (const [what, name, args, says] of uploads) {
  test(`upload rejects ${what} with ${name} and writes nothing`, async () => {
    const before = await dbCounts(page);
    const got = await page.evaluate(async (args) => {
      try {
        await (0, eval)(`window.ferrySession.upload(${args})`);
        return { ok: true };
      } catch (e) {
        return { name: e.name, message: e.message, isError: e instanceof Error };
      }
    }, args);
    assert.equal(got.name, name, `got ${JSON.stringify(got)}`);
    assert.ok(got.isError && got.message.length > 10, 'an Error with a message saying what to do');
    assert.doesNotMatch(got.message, /JsValue/, 'values as JS writes them, not as Rust does');
    if (says) assert.match(got.message, says);
    assert.deepEqual(await dbCounts(page), before, 'IndexedDB unchanged');
  });
}

const registrations = [
  ['an empty tag', 'FerryInvalidTag', `''`],
  ['a tag over 64 characters', 'FerryInvalidTag', `'a'.repeat(65)`],
  ['a tag with spaces', 'FerryInvalidTag', `'bad tag!'`],
  ['a tag that is not a string', 'FerryInvalidTag', `42`],
  ['concurrency 0', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', concurrency: 0 }`],
  ['an unknown launch mode', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', launch: 'sometimes' }`],
  ['no service worker', 'FerryInvalidOptions', `'ok', {}`],
  ['a Promise of a registration', 'FerryInvalidOptions', `'ok', { serviceWorker: navigator.serviceWorker.ready }`,
    /serviceWorker: is a Promise: pass what it resolves to/],
  ['an empty worker URL', 'FerryInvalidOptions', `'ok', { serviceWorker: '' }`, /serviceWorker: is an empty URL/],
  ['a data: worker URL', 'FerryInvalidOptions', `'ok', { serviceWorker: 'data:text/javascript,1' }`, /is a data: URL/],
  // A refused worker URL: the message adds what the URL answers (the browser's own reason rarely says).
  ['a worker URL the server does not have (404)', 'FerryInvalidOptions', `'ok', { serviceWorker: '/nowhere/sw.js' }`,
    /registering "\/nowhere\/sw\.js" failed: .*; \/nowhere\/sw\.js answers 404: is the file served at that URL\?/],
  ['a worker URL that serves no JavaScript (an image)', 'FerryInvalidOptions', `'ok', { serviceWorker: '/icons/ferry-192.png' }`,
    /answers 200 with Content-Type image\/png, not JavaScript/],
  ['a module script registered as a classic worker (it throws as it is first run)', 'FerryInvalidOptions',
    `'ok', { serviceWorker: { url: '/ferry/index.js', type: 'classic' } }`,
    /answers 200 as JavaScript, so it failed as it was first run: it has import or export statements, so it is a module worker: register it with type 'module'/],
  ['a service worker of unknown type', 'FerryInvalidOptions', `'ok', { serviceWorker: { url: '/sw.js', type: 'shared' } }`],
  ['concurrency a function', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', concurrency: () => 2 }`],
  ['a header provider that is not a function', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', headerProvider: 'Bearer x' }`],
  ['launch an object with its own toString', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', launch: { toString() { return 'none'; } } }`, /launch/],
  ['retry.maxAttempts an object with its own valueOf', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', retry: { maxAttempts: { valueOf() { return 3; } } } }`, /retry\.maxAttempts/],
  ['backgroundFetch neither a boolean nor { minBytes }', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', backgroundFetch: 'yes' }`,
    /backgroundFetch: must be true, false or \{ minBytes \}/],
  ['concurrency null', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', concurrency: null }`, /concurrency: is null/],
  ['a header provider null', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', headerProvider: null }`, /headerProvider/],
  ['backgroundFetch.minBytes null', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', backgroundFetch: { minBytes: null } }`, /backgroundFetch\.minBytes: is null/],
  ['a negative backgroundFetch.minBytes', 'FerryInvalidOptions', `'ok', { serviceWorker: '/sw.js', backgroundFetch: { minBytes: -1 } }`,
    /backgroundFetch\.minBytes: -1 is not a whole number of bytes/],
];
for (const [what, name, args, says] of registrations) {
  test(`register rejects ${what} with ${name} and writes nothing`, async () => {
    const before = await dbCounts(page);
    const got = await page.evaluate(async (args) => {
      const { Ferry } = await import('/ferry/index.js');
      try {
        await (0, eval)(`(Ferry) => Ferry.register(${args})`)(Ferry);
        return { ok: true };
      } catch (e) {
        return { name: e.name, message: e.message };
      }
    }, args);
    assert.equal(got.name, name, `got ${JSON.stringify(got)}`);
    assert.doesNotMatch(got.message, /JsValue/, 'the value as JS writes it, not as Rust does');
    if (says) assert.match(got.message, says);
    assert.deepEqual(await dbCounts(page), before, 'IndexedDB unchanged');
  });
}

test('cancel of an unknown task rejects with FerryUnknownTask; get resolves null', async () => {
  const got = await page.evaluate(async () => {
    const r = { get: await window.ferrySession.get('no-such-task') };
    try { await window.ferrySession.cancel('no-such-task'); } catch (e) { r.name = e.name; }
    return r;
  });
  assert.deepEqual(got, { get: null, name: 'FerryUnknownTask' });
});

test('every call after close rejects with FerryClosed and writes nothing', async () => {
  const before = await dbCounts(page);
  const names = await page.evaluate(async () => {
    const { Ferry } = await import('/ferry/index.js');
    const s = await Ferry.register('closing', { serviceWorker: '/sw.js' });
    s.close();
    const names = [];
    for (const call of [() => s.upload(new Blob(['x']), { url: '/u' }), () => s.list(), () => s.get('x'), () => s.cancel('x'),
      () => s.clear(), () => s.pause(), () => s.resume(), () => s.ack(1)]) {
      try { await call(); names.push('resolved'); } catch (e) { names.push(e.name); }
    }
    return names;
  });
  assert.deepEqual(names, Array(8).fill('FerryClosed'));
  const after = await dbCounts(page);
  assert.equal(after.tasks, before.tasks);
  assert.equal(after.blobs, before.blobs);
});

// Last: it stores (and then clears) a task of its own tag.
test('keys that are no option of Ferry\'s are ignored, as fetch ignores them, with one console warning each naming it; so is an event type a session never dispatches', async () => {
  const warnings = [];
  const onConsole = (m) => { if (m.type() === 'warning' && m.text().startsWith('ferry:')) warnings.push(m.text()); };
  page.on('console', onConsole);
  try {
    const { task, refused } = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      // The required option misspelt: refused for want of it, and the misspelling named.
      const refused = await Ferry.register('typos', { serviceworker: '/sw.js' }).then(() => 'registered', (e) => e.name);
      const s = await Ferry.register('typos', { serviceWorker: { url: '/sw.js', typ: 'classic' }, concurency: 2, retry: { maxAttempt: 3 } });
      s.addEventListener('complete', () => {});
      await s.pause();
      const id = await s.upload(new Blob(['x']), { url: '/upload/typo', metod: 'PUT', retry: { capMS: 10 } });
      const task = await s.get(id);
      await s.clear();
      return { task, refused };
    });
    assert.equal(refused, 'FerryInvalidOptions');
    assert.equal(task.request.method, 'POST', 'the misspelt method is not taken');
    await until(() => warnings.length >= 7, { what: 'seven warnings' });
    assert.deepEqual(warnings.filter((w) => w.includes('has no option')).map((w) => w.match(/^ferry: (\S+) has no option "(\w+)"/)?.slice(1).join(' ')),
      ['register serviceworker', 'register concurency', 'register.retry maxAttempt', 'serviceWorker typ', 'upload metod', 'upload.retry capMS']);
    assert.deepEqual(warnings.filter((w) => w.includes('event')), [
      'ferry: a session has no "complete" event; its events: queued, started, progress, retrying, completed, failed, cancelled, expired']);
    assert.match(warnings[0], /the options: .*concurrency.*serviceWorker/);
  } finally {
    page.off('console', onConsole);
  }
});
