// End-to-end tests of the demo page (web/) against the two bridges of `sockeye serve`:
// --exec (a program behind every WebSocket) and --proxy (a TCP service behind every
// WebSocket). The page is the echo page: it checks every message it receives against the
// one it sent, so a program's answer that is not an echo shows as a mismatch (✗), and a
// message it did not ask for as "–". Run by CTest (`ctest -L e2e`) as
//   node --test bridges.test.mjs
// with SOCKEYE_BIN, SOCKEYE_SOURCE_DIR and NODE_PATH (the node_modules holding
// playwright-core) in the environment; SOCKEYE_CHROMIUM optional (default /usr/bin/chromium).
//
// The helpers are the ones of page.test.mjs, cut down to what these tests use.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// playwright-core is CommonJS; require() honours NODE_PATH (ES imports do not).
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = process.env.SOCKEYE_SOURCE_DIR ?? path.resolve(here, '../..');
const BIN = process.env.SOCKEYE_BIN ?? path.join(SOURCE_DIR, 'build/sockeye');
const WEB_ROOT = path.join(SOURCE_DIR, 'web');
const CHROMIUM = process.env.SOCKEYE_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// Upper-cases every line as it comes: -u, so that each line leaves at once instead of
// waiting in a pipe buffer for the program's exit.
const PYTHON = '/usr/bin/python3';
const UPPER = `${PYTHON} -u -c 'import sys; [print(l.upper(), end="") for l in iter(sys.stdin.readline, "")]'`;

const tid = (id) => `[data-testid="${id}"]`;

// ------------------------------------------------------------------ server

// Starts `sockeye serve` on a free port; resolves once it printed its ready line.
async function startServer(extraArgs = []) {
  const args = ['serve', '--port', '0', '--root', WEB_ROOT, '--log-level', 'warn', ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`sockeye did not print its ready line in 15 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 15_000);
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on (https?:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`sockeye ${args.join(' ')} exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });
  return { proc, url, args, stderr: () => stderr };
}

// SIGTERM, then the server must exit 0 (it closes its clients with 1001 first, then ends
// the programs of --exec).
async function stopServer(server) {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const exited = once(server.proc, 'exit');
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `sockeye exited with ${code ?? signal} on SIGTERM\n${server.stderr()}`);
}

// A TCP echo service on 127.0.0.1 and a free port, for --proxy: counts its connections and
// the bytes it received, so that a test can tell what reached it.
async function startEchoBackend() {
  const backend = { connections: 0, received: 0, sockets: new Set() };
  backend.server = net.createServer((sock) => {
    backend.connections += 1;
    backend.sockets.add(sock);
    sock.on('data', (d) => {
      backend.received += d.length;
      sock.write(d);
    });
    sock.on('error', () => {}); // a reset from the proxy ends the socket; nothing to check
    sock.on('close', () => backend.sockets.delete(sock));
  });
  backend.server.listen(0, '127.0.0.1');
  await once(backend.server, 'listening');
  backend.address = `127.0.0.1:${backend.server.address().port}`;
  return backend;
}

async function stopEchoBackend(backend) {
  if (!backend) return;
  for (const sock of backend.sockets) sock.destroy();
  await new Promise((resolve) => backend.server.close(resolve));
}

// ------------------------------------------------------------------ browser

const tempDirs = [];

// A fresh profile each time: nothing cached or remembered between runs.
async function launchBrowser() {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockeye-chromium-'));
  tempDirs.push(dir);
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
}

// The page's probes that a server in these modes answers 404 and Chromium logs as errors:
// GET /topics (no --pubsub) and the Frames panel's inspector WebSocket (no --inspect).
function expectedProbe(msg) {
  const text = msg.text();
  if (/^WebSocket connection to '[^']*\/_sockeye\/inspect\?[^']*' failed: .*Unexpected response code: 404/.test(text)) return true;
  return /status of 404/.test(text) && new URL(msg.location().url || 'about:blank').pathname === '/topics';
}

