// The Frames panel of the demo page, for `sockeye serve --inspect` (docs/inspector.md).
// The page picks a random id, opens /_sockeye/inspect?id=ID and adds inspect=ID to its own
// WebSocket's URL: the server then streams what that WebSocket carries on the wire, as JSON
// events, and this panel shows them as a table of frames grouped under their message and
// under the reads/writes that carried them. A selected frame's header is drawn bit by bit
// from `hdr`, the header bytes as they travelled.

import { bytes, el, numberFormat } from './format.js';

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  panel: $('frames'),
  status: $('frames-status'),
  hint: $('frames-hint'),
  retry: $('frames-retry'),
  table: $('frames-table'),
  empty: document.getElementById('frames-empty'),
  wrap: $('frames-table').closest('.table-wrap'),
  clear: $('frames-clear'),
  bits: $('frame-bits'),
  bitsTitle: $('frame-bits-title'),
};

const MAX_ROWS = 400;      // rows kept in the table; the oldest groups go first
const MAX_PENDING = 64;    // reads/writes that came before any frame of their connection
const COLUMNS = 11;
const INSPECT_PATH = '/_sockeye/inspect';

const served = location.protocol === 'http:' || location.protocol === 'https:';
const inspectId = Array.from(crypto.getRandomValues(new Uint8Array(8)),
  (b) => b.toString(16).padStart(2, '0')).join('');
// --inspect-token T: open the page as /?inspect-token=T (a WebSocket cannot send headers).
const inspectToken = new URLSearchParams(location.search).get('inspect-token') ?? '';

// state: unknown, connecting, on, off (no inspector for this page: 404 or 403), lost.
let state = 'unknown';
let sock = null;
let ready = null;           // promise of the attempt in progress

const plural = (n, word) => `${numberFormat.format(n)} ${word}${n === 1 ? '' : 's'}`;
const ioWord = (dir) => (dir === 'in' ? 'read' : 'write');
const DIR_TITLE = {
  in: 'in: sent by the client (this page) to the server',
  out: 'out: sent by the server to the client',
};

// ---------------------------------------------------------------- the inspector socket

function setState(next, statusText, hint = '') {
  state = next;
  ui.panel.dataset.state = next;
  ui.status.textContent = statusText;
  ui.status.dataset.state = next;
  ui.hint.hidden = hint === '';
  ui.retry.hidden = !['off', 'lost'].includes(next) || !served;
  if (hint) ui.hint.querySelector('.text').replaceChildren(...hint);
}

const code = (text) => el('code', { textContent: text });

// Browsers do not tell why a handshake failed, and a plain GET of the path cannot tell
// either (it is no WebSocket): a server without --inspect answers 404, one that refuses
// this page 403. The hint covers both.
function failed() {
  setState('off', 'off', [
    'This server does not inspect frames: start it with ', code('sockeye serve --inspect'),
    ' to see every frame of this page\'s WebSocket here. ',
    el('span', {
      class: 'muted',
      textContent: inspectToken
        ? 'If it does, it refused the token in this page\'s address (403).'
        : 'If it does, it refused this page (403): without --inspect-token only loopback clients may inspect; with --inspect-token T, open this page as /?inspect-token=T.',
    }),
  ]);
}

// Opens the inspector if it is not open. Resolves (true/false) once it is open or failed,
// so that the page's own WebSocket opens after it and carries `inspect=ID` when it can.
export function inspectorReady() {
  if (!served) return Promise.resolve(false);
  if (state === 'on') return Promise.resolve(true);
  if (ready) return ready;
  if (state === 'off') return Promise.resolve(false);
  return connectInspector();
}

