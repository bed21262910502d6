// Sockeye demo page: open a WebSocket to the echo server, send messages and large
// payloads, and check that every echo carries the same bytes (SHA-256) as what was sent.
// Plain browser APIs only; no build step. The pub/sub panel lives in pubsub.js, the
// Frames panel (`sockeye serve --inspect`) in frames.js.

import {
  bytes, clock, duration, el, encoder, hex, hexPreview, human, numberFormat, rate, textPreview,
} from './format.js';
import { inspectedUrl, inspectorReady } from './frames.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  connectForm: document.getElementById('connect-form'),
  url: $('url'),
  protocols: $('protocols'),
  open: $('open'),
  close: $('close'),
  state: $('state'),
  extensions: $('extensions'),
  protocol: $('protocol'),
  buffered: $('buffered'),
  totals: $('totals'),
  pageHttp: $('page-http'),
  wsHttp: $('ws-http'),
  sendForm: document.getElementById('send-form'),
  message: $('message'),
  binary: $('binary'),
  send: $('send'),
  genForm: document.getElementById('gen-form'),
  size: $('size'),
  sizeCustom: $('size-custom'),
  genBinary: $('gen-binary'),
  genFill: $('gen-fill'),
  generate: $('generate'),
  progress: $('progress'),
  genStatus: $('gen-status'),
  throughput: $('throughput'),
  messages: $('messages'),
  messagesEmpty: document.getElementById('messages-empty'),
  events: $('events'),
};

const STATES = ['connecting', 'open', 'closing', 'closed'];
const CLOSE_CODES = {
  1000: 'Normal Closure',
  1001: 'Going Away',
  1002: 'Protocol Error',
  1003: 'Unsupported Data',
  1005: 'No Status Received',
  1006: 'Abnormal Closure',
  1007: 'Invalid Payload Data',
  1008: 'Policy Violation',
  1009: 'Message Too Big',
  1010: 'Mandatory Extension',
  1011: 'Internal Error',
  1012: 'Service Restart',
  1013: 'Try Again Later',
  1014: 'Bad Gateway',
  1015: 'TLS Handshake',
};
const CLOSE_REASON = 'bye from the page';
const TEXT_PATTERN = 'Sockeye echoes every byte back. 0123456789 abcdefghijklmnopqrstuvwxyz. ';
const CHUNK = 64 * 1024;          // crypto.getRandomValues() fills at most 65,536 bytes a call
const MAX_TEXT = 2 ** 29 - 24;    // V8's longest string (UTF-16 code units)
const MAX_BINARY = 2 ** 32;       // keep one ArrayBuffer within what browsers allocate
const MAX_ROWS = 500;
const MAX_EVENTS = 500;


let ws = null;               // the current socket (null before the first Open)
let opening = false;         // Open pressed, reading the server's counters first
let closeRequested = false;  // the page called close() on the current socket
let pending = [];            // FIFO of sent messages waiting for their echo
let transfer = null;         // the large payload in flight, if any
let rowCount = 0;
let receivedBytes = 0;

const sha256 = (data) => crypto.subtle.digest('SHA-256', data);

// ---------------------------------------------------------------- events log

function logEvent(kind, text, data = {}) {
  const item = el(
    'li',
    { class: `event ${kind}`, dataset: { kind, ...data } },
    el('time', { textContent: clock() }),
    el('span', { class: 'badge', textContent: kind }),
    el('span', { class: 'text', textContent: text }),
  );
  const log = ui.events;
  const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  log.append(item);
  while (log.childElementCount > MAX_EVENTS) log.firstElementChild.remove();
  if (stick) log.scrollTop = log.scrollHeight;
}

// ---------------------------------------------------------------- HTTP versions

// What the page itself came over, as the browser tells it (ALPN names: "h2", "http/1.1").
const HTTP_NAMES = { 'http/1.0': 'HTTP/1.0', 'http/1.1': 'HTTP/1.1', h2: 'HTTP/2', h3: 'HTTP/3' };

function showPageHttp() {
  const nav = performance.getEntriesByType('navigation')[0];
  const proto = nav?.nextHopProtocol ?? '';
  ui.pageHttp.textContent = `page: ${HTTP_NAMES[proto] ?? (proto || 'unknown')}`;
  ui.pageHttp.dataset.value = proto;
}

