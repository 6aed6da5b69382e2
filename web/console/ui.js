// DOM helpers, formatting, the error bar, notices and the two dialogs
// (confirmation and token). Data from the broker only ever reaches the page
// through textContent and attribute values: nothing here parses HTML.

// h('a', {href: '#/x', class: 'c', testid: 'id', onclick: fn}, 'text', child...)
// builds an element. Strings and numbers become text nodes; null, undefined
// and false children are skipped; arrays are flattened.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'testid') el.dataset.testid = value;
      else if (key === 'text') el.textContent = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key in el && typeof value !== 'string') el[key] = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

// Replaces every child of el with children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---------------------------------------------------------------------------
// Formatting. Every formatter takes whatever the API sent (possibly missing)
// and answers '—' for what it cannot show.

const DASH = '—';

export function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

export function fmtInt(v) {
  return isNum(v) ? Math.round(v).toLocaleString('en-US') : DASH;
}

// Rates: one decimal below 100/s, whole numbers above.
export function fmtRate(v) {
  if (!isNum(v)) return DASH;
  return v.toLocaleString('en-US', { maximumFractionDigits: v < 100 ? 1 : 0 });
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(v) {
  if (!isNum(v)) return DASH;
  if (v < 0) return DASH;
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

// A duration in milliseconds, two units at most: 850ms, 12.3s, 4m 05s,
// 3h 12m, 2d 04h.
export function fmtDurationMs(ms) {
  if (!isNum(ms) || ms < 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const pad = (n) => String(Math.floor(n)).padStart(2, '0');
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const hours = Math.floor(m / 60);
  if (hours < 24) return `${hours}h ${pad(m % 60)}m`;
  return `${Math.floor(hours / 24)}d ${pad(hours % 24)}h`;
}

// The age of a queue's oldest entry: 0 means the queue is empty.
export function fmtAge(ms) {
  return isNum(ms) && ms > 0 ? fmtDurationMs(ms) : DASH;
}

// Wall-clock milliseconds as UTC, to the second, as the CLI prints times.
export function fmtTime(ms) {
  if (!isNum(ms) || ms <= 0) return DASH;
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

// Milliseconds from a setting or an API field: 0 is "none" for limits.
export function fmtLatencyMs(v) {
  if (!isNum(v)) return DASH;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
}

// Standard base64 to bytes.
export function base64ToBytes(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

export function hexPreview(bytes, max = 48) {
  const parts = [];
  for (let i = 0; i < Math.min(bytes.length, max); i++) {
    parts.push(bytes[i].toString(16).padStart(2, '0'));
  }
  return parts.join(' ') + (bytes.length > max ? ' …' : '');
}

// ---------------------------------------------------------------------------
// Errors and notices. Errors are kept by source (a page's poll, an
// operation) so that a poll that succeeds again clears its own error only.

const errors = new Map();

export function setError(source, message) {
  errors.set(source, message);
  renderErrors();
}

export function clearError(source) {
  if (errors.delete(source)) renderErrors();
}

export function clearErrors() {
  errors.clear();
  renderErrors();
}

function renderErrors() {
  const bar = document.getElementById('errors');
  if (!bar) return;
  bar.hidden = errors.size === 0;
  replace(
    bar,
    [...errors.values()].map((m) => h('div', { class: 'error-line' }, m)),
    errors.size ? h('button', { class: 'link', type: 'button', onclick: clearErrors }, 'dismiss') : null,
  );
}

// A message about an operation's result; it stays across one navigation (a
// delete goes back to the queue list) and goes at the next.
let noticeAge = 0;

export function notice(message) {
  const el = document.getElementById('notice');
  if (!el) return;
  noticeAge = 0;
  el.hidden = false;
  replace(
    el,
    h('span', null, message),
    h('button', { class: 'link', type: 'button', onclick: () => (el.hidden = true) }, 'dismiss'),
  );
}

// Called by the router on each navigation.
export function ageNotice() {
  if (++noticeAge > 1) document.getElementById('notice').hidden = true;
}

// ---------------------------------------------------------------------------
// The confirmation dialog. Resolves true when the user confirms, false when
// they cancel (button, Escape). body: a string or a node (a form whose
// inputs the caller reads after a true).

export function confirmDialog({ title, body, confirmLabel = 'Confirm', danger = true }) {
  const dialog = document.getElementById('confirm-dialog');
  const form = dialog.querySelector('form');
  const ok = document.getElementById('confirm-button');
  const cancel = document.getElementById('confirm-cancel');
  replace(document.getElementById('confirm-title'), title);
  replace(document.getElementById('confirm-body'), typeof body === 'string' ? h('p', null, body) : body);
  ok.textContent = confirmLabel;
  ok.className = danger ? 'danger' : 'primary';
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      // A form inside the body may refuse (e.g. a bad number): it marks an
      // input invalid and the dialog stays open.
      if (!form.checkValidity()) {
        form.reportValidity();
        return;
      }
      done(true);
    };
    const onCancel = (e) => {
      e.preventDefault();
      done(false);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    // Focus the first input of the body if there is one, else Cancel, so
    // that Enter does not confirm a destructive operation by accident.
    (dialog.querySelector('#confirm-body input, #confirm-body select') || cancel).focus();
  });
}

// ---------------------------------------------------------------------------
// The token dialog. promptToken(reason) opens it (once for every caller
// waiting at the same time) and resolves with the token saved, or '' when
// the user cancels.

let tokenPrompt = null;

export function promptToken(reason) {
  if (tokenPrompt) return tokenPrompt;
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const cancel = document.getElementById('token-cancel');
  const clear = document.getElementById('token-clear');
  replace(document.getElementById('token-reason'), reason);
  input.value = '';
  tokenPrompt = new Promise((resolve) => {
    const done = (token) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      clear.removeEventListener('click', onClear);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      input.value = '';
      tokenPrompt = null;
      resolve(token);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      setToken(token);
      done(token);
    };
    const onCancel = (e) => {
      e.preventDefault();
      done('');
    };
    const onClear = () => {
      setToken('');
      notice('The stored token was cleared.');
      done('');
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    clear.addEventListener('click', onClear);
    dialog.addEventListener('cancel', onCancel);
    clear.hidden = !getToken();
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

// The token lives in this tab's sessionStorage only (docs/console.md,
// "Access"): never a cookie, never a URL.
const TOKEN_KEY = 'hermod.token';
let memoryToken = ''; // when storage is disabled: until the page reloads

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return memoryToken;
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    memoryToken = token;
  }
  document.getElementById('token-button')?.classList.toggle('has-token', Boolean(token));
}

// The version and node in the top bar (the overview page keeps them fresh).
export function setNodeLabel(overview) {
  const label = document.getElementById('node-label');
  const version = overview?.version || overview?.stats?.version;
  const node = overview?.node;
  label.textContent = [version ? `hermodd ${version}` : '', node ? `node ${node}` : ''].filter(Boolean).join(' · ');
}
