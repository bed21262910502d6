// Formatting and DOM helpers shared by the echo panel (app.js) and the pub/sub panel
// (pubsub.js). Text reaches the page only through textContent, never as HTML.

export const encoder = new TextEncoder();
export const numberFormat = new Intl.NumberFormat('en-US');

export function bytes(n) {
  return `${numberFormat.format(n)} B`;
}

export function human(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i += 1;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

export function clock(date = new Date()) {
  const p = (v, w = 2) => String(v).padStart(w, '0');
  return `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}.${p(date.getMilliseconds(), 3)}`;
}

export function duration(ms) {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function rate(size, ms) {
  return `${(size / Math.max(ms, 0.001) / 1000).toFixed(1)} MB/s`;
}

export function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function hexPreview(u8, max = 20) {
  const head = Array.from(u8.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return u8.length > max ? `${head} …` : head;
}

export function textPreview(s, max = 60) {
  const head = s.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '↵' : '·'));
  return s.length > max ? `${head}…` : head;
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'class') node.className = v;
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}
