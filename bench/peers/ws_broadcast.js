#!/usr/bin/env node
// ws_broadcast: a pub/sub peer on the npm `ws` package for the fan-out benchmark, written
// the way ws users write broadcast: for each message, `client.send(data)` for every client
// on the topic, so ws frames it once per recipient.
//
// Usage: node ws_broadcast.js --port N   (0 = pick a free port). Needs `ws` from the
// committed lock file: `npm ci --prefix bench/peers` (or NODE_PATH pointing at a
// node_modules that has it). Prints "listening on http://127.0.0.1:PORT" when ready; exits
// 0 on SIGTERM/SIGINT.
//
// The URL contract of `sockeye serve --pubsub`: a WebSocket on /topics/NAME (or
// /topics?topic=a&topic=b) subscribes to those topics; whatever a client sends is
// published to all of its topics, the sender included (as Redis does); POST /publish/NAME
// publishes the request body and answers {"delivered":N}. Like ws_echo.js: no
// permessage-deflate, no native addons, no slow-subscriber policy (ws buffers without
// bound for a client that does not read).
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

function parsePort(argv) {
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) return Number(argv[++i]);
    if (argv[i].startsWith('--port=')) return Number(argv[i].slice(7));
    console.error('usage: node ws_broadcast.js --port N');
    process.exit(2);
  }
  return 0;
}

// topic name -> Set of WebSocket
const topics = new Map();

function topicsOf(url) {
  const u = new URL(url, 'http://localhost');
  if (u.pathname.startsWith('/topics/') && u.pathname.length > 8) {
    return [decodeURIComponent(u.pathname.slice(8))];
  }
  if (u.pathname === '/topics') return u.searchParams.getAll('topic').filter((t) => t);
  return [];
}

function publish(topic, data, isBinary) {
  const clients = topics.get(topic);
  if (!clients) return 0;
  for (const c of clients) c.send(data, { binary: isBinary });
  return clients.size;
}

const server = http.createServer((req, res) => {
  const m = /^\/publish\/(.+)$/.exec(req.url);
  if (req.method !== 'POST' || !m) {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const type = req.headers['content-type'] || '';
    const text = type.startsWith('text/') || type.includes('json');
    const delivered = publish(decodeURIComponent(m[1]), Buffer.concat(chunks), !text);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ delivered }));
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 0 });

server.on('upgrade', (req, socket, head) => {
  const names = topicsOf(req.url);
  if (names.length === 0) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    for (const t of names) {
      if (!topics.has(t)) topics.set(t, new Set());
      topics.get(t).add(ws);
    }
    ws.on('message', (data, isBinary) => {
      for (const t of names) publish(t, data, isBinary);
    });
    ws.on('close', () => {
      for (const t of names) {
        const set = topics.get(t);
        set.delete(ws);
        if (set.size === 0) topics.delete(t);
      }
    });
    ws.on('error', () => {}); // a protocol error closes the connection; nothing else to do
  });
});

server.on('error', (err) => {
  console.error(`ws_broadcast: ${err.message}`);
  process.exit(1);
});

// The other peers listen with SOMAXCONN (4096); Node's default backlog is 511.
server.listen({ host: '127.0.0.1', port: parsePort(process.argv), backlog: 4096 }, () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