// JavaScript cannot see which HTTP version carries a WebSocket (an HTTP/1.1 Upgrade or an
// RFC 8441 extended CONNECT on an HTTP/2 stream), and the echo must stay a pure echo. The
// server counts every WebSocket by the HTTP version of its handshake in /metrics, so the
// page reads those counters just before and just after its WebSocket opens: the one that
// moved is this WebSocket's. Only for a WebSocket to this page's origin (/metrics of
// another is not readable here), and only when nothing else opened one meanwhile.
const WS_COUNTER = /^sockeye_websockets_by_http_version_total\{version="(1\.1|2)"\}\s+(\d+)/gm;

function sameOrigin(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const scheme = { 'ws:': 'http:', 'wss:': 'https:' }[u.protocol];
  return scheme === location.protocol && u.host === location.host;
}

// {"1.1": n, "2": n} from this origin's /metrics, or null (not there, not Sockeye's).
async function wsCounters() {
  try {
    const res = await fetch('/metrics', { cache: 'no-store' });
    if (!res.ok) return null;
    const counts = {};
    for (const m of (await res.text()).matchAll(WS_COUNTER)) counts[m[1]] = Number(m[2]);
    return '1.1' in counts && '2' in counts ? counts : null;
  } catch {
    return null;
  }
}

const WS_HTTP_TITLE = "Which of the server's WebSocket counters moved when this WebSocket opened";

function showWsHttp(text, value, title = WS_HTTP_TITLE) {
  ui.wsHttp.textContent = `WebSocket: ${text}`;
  ui.wsHttp.dataset.value = value;
  ui.wsHttp.title = title;
}

async function checkWsHttp(sock, before) {
  if (!before) {
    showWsHttp('unknown', 'unknown', sameOrigin(sock.url)
      ? "this server's /metrics has no WebSocket counters"
      : "another origin: its /metrics is not readable from this page");
    return;
  }
  const after = await wsCounters();
  if (sock !== ws || sock.readyState !== WebSocket.OPEN) return;
  const h1 = after ? after['1.1'] - before['1.1'] : NaN;
  const h2 = after ? after['2'] - before['2'] : NaN;
  if (h2 >= 1 && h1 === 0) {
    showWsHttp('HTTP/2 (RFC 8441)', '2', 'an extended CONNECT on a stream of the HTTP/2 connection (the server counted it under version="2")');
  } else if (h1 >= 1 && h2 === 0) {
    showWsHttp('HTTP/1.1 (Upgrade)', '1.1', 'an HTTP/1.1 Upgrade on its own connection (the server counted it under version="1.1")');
  } else {
    showWsHttp('unknown', 'unknown', after
      ? `other WebSockets opened meanwhile (HTTP/1.1 +${h1}, HTTP/2 +${h2})`
      : '/metrics did not answer after the WebSocket opened');
    return;
  }
  logEvent('info', `WebSocket over ${ui.wsHttp.textContent.replace('WebSocket: ', '')}, by the server's counters`);
}

// ---------------------------------------------------------------- connection state

function defaultUrl() {
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  }
  return 'ws://127.0.0.1:8080/';
}

function render() {
  const state = ws ? STATES[ws.readyState] : 'closed';
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  const open = state === 'open';
  ui.open.disabled = opening || state === 'connecting' || open || state === 'closing';
  ui.url.disabled = ui.open.disabled;
  ui.protocols.disabled = ui.url.disabled;
  ui.close.disabled = !(state === 'connecting' || open);
  ui.send.disabled = !open;
  ui.generate.disabled = !open || transfer !== null;
  if (!open) {
    ui.extensions.textContent = '–';
    ui.protocol.textContent = '–';
    showWsHttp(opening ? 'checking…' : '–', '');
  }
}

function showNegotiated() {
  const ext = ws.extensions;
  const deflate = /(^|,)\s*permessage-deflate/.test(ext);
  ui.extensions.textContent = deflate ? 'yes' : 'no';
  ui.extensions.title = ext || 'no extension negotiated';
  ui.extensions.dataset.value = ext;
  ui.protocol.textContent = ws.protocol || 'none';
  ui.protocol.dataset.value = ws.protocol;
}

