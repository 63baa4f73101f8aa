// Events are acknowledged only once handled: with `ack: 'auto'`, an event leaves the outbox after a
// listener of its kind ran for it in a page; one nobody listened to stays for a later listener or page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withChromium, harnessPage, until, settled, dbRecords } from './harness.mjs';

const server = await startServer();
after(() => server.stop());

/** The kinds of the tag's events still in the outbox, in seq order (read straight from IndexedDB). */
const outboxKinds = async (page, tag) => (await dbRecords(page, 'outbox'))
  .filter((e) => e.tag === tag).sort((a, b) => a.seq - b.seq).map((e) => e.kind);

test('auto-ack drops only what a listener heard; a listener added late, or a later page, hears the rest', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await harnessPage(ctx, server.url);
    // A session with no listener yet: the upload ends while nobody listens.
    const id = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      window.s = await Ferry.register('ack', { serviceWorker: '/sw.js', backgroundFetch: false });
      await navigator.serviceWorker.ready;
      return window.s.upload(new Blob(['hello']), { url: '/upload/ack' });
    });
    await settled(server, 1);
    await until(async () => (await page.evaluate((id) => window.s.get(id), id)).state === 'done', { what: 'done' });
    // A listener for `completed` only, added a moment later, still hears it.
    const heard = await page.evaluate(() => new Promise((resolve) => {
      window.s.addEventListener('completed', (e) => resolve(e.detail));
    }));
    assert.equal(heard.taskId, id);
    assert.equal(heard.response.status, 201);
    const kinds = await until(async () => {
      const k = await outboxKinds(page, 'ack');
      return k.includes('completed') ? null : k;
    }, { what: '`completed` acknowledged' });
    assert.deepEqual(kinds, ['queued', 'started', 'progress'], 'events no listener heard stay in the outbox');
    // In the same page, a `queued` listener added now hears the `queued` event it missed.
    const queued = await page.evaluate(() => new Promise((resolve) => {
      window.s.addEventListener('queued', (e) => resolve(e.detail));
    }));
    assert.equal(queued.taskId, id);
    await until(async () => !(await outboxKinds(page, 'ack')).includes('queued'), { what: '`queued` acknowledged' });
    // A later page of the tag replays what is left (started, progress) to its listeners.
    const later = await harnessPage(ctx, server.url);
    const replayed = await later.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const s = await Ferry.register('ack', { serviceWorker: '/sw.js', backgroundFetch: false });
      return new Promise((resolve) => {
        const got = [];
        for (const kind of ['started', 'progress']) {
          s.addEventListener(kind, (e) => {
            got.push(e.detail.kind);
            if (got.length === 2) resolve(got);
          });
        }
      });
    });
    assert.deepEqual(replayed, ['started', 'progress']);
    await until(async () => (await outboxKinds(later, 'ack')).length === 0, { what: 'outbox empty' });
  });
});

test('a page with no listener yet, whose tag another page acknowledged meanwhile, hears every event it was given when it adds a listener', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const register = (p, listen) => p.evaluate(async (listen) => {
      const { Ferry } = await import('/ferry/index.js');
      window.s = await Ferry.register('late', { serviceWorker: '/sw.js', backgroundFetch: false });
      window.heard = [];
      if (listen) window.s.addEventListener('completed', (e) => window.heard.push(e.detail.taskId));
      await navigator.serviceWorker.ready;
    }, listen);
    // Page A, with no listener, uploads three files and sees them done.
    const a = await harnessPage(ctx, server.url);
    await register(a, false);
    const ids = await a.evaluate(() => Promise.all([1, 2, 3].map((n) => window.s.upload(new Blob([`late ${n}`]), { url: '/upload/late' }))));
    await until(async () => (await a.evaluate(() => window.s.list())).every((t) => t.state === 'done'), { what: 'all done' });
    // Page B opens, hears the three `completed` and acknowledges them; `queued`, `started` and
    // `progress` nobody heard stay in the outbox.
    const b = await harnessPage(ctx, server.url);
    await register(b, true);
    await until(async () => (await b.evaluate(() => window.heard)).length === 3, { what: 'B hearing all three' });
    await until(async () => !(await outboxKinds(b, 'late')).includes('completed'), { what: 'B acknowledging them' });
    // A adds its listener now: it hears each of the three it was given, once, in order.
    await a.evaluate(() => window.s.addEventListener('completed', (e) => window.heard.push(e.detail.taskId)));
    const heard = await until(async () => {
      const h = await a.evaluate(() => window.heard);
      return h.length >= 3 ? h : null;
    }, { what: 'A hearing the three' });
    assert.deepEqual([...heard].sort(), [...ids].sort());
    assert.equal(new Set(heard).size, 3, 'each once');
  });
});

