// One queue: its counters (polled every 2 s, drawn as depth over time), its
// settings, consumers and dead-letter queue, a peek of its first entries, and
// the operations on it, each confirmed in a dialog first.

import { api } from './api.js';
import { timeChart } from './chart.js';
import { queueLink } from './queues.js';
import {
  base64ToBytes,
  confirmDialog,
  fmtAge,
  fmtBytes,
  fmtDurationMs,
  fmtInt,
  fmtRate,
  fmtTime,
  h,
  hexPreview,
  isNum,
  notice,
  replace,
} from './ui.js';

const POLL_MS = 2000;
const MAX_POINTS = 300; // ten minutes of depth at one point per poll
const PEEK_LIMIT = 20;

// The settings `hermod queue set` changes, as /api/queue/configure takes them.
const SETTINGS = [
  { name: 'max_messages', kind: 'count', help: 'most entries; 0: unlimited' },
  { name: 'max_bytes', kind: 'count', help: 'most bytes of messages; 0: unlimited' },
  { name: 'overflow', kind: ['reject', 'drop-oldest'], help: 'what a full queue does' },
  { name: 'max_age_ms', kind: 'count', help: 'entries older expire (ms); 0: never' },
  { name: 'max_deliveries', kind: 'count', help: 'then to the dead-letter queue; 0: unlimited' },
  { name: 'dead_letter_queue', kind: 'text', help: 'empty: the default, NAME.dlq' },
  { name: 'ack_wait_ms', kind: 'count', help: 'redelivery deadline (ms)' },
  { name: 'backoff', kind: 'text', help: '1s,5s,30s or exp:1s:5m or none; empty: the broker’s' },
];