async function connect() {
  if (opening) return;
  const url = ui.url.value.trim();
  const protocols = ui.protocols.value.split(/[\s,]+/).filter(Boolean);
  let before = null;
  if (sameOrigin(url)) {
    opening = true;
    render();
    await inspectorReady(); // before the counters: the inspector is a WebSocket too
    before = await wsCounters();
    opening = false;
  }
  const target = inspectedUrl(url); // with inspect=ID when the Frames panel is on
  let sock;
  try {
    sock = new WebSocket(target, protocols);
  } catch (err) {
    logEvent('error', `cannot open ${url}: ${err.message}`);
    render();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  closeRequested = false;
  pending = [];
  logEvent('info', `connecting to ${target}${protocols.length ? ` (subprotocols: ${protocols.join(', ')})` : ''}`);

  sock.addEventListener('open', () => {
    if (sock !== ws) return;
    showNegotiated();
    logEvent('open', `connected · permessage-deflate: ${ui.extensions.textContent} · subprotocol: ${ui.protocol.textContent}`);
    render();
    ui.message.focus();
    showWsHttp('checking…', '');
    checkWsHttp(sock, before);
  });
  sock.addEventListener('error', () => {
    if (sock !== ws) return;
    logEvent('error', 'WebSocket error (browsers give no detail; the close event follows)');
  });
  sock.addEventListener('close', (e) => {
    if (sock !== ws) return;
    // 1006: no close frame at all (refused, dropped, or a failed TLS or HTTP handshake).
    const by = closeRequested ? 'page' : e.code === 1006 ? 'network' : 'server';
    const name = CLOSE_CODES[e.code] ?? (e.code >= 4000 ? 'application code' : 'unknown code');
    const reason = e.reason ? `reason “${e.reason}”` : 'no reason';
    logEvent('close', `code ${e.code} ${name} · ${reason} · wasClean ${e.wasClean} · ${by === 'network' ? 'connection lost' : `closed by ${by}`}`, {
      code: String(e.code),
      reason: e.reason,
      clean: String(e.wasClean),
      by,
    });
    const lost = pending.length;
    pending = [];
    if (transfer) {
      finishTransfer();
      ui.genStatus.textContent = 'Connection closed before the echo came back.';
    }
    if (lost) logEvent('info', `${lost} sent message${lost === 1 ? '' : 's'} never echoed`);
    render();
  });
  sock.addEventListener('message', onMessage);
  render();
}

function disconnect() {
  if (!ws || ws.readyState > WebSocket.OPEN) return;
  closeRequested = true;
  ws.close(1000, CLOSE_REASON);
  logEvent('info', `close(1000, “${CLOSE_REASON}”) sent, waiting for the server's reply`);
  render();
}

// ---------------------------------------------------------------- sending

// Sends one message and queues what its echo must match. `digest` is a promise of the
// SHA-256 of the bytes sent (for text: of its UTF-8 encoding).
function sendTracked(payload, type, size, digest, extra = {}) {
  const entry = { type, size, digest, sentAt: performance.now(), ...extra };
  ws.send(payload);
  pending.push(entry);
  return entry;
}

function sendMessage() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const text = ui.message.value;
  const u8 = encoder.encode(text);
  const binary = ui.binary.checked;
  sendTracked(binary ? u8 : text, binary ? 'binary' : 'text', u8.length, sha256(u8));
  logEvent('send', `${binary ? 'binary' : 'text'} · ${bytes(u8.length)}`);
  ui.message.value = '';
  ui.message.focus();
}

function chosenSize() {
  const custom = ui.sizeCustom.value.trim();
  const v = ui.size.value === 'custom' ? custom : ui.size.value;
  if (v === '') return NaN;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : NaN;
}

function makeText(size) {
  const reps = Math.ceil(size / TEXT_PATTERN.length);
  return TEXT_PATTERN.repeat(reps).slice(0, size);
}

function makeBinary(size, random) {
  const u8 = new Uint8Array(size);
  if (random) {
    for (let off = 0; off < size; off += CHUNK) crypto.getRandomValues(u8.subarray(off, off + CHUNK));
  } else {
    // One random 64 KiB block, then doubled in place: no extra copy of the payload.
    let filled = Math.min(CHUNK, size);
    crypto.getRandomValues(u8.subarray(0, filled));
    while (filled < size) {
      const n = Math.min(filled, size - filled);
      u8.copyWithin(filled, 0, n);
      filled += n;
    }
  }
  return u8;
}

const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

