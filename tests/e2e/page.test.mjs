// End-to-end tests of the demo page (web/) served by the real `sockeye serve`, driven in
// Debian's Chromium through playwright-core. Run by CTest (`ctest -L e2e`) as
//   node --test page.test.mjs
// with SOCKEYE_BIN, SOCKEYE_SOURCE_DIR, SOCKEYE_ARTIFACT_DIR and NODE_PATH (the
// node_modules holding playwright-core) in the environment.
//
// Optional: SOCKEYE_CHROMIUM (default /usr/bin/chromium), SOCKEYE_DOCS_SCREENSHOT=<png>
// to refresh the README screenshot (docs/screenshot.png), SOCKEYE_FRAMES_SCREENSHOT=<png>
// for the Frames panel's (docs/frames.png).
//
// HTTP/2: Chromium negotiates h2 by ALPN on the TLS port, and opens the page's wss://
// WebSocket to the same origin as an RFC 8441 extended CONNECT on that connection when the
// server's SETTINGS carry ENABLE_CONNECT_PROTOCOL=1 (its default, no feature flag). It
// trusts the `sockeye cert` certificate by its key: --ignore-certificate-errors-spki-list.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
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
const ARTIFACT_DIR = process.env.SOCKEYE_ARTIFACT_DIR ?? process.cwd();
const CHROMIUM = process.env.SOCKEYE_CHROMIUM ?? '/usr/bin/chromium';
const DOCS_SCREENSHOT = process.env.SOCKEYE_DOCS_SCREENSHOT ?? '';
const FRAMES_SCREENSHOT = process.env.SOCKEYE_FRAMES_SCREENSHOT ?? '';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const VIEWPORT = { width: 1280, height: 800 };

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

// SIGTERM, then the server must exit 0 (it closes its clients with 1001 first).
async function stopServer(server) {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const exited = once(server.proc, 'exit');
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `sockeye exited with ${code ?? signal} on SIGTERM\n${server.stderr()}`);
}

// GET /metrics from the test itself (HTTP/1.1, never a WebSocket): {'name{labels}': value}.
// `ca`: the PEM an https server's certificate must chain to.
async function serverMetrics(server, ca) {
  const url = new URL('/metrics', server.url);
  const body = await new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { ca, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('/metrics timed out')));
  });
  const out = {};
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

const WS_V11 = 'sockeye_websockets_by_http_version_total{version="1.1"}';
const WS_V2 = 'sockeye_websockets_by_http_version_total{version="2"}';
const H2_CONNECTIONS = 'sockeye_http2_connections_total';

// What moved between two /metrics readings, for the counters the HTTP/2 tests watch.
function moved(before, after) {
  const d = (k) => {
    assert.ok(k in before && k in after, `/metrics has no ${k}`);
    return after[k] - before[k];
  };
  return { ws11: d(WS_V11), ws2: d(WS_V2), h2Connections: d(H2_CONNECTIONS) };
}

// A `sockeye cert` certificate for localhost and 127.0.0.1, with the base64 SHA-256 of its
// SubjectPublicKeyInfo: what --ignore-certificate-errors-spki-list trusts.
function makeCert() {
  const dir = tempDir('sockeye-cert-');
  const made = spawnSync(BIN, ['cert', '--out', dir, '--host', 'localhost', '--host', '127.0.0.1'],
    { encoding: 'utf8', timeout: 60_000 });
  assert.equal(made.status, 0, `sockeye cert --out failed:\n${made.stdout}\n${made.stderr}`);
  const certPath = path.join(dir, 'cert.pem');
  const pem = readFileSync(certPath);
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return {
    pem,
    spki: createHash('sha256').update(spki).digest('base64'),
    args: ['--tls-cert', certPath, '--tls-key', path.join(dir, 'key.pem')],
  };
}

// The page's HTTP version row: what it came over, and (once the page has read the server's
// counters) what its WebSocket came over.
async function httpVersions(page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="ws-http"]').dataset.value;
    return v && v !== '';
  }, null, { timeout: 10_000 });
  return page.evaluate(() => ({
    nextHop: performance.getEntriesByType('navigation')[0].nextHopProtocol,
    page: document.querySelector('[data-testid="page-http"]').textContent,
    ws: document.querySelector('[data-testid="ws-http"]').textContent,
    wsValue: document.querySelector('[data-testid="ws-http"]').dataset.value,
  }));
}

// ------------------------------------------------------------------ browser

const tempDirs = [];

