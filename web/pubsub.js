// The pub/sub panel of the demo page, for `sockeye serve --pubsub`: subscribe to topics
// (one WebSocket per subscription set), publish over HTTP or over a subscription's
// WebSocket, and watch what each subscription receives. GET /topics tells whether the
// server has topics at all: an echo server answers it with 404.

import { bytes, clock, el, encoder, hexPreview, human, numberFormat, textPreview } from './format.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  panel: $('pubsub'),
  status: $('pubsub-status'),
  hint: $('pubsub-hint'),
  controls: $('pubsub-controls'),
  subForm: document.getElementById('sub-form'),
  subTopics: $('sub-topics'),
  token: $('pubsub-token'),
  subscriptions: $('subscriptions'),
  pubForm: document.getElementById('pub-form'),
  via: $('pub-via'),
  topic: $('pub-topic'),
  message: $('pub-message'),
  binary: $('pub-binary'),
  result: $('pub-result'),
  refresh: $('topics-refresh'),
  topics: $('topics'),
  deliveries: $('deliveries'),
  deliveriesEmpty: document.getElementById('deliveries-empty'),
};

const MAX_ROWS = 500;

// The panel talks to the server that served the page (the echo panel's URL may point
// elsewhere). Opened from a file, it tries the default port.
const served = location.protocol === 'http:' || location.protocol === 'https:';
const httpBase = served ? location.origin : 'http://127.0.0.1:8080';
const wsBase = httpBase.replace(/^http/, 'ws');

const subscriptions = new Map(); // id → { id, topics, ws, item, option, received, opened }
let nextId = 1;
let rowCount = 0;
let refreshSeq = 0; // answers to older GET /topics requests are ignored

