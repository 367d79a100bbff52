// Small formatting helpers shared by the views. None touches the DOM.

/** JSON of a value on one line, cut to max characters. */
export function shortJSON(value, max = 80) {
  let s;
  try {
    s = JSON.stringify(value);
  } catch {
    s = String(value);
  }
  if (s === undefined) s = 'null';
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** "12 s ago", "3 min ago", ... from an ISO time; "never" for null. */
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never';
  const secs = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (secs < 5) return 'just now';
  if (secs < 60) return `${secs} s ago`;
  const mins = Math.round(secs / 60);
  if (mins < 60) return `${mins} min ago`;
  const hours = Math.round(mins / 60);
  if (hours < 48) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString();
}

/**
 * "in 12 s", "in 3 min", ... until an ISO time; "due" once it has passed,
 * and an em dash for null (nothing scheduled).
 */
export function until(iso, now = Date.now()) {
  if (!iso) return '—';
  const secs = Math.round((Date.parse(iso) - now) / 1000);
  if (Number.isNaN(secs)) return '—';
  if (secs <= 0) return 'due now';
  if (secs < 60) return `in ${secs} s`;
  const mins = Math.round(secs / 60);
  if (mins < 60) return `in ${mins} min`;
  const hours = Math.round(mins / 60);
  if (hours < 48) return `in ${hours} h`;
  return `on ${new Date(iso).toLocaleDateString()}`;
}

/** A count with thin grouping: 12 345. */
export const count = (n) => Number(n).toLocaleString();

/** A per-second rate, or an em dash when unknown. */
export function rate(perSecond) {
  if (perSecond === null || !Number.isFinite(perSecond)) return '—';
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  return `${perSecond < 10 ? perSecond.toFixed(1) : Math.round(perSecond)}/s`;
}

/** Builds an element: el('td', {class: 'x', dataset: {id}}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c);
  }
  return e;
}