export function queuePage(ctx, name) {
  let row = null; // the latest /api/queue answer
  const depth = { t: [], v: [] };

  // --- skeleton -----------------------------------------------------------
  const buttons = {
    refresh: h('button', { type: 'button', testid: 'queue-refresh' }, 'Refresh'),
    configure: h('button', { type: 'button', testid: 'configure-button' }, 'Settings…'),
    redrive: h('button', { type: 'button', testid: 'redrive-button', title: 'move dead letters back' }, 'Redrive…'),
    purge: h('button', { type: 'button', class: 'danger-outline', testid: 'purge-button' }, 'Purge…'),
    remove: h('button', { type: 'button', class: 'danger-outline', testid: 'delete-button' }, 'Delete…'),
  };
  const facts = h('dl', { class: 'facts', testid: 'queue-facts' });
  const depthValue = h('span', { class: 'big', testid: 'queue-depth' }, '—');
  const bytesValue = h('div', { class: 'card-sub', testid: 'queue-bytes' });
  const chartBox = h('div', { class: 'chart', testid: 'queue-depth-chart' });
  const limitsBox = h('div', { class: 'table-wrap' });
  const consumersBox = h('div', { class: 'table-wrap' });
  const peekBody = h('tbody');
  const peekMore = h('button', { type: 'button', testid: 'peek-more', disabled: true }, 'More');
  const peekStatus = h('span', { class: 'muted', testid: 'peek-status' });

  replace(
    ctx.el,
    h(
      'div',
      { class: 'page-head' },
      h('a', { href: '#/queues', class: 'back' }, '‹ Queues'),
      h('h1', null, h('span', { class: 'muted' }, 'Queue '), h('span', { class: 'name', testid: 'queue-name' }, name)),
      h('span', { class: 'spacer' }),
      Object.values(buttons),
    ),
    h(
      'section',
      { class: 'queue-top' },
      h('div', { class: 'card rate' }, h('div', { class: 'card-label' }, 'Depth'), depthValue, bytesValue),
      facts,
    ),
    h(
      'section',
      { class: 'panel' },
      h('h2', null, 'Depth over time'),
      h('p', { class: 'muted small' }, 'sampled every 2 s while this page is open'),
      chartBox,
    ),
    h(
      'div',
      { class: 'columns' },
      h('section', { class: 'panel' }, h('h2', null, 'Settings'), limitsBox),
      h('section', { class: 'panel' }, h('h2', null, 'Consumers'), consumersBox),
    ),
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', null, 'First entries'),
        h('span', { class: 'muted small' }, 'a peek: nothing is delivered'),
        h('span', { class: 'spacer' }),
        peekStatus,
        h('button', { type: 'button', testid: 'peek-refresh', onclick: () => peek(true) }, 'From the start'),
        peekMore,
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table peek', testid: 'peek-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['seq', 'msg id', 'deliveries', 'published', 'state', 'size'].map((t) => h('th', { class: 'num' }, t)),
              h('th', null, 'headers'),
              h('th', null, 'payload'),
            ),
          ),
          peekBody,
        ),
      ),
    ),
  );

  const chart = timeChart(chartBox, {
    series: [{ label: 'depth', stroke: '#2563eb', fill: 'rgba(37,99,235,0.08)' }],
    height: 160,
    format: fmtInt,
    integer: true,
  });
  ctx.onDispose(() => chart.destroy());

  // --- the queue's row ----------------------------------------------------
  const poller = ctx.poll(
    'queue',
    async () => {
      const answer = await api('/api/queue', { query: { name } });
      if (!ctx.alive) return;
      const first = row === null;
      row = answer;
      renderRow();
      depth.t.push(Date.now() / 1000);
      depth.v.push(isNum(row.depth) ? row.depth : null);
      if (depth.t.length > MAX_POINTS) {
        depth.t.shift();
        depth.v.shift();
      }
      chart.setData([depth.t, depth.v]);
      if (first) peek(true); // a queue made a moment ago may not be listed yet
    },
    POLL_MS,
  );
  buttons.refresh.addEventListener('click', () => {
    poller.now();
    if (row) peek(true);
  });

  function renderRow() {
    depthValue.textContent = fmtInt(row.depth);
    depthValue.dataset.value = String(row.depth);
    bytesValue.textContent = fmtBytes(row.bytes);
    const dlq = row.dead_letter_queue;
    const fact = (label, ...value) => h('div', null, h('dt', null, label), h('dd', null, ...value));
    replace(
      facts,
      fact('in flight', fmtInt(row.inflight)),
      fact('consumers', fmtInt(row.consumers)),
      fact('oldest entry', fmtAge(row.oldest_age_ms)),
      fact(
        'seqs',
        row.depth > 0 ? `${fmtInt(row.first_seq)} … ${fmtInt(row.last_seq)}` : `none (last ${fmtInt(row.last_seq)})`,
      ),
      fact('publish rate', `${fmtRate(row.publish_rate)} /s`),
      fact('ack rate', `${fmtRate(row.ack_rate)} /s`),
      fact(
        'dead letters',
        h(
          'span',
          { testid: 'queue-dlq' },
          dlq ? queueLink(dlq) : 'none',
          dlq ? ` · ${fmtInt(row.dlq_depth)} entries` : '',
        ),
      ),
      fact('created', fmtTime(row.created_ms)),
    );
    // Redrive is for a dead-letter queue; any queue may be one, so it stays,
    // set apart when the queue holds nothing to move.
    buttons.redrive.classList.toggle('quiet', !(row.depth > 0));

    const limits = limitsOf(row);
    replace(
      limitsBox,
      limits.length
        ? h(
            'table',
            { class: 'table compact', testid: 'limits-table' },
            h('thead', null, h('tr', null, h('th', null, 'setting'), h('th', null, 'value'), h('th', null, 'source'))),
            h(
              'tbody',
              null,
              limits.map((l) =>
                h(
                  'tr',
                  { class: l.source === 'queue' ? 'set' : null },
                  h('td', null, l.name),
                  h('td', null, l.name === 'dead_letter_queue' && l.value ? queueLink(l.value) : l.value),
                  h('td', { class: 'muted' }, l.source),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No settings reported.'),
    );

    const consumers = Array.isArray(row.consumer_list) ? row.consumer_list : [];
    replace(
      consumersBox,
      consumers.length
        ? h(
            'table',
            { class: 'table compact', testid: 'consumers-table' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, 'address'),
                ['subscription', 'credit', 'in flight', 'ack wait'].map((t) => h('th', { class: 'num' }, t)),
              ),
            ),
            h(
              'tbody',
              null,
              consumers.map((c) =>
                h(
                  'tr',
                  null,
                  h('td', null, c.address ?? '—'),
                  h('td', { class: 'num' }, fmtInt(c.subscription ?? c.subscription_id)),
                  h('td', { class: 'num' }, fmtInt(c.credit)),
                  h('td', { class: 'num' }, fmtInt(c.inflight)),
                  h('td', { class: 'num' }, fmtDurationMs(c.ack_wait_ms)),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted', testid: 'consumers-none' }, 'No consumer is subscribed.'),
    );
  }

  // --- peek ---------------------------------------------------------------
  let nextFrom = 0;
  let peeking = false;

  async function peek(fromStart) {
    if (peeking) return;
    peeking = true;
    peekMore.disabled = true;
    const query = { name, limit: PEEK_LIMIT };
    if (!fromStart) query.from = nextFrom;
    const answer = await ctx.task('peek', () => api('/api/queue/peek', { query }));
    peeking = false;
    if (!ctx.alive || !answer) return;
    const entries = Array.isArray(answer.entries) ? answer.entries : [];
    const fragment = document.createDocumentFragment();
    for (const e of entries) fragment.appendChild(entryRow(e));
    if (fromStart) peekBody.replaceChildren(fragment);
    else peekBody.appendChild(fragment);
    nextFrom = answer.next_from;
    // Fewer than asked for: that was the end (for now).
    peekMore.disabled = entries.length < PEEK_LIMIT || !isNum(nextFrom) || nextFrom <= 0;
    const shown = peekBody.childElementCount;
    peekStatus.textContent = shown ? `${fmtInt(shown)} shown` : 'the queue is empty';
    peekBody.parentElement.dataset.loaded = String(Date.now()); // for tests
  }
  peekMore.addEventListener('click', () => peek(false));

  // --- operations ---------------------------------------------------------
  async function operate(path, body, describe) {
    for (const b of Object.values(buttons)) b.disabled = true;
    const answer = await ctx.task('operation', () => api(path, { body }));
    for (const b of Object.values(buttons)) b.disabled = false;
    if (!answer || !ctx.alive) return answer;
    notice(describe(answer));
    poller.now();
    peek(true);
    return answer;
  }

  buttons.purge.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Purge ${name}?`,
      body: h(
        'div',
        null,
        h(
          'p',
          null,
          'Removes every entry of ',
          h('code', null, name),
          ` that is not being delivered right now (${fmtInt(row?.depth)} entries now).`,
        ),
        h('p', { class: 'muted' }, 'Entries in flight stay with their consumer. This cannot be undone.'),
      ),
      confirmLabel: 'Purge',
    });
    if (!ok) return;
    await operate('/api/queue/purge', { name }, (a) => `Purged ${name}: removed ${fmtInt(a.removed)} entries.`);
  });

  buttons.remove.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete ${name}?`,
      body: h(
        'div',
        null,
        h(
          'p',
          null,
          'Deletes ',
          h('code', null, name),
          ' with its entries and settings, and takes it out of every group.',
        ),
        h(
          'p',
          { class: 'muted' },
          'Refused while the queue has consumers or deliveries in flight. This cannot be undone.',
        ),
      ),
      confirmLabel: 'Delete',
    });
    if (!ok) return;
    for (const b of Object.values(buttons)) b.disabled = true;
    const answer = await ctx.task('operation', () => api('/api/queue/delete', { body: { name } }));
    for (const b of Object.values(buttons)) b.disabled = false;
    if (!answer) return;
    notice(`Deleted ${name}: removed ${fmtInt(answer.removed)} entries.`);
    if (ctx.alive) location.hash = '#/queues';
  });

  buttons.redrive.addEventListener('click', async () => {
    const to = h('input', {
      type: 'text',
      placeholder: 'each entry’s origin',
      testid: 'redrive-to',
      spellcheck: 'false',
      autocomplete: 'off',
    });
    const limit = h('input', { type: 'number', min: '1', step: '1', placeholder: 'all', testid: 'redrive-limit' });
    const ok = await confirmDialog({
      title: `Redrive ${name}?`,
      body: h(
        'div',
        null,
        h(
          'p',
          null,
          'Moves the dead letters of ',
          h('code', null, name),
          ' back: each to the queue it came from, or all to the queue named here.',
        ),
        h('label', { class: 'field' }, h('span', null, 'to queue'), to),
        h('label', { class: 'field' }, h('span', null, 'at most'), limit),
      ),
      confirmLabel: 'Redrive',
    });
    if (!ok) return;
    const body = { name };
    if (to.value.trim()) body.to = to.value.trim();
    if (limit.value) body.limit = Number(limit.value);
    await operate(
      '/api/queue/redrive',
      body,
      (a) => `Redrove ${fmtInt(a.moved)} entries from ${name}; ${fmtInt(a.remaining)} left.`,
    );
  });

  buttons.configure.addEventListener('click', async () => {
    const current = new Map(limitsOf(row || {}).map((l) => [l.name, l.value ?? '']));
    const inputs = new Map();
    const reset = h('input', { type: 'checkbox', testid: 'configure-reset' });
    const form = h(
      'div',
      { class: 'settings-form' },
      SETTINGS.map((s) => {
        const value = String(current.get(s.name) ?? '');
        let input;
        if (Array.isArray(s.kind)) {
          input = h(
            'select',
            null,
            s.kind.map((v) => h('option', { value: v }, v)),
          );
          input.value = s.kind.includes(value) ? value : s.kind[0];
        } else {
          input = h('input', {
            type: 'text',
            value,
            spellcheck: 'false',
            autocomplete: 'off',
            inputmode: s.kind === 'count' ? 'numeric' : null,
            pattern: s.kind === 'count' ? '[0-9]+' : null,
            required: s.kind === 'count' && value !== '' ? true : null,
          });
        }
        input.dataset.testid = `setting-${s.name}`;
        input.dataset.initial = input.value;
        inputs.set(s.name, input);
        return h('label', { class: 'field' }, h('span', null, s.name), input, h('small', { class: 'muted' }, s.help));
      }),
      h(
        'label',
        { class: 'field check' },
        reset,
        h('span', null, 'reset every override first (back to the broker’s defaults), then apply the changes'),
      ),
    );
    const ok = await confirmDialog({
      title: `Settings of ${name}`,
      body: form,
      confirmLabel: 'Review…',
      danger: false,
    });
    if (!ok) return;
    // Only what the user changed is sent; the rest stays as it is.
    const body = { name };
    const changes = [];
    for (const s of SETTINGS) {
      const input = inputs.get(s.name);
      if (input.value === input.dataset.initial) continue;
      body[s.name] = s.kind === 'count' ? Number(input.value) : input.value;
      changes.push(`${s.name} = ${input.value === '' ? '(default)' : input.value}`);
    }
    if (reset.checked) body.reset = true;
    if (!changes.length && !reset.checked) {
      notice('Nothing changed.');
      return;
    }
    const sure = await confirmDialog({
      title: `Change the settings of ${name}?`,
      body: h(
        'div',
        null,
        reset.checked ? h('p', null, 'Every override of the queue is dropped first.') : null,
        changes.length
          ? h(
              'ul',
              { class: 'changes' },
              changes.map((c) => h('li', null, h('code', null, c))),
            )
          : null,
        h('p', { class: 'muted' }, 'They apply at once.'),
      ),
      confirmLabel: 'Apply',
      danger: false,
    });
    if (!sure) return;
    await operate('/api/queue/configure', body, () => `Settings of ${name} changed: ${changes.join(', ') || 'reset'}.`);
  });
}

// limits as a list of {name, value, source}: docs/console.md says an array;
// an object (name → {value, source}, as `queue show --json`) is read too.
function limitsOf(row) {
  const limits = row.limits;
  if (Array.isArray(limits))
    return limits.map((l) => ({ name: l.name, value: String(l.value ?? ''), source: l.source ?? '' }));
  if (limits && typeof limits === 'object') {
    return Object.entries(limits).map(([name, l]) => ({
      name,
      value: String(l?.value ?? l ?? ''),
      source: l?.source ?? '',
    }));
  }
  return [];
}

// One peek entry: payload text goes in through textContent only, binary as
// hex and base64, so nothing a publisher sent can become markup.
function entryRow(e) {
  const now = Date.now();
  let state = 'ready';
  if (e.inflight) state = 'in flight';
  else if (isNum(e.deliver_at_ms) && e.deliver_at_ms > now) state = `scheduled ${fmtTime(e.deliver_at_ms)}`;
  const tr = h(
    'tr',
    { class: e.inflight ? 'inflight' : null },
    h('td', { class: 'num' }, fmtInt(e.seq)),
    h('td', { class: 'num' }, fmtInt(e.id)),
    h('td', { class: 'num' }, fmtInt(e.delivery_count)),
    h(
      'td',
      {
        class: 'num nowrap',
        title: isNum(e.expires_ms) && e.expires_ms > 0 ? `expires ${fmtTime(e.expires_ms)}` : 'never expires',
      },
      fmtTime(e.publish_time_ms),
    ),
    h('td', { class: 'num nowrap' }, state),
    h('td', { class: 'num nowrap' }, fmtBytes(e.size)),
    h('td', { class: 'headers' }, headerList(e.headers)),
    payloadCell(e),
  );
  tr.dataset.seq = String(e.seq);
  return tr;
}

function headerList(headers) {
  if (!headers || typeof headers !== 'object') return '';
  const keys = Object.keys(headers);
  if (!keys.length) return h('span', { class: 'muted' }, '—');
  return keys.map((k) => h('div', { class: 'header' }, h('span', { class: 'hkey' }, k), ': ', String(headers[k])));
}

function payloadCell(e) {
  const td = h('td', { class: 'payload', testid: 'peek-payload' });
  if (typeof e.payload === 'string') {
    td.dataset.encoding = 'text';
    const pre = h('pre', { class: 'text' });
    pre.textContent = e.payload;
    td.appendChild(e.payload === '' ? h('span', { class: 'muted' }, '(empty)') : pre);
  } else if (typeof e.payload_base64 === 'string') {
    td.dataset.encoding = 'binary';
    let bytes;
    try {
      bytes = base64ToBytes(e.payload_base64);
    } catch {
      bytes = new Uint8Array(0);
    }
    const b64 = e.payload_base64.length > 96 ? `${e.payload_base64.slice(0, 96)}…` : e.payload_base64;
    td.append(
      h(
        'div',
        { class: 'hex', title: 'binary payload: its first bytes in hex' },
        h('span', { class: 'tag' }, 'hex'),
        hexPreview(bytes),
      ),
      h('div', { class: 'b64', title: e.payload_base64 }, h('span', { class: 'tag' }, 'base64'), b64),
    );
  } else {
    td.appendChild(h('span', { class: 'muted' }, '—'));
  }
  if (e.payload_truncated) {
    td.appendChild(h('div', { class: 'muted small' }, `first 1 KiB of ${fmtBytes(e.size)}`));
  }
  return td;
}
