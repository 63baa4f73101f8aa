// Ferry's declarations, checked three ways: tsc --strict over the README's examples; tsc --strict over a
// typed example app and over misuse that must fail (`@ts-expect-error`); and every declared runtime
// export and member compared, by tsc, with what the built package really has in headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeBlocks, extract, parts } from './extract-readme.mjs';
import { quickstartFiles } from '../apps/quickstart.mjs';
import { launchChromium, profileDir, serviceWorker, startServer, until } from '../harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TSC = path.join(HERE, 'node_modules/typescript/bin/tsc');
// The oldest TypeScript the declarations support (README: 5.0 or later).
const TSC_OLDEST = path.join(HERE, 'node_modules/typescript-5.0/bin/tsc');

/** Runs tsc on one project of this folder; resolves with its exit code and output. */
function tsc(project, bin = TSC) {
  const r = spawnSync(process.execPath, [bin, '-p', path.join(HERE, project)], { cwd: HERE, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function assertCompiles(project, bin = TSC) {
  const { code, out } = tsc(project, bin);
  assert.equal(code, 0, `tsc --strict -p ${project} (${path.basename(path.dirname(path.dirname(bin)))}) failed:\n${out}`);
}

test('README extraction takes the js/ts fences of every section but the Quickstart, and splits page from worker code', () => {
  const md = [
    '# Ferry', '```js', 'outside();', '```',
    '## Use', 'Text.', '````javascript', 'a();', '```', 'still a();', '````',
    '- a list item:', '  ```js', '  listed();', '  ```',
    '~~~bash', 'not js', '~~~',
    '### Worker', '```ts', "// page", "import { Ferry } from 'ferry-upload';", '// service worker (module)',
    "import { installFerry } from 'ferry-upload/worker';", 'installFerry(self, {});', '```',
    '## Quickstart (Vite)', '```js', 'quick();', '```', '### In the Quickstart too', '```js', 'quick2();', '```',
    '## Layout', '```js', 'after();', '```',
  ].join('\n');
  const blocks = codeBlocks(md);
  assert.deepEqual(blocks.map((b) => b.code.split('\n')[0]), ['outside();', 'a();', 'listed();', '// page', 'after();']);
  assert.equal(blocks[1].code, 'a();\n```\nstill a();');
  assert.deepEqual(parts(blocks[3].code).map((p) => p.kind), ['page', 'worker']);
  // Without marker comments, worker code that follows page code still becomes its own part.
  assert.deepEqual(parts("import { Ferry } from 'ferry-upload';\nFerry;\nimport { installFerry } from 'ferry-upload/worker';\ninstallFerry(self);")
    .map((p) => p.kind), ['page', 'worker']);
});

test("README's examples compile under tsc --strict (pages with DOM, workers with WebWorker)", async () => {
  const files = await extract();
  assert.ok(files.some((f) => f.kind === 'page'), `no page example found in README: ${JSON.stringify(files)}`);
  assert.ok(files.some((f) => f.kind === 'worker'), `no worker example found in README: ${JSON.stringify(files)}`);
  // The API reference's and the object storage section's examples are among them (uploadAll, s3-multipart).
  for (const shows of ['uploadAll(', "protocol: 's3-multipart'"]) {
    assert.ok(files.some((f) => f.text.includes(shows)), `no extracted example shows ${shows}`);
  }
  assertCompiles('tsconfig.readme-page.json');
  assertCompiles('tsconfig.readme-worker.json');
});

test('a typed page and worker using every API compile, and every misuse line is an error', () => {
  assertCompiles('tsconfig.page.json');
  assertCompiles('tsconfig.worker.json');
});

test('under exactOptionalPropertyTypes, options given as possibly undefined values and a task\'s own nullable fields compile; methods in any case', () => {
  assertCompiles('tsconfig.exact.json');
});

test('a classic worker in TypeScript gets the global `ferry` typed from ferry-upload/classic (wasmUrl included, the global frozen)', () => {
  assertCompiles('tsconfig.classic.json');
});

test('with TypeScript 5.0, the oldest supported, the typed apps, the misuse files and the README\'s examples compile as with the newest', async () => {
  await extract();
  for (const project of ['page', 'worker', 'exact', 'classic', 'readme-page', 'readme-worker']) {
    assertCompiles(`tsconfig.${project}.json`, TSC_OLDEST);
  }
});

test("the Quickstart's page code, pasted as it is into a TypeScript app's src/main.ts, compiles under tsc --strict", async () => {
  const files = await quickstartFiles(path.resolve(HERE, '../../README.md'));
  const page = files['src/main.js'];
  assert.match(page ?? '', /from 'ferry-upload'/, 'the Quickstart has a src/main.js block that imports ferry-upload');
  await rm(path.join(HERE, 'generated/quickstart'), { recursive: true, force: true });
  await mkdir(path.join(HERE, 'generated/quickstart'), { recursive: true });
  await writeFile(path.join(HERE, 'generated/quickstart/main.ts'), page);
  assertCompiles('tsconfig.quickstart.json');
});

/** Every `"Ferry…"` error name in the crate's and the glue's sources (tests excluded). */
async function thrownErrorNames() {
  const root = path.resolve(HERE, '../..');
  const files = [];
  for (const dir of ['crate/src', 'worker']) {
    for (const entry of await readdir(path.join(root, dir), { recursive: true, withFileTypes: true })) {
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      if (entry.isFile() && /\.(rs|js)$/.test(entry.name) && !/(^|\/)tests?[\w_]*\.rs$|proptests\.rs$/.test(file)) files.push(file);
    }
  }
  const names = new Set();
  for (const file of files) {
    for (const m of (await readFile(file, 'utf8')).matchAll(/["'](Ferry[A-Z][A-Za-z]+)["']/g)) names.add(m[1]);
  }
  return [...names].sort();
}

test('FerryErrorName lists exactly the error names the crate and the glue throw', async () => {
  const thrown = await thrownErrorNames();
  assert.ok(thrown.includes('FerryInvalidUrl') && thrown.includes('FerryClosed'), JSON.stringify(thrown));
  const union = thrown.map((n) => JSON.stringify(n)).join(' | ');
  await mkdir(path.join(HERE, 'generated'), { recursive: true });
  await writeFile(path.join(HERE, 'generated/error-names.ts'), `// Generated by types.test.mjs from the sources.
import type { FerryErrorName } from 'ferry-upload';
type Thrown = ${union};
export const thrownAreDeclared: [Exclude<Thrown, FerryErrorName>] extends [never] ? 'ok' : Exclude<Thrown, FerryErrorName> = 'ok';
export const declaredAreThrown: [Exclude<FerryErrorName, Thrown>] extends [never] ? 'ok' : Exclude<FerryErrorName, Thrown> = 'ok';
`);
  assertCompiles('tsconfig.errors.json');
});

let server;
let ctx;
let profile;
before(async () => {
  server = await startServer({ args: ['--www', path.join(HERE, 'app')] });
  profile = await profileDir();
  ctx = await launchChromium(profile);
});
after(async () => {
  await ctx?.close();
  await server?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('every declared export and member exists in the built package at run time, Task has the declared fields, and every option the runtime reads is declared', async () => {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e));
  await page.goto(new URL('/index.html', server.url).href);
  const runtime = await page.evaluate(async () => {
    const members = (obj) => {
      const names = new Set();
      for (let o = obj; o && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
        for (const k of Object.getOwnPropertyNames(o)) names.add(k);
      }
      return [...names];
    };
    // Which option names the runtime reads: every one of them must be declared.
    const reads = {};
    const recorded = (name, target) => new Proxy(target, {
      get(t, key, receiver) {
        if (typeof key === 'string') (reads[name] ??= new Set()).add(key);
        return Reflect.get(t, key, receiver);
      },
    });
    const entry = await import('/ferry/index.js');
    const session = await entry.Ferry.register('types', recorded('SessionOptions', {
      serviceWorker: '/sw.js', retry: recorded('RetryOptions', {}),
    }));
    // A real task and a real event, to hold the declared shapes against.
    const queued = new Promise((resolve) => session.addEventListener('queued', (e) => resolve(e.detail)));
    await session.pause();
    const id = await session.upload(new Blob(['types']), recorded('UploadRequest', {
      url: '/upload', retry: recorded('RetryOptions', {}),
    }));
    const task = await session.get(id);
    const event = await queued;
    await session.clear();
    const out = {
      page: Object.keys(entry), Ferry: members(entry.Ferry), Session: members(session),
      task: Object.keys(task), taskRequest: Object.keys(task.request), taskBody: Object.keys(task.body),
      taskRetry: Object.keys(task.retry), queued: Object.keys(event),
      reads: Object.fromEntries(Object.entries(reads).map(([k, v]) => [k, [...v]])),
    };
    session.close();
    return out;
  });
  const sw = await serviceWorker(ctx);
  Object.assign(runtime, await until(() => sw.evaluate(() => self.ferryRuntime), { what: 'the worker entry loaded' }));

  // tsc compares: a declared name missing at run time (or a runtime export left undeclared) is an error
  // that names it.
  const union = (names) => names.map((n) => JSON.stringify(n)).join(' | ') || 'never';
  const check = `// Generated by types.test.mjs from what the built package has at run time.
import type * as Page from 'ferry-upload';
import type * as Worker from 'ferry-upload/worker';
type Declared<D, R> = [Exclude<D, R>] extends [never] ? 'ok' : Exclude<D, R>;
type Undeclared<D, R> = [Exclude<R, D>] extends [never] ? 'ok' : Exclude<R, D>;
type RuntimePage = ${union(runtime.page)};
type RuntimeWorker = ${union(runtime.worker)};
export const pageExportsExist: Declared<keyof typeof Page, RuntimePage> = 'ok';
export const pageExportsDeclared: Undeclared<keyof typeof Page, RuntimePage> = 'ok';
export const workerExportsExist: Declared<keyof typeof Worker, RuntimeWorker> = 'ok';
export const workerExportsDeclared: Undeclared<keyof typeof Worker, RuntimeWorker> = 'ok';
export const ferryMembersExist: Declared<keyof Page.FerryStatic, ${union(runtime.Ferry)}> = 'ok';
export const sessionMembersExist: Declared<keyof Page.Session, ${union(runtime.Session)}> = 'ok';
export const pluginMembersExist: Declared<keyof Worker.FerryPlugin, ${union(runtime.FerryPlugin)}> = 'ok';
type Same<D, R> = [Exclude<D, R> | Exclude<R, D>] extends [never] ? 'ok' : Exclude<D, R> | Exclude<R, D>;
// A queued task has every field but the optional ones (\`timeoutAt\`: a Background Fetch in flight).
type Required<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
export const taskFields: Same<Required<Page.Task>, ${union(runtime.task)}> = 'ok';
export const taskFieldsDeclared: Undeclared<keyof Page.Task, ${union(runtime.task)}> = 'ok';
export const taskRequestFields: Same<keyof Page.Task['request'], ${union(runtime.taskRequest)}> = 'ok';
export const taskBodyFields: Same<keyof Page.Task['body'], ${union(runtime.taskBody)}> = 'ok';
export const taskRetryFields: Same<keyof Page.Task['retry'], ${union(runtime.taskRetry)}> = 'ok';
export const queuedEventFields: Same<keyof Page.FerryQueuedEvent, ${union(runtime.queued)}> = 'ok';
type AnyUploadRequest = Page.HttpUploadRequest & Page.MultipartUploadRequest & Page.TusUploadRequest;
export const sessionOptionsRead: Declared<${union(runtime.reads.SessionOptions)}, keyof Page.SessionOptions> = 'ok';
export const uploadRequestRead: Declared<${union(runtime.reads.UploadRequest)}, keyof AnyUploadRequest> = 'ok';
export const retryOptionsRead: Declared<${union(runtime.reads.RetryOptions)}, keyof Page.RetryOptions> = 'ok';
export const pluginFactoryMembersExist: Declared<keyof ReturnType<typeof Worker.ferryPlugin>, ${union(runtime.ferryPlugin)}> = 'ok';
`;
  await mkdir(path.join(HERE, 'generated'), { recursive: true });
  await writeFile(path.join(HERE, 'generated/exports-check.ts'), check);
  assert.ok(runtime.page.includes('Ferry') && runtime.worker.includes('installFerry'), JSON.stringify(runtime));
  assertCompiles('tsconfig.exports.json');
});

test('the worker entry refuses at run time, with FerryError names, what its declarations refuse', async () => {
  const sw = await serviceWorker(ctx);
  await until(() => sw.evaluate(() => !!self.ferryEntry), { what: 'the worker entry loaded' });
  const names = await sw.evaluate(async () => {
    const { enqueue, FerryPlugin } = self.ferryEntry;
    const post = () => new Request('/upload', { method: 'POST', body: 'x' });
    const nameOf = async (f) => { try { await f(); return 'resolved'; } catch (e) { return e.name; } };
    const used = post();
    await used.text();
    return {
      notARequest: await nameOf(() => enqueue('/upload', { tag: 'types' })),
      noTag: await nameOf(() => enqueue(post(), {})),
      badTag: await nameOf(() => enqueue(post(), { tag: 'no spaces' })),
      get: await nameOf(() => enqueue(new Request('/upload'), { tag: 'types' })),
      bodyUsed: await nameOf(() => enqueue(used, { tag: 'types' })),
      badRetry: await nameOf(() => enqueue(post(), { tag: 'types', retry: { maxAttempts: 0 } })),
      pluginWithoutTag: await nameOf(() => new FerryPlugin()),
    };
  });
  assert.deepEqual(names, {
    notARequest: 'FerryInvalidOptions', noTag: 'FerryInvalidTag', badTag: 'FerryInvalidTag', get: 'FerryInvalidMethod',
    bodyUsed: 'FerryInvalidBody', badRetry: 'FerryInvalidOptions', pluginWithoutTag: 'FerryInvalidOptions',
  });
});

test('what the declarations take beyond the plain types works at run time: methods in any case, a task\'s own nulls, undefined options; an s3-multipart method is refused', async () => {
  const page = await ctx.newPage();
  await page.goto(new URL('/index.html', server.url).href);
  const seen = await page.evaluate(async () => {
    const { Ferry } = await import('/ferry/index.js');
    const session = await Ferry.register('loose', { serviceWorker: '/sw.js', retry: undefined, headerProvider: undefined });
    await session.pause();
    const id = await session.upload(new Blob(['loose']), {
      url: '/upload', method: 'Put', appData: null, expiresAt: null, earliestBegin: null, headers: undefined,
      retry: { maxAttempts: undefined },
    });
    const tus = await session.upload(new Blob(['loose']), { url: '/upload', protocol: 'tus', method: 'Post' });
    const task = await session.get(id);
    let s3;
    try {
      await session.upload(new Blob(['loose']), { url: '/upload', protocol: 's3-multipart', method: 'PUT' });
      s3 = 'resolved';
    } catch (e) { s3 = e.name; }
    const count = (await session.list()).length;
    await session.clear();
    session.close();
    return { method: task.request.method, appData: task.appData, expiresAt: task.expiresAt, tus: typeof tus, s3, count };
  });
  assert.deepEqual(seen, { method: 'PUT', appData: null, expiresAt: null, tus: 'string', s3: 'FerryInvalidProtocol', count: 2 });
  const sw = await serviceWorker(ctx);
  const enqueued = await sw.evaluate(async () => {
    const request = new Request('/upload', { method: 'POST', body: 'loose' });
    const id = await self.ferryEntry.enqueue(request, { tag: 'loose-worker', appData: null, expiresAt: null, earliestBegin: null, retry: undefined });
    return typeof id;
  });
  assert.equal(enqueued, 'string');
  await page.close();
});

test("every event kind's detail has exactly the declared fields (all but expired, which needs a deadline to pass)", async () => {
  await server.fault([{ count: 1, status: 503, path: '/upload/retry' }, { count: 1, status: 400, path: '/upload/fail' }]);
  const page = await ctx.newPage();
  await page.goto(new URL('/index.html', server.url).href);
  const fields = await page.evaluate(async () => {
    const { Ferry } = await import('/ferry/index.js');
    const session = await Ferry.register('events', { serviceWorker: '/sw.js', backgroundFetch: false });
    const seen = {};
    const waiters = [];
    const kinds = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled', 'expired'];
    for (const kind of kinds) {
      session.addEventListener(kind, (e) => {
        for (const k of Object.keys(e.detail)) (seen[kind] ??= new Set()).add(k);
        for (const w of waiters) if (w.kind === kind && w.id === e.detail.taskId) w.resolve();
      });
    }
    const upload = async (url, kind, extra = {}) => {
      const id = await session.upload(new Blob(['events']), { url, retry: { baseMs: 10, capMs: 20 }, ...extra });
      const done = new Promise((resolve) => waiters.push({ kind, id, resolve }));
      return { id, done };
    };
    await (await upload('/upload', 'completed')).done;
    await (await upload('/upload/retry', 'completed')).done;
    await (await upload('/upload/fail', 'failed')).done;
    await session.pause();
    const held = await upload('/upload', 'cancelled');
    await session.cancel(held.id);
    await held.done;
    await session.clear();
    session.close();
    return Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...v]]));
  });
  const union = (names) => (names ?? []).map((n) => JSON.stringify(n)).join(' | ') || 'never';
  const name = (kind) => `Ferry${kind[0].toUpperCase()}${kind.slice(1)}Event`;
  const kinds = ['queued', 'started', 'progress', 'retrying', 'completed', 'failed', 'cancelled'];
  for (const kind of kinds) assert.ok(fields[kind], `no ${kind} event was seen: ${JSON.stringify(fields)}`);
  await writeFile(path.join(HERE, 'generated/event-fields.ts'), `// Generated by types.test.mjs from the events a session delivered.
import type * as Page from 'ferry-upload';
type Same<D, R> = [Exclude<D, R> | Exclude<R, D>] extends [never] ? 'ok' : Exclude<D, R> | Exclude<R, D>;
${kinds.map((k) => `export const ${k}: Same<keyof Page.${name(k)}, ${union(fields[k])}> = 'ok';`).join('\n')}
`);
  assertCompiles('tsconfig.events.json');
  await page.close();
});
