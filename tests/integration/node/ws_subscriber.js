#!/usr/bin/env node
// A pub/sub subscriber on the `ws` client (a third-party implementation): connects to URL
// and expects COUNT text messages "m0", "m1", ... in order, then exits 0 printing
// "received COUNT in order"; any other message, a close or 30 s without them: exit 1.
'use strict';

const WebSocket = require('ws');

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !count) {
  console.error('usage: node ws_subscriber.js URL COUNT');
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error(`FAIL: ${received} of ${count} messages within 30 s`);
  process.exit(1);
}, 30000);

let received = 0;
const ws = new WebSocket(url);
ws.on('message', (data, isBinary) => {
  const text = data.toString();
  if (isBinary || text !== `m${received}`) {
    console.error(`FAIL: message ${received} is ${isBinary ? 'binary ' : ''}${JSON.stringify(text)}`);
    process.exit(1);
  }
  received += 1;
  if (received === count) {
    clearTimeout(timer);
    console.log(`received ${count} in order`);
    ws.close(1000);
  }
});
ws.on('close', (code) => {
  if (received !== count) {
    console.error(`FAIL: closed (${code}) after ${received} messages`);
    process.exit(1);
  }
  process.exit(0);
});
ws.on('error', (e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