function tempDir(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

// A fresh profile each time: nothing cached or remembered between runs.
async function launchBrowser(extraArgs = []) {
  return chromium.launchPersistentContext(tempDir('sockeye-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport: VIEWPORT,
  });
}

// The pub/sub panel asks GET /topics whether the server has topics; an echo server's 404
// is its answer, which Chromium logs as a failed resource. Likewise GET /metrics (the
// WebSocket's HTTP version) on a server with --no-builtin-endpoints, and the Frames panel's
// inspector WebSocket on a server without --inspect (404) or one that refuses it (403).
function expectedProbe(msg) {
  const text = msg.text();
  if (/^WebSocket connection to '[^']*\/_sockeye\/inspect\?[^']*' failed: .*Unexpected response code: 40[34]/.test(text)) return true;
  return /status of 404/.test(text)
    && ['/topics', '/metrics'].includes(new URL(msg.location().url || 'about:blank').pathname);
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
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

async function connect(page) {
  await page.click(tid('open'));
  await page.waitForSelector(`${tid('state')}[data-state="open"]`, { timeout: 10_000 });
  assert.equal(await page.textContent(tid('state')), 'open');
}

async function rowCount(page) {
  return page.locator(`${tid('messages')} tr`).count();
}

// Waits for the index-th received row (0-based) and for its hash check; returns its cells.
async function waitForRow(page, index, timeout = 30_000) {
  await page.waitForFunction(
    (i) => {
      const row = document.querySelectorAll('[data-testid="messages"] tr')[i];
      return row && row.dataset.verified !== 'pending';
    },
    index,
    { timeout },
  );
  return page.evaluate((i) => {
    const row = document.querySelectorAll('[data-testid="messages"] tr')[i];
    return {
      type: row.querySelector('td.type').textContent.trim(),
      size: Number(row.dataset.size),
      sizeText: row.querySelector('td.size').textContent.trim(),
      preview: row.querySelector('td.preview').textContent,
      verify: row.querySelector('td.verify').textContent.trim(),
      verified: row.dataset.verified,
    };
  }, index);
}

async function sendText(page, text, { binary = false } = {}) {
  await page.fill(tid('message'), text);
  await page.setChecked(tid('binary'), binary, { force: true });
  await page.click(tid('send'));
}

// Generates and sends one payload with the "Large payload" card.
async function generate(page, size, { binary = false } = {}) {
  const preset = await page.$eval(tid('size'), (sel, v) => [...sel.options].some((o) => o.value === v), String(size));
  if (preset) {
    await page.selectOption(tid('size'), String(size));
  } else {
    await page.selectOption(tid('size'), 'custom');
    await page.fill(tid('size-custom'), String(size));
  }
  await page.check(tid(binary ? 'gen-binary' : 'gen-text'), { force: true });
  await page.click(tid('generate')); // waits while a previous payload is in flight
}

// The last close event in the log, or null.
async function lastClose(page, timeout = 15_000) {
  const sel = `${tid('events')} li[data-kind="close"]`;
  await page.waitForSelector(sel, { timeout });
  return page.$$eval(sel, (items) => {
    const li = items[items.length - 1];
    return { code: li.dataset.code, reason: li.dataset.reason, clean: li.dataset.clean, by: li.dataset.by, text: li.textContent };
  });
}

function assertNoProblems(page) {
  assert.deepEqual(page.problems, [], 'the page logged errors');
}

// ------------------------------------------------------------------ pub/sub panel

async function waitForPubsub(page, available) {
  await page.waitForSelector(`${tid('pubsub')}[data-available="${available}"]`, { timeout: 10_000 });
}

// Subscribes the panel to `topics` (one WebSocket) and waits until it is open.
async function subscribe(page, topics) {
  await page.fill(tid('sub-topics'), topics.join(', '));
  await page.click(tid('subscribe'));
  await page.waitForSelector(`${tid('subscriptions')} li[data-topics="${topics.join(', ')}"][data-state="open"]`, { timeout: 10_000 });
}

// Publishes with the panel's form, over HTTP (`topic`) or over a subscription's WebSocket
// (`via`: its topics as listed).
async function publish(page, text, { topic, via, binary = false }) {
  if (via) {
    await page.selectOption(tid('pub-via'), { label: `WebSocket of ${via}` });
  } else {
    await page.selectOption(tid('pub-via'), 'http');
    await page.fill(tid('pub-topic'), topic);
  }
  await page.fill(tid('pub-message'), text);
  await page.setChecked(tid('pub-binary'), binary, { force: true });
  // Forget the previous answer, so that waiting for one waits for this one.
  await page.$eval(tid('pub-result'), (p) => {
    p.textContent = '';
    delete p.dataset.delivered;
  });
  await page.click(tid('publish'));
}

// The `delivered` count the panel shows after an HTTP publish, and its sentence.
async function delivered(page) {
  await page.waitForSelector(`${tid('pub-result')}[data-delivered]`, { timeout: 10_000 });
  return {
    n: Number(await page.getAttribute(tid('pub-result'), 'data-delivered')),
    text: await page.textContent(tid('pub-result')),
  };
}

// Waits for `count` rows in the deliveries log; returns them all.
async function deliveries(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="deliveries"] tr').length >= n,
    count,
    { timeout: 10_000 },
  );
  return page.$$eval(`${tid('deliveries')} tr`, (rows) => rows.map((tr) => ({
    topic: tr.querySelector('td.topic').textContent,
    type: tr.querySelector('td.type').textContent.trim(),
    size: tr.querySelector('td.size').textContent,
    preview: tr.querySelector('td.preview').textContent,
  })));
}

// Refreshes the topic list until it shows `want` ({name: subscribers}), as the page shows it.
async function expectTopics(page, want) {
  let got;
  for (let i = 0; i < 50; i += 1) {
    await page.click(tid('topics-refresh'));
    await page.waitForTimeout(100);
    got = await page.$$eval(`${tid('topics')} li[data-topic]`, (items) => Object.fromEntries(
      items.map((li) => [li.querySelector('.name').textContent, li.querySelector('.count').textContent]),
    ));
    const expected = Object.fromEntries(Object.entries(want).map(([k, n]) => [k, `${n} subscriber${n === 1 ? '' : 's'}`]));
    if (JSON.stringify(got) === JSON.stringify(expected)) return;
  }
  assert.deepEqual(got, want, 'the topic list');
}

// ------------------------------------------------------------------ Frames panel

async function waitForFrames(page, state) {
  await page.waitForSelector(`${tid('frames')}[data-state="${state}"]`, { timeout: 10_000 });
}