async function generateAndSend() {
  if (!ws || ws.readyState !== WebSocket.OPEN || transfer) return;
  const size = chosenSize();
  const binary = ui.genBinary.checked;
  if (Number.isNaN(size)) {
    ui.genStatus.textContent = 'Enter a size in bytes (a whole number, 0 or more).';
    return;
  }
  if (!binary && size > MAX_TEXT) {
    ui.genStatus.textContent = `A text message can be at most ${bytes(MAX_TEXT)} in this browser (its longest string): choose binary.`;
    return;
  }
  if (binary && size > MAX_BINARY) {
    ui.genStatus.textContent = `At most ${bytes(MAX_BINARY)} per binary message here.`;
    return;
  }
  const sock = ws;
  transfer = { size, done: false };
  render();
  ui.progress.value = 0;
  ui.throughput.textContent = '';
  ui.genStatus.textContent = `Generating ${bytes(size)} of ${binary ? 'binary' : 'text'}…`;
  await nextFrame();

  let payload;
  let digest;
  const t0 = performance.now();
  try {
    if (binary) {
      payload = makeBinary(size, ui.genFill.value === 'random');
      digest = sha256(payload); // WebCrypto copies the input: sending right away is safe
    } else {
      payload = makeText(size);
      digest = sha256(encoder.encode(payload));
    }
  } catch (err) {
    payload = null;
    finishTransfer();
    ui.genStatus.textContent = `Could not generate ${bytes(size)}: ${err.message}`;
    render();
    return;
  }
  const generated = performance.now() - t0;
  if (sock !== ws || sock.readyState !== WebSocket.OPEN) {
    finishTransfer();
    ui.genStatus.textContent = 'The connection closed while generating.';
    render();
    return;
  }
  const baseline = sock.bufferedAmount;
  const entry = sendTracked(payload, binary ? 'binary' : 'text', size, digest, { transfer });
  payload = null;
  Object.assign(transfer, { sock, baseline, sentAt: entry.sentAt, uploadedAt: 0, generated });
  logEvent('send', `${binary ? 'binary' : 'text'} · ${bytes(size)} (generated in ${duration(generated)})`);
  ui.genStatus.textContent = `Sending ${bytes(size)}…`;
  trackUpload(transfer);
}

