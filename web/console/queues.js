// Queues: one page of the queue list at a time, by name (paged by the `next`
// cursor) or ranked by depth, bytes or age (paged by offset).

import { api } from './api.js';
import { fmtAge, fmtBytes, fmtInt, fmtRate, h, replace } from './ui.js';

export function queueLink(name) {
  return h('a', { href: `#/queue/${encodeURIComponent(name)}` }, name);
}

const SORTS = {
  name: 'name',
  depth: 'depth (deepest first)',
  bytes: 'bytes (largest first)',
  age: 'age (oldest entry first)',
};
const LIMITS = [50, 100, 200, 500, 1000];
const MAX_RANK = 10000; // offset + limit at most, for the ranked sorts

// The list's state outlives the page, so that coming back from a queue
// shows the same page.
const state = {
  sort: 'name',
  prefix: '',
  limit: 50,
  // By name: the cursors of the pages before this one, and this one's.
  afters: [],
  after: '',
  // Ranked: this page's first row.
  offset: 0,
};

function resetPaging() {
  state.afters = [];
  state.after = '';
  state.offset = 0;
}

// Columns: [key in ROW, heading, sort it selects or null, cell].
const COLUMNS = [
  ['name', 'queue', 'name', (q) => queueLink(q.name)],
  ['depth', 'depth', 'depth', (q) => fmtInt(q.depth)],
  ['bytes', 'bytes', 'bytes', (q) => fmtBytes(q.bytes)],
  ['oldest_age_ms', 'oldest', 'age', (q) => fmtAge(q.oldest_age_ms)],
  ['consumers', 'consumers', null, (q) => fmtInt(q.consumers)],
  ['inflight', 'in flight', null, (q) => fmtInt(q.inflight)],
  ['dlq_depth', 'dead letters', null, (q) => fmtInt(q.dlq_depth)],
  ['publish_rate', 'publish /s', null, (q) => fmtRate(q.publish_rate)],
  ['ack_rate', 'ack /s', null, (q) => fmtRate(q.ack_rate)],
];