// The group (one <tbody>) of the data message `dir` of `size` bytes, once its `message`
// event came: its head, frame rows (the cells as shown, and the values they were drawn
// from), read/write rows and elided rows.
async function frameGroup(page, dir, size, timeout = 30_000) {
  const sel = `${tid('frames-table')} tbody:has(> tr.fr-head[data-dir="${dir}"][data-size="${size}"][data-done="true"])`;
  await page.waitForSelector(sel, { timeout, state: 'attached' });
  return page.$$eval(sel, (bodies) => {
    const tb = bodies[bodies.length - 1];
    const text = (tr, cls) => tr.querySelector(`td.${cls}`).textContent.trim();
    return {
      head: { ...tb.querySelector('tr.fr-head').dataset, text: tb.querySelector('tr.fr-head').textContent },
      frames: [...tb.querySelectorAll('tr.fr-frame')].map((tr) => ({
        id: tr.dataset.id,
        dir: tr.dataset.dir,
        fin: text(tr, 'fin'),
        rsv: text(tr, 'rsv'),
        op: text(tr, 'op'),
        mask: text(tr, 'mask'),
        len: Number(text(tr, 'len').replace(/,/g, '')),
        enc: text(tr, 'enc'),
        key: text(tr, 'key'),
        hdr: tr.dataset.hdr,
      })),
      ios: [...tb.querySelectorAll('tr.fr-io')].map((tr) => ({ ...tr.dataset, text: tr.textContent })),
      elided: [...tb.querySelectorAll('tr.fr-elided')].map((tr) => ({
        frames: Number(tr.dataset.frames), bytes: Number(tr.dataset.bytes), ios: Number(tr.dataset.ios), text: tr.lastElementChild.textContent,
      })),
    };
  });
}

// Selects a frame row; returns the bit diagram as drawn: each byte (hex, bits, part) and
// the field labels.
async function bitDiagram(page, dir, id) {
  await page.click(`${tid('frames-table')} tr.fr-frame[data-dir="${dir}"][data-id="${id}"]`);
  await page.waitForSelector(`${tid('frame-bits')}[data-dir="${dir}"][data-id="${id}"]`);
  return page.$eval(tid('frame-bits'), (root) => {
    const grid = root.querySelector('.bitgrid');
    const bytes = [...grid.querySelectorAll('[data-testid="bit-byte"]')].map((b) => ({
      index: Number(b.dataset.index), hex: b.dataset.hex, part: b.dataset.part, data: b.dataset.data, label: b.textContent,
    }));
    const bits = [...grid.querySelectorAll('.bitcell')].map((c) => c.textContent).join('');
    const fields = Object.fromEntries([...grid.querySelectorAll('.field[data-field]')]
      .filter((f) => !f.textContent.includes('(cont.)'))
      .map((f) => [f.dataset.field, f.dataset.value]));
    return { bytes, bits, fields, problems: root.querySelector('.hint')?.textContent ?? '' };
  });
}

const hexByte = (n) => n.toString(16).padStart(2, '0');

// ------------------------------------------------------------------ tests

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('demo page over http/ws', () => {
  let server;
  let context;
  let page;

  before(async () => {
    server = await startServer();
    context = await launchBrowser();
    page = await openPage(context, `${server.url}/`);
  });

  after(async () => {
    try {
      if (page) {
        mkdirSync(ARTIFACT_DIR, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACT_DIR, 'page.png'), fullPage: true });
      }
    } finally {
      await context?.close();
      await stopServer(server);
    }
  });

  test('defaults to this origin, opens and echoes "hello" with a matching SHA-256', async () => {
    const host = new URL(server.url).host;
    assert.equal(await page.inputValue(tid('url')), `ws://${host}/`);
    assert.equal(await page.textContent(tid('state')), 'closed');
    assert.equal(await page.getAttribute(tid('message'), 'required'), '');
    await connect(page);
    assert.match(await page.textContent(tid('extensions')), /^(yes|no)$/);
    assert.equal(await page.textContent(tid('protocol')), 'none');
    // Plain http: browsers never speak h2c, so both are HTTP/1.1.
    assert.deepEqual(await httpVersions(page), {
      nextHop: 'http/1.1', page: 'page: HTTP/1.1', ws: 'WebSocket: HTTP/1.1 (Upgrade)', wsValue: '1.1',
    });
    const events = await page.$$eval(`${tid('events')} li`, (items) => items.map((li) => li.dataset.kind));
    assert.ok(events.includes('open'), `events: ${events}`);

    await sendText(page, 'hello');
    const row = await waitForRow(page, 0);
    assert.deepEqual(
      { type: row.type, size: row.size, sizeText: row.sizeText, preview: row.preview, verify: row.verify },
      { type: 'text', size: 5, sizeText: '5 B', preview: 'hello', verify: '✓' },
    );

    await sendText(page, 'binary hello', { binary: true });
    const bin = await waitForRow(page, 1);
    assert.equal(bin.type, 'binary');
    assert.equal(bin.size, 12);
    assert.equal(bin.verify, '✓');
    assert.equal(bin.preview, '62 69 6e 61 72 79 20 68 65 6c 6c 6f');
    assertNoProblems(page);
  });

  test('echoes 150,000 B of text and 10 MB of binary from the generator', { timeout: 120_000 }, async () => {
    if ((await page.getAttribute(tid('state'), 'data-state')) !== 'open') await connect(page);
    const first = await rowCount(page);

    await generate(page, 150_000);
    const text = await waitForRow(page, first, 60_000);
    assert.equal(text.type, 'text');
    assert.equal(text.size, 150_000);
    assert.equal(text.sizeText, '150,000 B');
    assert.equal(text.verify, '✓');
    assert.match(await page.textContent(tid('throughput')), /MB\/s/);

    // A custom size, binary with random fill.
    await page.check(tid('gen-binary'), { force: true }); // enables the fill choice
    await page.selectOption(tid('gen-fill'), 'random');
    await generate(page, 65_537, { binary: true });
    const custom = await waitForRow(page, first + 1);
    assert.deepEqual([custom.type, custom.size, custom.verify], ['binary', 65_537, '✓']);

    await page.selectOption(tid('gen-fill'), 'pattern');
    await generate(page, 10_000_000, { binary: true });
    const bin = await waitForRow(page, first + 2, 90_000);
    assert.equal(bin.type, 'binary');
    assert.equal(bin.size, 10_000_000);
    assert.equal(bin.sizeText, '10,000,000 B');
    assert.equal(bin.verify, '✓');
    await page.waitForFunction(() => document.querySelector('[data-testid="progress"]').value === 1);
    const mbps = Number(await page.getAttribute(tid('throughput'), 'data-mbps'));
    assert.ok(mbps > 0, `throughput ${mbps} MB/s`);
    assertNoProblems(page);

    if (DOCS_SCREENSHOT) {
      await sendText(page, 'Sockeye: a WebSocket server written from scratch in C++20');
      await waitForRow(page, first + 3);
      await page.evaluate(() => document.activeElement?.blur());
      await page.mouse.move(0, 0);
      await page.screenshot({ path: DOCS_SCREENSHOT });
    }
  });

  test('the Close button closes with 1000 and the server answers cleanly', async () => {
    if ((await page.getAttribute(tid('state'), 'data-state')) !== 'open') await connect(page);
    await page.click(tid('close'));
    await page.waitForSelector(`${tid('state')}[data-state="closed"]`, { timeout: 10_000 });
    const close = await lastClose(page);
    assert.equal(close.code, '1000', close.text);
    assert.equal(close.clean, 'true', close.text);
    assert.equal(close.by, 'page');
    assert.match(close.text, /code 1000/);
    assert.match(close.text, /wasClean true/);
    assert.equal(await page.isEnabled(tid('open')), true);
    assert.equal(await page.isEnabled(tid('send')), false);
    assertNoProblems(page);
  });
});