function connectInspector() {
  const base = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  const token = inspectToken ? `&token=${encodeURIComponent(inspectToken)}` : '';
  let s;
  try {
    s = new WebSocket(`${base}${INSPECT_PATH}?id=${inspectId}${token}`);
  } catch {
    failed();
    return Promise.resolve(false);
  }
  setState('connecting', 'connecting…');
  sock = s;
  ready = new Promise((resolve) => {
    let opened = false;
    s.addEventListener('open', () => {
      opened = true;
      ready = null;
      setState('on', 'on');
      ui.status.title = `inspecting the WebSockets opened with inspect=${inspectId}`;
      resolve(true);
    });
    s.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch {
        return;
      }
      onEvent(ev);
    });
    s.addEventListener('close', () => {
      if (s !== sock) return;
      sock = null;
      if (opened) {
        setState('lost', 'disconnected', [
          'The inspector\'s connection closed (did the server stop?). Retry once it is back.',
        ]);
        return;
      }
      ready = null;
      failed();
      resolve(false);
    });
  });
  return ready;
}

// The URL the page's WebSocket should open: with inspect=ID when the inspector is on and
// the WebSocket goes to the server that serves the page.
export function inspectedUrl(url) {
  if (state !== 'on') return url;
  let u;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const scheme = { 'ws:': 'http:', 'wss:': 'https:' }[u.protocol];
  if (scheme !== location.protocol || u.host !== location.host) return url;
  u.searchParams.set('inspect', inspectId);
  expectOpen();
  return u.href;
}

// A server that knows nothing of --inspect may take /_sockeye/inspect for an ordinary
// WebSocket: then no `open` event follows the page's WebSocket. Say so, after a while.
let opens = 0;
let openWatch = 0;

function expectOpen() {
  const seen = opens;
  clearTimeout(openWatch);
  openWatch = setTimeout(() => {
    if (state !== 'on' || opens !== seen) return;
    ui.hint.hidden = false;
    ui.hint.querySelector('.text').replaceChildren(
      'No events came for this page\'s WebSocket: is the server a Sockeye started with ',
      code('--inspect'), '?',
    );
  }, 4000);
}

// ---------------------------------------------------------------- the table

// A group is one <tbody>: a head row (the message, or a control frame), then its
// reads/writes and frames ordered by their offset in the stream.
const groups = new Map();      // key → group
const frames = new Map();      // conn/dir/id → { group, ev, tr }
const latest = new Map();      // conn/dir → the data group being received
let pending = [];              // reads/writes with no group to go in yet
let rows = 0;
let selected = null;

const sideKey = (ev) => `${ev.conn}/${ev.dir}`;
const frameKey = (conn, dir, id) => `${conn}/${dir}/${id}`;

function seconds(t) {
  return typeof t === 'number' ? (t / 1000).toFixed(3) : '';
}

function dirCell(dir) {
  return el('td', { class: 'dir' }, el('span', {
    class: `dir-pill ${dir}`,
    textContent: dir === 'in' ? '→ in' : '← out',
    title: DIR_TITLE[dir] ?? dir,
  }));
}

function stick() {
  return ui.wrap.scrollHeight - ui.wrap.scrollTop - ui.wrap.clientHeight < 24;
}

function placeBody(tbody) {
  const atEnd = stick();
  ui.table.append(tbody);
  ui.empty.hidden = true;
  return atEnd;
}

function afterInsert(atEnd) {
  while (rows > MAX_ROWS) {
    const first = ui.table.querySelector('tbody');
    if (!first) break;
    dropGroup(first);
  }
  if (atEnd) ui.wrap.scrollTop = ui.wrap.scrollHeight;
}

function dropGroup(tbody) {
  const g = tbody.group;
  rows -= tbody.rows.length;
  tbody.remove();
  if (!g) return;
  groups.delete(g.key);
  for (const k of g.frameKeys) frames.delete(k);
  if (latest.get(g.side) === g) latest.delete(g.side);
}

function newGroup(key, side, head) {
  const tbody = el('tbody', { class: 'fr-group' }, head);
  const g = { key, side, tbody, head, entries: [], frameKeys: [], elided: false };
  tbody.group = g;
  groups.set(key, g);
  rows += 1;
  return g;
}

