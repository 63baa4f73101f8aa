// Auth refresh at send time: the worker asks an open page's header provider for fresh headers before
// each send (a rotating token never goes stale in IndexedDB); with headerFallback 'last' and no page
// open, it reuses the last headers given, which is the caller's opt-in to storing them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withChromium, harnessPage, openSession, uploadRandom, until, settled, eventOf } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

const auth = (token) => fetch(new URL('/__ferry/auth', server.url), { method: 'POST', body: JSON.stringify({ token }) });

/** Every record of Ferry's task and meta stores, as text (to look for tokens). */
const storedText = (page) => page.evaluate(async () => {
  const db = await new Promise((r) => { const q = indexedDB.open('ferry'); q.onsuccess = () => r(q.result); });
  const all = (name) => new Promise((r) => { const q = db.transaction(name).objectStore(name).getAll(); q.onsuccess = () => r(q.result); });
  const text = JSON.stringify([await all('meta'), await all('tasks')]);
  db.close();
  return text;
});

async function providerPage(ctx, options = {}, token = 't1') {
  const page = await harnessPage(ctx, server.url);
  await page.evaluate(async ({ options, token }) => {
    const { Ferry } = await import('/ferry/index.js');
    window.token = token;
    window.asked = 0;
    window.ferrySession = await Ferry.register('auth', {
      serviceWorker: '/sw.js',
      headerProvider: async (task) => {
        window.asked++;
        // A test's script of answers, one per call, before the usual ones.
        const step = window.script?.shift();
        if (step) return step();
        // A token service slower for some tasks than for others.
        const ms = window.slowFor?.(task) ?? 0;
        if (ms) await new Promise((resolve) => { setTimeout(resolve, ms); });
        return { Authorization: `Bearer ${window.token}`, 'X-Task': task.id };
      },
      ...options,
    });
    window.ferryEvents = [];
    for (const kind of ['queued', 'started', 'retrying', 'completed', 'failed']) {
      window.ferrySession.addEventListener(kind, (e) => window.ferryEvents.push(e.detail));
    }
    await navigator.serviceWorker.ready;
  }, { options, token });
  return page;
}

/**
 * Leaves one upload to `path` due in 1.5 s in a closed page of the tag, and waits until it is due. With
 * `headerFallback: 'last'`, an upload that completes first gives the worker its last headers (token t1).
 */
async function dueWithNoPageOpen(ctx, path, options) {
  await auth('t1');
  const page = await providerPage(ctx, { backgroundFetch: false, ...options });
  if (options?.headerFallback === 'last') {
    const first = await uploadRandom(page, 1000, { url: '/upload/auth' });
    await eventOf(page, first.id, 'completed');
  }
  const due = Date.now() + 1500;
  const task = await uploadRandom(page, 1000, { url: path, earliestBegin: due });
  await page.close();
  await until(() => Date.now() >= due, { what: 'the due time' });
  return task;
}

/** A page of another tag: it wakes the worker and overhears the worker's header questions on the 'auth' channel. */
async function overhearingPage(ctx) {
  const other = await harnessPage(ctx, server.url);
  await other.evaluate(async () => {
    window.questions = [];
    const channel = new BroadcastChannel('ferry:auth');
    channel.onmessage = (e) => { if (e.data?.ferry === 'headers?') window.questions.push(e.data); };
    const { Ferry } = await import('/ferry/index.js');
    await Ferry.register('other', { serviceWorker: '/sw.js' });
  });
  return other;
}

test('a rotating token: each send gets the page\'s current headers, and none are stored', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    await auth('t1');
    const page = await providerPage(ctx);
    const first = await uploadRandom(page, 2000, { url: '/upload/auth' });
    assert.equal((await eventOf(page, first.id, 'completed')).response.status, 201);
    await auth('t2');
    await page.evaluate(() => { window.token = 't2'; });
    const second = await uploadRandom(page, 2000, { url: '/upload/auth' });
    assert.equal((await eventOf(page, second.id, 'completed')).response.status, 201);
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => [r.headers.authorization, r.status]), [['Bearer t1', 201], ['Bearer t2', 201]]);
    assert.deepEqual(records.map((r) => r.headers['x-task']), [first.id, second.id], 'the provider was asked for each task');
    assert.ok(!(await storedText(page)).includes('Bearer'), 'no token in IndexedDB');
  });
});

