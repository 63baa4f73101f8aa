// The lifecycle scenarios of lifecycle.mjs in headless Firefox ESR, where the fallback transport (the
// worker woken by a page's message) carries every upload: pause() during a drain, a server that never
// answers.
import { test, after } from 'node:test';
import { startServer } from './harness.mjs';
import {
  snapshotPkg, firefoxProfile, removeDir, launchFirefox, closeFirefox, openSession, uploadRandom, eventOf, eventsOf,
} from './firefox.mjs';
import { pauseDuringDrain, hungServer } from './lifecycle.mjs';

const pkg = await snapshotPkg();
const server = await startServer({ args: ['--pkg', pkg] });
after(async () => {
  await server.stop();
  await removeDir(pkg);
});

async function withFirefox(fn) {
  const dir = await firefoxProfile();
  let browser = null;
  try {
    browser = await launchFirefox(dir);
    return await fn(browser);
  } finally {
    await closeFirefox(browser);
    await removeDir(dir);
  }
}

test('Firefox: pause() during a drain stops new starts at once; resume() sends the rest', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-pause', { concurrency: 1 });
    await pauseDuringDrain({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff' });
  });
});

test('Firefox: a server that never answers costs one attempt (timeout) and holds back no other tag', async () => {
  await withFirefox(async (browser) => {
    const page = await openSession(browser, server.url, 'ff-hang', { attemptTimeoutMs: 4000 });
    await hungServer({ server, page, uploadRandom, eventOf, eventsOf, prefix: 'ff' });
  });
});