test('acknowledgements that reach the worker together are all written: 40 uploads whose every event was heard leave the outbox empty', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await harnessPage(ctx, server.url);
    // Each delivery is acknowledged by its own message; with four lanes ending close together, many
    // arrive while an acknowledgement transaction runs and must share the next one.
    await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      window.s = await Ferry.register('ack-many', { serviceWorker: '/sw.js', backgroundFetch: false, concurrency: 4 });
      window.completed = 0;
      for (const kind of ['queued', 'started', 'progress']) window.s.addEventListener(kind, () => {});
      window.s.addEventListener('completed', () => { window.completed += 1; });
      await navigator.serviceWorker.ready;
      await window.s.uploadAll(Array.from({ length: 40 }, (_, i) => ({ blob: new Blob([`item ${i}`]), request: { url: '/upload/ack-many' } })));
    });
    await settled(server, 40);
    await until(() => page.evaluate(() => window.completed === 40), { what: 'every completed heard' });
    await until(async () => (await outboxKinds(page, 'ack-many')).length === 0, { what: 'an empty outbox' });
  });
});

test('listeners added late together hear the missed events in seq order; clear() drops the events held for listeners not added yet, in every page of the tag', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const open = async () => {
      const page = await harnessPage(ctx, server.url);
      await page.evaluate(async () => {
        const { Ferry } = await import('/ferry/index.js');
        window.s = await Ferry.register('late', { serviceWorker: '/sw.js', backgroundFetch: false });
        await navigator.serviceWorker.ready;
      });
      return page;
    };
    const page = await open();
    // A listener of a kind that never comes: the replay has run, and the upload's events are held in
    // the page as they arrive, for listeners not added yet.
    await page.evaluate(() => window.s.addEventListener('failed', () => {}));
    const id = await page.evaluate(() => window.s.upload(new Blob(['late']), { url: '/upload/late' }));
    await settled(server, 1);
    await until(async () => (await page.evaluate((id) => window.s.get(id), id)).state === 'done', { what: 'done' });
    // Another page of the tag: its replay hands `queued` to its listener and holds the other three.
    const other = await open();
    assert.equal(await other.evaluate(() => new Promise((resolve) => {
      window.s.addEventListener('queued', (e) => resolve(e.detail.seq));
    })), 1);
    // Three listeners added in one go, latest kind first: the events come in seq order all the same.
    const heard = await page.evaluate(() => new Promise((resolve) => {
      const got = [];
      for (const kind of ['completed', 'progress', 'started']) {
        window.s.addEventListener(kind, (e) => {
          got.push([e.detail.seq, e.detail.kind]);
          if (got.length === 3) resolve(got);
        });
      }
    }));
    assert.deepEqual(heard, [[2, 'started'], [3, 'progress'], [4, 'completed']]);
    // This page still holds `queued`, the other page `started`, `progress` and `completed`; clear()
    // removes the task.
    await other.evaluate(() => {
      window.cleared = false;
      new BroadcastChannel('ferry:late').onmessage = (e) => { if (e.data?.ferry === 'cleared') window.cleared = true; };
    });
    assert.equal(await page.evaluate(() => window.s.clear()), 1);
    const listenAll = (p) => p.evaluate(async () => {
      const got = [];
      for (const kind of ['queued', 'started', 'progress', 'completed']) window.s.addEventListener(kind, (e) => got.push(e.detail.kind));
      // Held events are dispatched in a microtask after a listener is added: a task later, all have run.
      await new Promise((resolve) => { setTimeout(resolve, 0); });
      return got;
    });
    assert.deepEqual(await listenAll(page), [], 'the calling page drops what it held');
    await until(() => other.evaluate(() => window.cleared), { what: 'the other page hearing of the clear' });
    assert.deepEqual(await listenAll(other), [], 'another page of the tag drops what it held');
  });
});

