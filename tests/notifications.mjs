// A stand-in desktop notification server: Chromium on Linux shows notifications through the freedesktop
// `org.freedesktop.Notifications` D-Bus service when one owns that name at browser start, and a click
// there (the `ActionInvoked` signal) reaches the service worker as a real, trusted `notificationclick`
// that may open or focus windows, exactly as a user's click would. Headless Chromium has no other way to
// click a notification. It runs on a private bus (its own dbus-daemon), never the machine's.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dbus from 'dbus-next';

const NAME = 'org.freedesktop.Notifications';
const OBJECT = '/org/freedesktop/Notifications';

class Notifications extends dbus.interface.Interface {
  constructor(emitter) {
    super(NAME);
    this.nextId = 1;
    this.emitter = emitter;
  }

  GetCapabilities() { return ['actions', 'body', 'persistence']; }

  GetServerInformation() { return ['ferry-tests', 'ferry', '1', '1.2']; }

  Notify(appName, replacesId, icon, summary, body, actions, hints, timeout) {
    const id = replacesId || this.nextId++;
    this.emitter.emit('notify', { id, appName, summary, body, actions, timeout });
    return id;
  }

  CloseNotification(id) {
    this.emitter.emit('close', id);
    this.NotificationClosed(id, 3);
  }

  // Signals: calling one emits it with the returned values.
  ActionInvoked(id, action) { return [id, action]; }

  NotificationClosed(id, reason) { return [id, reason]; }
}

Notifications.configureMembers({
  methods: {
    GetCapabilities: { inSignature: '', outSignature: 'as' },
    GetServerInformation: { inSignature: '', outSignature: 'ssss' },
    Notify: { inSignature: 'susssasa{sv}i', outSignature: 'u' },
    CloseNotification: { inSignature: 'u', outSignature: '' },
  },
  signals: {
    ActionInvoked: { signature: 'us' },
    NotificationClosed: { signature: 'uu' },
  },
});

// No service directories: nothing gets auto-started on this bus.
const busConfig = (dir) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

/**
 * Starts a private bus with the notification server on it. Launch Chromium with
 * `env: { DBUS_SESSION_BUS_ADDRESS: server.address }` (after this resolves: Chromium looks once, at start).
 * `shown()` resolves with the next notification Chromium shows (`{ id, summary, body, actions }`);
 * `click(id)` is the user's click; `closed` lists the ids Chromium closed.
 */
export async function startNotificationServer() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bus-'));
  const config = path.join(dir, 'bus.conf');
  await writeFile(config, busConfig(dir));
  const daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--nopidfile', '--print-address=1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  // It cannot raise its fd limit without privileges, and says so; anything else is worth seeing.
  let pending = '';
  daemon.stderr.on('data', (d) => {
    const lines = (pending + d).split('\n');
    pending = lines.pop();
    for (const line of lines) if (line && !/fd limit/.test(line)) process.stderr.write(`${line}\n`);
  });
  const address = await new Promise((resolve, reject) => {
    let out = '';
    daemon.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0].trim());
    });
    daemon.on('error', reject);
    daemon.on('exit', (code) => reject(new Error(`dbus-daemon exited (${code}) before printing its address`)));
  });
  const bus = dbus.sessionBus({ busAddress: address });
  const emitter = new EventEmitter();
  const iface = new Notifications(emitter);
  bus.export(OBJECT, iface);
  const reply = await Promise.race([bus.requestName(NAME, dbus.NameFlag.DO_NOT_QUEUE),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer from the bus at ${address}`)), 10000).unref())]);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`could not own ${NAME} (${reply})`);
  const queue = [];
  const closed = [];
  let waiter = null;
  emitter.on('notify', (n) => { if (waiter) { waiter(n); waiter = null; } else queue.push(n); });
  emitter.on('close', (id) => closed.push(id));
  return {
    address,
    closed,
    /** The next notification shown (already shown ones first). */
    shown(timeout = 20000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiter = null; reject(new Error(`no notification within ${timeout} ms`)); }, timeout);
        waiter = (n) => { clearTimeout(timer); resolve(n); };
      });
    },
    /** What the user's click on the notification's body does. */
    click: (id) => iface.ActionInvoked(id, 'default'),
    async stop() {
      bus.disconnect();
      if (daemon.exitCode === null) {
        const exited = new Promise((r) => daemon.once('exit', r));
        daemon.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