// Rows after an `elided` row stay after it; before it, by offset (a read before the frames
// that began in it, whatever order their events came in).
function insertRow(g, tr, at, order) {
  const entry = { seg: g.elided ? 1 : 0, at, order, tr };
  const later = g.entries.findIndex((x) => x.seg > entry.seg
    || (x.seg === entry.seg && (x.at > at || (x.at === at && x.order > order))));
  const atEnd = stick();
  if (later < 0) {
    g.entries.push(entry);
    g.tbody.append(tr);
  } else {
    g.tbody.insertBefore(tr, g.entries[later].tr);
    g.entries.splice(later, 0, entry);
  }
  rows += 1;
  afterInsert(atEnd);
}

function messageHead(ev) {
  const td = el('td', { colSpan: COLUMNS });
  const tr = el('tr', { class: 'fr-head', dataset: { conn: String(ev.conn), dir: ev.dir, msg: String(ev.msg) } }, td);
  tr.cell = td;
  return tr;
}

function fillMessageHead(g, ev) {
  const { head } = g;
  const m = g.message;
  const parts = [
    el('span', { class: `dir-pill ${g.dir}`, textContent: g.dir === 'in' ? '→ in' : '← out', title: DIR_TITLE[g.dir] }),
    el('strong', { textContent: g.control ? `${g.control} frame` : `message ${g.msg}` }),
  ];
  if (m) {
    parts.push(el('span', { class: `pill ${m.type}`, textContent: m.type }));
    parts.push(el('span', { textContent: `${bytes(m.size)} in ${plural(m.frames, 'frame')}` }));
    if (m.compressed) parts.push(el('span', { class: 'pill compressed', textContent: 'compressed', title: 'permessage-deflate: RSV1 on its first frame' }));
    Object.assign(head.dataset, { type: m.type, size: String(m.size), frames: String(m.frames), done: 'true' });
  } else if (g.control) {
    if (g.detail) parts.push(el('span', { textContent: g.detail }));
  } else {
    parts.push(el('span', { class: 'muted', textContent: 'receiving…' }));
  }
  parts.push(el('span', { class: 'muted conn', textContent: `connection ${ev.conn ?? g.conn}` }));
  head.cell.replaceChildren(...parts);
}

function dataGroup(ev) {
  const key = `m/${ev.conn}/${ev.dir}/${ev.msg}`;
  let g = groups.get(key);
  if (!g) {
    g = newGroup(key, sideKey(ev), messageHead(ev));
    Object.assign(g, { conn: ev.conn, dir: ev.dir, msg: ev.msg });
    fillMessageHead(g, ev);
    afterInsert(placeBody(g.tbody));
  }
  return g;
}

function controlGroup(ev) {
  const key = `c/${ev.conn}/${ev.dir}/${ev.id}`;
  const head = messageHead(ev);
  head.classList.add('control');
  const g = newGroup(key, sideKey(ev), head);
  Object.assign(g, { conn: ev.conn, dir: ev.dir, msg: 0, control: ev.opn });
  fillMessageHead(g, ev);
  afterInsert(placeBody(g.tbody));
  return g;
}

function bit(v, name) {
  return el('td', { class: `bit ${name} b${v ? 1 : 0}`, textContent: v ? '1' : '0' });
}

function onFrame(ev) {
  const g = ev.msg ? dataGroup(ev) : controlGroup(ev);
  const key = frameKey(ev.conn, ev.dir, ev.id);
  frames.set(key, { group: g, ev, tr: null });
  g.frameKeys.push(key);
  const side = sideKey(ev);
  if (ev.msg) latest.set(side, g);

  const rsv = `${ev.rsv1}${ev.rsv2}${ev.rsv3}`;
  const lenCell = el('td', { class: 'right len', textContent: numberFormat.format(ev.len) });
  const tr = el(
    'tr',
    {
      class: 'fr-frame',
      tabIndex: 0,
      title: 'Select to see its header bit by bit',
      dataset: {
        conn: String(ev.conn), dir: ev.dir, id: String(ev.id), msg: String(ev.msg),
        fin: String(ev.fin), rsv, op: String(ev.op), opn: ev.opn, mask: String(ev.mask),
        len: String(ev.len), enc: String(ev.enc), key: ev.key, hdr: ev.hdr, io: String(ev.io),
        split: String(Boolean(ev.split)),
      },
    },
    el('td', { class: 'time', textContent: seconds(ev.t) }),
    dirCell(ev.dir),
    el('td', { class: 'right id', textContent: `#${ev.id}` }),
    bit(ev.fin, 'fin'),
    el('td', { class: 'rsv mono', textContent: rsv, title: 'RSV1 RSV2 RSV3' }),
    el('td', { class: 'op' }, el('span', { class: `op-pill ${ev.opn}`, textContent: `${ev.op.toString(16)} ${ev.opn}` })),
    bit(ev.mask, 'mask'),
    lenCell,
    el('td', { class: 'enc', textContent: String(ev.enc), title: ev.enc === 7 ? 'in the 7-bit field' : `in a ${ev.enc}-bit extended length` }),
    el('td', { class: 'key mono', textContent: ev.key || '–' }),
    el('td', { class: 'io' },
      ev.io ? `${ioWord(ev.dir)} ${ev.io}` : '–',
      ev.split ? el('span', { class: 'split-pill', textContent: 'split', title: 'the header arrived across reads' }) : ''),
  );
  tr.frame = ev;
  frames.get(key).tr = tr;
  insertRow(g, tr, ev.at, 1);
  retryPending(side);
}