test('the session is an EventTarget (e.target is the session); listeners as EventTarget takes them: once and signal listeners come back when added again, an object without handleEvent hears nothing, odd types are stringified or refused', { timeout: 90000 }, async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await harnessPage(ctx, server.url);
    const r = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const s = await Ferry.register('listeners', { serviceWorker: '/sw.js', backgroundFetch: false });
      await navigator.serviceWorker.ready;
      const out = {};
      // Whether a listener `add` adds hears an event of task `id` (false after 10 s without one).
      const heardBy = (add, id) => new Promise((resolve) => {
        setTimeout(() => resolve(false), 10000);
        add((e) => { if (e.detail.taskId === id) resolve(true); });
      });
      const upload = (name) => s.upload(new Blob([name]), { url: `/upload/listeners/${name}` });

      // A `{ once: true }` listener that fired, added again, hears the next event.
      const onceGot = [];
      const once = (e) => { onceGot.push(e.detail.taskId); out.targetIsSession = e.target === s; };
      out.eventTarget = s instanceof EventTarget;
      s.addEventListener('completed', once, { once: true });
      const a = await upload('once-1');
      await heardBy((fn) => s.addEventListener('completed', fn), a);
      s.addEventListener('completed', once);
      const b = await upload('once-2');
      await heardBy((fn) => s.addEventListener('completed', fn), b);
      out.once = { first: onceGot.includes(a), afterReAdd: onceGot.includes(b) };

      // A listener removed by its aborted signal, added again, hears events.
      const ac = new AbortController();
      await s.pause();
      const c = await upload('signal');
      out.signal = await heardBy((sig) => {
        s.addEventListener('cancelled', sig, { signal: ac.signal });
        ac.abort();
        s.addEventListener('cancelled', sig);
        s.cancel(c);
      }, c);
      await s.resume();

      // An object without handleEvent runs nothing, so the event stays for a listener that can hear it
      // (a tag of its own: its only event is the one this upload queues).
      const o = await Ferry.register('listeners-object', { serviceWorker: '/sw.js', backgroundFetch: false });
      let dispatched;
      const wasDispatched = new Promise((resolve) => { dispatched = resolve; });
      o.addEventListener('queued', { get handleEvent() { dispatched(); return undefined; } });
      const d = await o.upload(new Blob(['object']), { url: '/upload/listeners/object' });
      await wasDispatched;
      out.stayed = await heardBy((fn) => o.addEventListener('queued', fn), d);

      // Types: a number is stringified like EventTarget does; a Symbol type or a non-object listener
      // is a typed error; the session goes on working.
      const tryName = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.name; } };
      out.numberType = tryName(() => s.addEventListener(42, () => {}));
      out.removeNumber = tryName(() => s.removeEventListener(42, () => {}));
      out.symbolType = tryName(() => s.addEventListener(Symbol('x'), () => {}));
      out.stringListener = tryName(() => s.addEventListener('completed', 'not a function'));
      out.ackSymbol = await s.ack(Symbol('seq')).then(() => 'resolved', (e) => e.name);
      out.ackFraction = await s.ack(1.5).then(() => 'resolved', (e) => e.name);
      const e = await upload('after');
      out.after = await heardBy((fn) => s.addEventListener('completed', fn), e);
      return out;
    });
    assert.deepEqual(r, {
      eventTarget: true,
      targetIsSession: true,
      once: { first: true, afterReAdd: true },
      signal: true,
      stayed: true,
      numberType: 'ok',
      removeNumber: 'ok',
      symbolType: 'FerryInvalidOptions',
      stringListener: 'FerryInvalidOptions',
      ackSymbol: 'FerryInvalidOptions',
      ackFraction: 'FerryInvalidOptions',
      after: true,
    });
  });
});