test('headers given with an upload go out with every attempt and are dropped from the stored task once it ends: completed, failed or cancelled', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await openSession(ctx, server.url, 'static-auth', { backgroundFetch: false, retry: { baseMs: 100, capMs: 200 } });
    const secret = (n) => ({ Authorization: `Bearer secret-${n}`, 'X-Album': '7' });
    await server.fault({ count: 1, path: '/upload/static/ok', status: 503 });
    await server.fault({ count: 1, path: '/upload/static/refused', status: 400 });
    await page.evaluate(() => window.ferrySession.pause());
    const ok = await uploadRandom(page, 1000, { url: '/upload/static/ok', headers: secret('ok') });
    const refused = await uploadRandom(page, 1000, { url: '/upload/static/refused', headers: secret('refused') });
    const cancelled = await uploadRandom(page, 1000, { url: '/upload/static/cancelled', headers: secret('cancelled') });
    // Stored while they wait: the worker sends them later, maybe with no page open.
    const queued = await storedText(page);
    for (const n of ['ok', 'refused', 'cancelled']) assert.ok(queued.includes(`Bearer secret-${n}`), `${n} kept while queued`);
    assert.ok(/x-album/i.test(queued));
    assert.equal(await page.evaluate((id) => window.ferrySession.cancel(id), cancelled.id), true);
    await page.evaluate(() => window.ferrySession.resume());
    await eventOf(page, ok.id, 'completed');
    await eventOf(page, refused.id, 'failed');
    const records = await settled(server, 3);
    const sent = records.map((r) => [r.path, r.status, r.headers.authorization, r.headers['x-album']].join(' ')).sort();
    assert.deepEqual(sent, [
      '/upload/static/ok 201 Bearer secret-ok 7',
      '/upload/static/ok 503 Bearer secret-ok 7',
      '/upload/static/refused 400 Bearer secret-refused 7',
    ]);
    const text = await storedText(page);
    assert.ok(!text.includes('Bearer secret'), `no header left at rest: ${text.match(/.{40}Bearer secret.{20}/)?.[0]}`);
    assert.ok(!/x-album/i.test(text), 'every header of a finished task is dropped, not only Authorization');
    const tasks = await page.evaluate((ids) => Promise.all(ids.map((id) => window.ferrySession.get(id))), [ok.id, refused.id, cancelled.id]);
    assert.deepEqual(tasks.map((t) => t.state), ['done', 'failed', 'cancelled']);
  });
});

test('headerFallback \'last\': with no page open the worker sends with the last headers given', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const later = await dueWithNoPageOpen(ctx, '/upload/auth/later', { headerFallback: 'last' });
    // A page of another tag wakes the worker; nobody can answer for 'auth', so the last headers go.
    const other = await overhearingPage(ctx);
    const records = await settled(server, 2, { timeout: 30000 });
    assert.equal(records[1].path, '/upload/auth/later');
    assert.equal(records[1].headers.authorization, 'Bearer t1');
    assert.equal(records[1].applied, true);
    assert.equal(records[1].idempotencyKey.length > 0, true);
    assert.ok(later.id);
    // Kept because the session opted in; registering without the opt-in, or a logout, removes them.
    assert.ok((await storedText(other)).includes('Bearer t1'), 'kept while opted in');
    const waiting = await providerPage(ctx, { backgroundFetch: false });
    assert.ok(!(await storedText(waiting)).includes('Bearer'), 'dropped without the opt-in');
    const logout = await providerPage(ctx, { headerFallback: 'last', backgroundFetch: false });
    await uploadRandom(logout, 10, { url: '/upload/auth' }).then(({ id }) => eventOf(logout, id, 'completed'));
    assert.ok((await storedText(logout)).includes('Bearer t1'));
    await logout.evaluate(() => window.ferrySession.clear());
    assert.ok(!(await storedText(logout)).includes('Bearer'), 'a logout leaves no token behind');
  });
});

test('headerFallback \'last\': a page of the tag that opens while the worker is asking answers, and its fresh headers go, not the last ones', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const later = await dueWithNoPageOpen(ctx, '/upload/auth/fresh', { headerFallback: 'last' });
    // A page of another tag wakes the worker and overhears it asking on the 'auth' channel.
    const other = await overhearingPage(ctx);
    await until(() => other.evaluate(() => window.questions.length >= 1), { what: 'the worker asking for headers' });
    // Only now does a page of the tag open, with a new token: it did not hear the question.
    await auth('t2');
    const fresh = await providerPage(ctx, { headerFallback: 'last', backgroundFetch: false }, 't2');
    assert.equal((await eventOf(fresh, later.id, 'completed')).response.status, 201);
    const records = await settled(server, 2);
    assert.deepEqual(records.map((r) => [r.path, r.headers.authorization]),
      [['/upload/auth', 'Bearer t1'], ['/upload/auth/fresh', 'Bearer t2']]);
  });
});