// The groups (messages, control frames) whose frames a read/write carried, or null while
// there is no group to put it in yet. A frame's event comes before that of the read or
// write that carried it; frames not shown (elided from a long message) belong to the
// message in progress in that direction.
function ioGroups(ev) {
  const ids = [];
  const [bFirst, bCount] = ev.began ?? [0, 0];
  for (let i = 0; i < bCount; i += 1) ids.push(bFirst + i);
  if (ev.cont) ids.push(ev.cont);
  const [eFirst, eCount] = ev.ended ?? [0, 0];
  for (let i = 0; i < eCount; i += 1) ids.push(eFirst + i);
  const cur = latest.get(sideKey(ev));
  const out = new Set();
  for (const id of ids) {
    const f = frames.get(frameKey(ev.conn, ev.dir, id));
    if (f) out.add(f.group);
    else if (cur) out.add(cur);
  }
  if (out.size === 0 && cur) out.add(cur); // only bytes of frames not shown
  return out.size ? out : null;
}

function range([first, count]) {
  if (!count) return '';
  return count === 1 ? `#${first}` : `#${first}–#${first + count - 1}`;
}

function ioRow(ev) {
  const what = [];
  if (ev.began?.[1]) what.push(`began ${range(ev.began)}`);
  if (ev.cont) what.push(`continues #${ev.cont}`);
  if (ev.ended?.[1]) what.push(`ended ${range(ev.ended)}`);
  const parts = [
    el('strong', { textContent: `${ioWord(ev.dir)} ${ev.n}` }),
    el('span', { class: 'size', textContent: bytes(ev.size) }),
    el('span', { class: 'muted', textContent: `at ${numberFormat.format(ev.at)}` }),
    el('span', { textContent: what.join(' · ') || 'no frame boundary' }),
  ];
  if (ev.split) {
    parts.push(el('span', {
      class: 'split-pill',
      textContent: 'header split',
      title: `a frame header began in this ${ioWord(ev.dir)} and ends in the next`,
    }));
  }
  const tr = el(
    'tr',
    {
      class: 'fr-io',
      dataset: {
        conn: String(ev.conn), dir: ev.dir, n: String(ev.n), size: String(ev.size),
        began: (ev.began ?? []).join(','), ended: (ev.ended ?? []).join(','),
        cont: String(ev.cont ?? 0), split: String(Boolean(ev.split)),
      },
    },
    el('td', { class: 'time', textContent: seconds(ev.t) }),
    dirCell(ev.dir),
    el('td', { class: 'io-cell', colSpan: COLUMNS - 2 }, ...parts),
  );
  return tr;
}

function placeIo(ev, gs) {
  for (const g of gs) insertRow(g, ioRow(ev), ev.at, 0);
  const [first, count] = ev.began ?? [0, 0];
  for (let id = first; id < first + count; id += 1) {
    const f = frames.get(frameKey(ev.conn, ev.dir, id));
    if (f && !f.ev.io) {
      f.tr.dataset.io = String(ev.n);
      f.tr.querySelector('td.io').firstChild.textContent = `${ioWord(ev.dir)} ${ev.n}`;
    }
  }
}