export function queuesPage(ctx) {
  let next = ''; // the answer's cursor (by name)
  let rowCount = 0;

  const prefix = h('input', {
    type: 'search',
    placeholder: 'name prefix',
    value: state.prefix,
    testid: 'queues-prefix',
    spellcheck: 'false',
    autocomplete: 'off',
  });
  const sort = h(
    'select',
    { testid: 'sort-select', 'aria-label': 'sort' },
    Object.entries(SORTS).map(([value, label]) => h('option', { value }, `sort by ${label}`)),
  );
  sort.value = state.sort;
  const limit = h(
    'select',
    { testid: 'queues-limit', 'aria-label': 'rows per page' },
    LIMITS.map((n) => h('option', { value: String(n) }, `${n} rows`)),
  );
  limit.value = String(state.limit);
  const prev = h('button', { type: 'button', testid: 'queues-prev' }, '‹ Previous');
  const nextButton = h('button', { type: 'button', testid: 'queues-next' }, 'Next ›');
  const position = h('span', { class: 'muted', testid: 'queues-position' });
  const headRow = h('tr');
  const body = h('tbody');
  const table = h('table', { class: 'table', testid: 'queues-table' }, h('thead', null, headRow), body);
  const status = h('p', { class: 'muted', testid: 'queues-status' });

  replace(
    ctx.el,
    h('div', { class: 'page-head' }, h('h1', null, 'Queues')),
    h(
      'div',
      { class: 'toolbar' },
      prefix,
      sort,
      limit,
      h('button', { type: 'button', testid: 'queues-refresh', onclick: () => load() }, 'Refresh'),
      h('span', { class: 'spacer' }),
      position,
      prev,
      nextButton,
    ),
    h('div', { class: 'table-wrap' }, table),
    status,
  );

  // Header cells: sortable ones are buttons.
  for (const [, heading, sortKey] of COLUMNS) {
    const numeric = heading !== 'queue';
    if (!sortKey) {
      headRow.appendChild(h('th', { class: numeric ? 'num' : null }, heading));
      continue;
    }
    const active = state.sort === sortKey;
    headRow.appendChild(
      h(
        'th',
        {
          class: numeric ? 'num' : null,
          'aria-sort': active ? (sortKey === 'name' ? 'ascending' : 'descending') : null,
        },
        h(
          'button',
          {
            type: 'button',
            class: `sort${active ? ' active' : ''}`,
            testid: `sort-${sortKey}`,
            title: `sort by ${SORTS[sortKey]}`,
            onclick: () => setSort(sortKey),
          },
          heading,
          active ? (sortKey === 'name' ? ' ▲' : ' ▼') : '',
        ),
      ),
    );
  }

  function setSort(value) {
    if (state.sort === value) return;
    state.sort = value;
    resetPaging();
    // The header shows the active sort: build the page anew.
    queuesPage(fresh(ctx));
  }

  sort.addEventListener('change', () => setSort(sort.value));
  limit.addEventListener('change', () => {
    state.limit = Number(limit.value);
    resetPaging();
    load();
  });
  let typing = null;
  prefix.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.prefix = prefix.value;
      resetPaging();
      load();
    }, 250);
  });
  ctx.onDispose(() => clearTimeout(typing));
  prev.addEventListener('click', () => {
    if (state.sort === 'name') state.after = state.afters.pop() ?? '';
    else state.offset = Math.max(0, state.offset - state.limit);
    load();
  });
  nextButton.addEventListener('click', () => {
    if (state.sort === 'name') {
      state.afters.push(state.after);
      state.after = next;
    } else state.offset += state.limit;
    load();
  });

  let seq = 0; // answers to older requests are dropped
  async function load() {
    const mine = ++seq;
    table.setAttribute('aria-busy', 'true');
    const query = { sort: state.sort, prefix: state.prefix, limit: state.limit };
    if (state.sort === 'name') query.after = state.after;
    else {
      query.offset = state.offset;
      query.limit = Math.min(state.limit, MAX_RANK - state.offset);
    }
    const started = performance.now();
    const answer = await ctx.task('queues', () => api('/api/queues', { query }));
    if (!ctx.alive || mine !== seq) return;
    table.removeAttribute('aria-busy');
    if (!answer) return;
    const rows = answer.queues || [];
    next = answer.next || '';
    rowCount = rows.length;
    render(rows);
    const first = state.sort === 'name' ? state.afters.length * state.limit : state.offset;
    position.textContent = rows.length ? `rows ${fmtInt(first + 1)}–${fmtInt(first + rows.length)}` : '';
    prev.disabled = state.sort === 'name' ? state.afters.length === 0 : state.offset === 0;
    nextButton.disabled =
      state.sort === 'name' ? !next : rowCount < query.limit || state.offset + state.limit >= MAX_RANK;
    status.textContent = rows.length
      ? `${fmtInt(rows.length)} queues in ${Math.round(performance.now() - started)} ms`
      : state.prefix
        ? `No queue starts with “${state.prefix}”.`
        : 'No queues.';
    table.dataset.loaded = String(mine); // for tests: a page has rendered
  }

  // One pass building a fragment: a page of 1,000 rows renders in a few ms.
  function render(rows) {
    const fragment = document.createDocumentFragment();
    for (const q of rows) {
      const tr = document.createElement('tr');
      tr.dataset.name = q.name;
      for (const [key, , , cell] of COLUMNS) {
        const td = document.createElement('td');
        if (key !== 'name') td.className = 'num';
        td.dataset.col = key;
        if (key !== 'name' && q[key] != null) td.dataset.value = String(q[key]); // the exact number
        const content = cell(q);
        if (content instanceof Node) td.appendChild(content);
        else td.textContent = content;
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
  }

  load();
}

// The same page context with a new element, for a rebuild in place.
function fresh(ctx) {
  ctx.el.replaceChildren();
  return ctx;
}
