#!/usr/bin/env node
// ws_echo: an echo server on the npm `ws` package, a peer for the comparison benchmarks.
//
// Usage: node ws_echo.js --port N   (0 = pick a free port). Needs `ws` from the committed
// lock file: `npm ci --prefix bench/peers` (or NODE_PATH pointing at a node_modules that
// has it). Prints "listening on http://127.0.0.1:PORT" when ready; exits 0 on SIGTERM/SIGINT.
//
// Plain `ws` as people deploy it: no permessage-deflate, no optional native addons
// (bufferutil), so masking runs in JavaScript. ws answers pings and does the close
// handshake itself. Like Beast, ws buffers a whole message before 'message' fires, and
// Node caps one Buffer at 4 GiB (buffer.constants.MAX_LENGTH on Node 20), so that is the
// largest message this peer can echo. Node raises RLIMIT_NOFILE to the hard limit itself.
'use strict';

const { WebSocketServer } = require('ws');

function parsePort(argv) {
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) return Number(argv[++i]);
    if (argv[i].startsWith('--port=')) return Number(argv[i].slice(7));
    console.error('usage: node ws_echo.js --port N');
    process.exit(2);
  }
  return 0;
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: parsePort(process.argv),
  // Node's default backlog is 511; the other peers listen with SOMAXCONN (4096), and the
  // connect benchmark should not measure a shorter accept queue.
  backlog: 4096,
  perMessageDeflate: false,
  // 0 disables ws's size guards (default 100 MiB per message, 16 Ki fragments, 256 Ki
  // buffered chunks), which multi-GiB messages exceed. ws coerces these with `| 0`, so a
  // "very large" number such as 2 ** 40 would wrap to 0 or go negative: 0 is the way to
  // say "no limit".
  maxPayload: 0,
  maxFragments: 0,
  maxBufferedChunks: 0,
});

wss.on('listening', () => {
  process.stdout.write(`listening on http://127.0.0.1:${wss.address().port}\n`);
});

// ws sets TCP_NODELAY on every connection itself.
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a protocol error closes the connection; nothing else to do
});

wss.on('error', (err) => {
  console.error(`ws_echo: ${err.message}`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