function onIo(ev) {
  const gs = ioGroups(ev);
  if (gs) {
    placeIo(ev, gs);
    return;
  }
  pending.push(ev);
  while (pending.length > MAX_PENDING) {
    const old = pending.shift();
    const cur = latest.get(sideKey(old));
    if (cur) placeIo(old, [cur]);
  }
}

function retryPending(side) {
  if (!pending.length) return;
  const still = [];
  for (const ev of pending) {
    const gs = sideKey(ev) === side ? ioGroups(ev) : null;
    if (gs) placeIo(ev, gs);
    else still.push(ev);
  }
  pending = still;
}

function onElided(ev) {
  const g = dataGroup(ev);
  const word = ev.dir === 'in' ? 'read' : 'write';
  const tr = el(
    'tr',
    { class: 'fr-elided', dataset: { dir: ev.dir, frames: String(ev.frames), bytes: String(ev.bytes), ios: String(ev.ios) } },
    el('td', { class: 'time', textContent: seconds(ev.t) }),
    dirCell(ev.dir),
    el('td', {
      colSpan: COLUMNS - 2,
      textContent: `… ${plural(ev.frames, 'frame')} (${bytes(ev.bytes)}) in ${plural(ev.ios, word)} …`,
      title: 'not shown one by one: a long message shows its first frames and its last',
    }),
  );
  insertRow(g, tr, Number.MAX_SAFE_INTEGER, 0);
  g.elided = true;
  latest.set(sideKey(ev), g);
  retryPending(sideKey(ev));
}

function onMessage(ev) {
  const g = dataGroup(ev);
  g.message = ev;
  fillMessageHead(g, ev);
  retryPending(sideKey(ev));
}

// ping/pong/close name the control frame they came in; anything else is a line of its own.
function onControl(ev, detail) {
  const all = Array.from(groups.values());
  for (let i = all.length - 1; i >= 0; i -= 1) {
    const g = all[i];
    if (g.control === ev.e && g.conn === ev.conn && g.dir === ev.dir && !g.detail) {
      g.detail = detail;
      g.head.dataset.detail = detail;
      fillMessageHead(g, ev);
      return;
    }
  }
  note(ev, detail);
}

function note(ev, text, kind = ev.e) {
  const tr = el(
    'tr',
    { class: `fr-note ${kind}`, dataset: { e: ev.e, conn: String(ev.conn ?? '') } },
    el('td', { class: 'time', textContent: seconds(ev.t) }),
    ev.dir ? dirCell(ev.dir) : el('td'),
    el('td', { colSpan: COLUMNS - 2 }, el('span', { class: 'badge', textContent: ev.e }), ' ', text),
  );
  const tbody = el('tbody', { class: 'fr-notes' }, tr);
  rows += 1;
  afterInsert(placeBody(tbody));
}

function onEvent(ev) {
  switch (ev.e) {
    case 'frame': onFrame(ev); break;
    case 'read':
    case 'write': onIo(ev); break;
    case 'elided': onElided(ev); break;
    case 'message': onMessage(ev); break;
    case 'ping':
    case 'pong': onControl(ev, bytes(ev.size)); break;
    case 'close': onControl(ev, `${ev.code}${ev.reason ? ` “${ev.reason}”` : ''}`); break;
    case 'open':
      opens += 1;
      if (state === 'on') ui.hint.hidden = true;
      note(ev, `connection ${ev.conn} from ${ev.peer} · ${ev.path} · HTTP/${ev.http}${ev.deflate ? ' · permessage-deflate' : ''}`);
      break;
    case 'error':
      note(ev, `${ev.name}: ${ev.text} (close ${ev.code}, RFC 6455 §${ev.rfc})`);
      break;
    case 'end':
      for (const dir of ['in', 'out']) {
        latest.delete(`${ev.conn}/${dir}`);
      }
      pending = pending.filter((p) => p.conn !== ev.conn);
      note(ev, `connection ${ev.conn} gone · ${ev.code}${ev.reason ? ` “${ev.reason}”` : ''}`);
      break;
    case 'dropped':
      note(ev, `${plural(ev.count, 'event')} dropped: this page did not keep up`);
      break;
    default:
      break;
  }
}

