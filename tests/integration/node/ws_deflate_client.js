#!/usr/bin/env node
// Node `ws` with perMessageDeflate against a server started with --permessage-deflate:
// checks the extension was negotiated and that text and binary echo intact.
// Usage: node ws_deflate_client.js PORT
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const WebSocket = require('ws');

const port = Number(process.argv[2]);
const timer = setTimeout(() => {
  console.error('FAIL: timed out');
  process.exit(1);
}, 45000);

const ws = new WebSocket(`ws://127.0.0.1:${port}/deflate`, {
  perMessageDeflate: { threshold: 0 },
  maxPayload: 0,
});
const sent = [];
const messages = [];
for (const n of [0, 10, 5000, 200000, 4 << 20]) {
  messages.push({ data: 'echo salmon stream '.repeat(Math.ceil(n / 19)).slice(0, n), binary: false });
  messages.push({ data: crypto.randomBytes(n), binary: true });
}

ws.on('open', () => {
  assert.ok(ws.extensions.includes('permessage-deflate'), `extensions: ${ws.extensions}`);
  for (const m of messages) {
    ws.send(m.data, { binary: m.binary, compress: true });
    sent.push(m);
  }
});
let received = 0;
ws.on('message', (data, isBinary) => {
  const m = sent[received++];
  assert.strictEqual(isBinary, m.binary);
  if (m.binary) assert.ok(Buffer.compare(data, m.data) === 0, `binary ${m.data.length} differs`);
  else assert.strictEqual(data.toString(), m.data);
  if (received === messages.length) ws.close(1000, 'done');
});
ws.on('close', (code) => {
  clearTimeout(timer);
  assert.strictEqual(code, 1000);
  assert.strictEqual(received, messages.length);
  console.log(`node ws: ${received} messages echoed with ${ws.extensions}`);
  process.exit(0);
});
ws.on('error', (e) => {
  console.error('FAIL:', e.message);
  process.exit(1);
});