describe('server-initiated closes', () => {
  let context;

  before(async () => {
    context = await launchBrowser();
  });

  after(async () => {
    await context?.close();
  });

  test('a message over --max-message closes with 1009 "message too big"', { timeout: 60_000 }, async () => {
    const server = await startServer(['--max-message', '100000']);
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      await sendText(page, 'small enough');
      await waitForRow(page, 0);
      await generate(page, 150_000);
      await page.waitForSelector(`${tid('state')}[data-state="closed"]`, { timeout: 30_000 });
      const close = await lastClose(page);
      assert.equal(close.code, '1009', close.text);
      assert.equal(close.reason, 'message too big', close.text);
      assert.equal(close.by, 'server');
      assert.match(close.text, /Message Too Big/);
      assert.equal(await rowCount(page), 1, 'the oversized message must not be echoed');
      assert.match(await page.textContent(tid('gen-status')), /closed before the echo/);
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('server shutdown (SIGTERM) closes the page with 1001', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      await stopServer(server);
      await page.waitForSelector(`${tid('state')}[data-state="closed"]`, { timeout: 15_000 });
      const close = await lastClose(page);
      assert.equal(close.code, '1001', close.text);
      assert.equal(close.by, 'server');
      await page.close();
    } finally {
      await stopServer(server);
    }
  });
});

