#!/usr/bin/env node
// Drives a running sockeye server with the `ws` client (a third-party implementation):
// echo of text and binary messages of several sizes up to 1 MiB, fragmented sends,
// ping/pong and the close handshake. Usage: node ws_echo_client.js PORT
// Exits 0 when every check passed, 1 otherwise (with the reason on stderr).
'use strict';

const crypto = require('crypto');
const assert = require('assert');
const WebSocket = require('ws');

const port = Number(process.argv[2]);
// Optional: a CA file, to run the same checks over wss:// (the certificate names localhost).
const caFile = process.argv[3];
if (!port) {
  console.error('usage: node ws_echo_client.js PORT');
  process.exit(2);
}

const overall = setTimeout(() => {
  console.error('FAIL: node client timed out after 60 s');
  process.exit(1);
}, 60000);

function open(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const queue = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const item = { data, isBinary };
      if (waiters.length) waiters.shift()(item);
      else queue.push(item);
    });
    ws.next = () =>
      new Promise((res, rej) => {
        if (queue.length) return res(queue.shift());
        const timer = setTimeout(() => rej(new Error('no message within 20 s')), 20000);
        waiters.push((item) => {
          clearTimeout(timer);
          res(item);
        });
      });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) =>
      reject(new Error(`unexpected HTTP ${res.statusCode} on upgrade`)));
  });
}

function send(ws, data, options) {
  return new Promise((resolve, reject) => ws.send(data, options, (err) => (err ? reject(err) : resolve())));
}

let checks = 0;
async function expectEcho(ws, payload, isBinary, label) {
  await send(ws, payload, { binary: isBinary });
  const got = await ws.next();
  assert.strictEqual(got.isBinary, isBinary, `${label}: type changed`);
  const expected = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  assert.strictEqual(got.data.length, expected.length, `${label}: length`);
  assert.ok(got.data.equals(expected), `${label}: content differs`);
  checks++;
}

function asciiText(n) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
  const bytes = crypto.randomBytes(n);
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[bytes[i] % alphabet.length];
  return out;
}

async function main() {
  const url = caFile ? `wss://localhost:${port}/node` : `ws://127.0.0.1:${port}/node`;
  const tlsOptions = caFile ? { ca: require('fs').readFileSync(caFile) } : {};
  // perMessageDeflate stays on (the default): the server must decline the extension.
  const ws = await open(url, { maxPayload: 0, ...tlsOptions });
  assert.strictEqual(ws.extensions, '', `server accepted extensions: ${ws.extensions}`);

  // Whole messages of every length class.
  for (const n of [0, 1, 125, 126, 65535, 65536, 150000, 1 << 20]) {
    await expectEcho(ws, crypto.randomBytes(n), true, `binary ${n}`);
  }
  for (const n of [0, 125, 126, 65536, 1 << 20]) {
    await expectEcho(ws, asciiText(n), false, `text ${n}`);
  }
  await expectEcho(ws, 'grüße, 世界, 🎉'.repeat(5000), false, 'multibyte text');

  // Fragmented sends (fin: false until the last piece).
  const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), Buffer.alloc(0), crypto.randomBytes(5)];
  for (let i = 0; i < parts.length; i++) {
    await send(ws, parts[i], { binary: true, fin: i === parts.length - 1 });
  }
  let got = await ws.next();
  assert.ok(got.isBinary && got.data.equals(Buffer.concat(parts)), 'fragmented binary echo differs');
  checks++;
  const textParts = ['Hello, ', 'fragmented ', 'wörld'];
  for (let i = 0; i < textParts.length; i++) {
    await send(ws, textParts[i], { binary: false, fin: i === textParts.length - 1 });
  }
  got = await ws.next();
  assert.ok(!got.isBinary && got.data.toString('utf8') === textParts.join(''), 'fragmented text echo differs');
  checks++;

  // Ping → pong with the same payload.
  const pong = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no pong within 5 s')), 5000);
    ws.once('pong', (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
  ws.ping(Buffer.from('node-ping'));
  assert.strictEqual((await pong).toString(), 'node-ping');
  checks++;

  // Many small messages in flight at once keep their order.
  const burst = [];
  for (let i = 0; i < 200; i++) burst.push(`burst ${i}`);
  await Promise.all(burst.map((m) => send(ws, m, { binary: false })));
  for (const m of burst) {
    const e = await ws.next();
    assert.strictEqual(e.data.toString(), m, 'burst order');
  }
  checks++;

  // Close handshake: the server echoes our code.
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.close(4000, 'node done');
  const c = await closed;
  assert.strictEqual(c.code, 4000, `close code ${c.code}`);
  checks++;

  // A second connection closed with 1000.
  const ws2 = await open(url, { ...tlsOptions });
  await expectEcho(ws2, 'second connection', false, 'second');
  const closed2 = new Promise((resolve) => ws2.once('close', (code) => resolve(code)));
  ws2.close(1000);
  assert.strictEqual(await closed2, 1000);
  checks++;

  console.log(`node ws ${require('ws/package.json').version}: ${checks} checks passed`);
}

main().then(
  () => {
    clearTimeout(overall);
    process.exit(0);
  },
  (err) => {
    console.error('FAIL:', err && err.stack ? err.stack : err);
    process.exit(1);
  }
);