// A new tab on the page; page errors and console errors fail the test that checks them.
async function openPage(context, url) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || expectedProbe(msg)) return;
    page.problems.push(`console: ${msg.text()}`);
  });
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.equal(res.status(), 200, `GET ${url}`);
  // The page itself, not some other answer: its connect form is there.
  await page.waitForSelector(tid('open'), { timeout: 10_000 });
  return page;
}

async function connect(page) {
  await page.click(tid('open'));
  await page.waitForSelector(`${tid('state')}[data-state="open"]`, { timeout: 10_000 });
}

async function sendText(page, text, { binary = false } = {}) {
  await page.fill(tid('message'), text);
  await page.setChecked(tid('binary'), binary, { force: true });
  await page.click(tid('send'));
}

// The received rows of the messages table, once there are at least `count` and none is
// still being hashed.
async function rows(page, count, timeout = 15_000) {
  await page.waitForFunction(
    (n) => {
      const trs = [...document.querySelectorAll('[data-testid="messages"] tr')];
      return trs.length >= n && trs.every((tr) => tr.dataset.verified !== 'pending');
    },
    count,
    { timeout },
  );
  return page.$$eval(`${tid('messages')} tr`, (trs) => trs.map((tr) => ({
    type: tr.querySelector('td.type').textContent.trim(),
    size: Number(tr.dataset.size),
    preview: tr.querySelector('td.preview').textContent,
    verify: tr.querySelector('td.verify').textContent.trim(),
    verified: tr.dataset.verified,
  })));
}

// The last close event in the log.
async function lastClose(page, timeout = 15_000) {
  const sel = `${tid('events')} li[data-kind="close"]`;
  await page.waitForSelector(sel, { timeout });
  return page.$$eval(sel, (items) => {
    const li = items[items.length - 1];
    return { code: li.dataset.code, reason: li.dataset.reason, clean: li.dataset.clean, by: li.dataset.by, text: li.textContent };
  });
}

async function eventKinds(page) {
  return page.$$eval(`${tid('events')} li`, (items) => items.map((li) => li.dataset.kind));
}

function assertNoProblems(page) {
  assert.deepEqual(page.problems, [], 'the page logged errors');
}