function clear() {
  for (const tbody of ui.table.querySelectorAll('tbody')) tbody.remove();
  groups.clear();
  frames.clear();
  latest.clear();
  pending = [];
  rows = 0;
  ui.empty.hidden = false;
  select(null);
}

// ---------------------------------------------------------------- the bit diagram

function hexBytes(s) {
  const out = [];
  for (let i = 0; i + 1 < (s ?? '').length; i += 2) out.push(parseInt(s.slice(i, i + 2), 16));
  return out;
}

const h2 = (b) => b.toString(16).padStart(2, '0');

// The fields of a frame header, decoded from its bytes (RFC 6455 §5.2): [name, first bit,
// bit count, value shown, part].
function headerFields(hdr) {
  const b = hdr;
  const f = [];
  if (b.length < 2) return { fields: f, problems: ['the header has fewer than 2 bytes'] };
  const op = b[0] & 0x0f;
  const len7 = b[1] & 0x7f;
  const masked = (b[1] & 0x80) !== 0;
  f.push(['FIN', 0, 1, String(b[0] >> 7), 'hdr'],
    ['RSV1', 1, 1, String((b[0] >> 6) & 1), 'hdr'],
    ['RSV2', 2, 1, String((b[0] >> 5) & 1), 'hdr'],
    ['RSV3', 3, 1, String((b[0] >> 4) & 1), 'hdr'],
    ['opcode', 4, 4, `0x${op.toString(16)} ${OPCODES[op] ?? 'reserved'}`, 'hdr'],
    ['MASK', 8, 1, masked ? '1' : '0', 'hdr'],
    ['payload len', 9, 7, len7 === 126 ? '126 → 16 bits' : len7 === 127 ? '127 → 64 bits' : String(len7), 'hdr']);
  let pos = 2;
  let length = BigInt(len7);
  const problems = [];
  if (len7 >= 126) {
    const n = len7 === 126 ? 2 : 8;
    if (b.length < pos + n) problems.push('the header ends inside its extended length');
    length = 0n;
    for (let i = 0; i < n; i += 1) length = (length << 8n) | BigInt(b[pos + i] ?? 0);
    f.push([`extended payload length (${n * 8})`, pos * 8, n * 8, numberFormat.format(length), 'ext']);
    pos += n;
  }
  if (masked) {
    if (b.length < pos + 4) problems.push('the header ends inside its masking key');
    f.push(['masking key', pos * 8, 32, b.slice(pos, pos + 4).map(h2).join(' '), 'key']);
    pos += 4;
  }
  if (b.length !== pos) problems.push(`the header should be ${pos} bytes, hdr has ${b.length}`);
  return {
    fields: f,
    problems,
    fin: b[0] >> 7,
    rsv: `${(b[0] >> 6) & 1}${(b[0] >> 5) & 1}${(b[0] >> 4) & 1}`,
    op,
    mask: masked ? 1 : 0,
    length,
    enc: len7 === 127 ? 64 : len7 === 126 ? 16 : 7,
    key: masked ? b.slice(pos - 4, pos) : [],
    size: pos,
  };
}

const DIAGRAM_PAYLOAD = 8; // payload bytes drawn bit by bit (the event carries up to 16)
const OPCODES = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };

function printable(b) {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : '';
}

function select(tr) {
  if (selected) selected.classList.remove('selected');
  selected = tr;
  if (!tr) {
    ui.bits.replaceChildren(el('p', { class: 'muted', textContent: 'Select a frame to see its header bit by bit.' }));
    ui.bitsTitle.textContent = 'Frame header';
    delete ui.bits.dataset.id;
    return;
  }
  tr.classList.add('selected');
  drawFrame(tr.frame);
}