// Upload progress: Chromium counts a message into bufferedAmount when send() is called
// and drains it as the bytes reach the socket.
function trackUpload(tr) {
  const step = () => {
    if (tr.done || transfer !== tr) return;
    const buffered = tr.sock.readyState === WebSocket.OPEN ? tr.sock.bufferedAmount : 0;
    const left = Math.max(0, buffered - tr.baseline);
    const sent = tr.size === 0 ? 1 : Math.min(1, (tr.size - left) / tr.size);
    ui.progress.value = sent;
    if (left === 0 && !tr.uploadedAt) {
      tr.uploadedAt = performance.now();
      const ms = tr.uploadedAt - tr.sentAt;
      ui.genStatus.textContent = `Sent ${bytes(tr.size)} in ${duration(ms)} (${rate(tr.size, ms)}), waiting for the echo…`;
    } else if (!tr.uploadedAt) {
      ui.genStatus.textContent = `Sending ${bytes(tr.size)}… ${Math.floor(sent * 100)}%`;
    }
    if (!tr.uploadedAt) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function finishTransfer() {
  if (transfer) transfer.done = true;
  transfer = null;
}

// ---------------------------------------------------------------- receiving

function onMessage(e) {
  const receivedAt = performance.now();
  const entry = pending.shift(); // echoes come back in the order they were sent
  const data = e.data;
  const isText = typeof data === 'string';
  const u8 = isText ? null : data instanceof ArrayBuffer ? new Uint8Array(data) : null;
  const type = isText ? 'text' : 'binary';

  const verify = el('td', { class: 'center verify', textContent: entry ? '…' : '–', title: entry ? 'hashing…' : 'not an echo of a message sent from this page' });
  const sizeCell = el('td', { class: 'right size' });
  const preview = el('td', { class: 'preview' });
  rowCount += 1;
  const row = el(
    'tr',
    { dataset: { type, verified: entry ? 'pending' : 'none' } },
    el('td', { class: 'num', textContent: String(rowCount) }),
    el('td', { class: 'time', textContent: clock() }),
    el('td', { class: 'type' }, el('span', { class: `pill ${type}`, textContent: type })),
    sizeCell,
    preview,
    verify,
  );
  const wrap = ui.messages.closest('.table-wrap');
  const stick = wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 24;
  ui.messages.append(row);
  while (ui.messages.childElementCount > MAX_ROWS) ui.messages.firstElementChild.remove();
  ui.messagesEmpty.hidden = true;
  if (stick) wrap.scrollTop = wrap.scrollHeight;

  const fill = (bytesOf) => {
    const size = bytesOf.length;
    row.dataset.size = String(size);
    sizeCell.textContent = bytes(size);
    sizeCell.title = human(size);
    receivedBytes += size;
    ui.totals.textContent = `${numberFormat.format(rowCount)} message${rowCount === 1 ? '' : 's'}, ${human(receivedBytes)}`;
    if (entry?.transfer) echoed(entry, size, receivedAt);
    if (!entry) return;
    Promise.all([sha256(bytesOf), entry.digest]).then(([got, want]) => {
      const ok = hex(got) === hex(want) && entry.type === type && entry.size === size;
      verify.textContent = ok ? '✓' : '✗';
      verify.classList.add(ok ? 'ok' : 'bad');
      verify.title = ok
        ? `SHA-256 ${hex(got)}`
        : `sent ${entry.type} ${bytes(entry.size)} ${hex(want)}, got ${type} ${bytes(size)} ${hex(got)}`;
      row.dataset.verified = ok ? 'ok' : 'mismatch';
    }, (err) => {
      verify.textContent = '?';
      verify.title = `hashing failed: ${err.message}`;
      row.dataset.verified = 'error';
    });
  };

  if (isText) {
    preview.textContent = textPreview(data);
    preview.title = data.length > 60 ? `${numberFormat.format(data.length)} characters` : data;
    fill(encoder.encode(data));
  } else if (u8) {
    preview.textContent = hexPreview(u8);
    preview.classList.add('mono');
    fill(u8);
  } else {
    // A Blob (binaryType "blob" set elsewhere): read it before hashing.
    data.arrayBuffer().then((buf) => {
      const b = new Uint8Array(buf);
      preview.textContent = hexPreview(b);
      preview.classList.add('mono');
      fill(b);
    });
  }
}

function echoed(entry, size, receivedAt) {
  const tr = entry.transfer;
  if (tr !== transfer) return;
  tr.echoed = true;
  const total = receivedAt - entry.sentAt;
  const up = tr.uploadedAt ? tr.uploadedAt - entry.sentAt : 0;
  ui.progress.value = 1;
  ui.genStatus.textContent = `Echo of ${bytes(size)} back after ${duration(total)}.`;
  ui.throughput.textContent = `${rate(size, total)} round trip${up ? ` · ${rate(size, up)} upload` : ''}`;
  ui.throughput.dataset.mbps = (size / Math.max(total, 0.001) / 1000).toFixed(3);
  finishTransfer();
  render();
}

// ---------------------------------------------------------------- wiring

ui.url.value = defaultUrl();
showPageHttp();

ui.connectForm.addEventListener('submit', (e) => {
  e.preventDefault();
  connect();
});
ui.close.addEventListener('click', disconnect);

ui.sendForm.addEventListener('submit', (e) => {
  e.preventDefault();
  sendMessage();
});
ui.message.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    ui.sendForm.requestSubmit();
  }
});

ui.genForm.addEventListener('submit', (e) => {
  e.preventDefault();
  generateAndSend();
});
ui.sizeCustom.addEventListener('input', () => {
  if (ui.sizeCustom.value !== '') ui.size.value = 'custom';
});
ui.size.addEventListener('change', () => {
  if (ui.size.value === 'custom') ui.sizeCustom.focus();
  else ui.sizeCustom.value = '';
});
for (const radio of ui.genForm.elements.kind) {
  radio.addEventListener('change', () => {
    ui.genFill.disabled = !ui.genBinary.checked;
  });
}

document.getElementById('clear-events').addEventListener('click', () => ui.events.replaceChildren());
document.getElementById('clear-messages').addEventListener('click', () => {
  ui.messages.replaceChildren();
  ui.messagesEmpty.hidden = false;
  rowCount = 0;
  receivedBytes = 0;
  ui.totals.textContent = '0 messages';
});

setInterval(() => {
  const n = ws && ws.readyState === WebSocket.OPEN ? ws.bufferedAmount : 0;
  ui.buffered.textContent = n ? human(n) : '0 B';
}, 250);

render();