describe('pub/sub panel', () => {
  let context;

  before(async () => {
    context = await launchBrowser();
  });

  after(async () => {
    await context?.close();
  });

  test('subscribes two topics, publishes over HTTP and over the WebSocket, lists the topics', { timeout: 90_000 }, async () => {
    const server = await startServer(['--pubsub']);
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForPubsub(page, 'yes');
      assert.equal(await page.textContent(tid('pubsub-status')), 'available');
      assert.equal(await page.isVisible(tid('pubsub-hint')), false);
      assert.match(await page.textContent(tid('topics')), /No topic has a subscriber/);

      await subscribe(page, ['news']);
      await subscribe(page, ['sports']);
      await expectTopics(page, { news: 1, sports: 1 });

      await publish(page, 'hello news', { topic: 'news' });
      let d = await delivered(page);
      assert.equal(d.n, 1, d.text);
      assert.match(d.text, /delivered to 1 subscriber\b/);
      await publish(page, 'score', { topic: 'sports', binary: true });
      d = await delivered(page);
      assert.equal(d.n, 1, d.text);
      // Markup in a payload is shown as text, never parsed.
      await publish(page, '<b>goal</b>', { via: 'sports' });
      await page.waitForSelector(`${tid('pub-result')}:has-text("Sent 11 B")`);
      await deliveries(page, 3); // before the next publish, which goes another way
      await publish(page, 'after the goal', { topic: 'news' });
      await delivered(page);
      assert.deepEqual(await deliveries(page, 4), [
        { topic: 'news', type: 'text', size: '10 B', preview: 'hello news' },
        { topic: 'sports', type: 'binary', size: '5 B', preview: '73 63 6f 72 65' },
        { topic: 'sports', type: 'text', size: '11 B', preview: '<b>goal</b>' },
        { topic: 'news', type: 'text', size: '14 B', preview: 'after the goal' },
      ]);
      assert.equal(await page.locator(`${tid('deliveries')} b`).count(), 0);

      // One WebSocket for both topics: a publish to news reaches it and the news one.
      await subscribe(page, ['news', 'sports']);
      await expectTopics(page, { news: 2, sports: 2 });
      await publish(page, 'to both', { topic: 'news' });
      d = await delivered(page);
      assert.equal(d.n, 2, d.text);
      assert.match(d.text, /delivered to 2 subscribers/);
      const rows = (await deliveries(page, 6)).slice(4);
      assert.deepEqual(rows.map((r) => r.topic).sort(), ['news', 'news, sports']);
      assert.ok(rows.every((r) => r.preview === 'to both'), JSON.stringify(rows));
      // Its WebSocket publishes to both of its topics, itself included.
      await publish(page, 'from the pair', { via: 'news, sports' });
      const fromPair = (await deliveries(page, 10)).slice(6);
      assert.deepEqual(fromPair.map((r) => r.topic).sort(), ['news', 'news, sports', 'news, sports', 'sports']);

      // Unsubscribing closes that WebSocket.
      await page.click(`${tid('subscriptions')} li[data-topics="news"] ${tid('unsubscribe')}`);
      await page.waitForSelector(`${tid('subscriptions')} li[data-topics="news"]`, { state: 'detached' });
      await expectTopics(page, { news: 1, sports: 2 });
      await publish(page, 'anyone?', { topic: 'news' });
      assert.equal((await delivered(page)).n, 1);

      // The echo panel still echoes on a --pubsub server (any path but /topics).
      await connect(page);
      await sendText(page, 'echo beside topics');
      const echo = await waitForRow(page, 0);
      assert.deepEqual([echo.preview, echo.verify], ['echo beside topics', '✓']);
      assertNoProblems(page);
      mkdirSync(ARTIFACT_DIR, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACT_DIR, 'pubsub.png'), fullPage: true });
      await stopServer(server); // before the tab closes: an open page answers its 1001 at once
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('tokens: the list and subscriptions need --subscribe-token, publishing --publish-token', { timeout: 60_000 }, async () => {
    const server = await startServer(['--pubsub', '--subscribe-token', 'sub-secret', '--publish-token', 'pub-secret']);
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForPubsub(page, 'yes');
      assert.equal(await page.textContent(tid('pubsub-status')), 'token needed');
      await page.fill(tid('pubsub-token'), 'sub-secret');
      await page.click(tid('topics-refresh'));
      await page.waitForSelector(`${tid('pubsub-status')}:text-is("available")`);
      await subscribe(page, ['alerts']);
      await publish(page, 'no token', { topic: 'alerts' });
      await page.waitForSelector(`${tid('pub-result')}:has-text("403")`);
      await page.fill(tid('pubsub-token'), 'pub-secret');
      await publish(page, 'with token', { topic: 'alerts' });
      assert.equal((await delivered(page)).n, 1);
      assert.deepEqual(await deliveries(page, 1), [{ topic: 'alerts', type: 'text', size: '10 B', preview: 'with token' }]);
      await stopServer(server); // before the tab closes: an open page answers its 1001 at once
      await page.close();
    } finally {
      await stopServer(server);
    }
  });

  test('without --pubsub the panel says it is unavailable and the echo still works', { timeout: 60_000 }, async () => {
    const server = await startServer();
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForPubsub(page, 'no');
      assert.equal(await page.textContent(tid('pubsub-status')), 'unavailable');
      assert.equal(await page.isVisible(tid('pubsub-hint')), true);
      assert.match(await page.textContent(tid('pubsub-hint')), /sockeye serve --pubsub/);
      assert.equal(await page.isEnabled(tid('subscribe')), false);
      assert.equal(await page.isEnabled(tid('publish')), false);

      await connect(page);
      await sendText(page, 'still echoing');
      const row = await waitForRow(page, 0);
      assert.deepEqual([row.type, row.preview, row.verify], ['text', 'still echoing', '✓']);
      assertNoProblems(page);
      await stopServer(server); // before the tab closes: an open page answers its 1001 at once
      await page.close();
    } finally {
      await stopServer(server);
    }
  });
});

describe('permessage-deflate with Chromium', () => {
  test('the page shows the extension negotiated and echoes compressed messages', { timeout: 90_000 }, async () => {
    const server = await startServer(['--permessage-deflate']);
    const context = await launchBrowser();
    try {
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      assert.equal(await page.textContent(tid('extensions')), 'yes');
      await sendText(page, 'compress me '.repeat(500));
      await waitForRow(page, 0);
      await generate(page, 150_000);
      await waitForRow(page, 1, 60_000);
      const rows = await page.$$eval(`${tid('messages')} tr`, (trs) => trs.map((tr) => tr.textContent));
      assert.equal(rows.length, 2);
      for (const row of rows) assert.match(row, /✓/, row);
      await page.close();
    } finally {
      await context.close();
      await stopServer(server);
    }
  });
});