test('a live event past a gap in seq waits for the missing ones, read from the outbox: a lost broadcast is still heard, in order, and acknowledged', async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await ctx.newPage();
    // The page loses the first broadcast of the tag that carries a `started` event, as a page does
    // whose channel missed a message: every later event of the task arrives past a gap.
    await page.addInitScript(() => {
      window.dropped = [];
      const set = Object.getOwnPropertyDescriptor(BroadcastChannel.prototype, 'onmessage').set;
      Object.defineProperty(BroadcastChannel.prototype, 'onmessage', {
        configurable: true,
        set(handler) {
          set.call(this, handler && ((e) => {
            const events = Array.isArray(e.data?.events) ? e.data.events : [e.data];
            if (this.name === 'ferry:gap' && window.dropped.length === 0 && events.some((ev) => ev?.kind === 'started')) {
              window.dropped = events.map((ev) => ev.seq);
              return;
            }
            handler.call(this, e);
          }));
        },
      });
    });
    await page.goto(new URL('/harness.html', server.url).href);
    const heard = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const s = await Ferry.register('gap', { serviceWorker: '/sw.js', backgroundFetch: false });
      await navigator.serviceWorker.ready;
      const got = [];
      const done = new Promise((resolve) => {
        for (const kind of ['queued', 'started', 'progress', 'completed']) {
          s.addEventListener(kind, (e) => {
            got.push([e.detail.seq, e.detail.kind]);
            if (kind === 'completed') resolve();
          });
        }
      });
      await s.upload(new Blob(['gap']), { url: '/upload/gap' });
      await done;
      return got;
    });
    const dropped = await page.evaluate(() => window.dropped);
    assert.ok(dropped.length > 0, 'a broadcast with `started` was dropped');
    assert.ok(dropped.every((seq) => seq < heard.at(-1)[0]), 'the dropped events came before `completed`');
    assert.deepEqual(heard.map(([, kind]) => kind), ['queued', 'started', 'progress', 'completed']);
    assert.deepEqual(heard.map(([seq]) => seq), [1, 2, 3, 4], 'each event once, in seq order');
    await until(async () => (await outboxKinds(page, 'gap')).length === 0, { what: 'every event acknowledged' });
  });
});

test("ack(seq): only in a session registered with ack: 'manual', and never past the events the page was given", async () => {
  await server.reset();
  await withChromium(async (ctx) => {
    const page = await harnessPage(ctx, server.url);
    const r = await page.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const auto = await Ferry.register('ackauto', { serviceWorker: '/sw.js', backgroundFetch: false });
      const refused = await auto.ack(1).then(() => 'resolved', (e) => `${e.name}: ${e.message}`);
      const s = await Ferry.register('ackmanual', { serviceWorker: '/sw.js', backgroundFetch: false, ack: 'manual' });
      const seen = [];
      const done = new Promise((resolve) => {
        s.addEventListener('completed', (e) => { seen.push(e.detail.seq); resolve(); });
      });
      for (const kind of ['queued', 'started', 'progress']) s.addEventListener(kind, (e) => seen.push(e.detail.seq));
      await s.upload(new Blob(['one']), { url: '/upload/ackmanual' });
      await done;
      return { refused, seen };
    });
    assert.match(r.refused, /^FerryInvalidOptions: invalid option ack: is for a session registered with ack: 'manual'/);
    assert.deepEqual(r.seen.sort(), [1, 2, 3, 4]);
    // A later page acknowledges "all it was given" before it was given anything: nothing is dropped,
    // and its listener then hears the outcome, replayed.
    const later = await harnessPage(ctx, server.url);
    const replayed = await later.evaluate(async () => {
      const { Ferry } = await import('/ferry/index.js');
      const s = await Ferry.register('ackmanual', { serviceWorker: '/sw.js', backgroundFetch: false, ack: 'manual' });
      await s.ack(1e9);
      return new Promise((resolve) => {
        s.addEventListener('completed', (e) => resolve(e.detail.seq));
        setTimeout(() => resolve('nothing replayed within 15 s'), 15000);
      });
    });
    assert.equal(replayed, 4);
  });
});