// ------------------------------------------------------------------ tests

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('demo page with --exec', () => {
  let context;

  before(async () => {
    context = await launchBrowser();
  });

  after(async () => {
    await context?.close();
  });

  test('lines mode: "hello" goes to the program, its line "HELLO" comes back', { timeout: 60_000 }, async (t) => {
    if (!existsSync(PYTHON)) {
      t.skip(`no ${PYTHON} to run behind the WebSocket`);
      return;
    }
    const server = await startServer(['--exec', UPPER]);
    try {
      const page = await openPage(context, `${server.url}/`);
      assert.equal(await page.inputValue(tid('url')), `ws://${new URL(server.url).host}/`);
      await connect(page);

      await sendText(page, 'hello');
      const [upper] = await rows(page, 1);
      // Not an echo: the page shows what came and that it differs from what it sent.
      assert.deepEqual(upper, { type: 'text', size: 5, preview: 'HELLO', verify: '✗', verified: 'mismatch' });

      // Two lines in one message are two lines on stdin, so two messages back.
      await sendText(page, 'one\ntwo');
      const got = (await rows(page, 3)).slice(1);
      assert.deepEqual(got.map((r) => [r.type, r.preview]), [['text', 'ONE'], ['text', 'TWO']]);
      assert.equal(got[1].verified, 'none', 'the second line answers nothing the page sent');

      // The page's close reaches the server, which answers it; the program's stdin closes.
      await page.click(tid('close'));
      const close = await lastClose(page);
      assert.deepEqual([close.code, close.clean, close.by], ['1000', 'true', 'page'], close.text);
      assertNoProblems(page);
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('a program that exits: its output "hi", then close 1011 "exit status 3"', { timeout: 60_000 }, async () => {
    const server = await startServer(['--exec-shell', '--exec', 'echo hi; exit 3']);
    try {
      const page = await openPage(context, `${server.url}/`);
      // Not connect(): the program may be done before the page ever shows "open".
      await page.click(tid('open'));
      const close = await lastClose(page);
      assert.deepEqual([close.code, close.reason, close.clean, close.by], ['1011', 'exit status 3', 'true', 'server'], close.text);
      assert.match(close.text, /code 1011 Internal Error · reason “exit status 3”/);
      const kinds = await eventKinds(page);
      assert.ok(kinds.indexOf('open') >= 0 && kinds.indexOf('open') < kinds.indexOf('close'), `events: ${kinds}`);
      // The output came before the close, and the page asked for none of it.
      assert.deepEqual(await rows(page, 1), [{ type: 'text', size: 2, preview: 'hi', verify: '–', verified: 'none' }]);
      assert.equal(await page.textContent(tid('state')), 'closed');
      assertNoProblems(page);
      await page.close();
    } finally {
      await stopServer(server);
    }
  });
});

describe('demo page with --proxy to a TCP echo service', () => {
  let context;
  let backend;

  before(async () => {
    context = await launchBrowser();
    backend = await startEchoBackend();
  });

  after(async () => {
    await context?.close();
    await stopEchoBackend(backend);
  });

  test('binary messages reach the service as bytes and its bytes come back', { timeout: 60_000 }, async () => {
    const server = await startServer(['--proxy', backend.address]);
    const before = { connections: backend.connections, received: backend.received };
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      // One WebSocket, one connection to the service: the page's probes (its inspector
      // among them) are answered by the server and never reach it.
      assert.equal(backend.connections - before.connections, 1);

      await sendText(page, 'binary hello', { binary: true });
      const [bin] = await rows(page, 1);
      assert.deepEqual(bin, {
        type: 'binary', size: 12, preview: '62 69 6e 61 72 79 20 68 65 6c 6c 6f', verify: '✓', verified: 'ok',
      });

      // 150,000 B from the generator: the service's bytes come back one message per read,
      // never gathered, so as one or more binary messages that add up to the payload.
      await page.check(tid('gen-binary'), { force: true });
      await page.selectOption(tid('size'), 'custom');
      await page.fill(tid('size-custom'), '150000');
      await page.click(tid('generate'));
      await page.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="messages"] tr')].slice(1)
          .reduce((a, tr) => a + Number(tr.dataset.size ?? 0), 0) >= 150_000,
        null,
        { timeout: 30_000 },
      );
      const back = (await rows(page, 2)).slice(1);
      assert.equal(back.reduce((a, r) => a + r.size, 0), 150_000, JSON.stringify(back.map((r) => r.size)));
      assert.ok(back.every((r) => r.type === 'binary'), JSON.stringify(back));
      assert.equal(backend.received - before.received, 12 + 150_000);

      await page.click(tid('close'));
      const close = await lastClose(page);
      assert.deepEqual([close.code, close.clean, close.by], ['1000', 'true', 'page'], close.text);
      assertNoProblems(page);
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('without --proxy-text a text message is closed with 1003, and nothing reaches the service', { timeout: 60_000 }, async () => {
    const server = await startServer(['--proxy', backend.address]);
    const received = backend.received;
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      await sendText(page, 'hello');
      const close = await lastClose(page);
      assert.deepEqual(
        [close.code, close.reason, close.clean, close.by],
        ['1003', 'text messages are not accepted: send binary', 'true', 'server'],
        close.text,
      );
      assert.match(close.text, /code 1003 Unsupported Data/);
      assert.equal(await page.locator(`${tid('messages')} tr`).count(), 0, 'nothing may come back');
      assert.equal(backend.received, received);
      assertNoProblems(page);
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('with --proxy-text a text message goes as its bytes and comes back binary', { timeout: 60_000 }, async () => {
    const server = await startServer(['--proxy', backend.address, '--proxy-text']);
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      await sendText(page, 'hello');
      const [row] = await rows(page, 1);
      // The same bytes, but what the service sends is binary: the page flags the type.
      assert.deepEqual(row, { type: 'binary', size: 5, preview: '68 65 6c 6c 6f', verify: '✗', verified: 'mismatch' });
      assert.equal(await page.textContent(tid('state')), 'open');
      assertNoProblems(page);
      await stopServer(server); // before the tab closes: an open page answers its 1001 at once
      await page.close();
    } finally {
      await stopServer(server);
    }
  });
});