function token() {
  return ui.token.value.trim();
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

function plural(n, word) {
  return `${numberFormat.format(n)} ${word}${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------- availability, topic list

// state: unknown (not asked yet or no answer), yes, no (not a --pubsub server).
function setAvailable(state, statusText) {
  ui.panel.dataset.available = state;
  ui.status.textContent = statusText;
  ui.status.dataset.state = state;
  ui.hint.hidden = state !== 'no';
  ui.controls.disabled = state === 'no';
}

function showTopics(topics) {
  if (topics.length === 0) {
    ui.topics.replaceChildren(el('li', { class: 'muted', textContent: 'No topic has a subscriber.' }));
    return;
  }
  ui.topics.replaceChildren(...topics.map((t) => el(
    'li',
    { dataset: { topic: t.name, subscribers: String(t.subscribers) } },
    el('span', { class: 'name', textContent: t.name }),
    el('span', { class: 'count', textContent: plural(t.subscribers, 'subscriber') }),
  )));
}

function showTopicsProblem(text) {
  ui.topics.replaceChildren(el('li', { class: 'muted', textContent: text }));
}

async function refreshTopics() {
  const seq = ++refreshSeq;
  let res;
  let body;
  try {
    res = await fetch(`${httpBase}/topics`, { headers: authHeaders(), cache: 'no-store' });
    body = res.ok ? await res.json() : (await res.text()).trim();
  } catch (err) {
    if (seq !== refreshSeq) return;
    setAvailable('unknown', 'unreachable');
    showTopicsProblem(`GET /topics failed: ${err.message}`);
    return;
  }
  if (seq !== refreshSeq) return;
  if (res.status === 404) {
    setAvailable('no', 'unavailable');
    showTopicsProblem('This server has no topics.');
  } else if (res.status === 401 || res.status === 403) {
    // The endpoint exists, so topics do: only the list is behind the token.
    setAvailable('yes', res.status === 401 ? 'token needed' : 'wrong token');
    showTopicsProblem(`GET /topics: ${res.status} ${body}`);
  } else if (!res.ok) {
    setAvailable('yes', 'available');
    showTopicsProblem(`GET /topics: ${res.status} ${body}`);
  } else {
    setAvailable('yes', 'available');
    showTopics(Array.isArray(body.topics) ? body.topics : []);
  }
}

// ---------------------------------------------------------------- subscriptions

function parseTopics(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

function subscribeUrl(topics) {
  const q = new URLSearchParams();
  for (const t of topics) q.append('topic', t);
  // Browsers cannot set headers on a WebSocket: the server takes ?token= instead.
  if (token()) q.append('token', token());
  return `${wsBase}/topics?${q}`;
}

function subscribe(topics) {
  let ws;
  try {
    ws = new WebSocket(subscribeUrl(topics));
  } catch (err) {
    ui.result.textContent = `Cannot subscribe: ${err.message}`;
    return;
  }
  ws.binaryType = 'arraybuffer';
  const sub = { id: String(nextId++), topics, ws, received: 0, opened: false };
  const label = topics.join(', ');
  const state = el('span', { class: 'pill sub-state', textContent: 'connecting' });
  const count = el('span', { class: 'count', textContent: '' });
  const button = el('button', { type: 'button', class: 'ghost', textContent: 'Unsubscribe' });
  button.dataset.testid = 'unsubscribe';
  button.addEventListener('click', () => ws.close(1000, 'unsubscribed'));
  sub.item = el('li', { dataset: { topics: label, state: 'connecting' } },
    el('span', { class: 'name', textContent: label }), state, count, button);
  sub.option = el('option', { value: sub.id, textContent: `WebSocket of ${label}`, disabled: true });
  sub.setState = (s) => {
    state.textContent = s;
    sub.item.dataset.state = s;
  };
  sub.count = count;
  subscriptions.set(sub.id, sub);
  ui.subscriptions.append(sub.item);
  ui.via.append(sub.option);

  ws.addEventListener('open', () => {
    sub.opened = true;
    sub.setState('open');
    sub.option.disabled = false;
    refreshTopics();
  });
  ws.addEventListener('message', (e) => onDelivery(sub, e.data));
  ws.addEventListener('close', (e) => {
    subscriptions.delete(sub.id);
    sub.item.remove();
    if (ui.via.value === sub.id) ui.via.value = 'http';
    sub.option.remove();
    viaChanged();
    if (!sub.opened) {
      // A refused handshake reaches the page only as 1006, without its status.
      ui.result.textContent = `Could not subscribe to ${label}: refused (a missing or wrong token?) or unreachable.`;
    } else if (e.code !== 1000 || e.reason !== 'unsubscribed') {
      ui.result.textContent = `Subscription ${label} closed: code ${e.code}${e.reason ? ` “${e.reason}”` : ''}.`;
    }
    refreshTopics();
  });
}

// ---------------------------------------------------------------- deliveries

function onDelivery(sub, data) {
  sub.received += 1;
  sub.count.textContent = plural(sub.received, 'message');
  const isText = typeof data === 'string';
  const u8 = isText ? encoder.encode(data) : new Uint8Array(data);
  const type = isText ? 'text' : 'binary';
  const label = sub.topics.join(', ');
  const preview = el('td', {
    class: isText ? 'preview' : 'preview mono',
    textContent: isText ? textPreview(data) : hexPreview(u8),
    title: isText && data.length <= 60 ? data : `${numberFormat.format(u8.length)} bytes`,
  });
  rowCount += 1;
  const row = el(
    'tr',
    { dataset: { topic: label, type, size: String(u8.length) } },
    el('td', { class: 'num', textContent: String(rowCount) }),
    el('td', { class: 'time', textContent: clock() }),
    el('td', { class: 'topic', textContent: label }),
    el('td', { class: 'type' }, el('span', { class: `pill ${type}`, textContent: type })),
    el('td', { class: 'right size', textContent: bytes(u8.length), title: human(u8.length) }),
    preview,
  );
  const wrap = ui.deliveries.closest('.table-wrap');
  const stick = wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 24;
  ui.deliveries.append(row);
  while (ui.deliveries.childElementCount > MAX_ROWS) ui.deliveries.firstElementChild.remove();
  ui.deliveriesEmpty.hidden = true;
  if (stick) wrap.scrollTop = wrap.scrollHeight;
}

// ---------------------------------------------------------------- publishing

function viaChanged() {
  const sub = subscriptions.get(ui.via.value);
  // A subscription's WebSocket publishes to all of its topics: there is no topic to pick.
  ui.topic.disabled = Boolean(sub);
  ui.topic.placeholder = sub ? sub.topics.join(', ') : 'news';
}

async function publishHttp(topic, text, binary) {
  const headers = {
    ...authHeaders(),
    'Content-Type': binary ? 'application/octet-stream' : 'text/plain; charset=utf-8',
  };
  const u8 = encoder.encode(text);
  const body = binary ? u8 : text;
  ui.result.textContent = `Publishing to ${topic}…`;
  delete ui.result.dataset.delivered;
  let res;
  let answer;
  try {
    res = await fetch(`${httpBase}/publish/${encodeURIComponent(topic)}`, { method: 'POST', headers, body });
    answer = res.ok ? await res.json() : (await res.text()).trim();
  } catch (err) {
    ui.result.textContent = `POST /publish failed: ${err.message}`;
    return;
  }
  if (!res.ok) {
    ui.result.textContent = `POST /publish: ${res.status} ${answer}`;
    return;
  }
  const n = Number(answer.delivered);
  ui.result.dataset.delivered = String(n);
  ui.result.textContent = `Published ${bytes(u8.length)} to ${topic}: delivered to ${plural(n, 'subscriber')} on this server.`;
}

function publishWs(sub, text, binary) {
  if (sub.ws.readyState !== WebSocket.OPEN) return;
  const u8 = encoder.encode(text);
  sub.ws.send(binary ? u8 : text);
  delete ui.result.dataset.delivered;
  ui.result.textContent = `Sent ${bytes(u8.length)} on the WebSocket of ${sub.topics.join(', ')}: published to its topics (it receives its own message too).`;
}

// ---------------------------------------------------------------- wiring

ui.subForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const topics = parseTopics(ui.subTopics.value);
  if (topics.length === 0) return;
  subscribe(topics);
  ui.subTopics.value = '';
});

ui.pubForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const sub = subscriptions.get(ui.via.value);
  const text = ui.message.value;
  if (sub) publishWs(sub, text, ui.binary.checked);
  else publishHttp(ui.topic.value.trim(), text, ui.binary.checked).then(refreshTopics);
});
ui.message.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    ui.pubForm.requestSubmit();
  }
});
ui.via.addEventListener('change', viaChanged);
ui.token.addEventListener('change', refreshTopics);
ui.refresh.addEventListener('click', refreshTopics);
document.getElementById('clear-deliveries').addEventListener('click', () => {
  ui.deliveries.replaceChildren();
  ui.deliveriesEmpty.hidden = false;
  rowCount = 0;
});

refreshTopics();