function drawFrame(ev) {
  const hdr = hexBytes(ev.hdr);
  const wire = hexBytes(ev.wire);
  const data = hexBytes(ev.data);
  const d = headerFields(hdr);
  ui.bitsTitle.textContent = `Frame #${ev.id} · ${ev.dir} · header ${plural(hdr.length, 'byte')}`;
  Object.assign(ui.bits.dataset, { id: String(ev.id), dir: ev.dir, conn: String(ev.conn) });

  // Where hdr and the decoded fields the event carries disagree (they should not).
  const problems = [...d.problems];
  if (hdr.length >= 2) {
    const check = [['FIN', d.fin, ev.fin], ['RSV', d.rsv, `${ev.rsv1}${ev.rsv2}${ev.rsv3}`], ['opcode', d.op, ev.op],
      ['MASK', d.mask, ev.mask], ['length', String(d.length), String(ev.len)], ['encoding', d.enc, ev.enc],
      ['key', d.key.map(h2).join(''), ev.key]];
    for (const [name, fromHdr, fromEvent] of check) {
      if (String(fromHdr) !== String(fromEvent)) problems.push(`${name}: the header bytes say ${fromHdr}, the event ${fromEvent}`);
    }
  }

  // Cells: one per byte, header then the first payload bytes as sent.
  const cells = hdr.map((v, i) => ({ v, i, part: partOf(d, i) }));
  wire.slice(0, DIAGRAM_PAYLOAD).forEach((v, j) => cells.push({ v, i: hdr.length + j, part: 'payload', j, data: data[j] }));

  const grid = el('div', { class: 'bitgrid' });
  grid.setAttribute('role', 'img');
  grid.setAttribute('aria-label', `frame header ${ev.hdr}`);
  // The bit ruler of RFC 6455's picture: 0 … 31 over each 32-bit line.
  for (let c = 0; c < 32; c += 1) grid.append(el('span', { class: 'ruler tens', textContent: c % 10 === 0 ? String(c / 10) : '', style: `grid-column:${c + 2}` }));
  for (let c = 0; c < 32; c += 1) grid.append(el('span', { class: 'ruler', textContent: String(c % 10), style: `grid-column:${c + 2}` }));

  const payloadStart = hdr.length;
  const lines = Math.ceil(cells.length / 4);
  for (let line = 0; line < lines; line += 1) {
    const lineCells = cells.slice(line * 4, line * 4 + 4);
    grid.append(el('span', { class: 'offset', textContent: `+${line * 4}`, title: `bytes ${line * 4}…` }));
    for (const [k, c] of lineCells.entries()) {
      const col = k * 8 + 2;
      const byte = el(
        'span',
        {
          class: `byte ${c.part}`,
          style: `grid-column:${col} / span 8`,
          dataset: { index: String(c.i), hex: h2(c.v), part: c.part, ...(c.part === 'payload' ? { data: h2(c.data ?? 0), j: String(c.j) } : {}) },
          title: c.part === 'payload' ? `payload byte ${c.j} as sent (masked)` : `header byte ${c.i}`,
        },
        el('span', { class: 'b-hex', textContent: `0x${h2(c.v)}` }),
        el('span', { class: 'b-idx', textContent: c.part === 'payload' ? `payload ${c.j}` : `byte ${c.i}` }),
      );
      byte.dataset.testid = 'bit-byte';
      grid.append(byte);
    }
    for (const [k, c] of lineCells.entries()) {
      for (let bitNo = 0; bitNo < 8; bitNo += 1) {
        const v = (c.v >> (7 - bitNo)) & 1;
        const field = fieldAt(d.fields, c.i * 8 + bitNo);
        grid.append(el('span', {
          class: `bitcell b${v} ${c.part}${bitNo === 0 ? ' first' : ''}`,
          style: `grid-column:${k * 8 + bitNo + 2}`,
          textContent: String(v),
          title: field ? field[0] : c.part === 'payload' ? `payload byte ${c.j}` : '',
        }));
      }
    }
    // Field labels: each field's stretch on this line.
    const lineStart = line * 32;
    const lineEnd = Math.min(lineStart + lineCells.length * 8, payloadStart * 8);
    for (const fld of d.fields) {
      const [name, from, count, value, part] = fld;
      const a = Math.max(from, lineStart);
      const b = Math.min(from + count, lineEnd);
      if (a >= b) continue;
      const short = b - a <= 1;
      grid.append(el(
        'span',
        {
          class: `field ${part}${short ? ' short' : ''}`,
          style: `grid-column:${a - lineStart + 2} / span ${b - a}`,
          title: `${name}: ${value}`,
          dataset: { field: name, value },
        },
        // One letter a line in a 1-bit field, as in RFC 6455's picture.
        el('span', { class: 'f-name', textContent: short ? [...name].join('\n') : `${name}${a > from ? ' (cont.)' : ''}` }),
        el('span', { class: 'f-value', textContent: short ? '' : value }),
      ));
    }
    for (const [k, c] of lineCells.entries()) {
      if (c.part !== 'payload') continue;
      const keyByte = d.key.length ? d.key[c.j % 4] : null;
      const plain = c.data ?? c.v;
      grid.append(el(
        'span',
        {
          class: 'field payload',
          style: `grid-column:${k * 8 + 2} / span 8`,
          title: keyByte === null ? 'not masked: sent as is' : `the byte as sent XOR masking key byte ${c.j % 4}`,
        },
        el('span', { class: 'f-name', textContent: keyByte === null ? `data ${c.j}` : `⊕ key[${c.j % 4}] 0x${h2(keyByte)}` }),
        el('span', { class: 'f-value', textContent: `= 0x${h2(plain)} ${printable(plain)}` }),
      ));
    }
  }

  const summary = el('dl', { class: 'bits-summary' },
    ...pair('FIN', d.fin === 1 ? '1: the last frame of its message' : '0: more frames follow'),
    ...pair('RSV1-3', d.rsv + (d.rsv[0] === '1' ? ' (RSV1: compressed, permessage-deflate)' : '')),
    ...pair('opcode', `0x${(d.op ?? 0).toString(16)} ${OPCODES[d.op] ?? 'reserved'}`),
    ...pair('MASK', d.mask ? '1: masked (client to server)' : '0: not masked'),
    ...pair('payload length', `${numberFormat.format(d.length ?? 0)} B, ${d.enc === 7 ? 'in the 7-bit field' : `in the ${d.enc}-bit extended length`}`),
    ...pair('masking key', d.key?.length ? d.key.map(h2).join(' ') : '–'),
    ...pair('payload shown', wire.length ? `${plural(wire.length, 'byte')} of ${numberFormat.format(ev.len)}` : 'none'),
    ...(wire.length ? [...pair('wire (masked)', spaced(wire)), ...pair('data', spaced(data))] : []),
  );
  summary.dataset.testid = 'frame-bits-summary';
  const parts = [grid, summary];
  if (problems.length) parts.push(el('p', { class: 'hint', textContent: problems.join('; ') }));
  ui.bits.replaceChildren(...parts);
}

function spaced(list) {
  return list.map(h2).join(' ');
}

function pair(k, v) {
  return [el('dt', { textContent: k }), el('dd', { textContent: v })];
}

function partOf(d, i) {
  if (i < 2) return 'hdr';
  const f = d.fields.find(([, from, count]) => i * 8 >= from && i * 8 < from + count);
  return f ? f[4] : 'hdr';
}

function fieldAt(fields, bitNo) {
  return fields.find(([, from, count]) => bitNo >= from && bitNo < from + count);
}

// ---------------------------------------------------------------- wiring

ui.table.addEventListener('click', (e) => {
  const tr = e.target.closest('tr.fr-frame');
  if (tr) select(tr);
});
ui.table.addEventListener('keydown', (e) => {
  const tr = e.target.closest('tr.fr-frame');
  if (!tr) return;
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    select(tr);
  }
});
ui.clear.addEventListener('click', clear);
ui.retry.addEventListener('click', () => {
  if (state === 'on' || state === 'connecting') return;
  state = 'unknown';
  connectInspector();
});

select(null);
if (served) {
  connectInspector();
} else {
  setState('off', 'off', ['Open this page from ', code('sockeye serve --inspect'), ' to see the frames.']);
}
