#!/usr/bin/env node
// Topics under churn, with the `ws` client: TOPICS topics × PER_TOPIC subscribers, while
// one publisher POSTs numbered messages to random topics and a share of the subscribers is
// replaced every 100 ms, for SECONDS. Every subscriber checks what it received per topic:
// no duplicates, nothing out of order, and no gap between its first and last message (a
// connected subscriber misses nothing). Prints one JSON line with the totals; exit 1 on
// any violation.
// Usage: node pubsub_churn.js PORT TOPICS PER_TOPIC SECONDS
'use strict';

const http = require('http');
const WebSocket = require('ws');

const [port, topics, perTopic, seconds] = process.argv.slice(2).map(Number);
if (!port || !topics || !perTopic || !seconds) {
  console.error('usage: node pubsub_churn.js PORT TOPICS PER_TOPIC SECONDS');
  process.exit(2);
}

const failures = [];
const stats = { opened: 0, closed: 0, published: 0, received: 0, publish_errors: 0 };
const nextSeq = new Array(topics).fill(0);
const live = new Set();

function fail(msg) {
  if (failures.length < 20) failures.push(msg);
}

function subscribe(topic) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/topics/t${topic}`);
  const sub = { ws, topic, first: -1, last: -1, count: 0, open: false, leaving: false };
  ws.on('open', () => {
    sub.open = true;
    stats.opened += 1;
  });
  ws.on('message', (data) => {
    const seq = Number(data.toString());
    if (sub.last >= 0 && seq !== sub.last + 1) {
      fail(`t${topic}: got ${seq} after ${sub.last}`);
    }
    if (sub.first < 0) sub.first = seq;
    sub.last = seq;
    sub.count += 1;
    stats.received += 1;
  });
  ws.on('close', () => {
    live.delete(sub);
    if (sub.open) stats.closed += 1;
  });
  ws.on('error', (e) => fail(`t${topic} subscriber: ${e.message}`));
  live.add(sub);
  return sub;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

// Two requests for one topic on different sockets could be published in either order, so
// each topic has at most one publish in flight: its numbers are published in order.
const inFlight = new Array(topics).fill(false);
function publishOrdered() {
  const topic = Math.floor(Math.random() * topics);
  if (inFlight[topic]) return;
  inFlight[topic] = true;
  const body = String(nextSeq[topic]++);
  const req = http.request({
    host: '127.0.0.1', port, method: 'POST', path: `/publish/t${topic}`, agent,
    headers: { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) },
  }, (res) => {
    res.resume();
    res.on('end', () => { inFlight[topic] = false; });
    if (res.statusCode === 200) stats.published += 1;
    else stats.publish_errors += 1;
  });
  req.on('error', () => { inFlight[topic] = false; stats.publish_errors += 1; });
  req.end(body);
}

for (let t = 0; t < topics; t++) {
  for (let i = 0; i < perTopic; i++) subscribe(t);
}

const publisher = setInterval(() => {
  for (let i = 0; i < 20; i++) publishOrdered();
}, 10);

// Every 100 ms, 1 % of the subscribers leave and as many arrive on random topics.
const churn = setInterval(() => {
  const open = [...live].filter((s) => s.open && !s.leaving);
  const n = Math.max(1, Math.floor(open.length / 100));
  for (let i = 0; i < n && open.length; i++) {
    const victim = open.splice(Math.floor(Math.random() * open.length), 1)[0];
    victim.leaving = true;
    victim.ws.close(1000);
    subscribe(Math.floor(Math.random() * topics));
  }
}, 100);

setTimeout(() => {
  clearInterval(publisher);
  clearInterval(churn);
  // Let deliveries in flight arrive, then close everyone.
  setTimeout(() => {
    for (const sub of live) sub.ws.close(1000);
    setTimeout(() => {
      agent.destroy();
      const out = { ...stats, failures };
      console.log(JSON.stringify(out));
      process.exit(failures.length === 0 && stats.received > 0 ? 0 : 1);
    }, 2000);
  }, 1000);
}, seconds * 1000);