test('headerFallback \'wait\' (the default): with no page to answer, the task stays queued and goes once a page answers', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const task = await dueWithNoPageOpen(ctx, '/upload/auth/waited');
    // A page of another tag overhears the worker asking on the 'auth' channel, and never answers.
    const other = await overhearingPage(ctx);
    await until(() => other.evaluate(() => window.questions.length >= 1), { what: 'the worker asking for headers' });
    // One pump runs per worker: a second question about the same task comes only after the first went
    // unanswered and the worker decided what to do without headers.
    await other.evaluate(async () => (await navigator.serviceWorker.ready).active.postMessage({ ferry: 'wake' }));
    const questions = await until(() => other.evaluate(() => (window.questions.length >= 2 ? window.questions : null)),
      { what: 'a second question' });
    assert.deepEqual(questions.slice(0, 2).map((q) => q.taskId), [task.id, task.id]);
    assert.notEqual(questions[0].requestId, questions[1].requestId);
    assert.deepEqual(await server.uploads(), [], 'nothing was sent without fresh headers');
    const stored = await other.evaluate(async (id) => {
      const db = await new Promise((r) => { const q = indexedDB.open('ferry'); q.onsuccess = () => r(q.result); });
      const t = await new Promise((r) => { const q = db.transaction('tasks').objectStore('tasks').get(id); q.onsuccess = () => r(q.result); });
      db.close();
      return { state: t.state, attempt: t.attempt };
    }, task.id);
    assert.deepEqual(stored, { state: 'queued', attempt: 0 }, 'still queued, no attempt used');
    // A page of the tag opens with a new token: the waiting task goes with it.
    await auth('t2');
    const later = await providerPage(ctx, { backgroundFetch: false }, 't2');
    assert.equal((await eventOf(later, task.id, 'completed')).response.status, 201);
    const records = await settled(server, 1);
    assert.deepEqual(records.map((r) => [r.path, r.headers.authorization, r.status]), [['/upload/auth/waited', 'Bearer t2', 201]]);
  });
});

test('a header provider that throws, gives headers that cannot be sent or never settles ends the attempt unsent with a retrying event that says why', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    await auth('t1');
    const page = await providerPage(ctx, { backgroundFetch: false, retry: { baseMs: 300, capMs: 300, maxAttempts: 5 } });
    // One call each: a provider that throws, one that gives headers Ferry may not send (a forbidden name),
    // one that never settles (answered as a failure in time: the worker waits 5 s for a page); then it works.
    await page.evaluate(() => {
      window.script = [
        () => { throw new Error('token service down'); },
        () => ({ Host: 'elsewhere.example' }),
        () => new Promise(() => {}),
      ];
    });
    const task = await uploadRandom(page, 1000, { url: '/upload/auth/failing' });
    const retrying = await eventOf(page, task.id, 'retrying');
    assert.equal(retrying.attempt, 1);
    assert.match(retrying.reason, /headerProvider/);
    assert.match(retrying.reason, /token service down/);
    assert.equal((await page.evaluate((id) => window.ferrySession.get(id), task.id)).lastError, retrying.reason);
    const nth = (n, what) => until(() => page.evaluate(([id, n]) => window.ferryEvents
      .filter((e) => e.taskId === id && e.kind === 'retrying')[n], [task.id, n]), { what });
    const second = await nth(1, 'a second retrying event');
    assert.equal(second.attempt, 2);
    assert.match(second.reason, /headerProvider.*Host/);
    const third = await nth(2, 'a third retrying event');
    assert.equal(third.attempt, 3);
    assert.match(third.reason, /headerProvider failed: did not settle within 4000 ms/);
    // The provider works again: the next attempt goes, with its headers.
    assert.equal((await eventOf(page, task.id, 'completed')).response.status, 201);
    const records = await settled(server, 1);
    assert.equal(records.length, 1, 'nothing was sent while the provider failed');
    assert.equal(records[0].headers.authorization, 'Bearer t1');
  });
});

test('a header provider slower for some tasks than for others: the uploads still start in enqueue order', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    await auth('t1');
    const page = await providerPage(ctx, { backgroundFetch: false, concurrency: 2 });
    // Slow for the first task (chosen by one look with the second) and for the fourth (chosen by a
    // later look than the fifth may be).
    await page.evaluate(() => { window.slowFor = (task) => (/\/[03]$/.test(task.request.url) ? 600 : 0); });
    await page.evaluate(() => window.ferrySession.pause());
    const ids = await page.evaluate(() => window.ferrySession.uploadAll([0, 1, 2, 3, 4].map((i) => ({
      blob: new Blob([`file ${i}`]), request: { url: `/upload/auth/fifo/${i}` } }))));
    await page.evaluate(() => window.ferrySession.resume());
    await settled(server, 5);
    const started = await until(async () => {
      const events = await page.evaluate(() => window.ferryEvents);
      return events.filter((e) => e.kind === 'completed').length === 5 && events.filter((e) => e.kind === 'started');
    }, { what: '5 completed events' });
    assert.deepEqual(started.sort((a, b) => a.seq - b.seq).map((e) => ids.indexOf(e.taskId)), [0, 1, 2, 3, 4]);
    assert.equal(await page.evaluate(() => window.asked), 5, 'each asked once');
  });
});

test('two pages of the tag with a header provider: each attempt asks one of them, once', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    await auth('t1');
    const pages = [await providerPage(ctx, { backgroundFetch: false }), await providerPage(ctx, { backgroundFetch: false })];
    for (let i = 0; i < 3; i++) {
      const { id } = await uploadRandom(pages[0], 1000, { url: '/upload/auth/two-pages' });
      assert.equal((await eventOf(pages[0], id, 'completed')).response.status, 201);
    }
    const asked = await Promise.all(pages.map((p) => p.evaluate(() => window.asked)));
    assert.equal(asked[0] + asked[1], 3, `provider calls per page: ${asked}`);
    assert.equal((await settled(server, 3)).filter((r) => r.headers.authorization === 'Bearer t1').length, 3);
  });
});
