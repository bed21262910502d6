#!/usr/bin/env node
// An echo server on the npm `ws` package (a third-party implementation) for the sockeye
// client tests. Listens on 127.0.0.1 on a free port, prints "listening PORT", echoes every
// message with its type, and runs until killed. Usage: node ws_echo_server.js
'use strict';

const WebSocket = require('ws');

const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, maxPayload: 0 });
wss.on('listening', () => {
  console.log(`listening ${wss.address().port}`);
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