describe('demo page over https/wss', () => {
  test('defaults to wss://, opens, echoes and closes', { timeout: 90_000 }, async (t) => {
    const probe = spawnSync(BIN, ['cert', '--help'], { encoding: 'utf8', timeout: 15_000 });
    if (probe.status !== 0) {
      t.skip(`\`sockeye cert --help\` failed (status ${probe.status ?? probe.signal}): TLS support is not built yet`);
      return;
    }
    const certDir = tempDir('sockeye-cert-');
    const made = spawnSync(BIN, ['cert', '--out', certDir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(made.status, 0, `sockeye cert --out failed:\n${made.stdout}\n${made.stderr}`);
    const files = readdirSync(certDir);
    const cert = files.find((f) => /cert|crt/i.test(f) && !/key/i.test(f));
    const key = files.find((f) => /key/i.test(f));
    assert.ok(cert && key, `cannot tell the certificate and the key apart in ${certDir}: ${files}`);

    const server = await startServer(['--tls-cert', path.join(certDir, cert), '--tls-key', path.join(certDir, key)]);
    const context = await launchBrowser(['--ignore-certificate-errors']);
    try {
      assert.match(server.url, /^https:\/\//);
      const page = await openPage(context, `${server.url}/`);
      const host = new URL(server.url).host;
      assert.equal(await page.inputValue(tid('url')), `wss://${host}/`);
      await connect(page);
      await sendText(page, 'hello over TLS');
      const row = await waitForRow(page, 0);
      assert.deepEqual([row.type, row.size, row.verify], ['text', 14, '✓']);
      await generate(page, 150_000, { binary: true });
      const big = await waitForRow(page, 1, 60_000);
      assert.deepEqual([big.type, big.size, big.verify], ['binary', 150_000, '✓']);
      await page.click(tid('close'));
      const close = await lastClose(page);
      assert.equal(close.code, '1000', close.text);
      assert.equal(close.clean, 'true', close.text);
      assertNoProblems(page);
    } finally {
      await context.close();
      await stopServer(server);
    }
  });
});

describe('demo page over HTTP/2', () => {
  test('h2 by ALPN; the WebSocket is an RFC 8441 stream of the same connection and echoes', { timeout: 120_000 }, async () => {
    const cert = makeCert();
    const server = await startServer(cert.args);
    const context = await launchBrowser([`--ignore-certificate-errors-spki-list=${cert.spki}`]);
    try {
      assert.match(server.url, /^https:\/\//);
      const before = await serverMetrics(server, cert.pem);
      const page = await openPage(context, `${server.url}/`);
      assert.equal(await page.inputValue(tid('url')), `wss://${new URL(server.url).host}/`);
      await connect(page);
      assert.deepEqual(await httpVersions(page), {
        nextHop: 'h2', page: 'page: HTTP/2', ws: 'WebSocket: HTTP/2 (RFC 8441)', wsValue: '2',
      });
      const events = await page.$$eval(`${tid('events')} li`, (items) => items.map((li) => li.textContent));
      assert.ok(events.some((t) => /WebSocket over HTTP\/2 \(RFC 8441\)/.test(t)), events.join('\n'));

      await sendText(page, 'hello over h2');
      const row = await waitForRow(page, 0);
      assert.deepEqual([row.type, row.size, row.preview, row.verify], ['text', 13, 'hello over h2', '✓']);
      // Past the 64 KiB initial windows: the echo needs WINDOW_UPDATEs both ways.
      await page.check(tid('gen-binary'), { force: true });
      await generate(page, 10_000_000, { binary: true });
      const big = await waitForRow(page, 1, 90_000);
      assert.deepEqual([big.type, big.size, big.verify], ['binary', 10_000_000, '✓']);

      // The server saw one HTTP/2 connection (the page, its fetches and its WebSocket) and
      // one WebSocket, counted under version="2".
      const delta = moved(before, await serverMetrics(server, cert.pem));
      assert.deepEqual(delta, { ws11: 0, ws2: 1, h2Connections: 1 });

      await page.click(tid('close'));
      const close = await lastClose(page);
      assert.equal(close.code, '1000', close.text);
      assert.equal(close.clean, 'true', close.text);
      assertNoProblems(page);
      mkdirSync(ARTIFACT_DIR, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACT_DIR, 'page-h2.png'), fullPage: true });
    } finally {
      await context.close();
      await stopServer(server);
    }
  });

  test('with --http2 off the same https page and its WebSocket are HTTP/1.1', { timeout: 60_000 }, async () => {
    const cert = makeCert();
    const server = await startServer([...cert.args, '--http2', 'off']);
    const context = await launchBrowser([`--ignore-certificate-errors-spki-list=${cert.spki}`]);
    try {
      const before = await serverMetrics(server, cert.pem);
      const page = await openPage(context, `${server.url}/`);
      await connect(page);
      assert.deepEqual(await httpVersions(page), {
        nextHop: 'http/1.1', page: 'page: HTTP/1.1', ws: 'WebSocket: HTTP/1.1 (Upgrade)', wsValue: '1.1',
      });
      await sendText(page, 'hello over 1.1');
      const row = await waitForRow(page, 0);
      assert.deepEqual([row.preview, row.verify], ['hello over 1.1', '✓']);
      assert.deepEqual(moved(before, await serverMetrics(server, cert.pem)), { ws11: 1, ws2: 0, h2Connections: 0 });
      assertNoProblems(page);
    } finally {
      await context.close();
      await stopServer(server);
    }
  });
});

describe('Frames panel', () => {
  test('with --inspect: the frames of 150,000 B of text, and the bit diagram of "a"', { timeout: 120_000 }, async () => {
    const server = await startServer(['--inspect']);
    const context = await launchBrowser();
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForFrames(page, 'on');
      assert.equal(await page.textContent(tid('frames-status')), 'on');
      await connect(page);
      // The page's WebSocket carries the id its inspector asked for.
      const opened = await page.$$eval(`${tid('events')} li[data-kind="info"]`, (items) => items.map((li) => li.textContent));
      assert.ok(opened.some((t) => /connecting to ws:\/\/[^ ]*\?inspect=[0-9a-f]{16}/.test(t)), opened.join('\n'));

      // "a" from the browser: 0x81 0x81, a 4-byte key, one masked payload byte.
      await sendText(page, 'a');
      await waitForRow(page, 0);
      const small = await frameGroup(page, 'in', 1);
      assert.equal(small.frames.length, 1, JSON.stringify(small));
      const [fa] = small.frames;
      assert.deepEqual([fa.fin, fa.rsv, fa.op, fa.mask, fa.len, fa.enc], ['1', '000', '1 text', '1', 1, '7']);
      assert.match(fa.key, /^[0-9a-f]{8}$/);
      assert.ok(small.ios.length >= 1, 'the read that carried it');
      assert.match(small.ios[0].text, /read \d+/);
      const dia = await bitDiagram(page, 'in', fa.id);
      assert.equal(dia.problems, '');
      assert.deepEqual(dia.bytes.map((b) => b.part), ['hdr', 'hdr', 'key', 'key', 'key', 'key', 'payload']);
      assert.equal(dia.bytes[0].hex, '81');
      assert.equal(dia.bytes[1].hex, '81');
      assert.match(dia.bytes[0].label, /0x81/);
      assert.equal(dia.bits.slice(0, 16), '1000000110000001');
      const key = dia.bytes.slice(2, 6).map((b) => b.hex).join('');
      assert.equal(key, fa.key, 'the key bytes drawn are the frame\'s key');
      assert.equal(fa.hdr, `8181${fa.key}`);
      const wire = parseInt(dia.bytes[6].hex, 16);
      assert.equal(wire ^ parseInt(key.slice(0, 2), 16), 0x61, `0x${dia.bytes[6].hex} XOR key[0] 0x${key.slice(0, 2)}`);
      assert.equal(dia.bytes[6].data, '61');
      assert.equal(dia.bits.slice(48), wire.toString(2).padStart(8, '0'));
      assert.equal(dia.fields.FIN, '1');
      assert.equal(dia.fields.MASK, '1');
      assert.match(dia.fields.opcode, /^0x1 text/);
      assert.equal(dia.fields['payload len'], '1');
      assert.equal(dia.fields['masking key'], key.match(/../g).join(' '));
      // Its echo: unmasked, 0x81 0x01 'a'.
      const echo = await frameGroup(page, 'out', 1);
      assert.deepEqual(echo.frames.map((f) => [f.fin, f.op, f.mask, f.len, f.key, f.hdr]), [['1', '1 text', '0', 1, '–', '8101']]);
      const echoDia = await bitDiagram(page, 'out', echo.frames[0].id);
      assert.deepEqual(echoDia.bytes.map((b) => [b.hex, b.part]), [['81', 'hdr'], ['01', 'hdr'], ['61', 'payload']]);

      // 150,000 B of text: however Chromium cuts it, the frames add up to the message.
      await generate(page, 150_000);
      const row = await waitForRow(page, 1, 60_000);
      assert.equal(row.verify, '✓');
      const big = await frameGroup(page, 'in', 150_000);
      assert.equal(big.head.type, 'text');
      const shown = big.frames;
      assert.ok(shown.length >= 1, JSON.stringify(big));
      const elided = big.elided.reduce((a, e) => ({ frames: a.frames + e.frames, bytes: a.bytes + e.bytes }), { frames: 0, bytes: 0 });
      const total = shown.reduce((a, f) => a + f.len, 0) + elided.bytes;
      assert.equal(total, 150_000, `frame lengths ${shown.map((f) => f.len)} + ${elided.bytes} elided`);
      assert.equal(Number(big.head.frames), shown.length + elided.frames);
      assert.equal(shown[0].op, '1 text');
      for (const f of shown.slice(1)) assert.equal(f.op, '0 continuation', JSON.stringify(f));
      assert.deepEqual(shown.map((f) => f.fin), [...shown.slice(1).map(() => '0'), '1'], 'only the last frame has FIN');
      for (const f of shown) {
        assert.equal(f.mask, '1', `client frame #${f.id} must be masked`);
        assert.match(f.key, /^[0-9a-f]{8}$/);
        assert.equal(f.enc, f.len > 65_535 ? '64' : f.len > 125 ? '16' : '7', JSON.stringify(f));
      }
      for (const e of big.elided) {
        assert.match(e.text, new RegExp(`… ${e.frames.toLocaleString('en-US')} frames? \\(${e.bytes.toLocaleString('en-US')} B\\) in ${e.ios.toLocaleString('en-US')} reads? …`));
      }
      if (shown.length === 1) assert.equal(shown[0].enc, '64', 'one frame of 150,000 B: a 64-bit length');
      assert.ok(big.ios.length >= 2, `150,000 B take more than one read: ${big.ios.length}`);
      // The read rows cover the message: their sizes add up to at least its payload, as
      // long as none was left out.
      if (!big.elided.some((e) => e.ios > 0)) {
        const read = big.ios.reduce((a, io) => a + Number(io.size), 0);
        assert.ok(read >= 150_000, `reads ${read} B`);
      }
      // The first frame's header drawn: 0x01 (or 0x81 alone), the length as encoded.
      const bigDia = await bitDiagram(page, 'in', shown[0].id);
      assert.equal(bigDia.problems, '');
      assert.equal(bigDia.bytes[0].hex, shown.length === 1 ? '81' : '01');
      const len7 = parseInt(bigDia.bytes[1].hex, 16) & 0x7f;
      assert.equal(len7, shown[0].enc === '64' ? 127 : shown[0].enc === '16' ? 126 : shown[0].len);
      const extBytes = bigDia.bytes.filter((b) => b.part === 'ext');
      assert.equal(extBytes.length, { 7: 0, 16: 2, 64: 8 }[shown[0].enc]);
      assert.equal(parseInt(extBytes.map((b) => b.hex).join('') || '0', 16), shown[0].enc === '7' ? 0 : shown[0].len);
      assert.equal(bigDia.bytes.filter((b) => b.part === 'key').map((b) => b.hex).join(''), shown[0].key);

      // The echo went back unmasked, its frames adding up the same way.
      const bigEcho = await frameGroup(page, 'out', 150_000);
      const echoTotal = bigEcho.frames.reduce((a, f) => a + f.len, 0) + bigEcho.elided.reduce((a, e) => a + e.bytes, 0);
      assert.equal(echoTotal, 150_000);
      for (const f of bigEcho.frames) assert.equal(f.mask, '0');

      // 10 MB of binary: more frames than a message shows one by one (Chromium cuts it
      // into pieces of about 128 KiB); the rest is one elided row, and it all adds up.
      await page.check(tid('gen-binary'), { force: true });
      await generate(page, 10_000_000, { binary: true });
      assert.equal((await waitForRow(page, 2, 90_000)).verify, '✓');
      const huge = await frameGroup(page, 'in', 10_000_000, 60_000);
      assert.equal(huge.head.type, 'binary');
      const hugeElided = huge.elided.reduce((a, e) => ({ frames: a.frames + e.frames, bytes: a.bytes + e.bytes }), { frames: 0, bytes: 0 });
      assert.equal(huge.frames.reduce((a, f) => a + f.len, 0) + hugeElided.bytes, 10_000_000);
      assert.equal(Number(huge.head.frames), huge.frames.length + hugeElided.frames);
      if (Number(huge.head.frames) > 9) {
        assert.equal(huge.frames.length, 9, 'the first 8 frames and the last');
        assert.equal(huge.elided.length, 1);
        assert.match(huge.elided[0].text, /^… [\d,]+ frames \([\d,]+ B\) in [\d,]+ reads? …$/);
      }
      assert.equal(huge.frames[0].op, '2 binary');
      assert.deepEqual(huge.frames.map((f) => f.fin), [...huge.frames.slice(1).map(() => '0'), '1']);
      assert.ok(huge.frames.every((f) => f.mask === '1'));
      assert.ok(huge.ios.length <= 20, `reads shown: ${huge.ios.length}`);

      if (FRAMES_SCREENSHOT) {
        await page.evaluate(() => document.activeElement?.blur());
        await page.mouse.move(0, 0);
        // The 150,000 B message at the top of the table, its first frame drawn.
        await bitDiagram(page, 'in', shown[0].id);
        await page.$eval(`${tid('frames-table')} tr.fr-frame[data-dir="in"][data-id="${shown[0].id}"]`, (tr) => {
          const wrap = tr.closest('.table-wrap');
          const head = wrap.querySelector('thead').getBoundingClientRect().height;
          wrap.scrollTop += tr.closest('tbody').getBoundingClientRect().top - wrap.getBoundingClientRect().top - head;
        });
        await (await page.$(tid('frames'))).screenshot({ path: FRAMES_SCREENSHOT });
      }

      // Clear empties the table; the rows come back with the next message.
      await page.click(tid('frames-clear'));
      assert.equal(await page.locator(`${tid('frames-table')} tr.fr-frame`).count(), 0);
      await sendText(page, 'after clear');
      await waitForRow(page, 3);
      const after = await frameGroup(page, 'in', 11);
      assert.equal(after.frames.length, 1);
      assertNoProblems(page);
      await stopServer(server); // before the tab closes: an open page answers its 1001 at once
      await page.close();
    } finally {
      await context.close();
      await stopServer(server);
    }
  });

  test('with --inspect-token the inspector refuses the page without the token, and opens with it', { timeout: 60_000 }, async () => {
    const server = await startServer(['--inspect', '--inspect-token', 'peek']);
    const context = await launchBrowser();
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForFrames(page, 'off');
      assert.match(await page.textContent(tid('frames-hint')), /403.*\/\?inspect-token=T/);
      await connect(page);
      await sendText(page, 'not inspected');
      assert.equal((await waitForRow(page, 0)).verify, '✓');
      assertNoProblems(page);

      const withToken = await openPage(context, `${server.url}/?inspect-token=peek`);
      await waitForFrames(withToken, 'on');
      await connect(withToken);
      await sendText(withToken, 'inspected');
      await waitForRow(withToken, 0);
      const g = await frameGroup(withToken, 'in', 9);
      assert.deepEqual(g.frames.map((f) => [f.op, f.fin, f.mask, f.len]), [['1 text', '1', '1', 9]]);
      assertNoProblems(withToken);
      await stopServer(server);
      await page.close();
      await withToken.close();
    } finally {
      await context.close();
      await stopServer(server);
    }
  });

  test('without --inspect the panel says how to turn it on and the echo still works', { timeout: 60_000 }, async () => {
    const server = await startServer();
    const context = await launchBrowser();
    try {
      const page = await openPage(context, `${server.url}/`);
      await waitForFrames(page, 'off');
      assert.equal(await page.textContent(tid('frames-status')), 'off');
      assert.equal(await page.isVisible(tid('frames-hint')), true);
      assert.match(await page.textContent(tid('frames-hint')), /sockeye serve --inspect/);
      await connect(page);
      const opened = await page.$$eval(`${tid('events')} li[data-kind="info"]`, (items) => items.map((li) => li.textContent));
      assert.ok(opened.some((t) => t.includes(`connecting to ws://${new URL(server.url).host}/`) && !t.includes('inspect=')), opened.join('\n'));
      await sendText(page, 'no inspector');
      const row = await waitForRow(page, 0);
      assert.deepEqual([row.preview, row.verify], ['no inspector', '✓']);
      assert.equal(await page.locator(`${tid('frames-table')} tr.fr-frame`).count(), 0);
      assertNoProblems(page);
      await stopServer(server);
      await page.close();
    } finally {
      await context.close();
      await stopServer(server);
    }
  });
});
