// Groups, one group's members, connections and the cluster.

import { api } from './api.js';
import { queueLink } from './queues.js';
import { fmtBytes, fmtDurationMs, fmtInt, fmtTime, h, isNum, replace } from './ui.js';

// Paging by cursor: the answer's `next` opens the next page; the cursors of
// the pages before are kept for Previous. load(cursor) fetches and renders
// one page and resolves with its `next` (empty or 0: the last page).
function cursorPager(testid, load) {
  const before = [];
  let cursor = '';
  let next = '';
  const prev = h('button', { type: 'button', testid: `${testid}-prev`, disabled: true }, '‹ Previous');
  const nextButton = h('button', { type: 'button', testid: `${testid}-next`, disabled: true }, 'Next ›');
  async function go(to) {
    prev.disabled = nextButton.disabled = true;
    const answer = await load(to);
    if (answer === undefined) {
      prev.disabled = before.length === 0;
      return;
    }
    cursor = to;
    next = answer;
    prev.disabled = before.length === 0;
    nextButton.disabled = !next;
  }
  prev.addEventListener('click', () => go(before.pop() ?? ''));
  nextButton.addEventListener('click', () => {
    before.push(cursor);
    go(next);
  });
  return {
    el: h('span', { class: 'pager' }, prev, nextButton),
    first: () => {
      before.length = 0;
      return go('');
    },
    again: () => go(cursor),
  };
}

function table(testid, headings, rows) {
  return h(
    'table',
    { class: 'table', testid },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headings.map(([t, num]) => h('th', { class: num ? 'num' : null }, t)),
      ),
    ),
    h('tbody', null, rows),
  );
}

const PAGE = 100;

// --- groups ----------------------------------------------------------------

export function groupsPage(ctx) {
  const box = h('div', { class: 'table-wrap' });
  const prefix = h('input', {
    type: 'search',
    placeholder: 'name prefix',
    testid: 'groups-prefix',
    spellcheck: 'false',
    autocomplete: 'off',
  });
  const pager = cursorPager('groups', async (after) => {
    const answer = await ctx.task('groups', () =>
      api('/api/groups', { query: { prefix: prefix.value, after, limit: PAGE } }),
    );
    if (!answer || !ctx.alive) return undefined;
    const groups = answer.groups || [];
    replace(
      box,
      groups.length
        ? table(
            'groups-table',
            [['group'], ['members', true], ['created', true]],
            groups.map((g) =>
              h(
                'tr',
                { 'data-name': g.name },
                h('td', null, h('a', { href: `#/group/${encodeURIComponent(g.name)}` }, g.name)),
                h('td', { class: 'num' }, fmtInt(g.members)),
                h('td', { class: 'num nowrap' }, fmtTime(g.created_ms)),
              ),
            ),
          )
        : h(
            'p',
            { class: 'muted', testid: 'groups-none' },
            prefix.value ? `No group starts with “${prefix.value}”.` : 'No groups.',
          ),
    );
    return answer.next || '';
  });
  let typing = null;
  prefix.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => pager.first(), 250);
  });
  ctx.onDispose(() => clearTimeout(typing));
  replace(
    ctx.el,
    h('div', { class: 'page-head' }, h('h1', null, 'Groups')),
    h(
      'div',
      { class: 'toolbar' },
      prefix,
      h('button', { type: 'button', onclick: () => pager.again() }, 'Refresh'),
      h('span', { class: 'spacer' }),
      pager.el,
    ),
    box,
  );
  pager.first();
}

export function groupPage(ctx, name) {
  const count = h('span', { class: 'muted', testid: 'group-count' });
  const box = h('div', { class: 'table-wrap' });
  const pager = cursorPager('members', async (after) => {
    const answer = await ctx.task('group', () => api('/api/group', { query: { name, after, limit: PAGE } }));
    if (!answer || !ctx.alive) return undefined;
    count.textContent = `${fmtInt(answer.member_count)} members`;
    const members = answer.members || [];
    replace(
      box,
      members.length
        ? table(
            'members-table',
            [['member queue']],
            members.map((m) => h('tr', { 'data-name': m }, h('td', null, queueLink(m)))),
          )
        : h('p', { class: 'muted' }, 'No members.'),
    );
    return answer.next || '';
  });
  replace(
    ctx.el,
    h(
      'div',
      { class: 'page-head' },
      h('a', { href: '#/groups', class: 'back' }, '‹ Groups'),
      h('h1', null, h('span', { class: 'muted' }, 'Group '), h('span', { class: 'name', testid: 'group-name' }, name)),
      count,
    ),
    h('div', { class: 'toolbar' }, h('span', { class: 'spacer' }), pager.el),
    box,
  );
  pager.first();
}

// --- connections -------------------------------------------------------------

export function connectionsPage(ctx) {
  const box = h('div', { class: 'table-wrap' });
  const status = h('span', { class: 'muted', testid: 'connections-status' });
  const pager = cursorPager('connections', async (after) => {
    const answer = await ctx.task('connections', () =>
      api('/api/connections', { query: { after: after || undefined, limit: PAGE } }),
    );
    if (!answer || !ctx.alive) return undefined;
    const now = Date.now();
    const conns = answer.connections || [];
    replace(
      box,
      conns.length
        ? table(
            'connections-table',
            [
              ['id', true],
              ['peer'],
              ['principal'],
              ['tls'],
              ['connected', true],
              ['subscriptions'],
              ['in flight', true],
              ['pending output', true],
            ],
            conns.map((c) => {
              const subs = Array.isArray(c.subscriptions) ? c.subscriptions : [];
              return h(
                'tr',
                { 'data-id': String(c.id) },
                h('td', { class: 'num' }, String(c.id ?? '—')),
                h('td', { class: 'nowrap' }, c.peer ?? '—'),
                h('td', null, c.principal ? c.principal : h('span', { class: 'muted' }, '—')),
                h('td', null, c.tls ? 'yes' : h('span', { class: 'muted' }, 'no')),
                // docs/console.md: connected_ms (wall clock); age_ms read too.
                h(
                  'td',
                  { class: 'num nowrap', title: fmtTime(c.connected_ms) },
                  fmtDurationMs(isNum(c.connected_ms) ? now - c.connected_ms : c.age_ms),
                ),
                h(
                  'td',
                  { class: 'subs', testid: 'connection-subscriptions' },
                  subs.length
                    ? subs.map((s) =>
                        h(
                          'span',
                          { class: 'sub', title: `subscription ${s.id}: credit ${s.credit}, in flight ${s.inflight}` },
                          queueLink(s.queue),
                        ),
                      )
                    : h('span', { class: 'muted' }, '—'),
                ),
                h('td', { class: 'num' }, fmtInt(c.inflight)),
                h('td', { class: 'num' }, fmtBytes(c.pending_output_bytes)),
              );
            }),
          )
        : h('p', { class: 'muted' }, 'No connections.'),
    );
    status.textContent = `${fmtInt(conns.length)} on this page · refreshed every 5 s`;
    // `next` is a connection id; 0 (or none) is the end.
    return answer.next ? String(answer.next) : '';
  });
  replace(
    ctx.el,
    h('div', { class: 'page-head' }, h('h1', null, 'Connections'), status),
    h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'button', onclick: () => pager.again() }, 'Refresh'),
      h('span', { class: 'spacer' }),
      pager.el,
    ),
    box,
  );
  // The current page again every 5 s while it is shown.
  let timer = null;
  const tick = async () => {
    await (timer === null ? pager.first() : pager.again());
    if (ctx.alive) timer = setTimeout(tick, 5000);
  };
  ctx.onDispose(() => clearTimeout(timer));
  tick();
}

// --- cluster -------------------------------------------------------------------

export function clusterPage(ctx) {
  const box = h('div');
  replace(ctx.el, h('div', { class: 'page-head' }, h('h1', null, 'Cluster')), box);
  ctx.poll(
    'cluster',
    async () => {
      const c = await api('/api/cluster');
      if (!ctx.alive) return;
      if (!c.enabled) {
        replace(
          box,
          h(
            'section',
            { class: 'panel', testid: 'cluster-single' },
            h('h2', null, 'Single node'),
            h('p', null, 'This broker is not part of a cluster: every queue is here, with no replicas.'),
          ),
        );
        return;
      }
      const nodes = Array.isArray(c.nodes) ? c.nodes : [];
      const partitions = Array.isArray(c.partitions) ? c.partitions : [];
      const alive = new Map(nodes.map((n) => [String(n.id), n.alive]));
      const nodeName = (id) => {
        const s = String(id);
        return h('span', { class: alive.get(s) === false ? 'dead' : null }, s);
      };
      const list = (ids) => (Array.isArray(ids) ? ids.flatMap((id, i) => [i ? ', ' : '', nodeName(id)]) : '—');
      const underReplicated = partitions.filter(
        (p) => Array.isArray(p.isr) && Array.isArray(p.replicas) && p.isr.length < p.replicas.length,
      ).length;
      replace(
        box,
        h(
          'p',
          { class: 'muted', testid: 'cluster-summary' },
          `this node ${c.node ?? '—'} · controller ${c.controller || '—'} · ${fmtInt(nodes.length)} nodes (${fmtInt(nodes.filter((n) => n.alive).length)} alive) · ${fmtInt(partitions.length)} partitions, ${fmtInt(underReplicated)} under-replicated`,
        ),
        h(
          'section',
          { class: 'panel' },
          h('h2', null, 'Nodes'),
          table(
            'nodes-table',
            [['node'], ['address'], ['state'], ['role']],
            nodes.map((n) =>
              h(
                'tr',
                { class: n.alive ? null : 'down' },
                h('td', null, String(n.id)),
                h('td', null, n.address ?? '—'),
                h('td', null, h('span', { class: `pill ${n.alive ? 'ok' : 'bad'}` }, n.alive ? 'alive' : 'down')),
                h(
                  'td',
                  null,
                  [
                    String(n.id) === String(c.controller) ? 'controller' : '',
                    String(n.id) === String(c.node) ? 'this node' : '',
                  ]
                    .filter(Boolean)
                    .join(', '),
                ),
              ),
            ),
          ),
        ),
        h(
          'section',
          { class: 'panel' },
          h('h2', null, 'Partitions'),
          h(
            'div',
            { class: 'table-wrap' },
            table(
              'partitions-table',
              [['partition', true], ['leader'], ['epoch', true], ['replicas'], ['in-sync'], ['follower lag']],
              partitions.map((p) => {
                const short = Array.isArray(p.isr) && Array.isArray(p.replicas) && p.isr.length < p.replicas.length;
                const followers = Array.isArray(p.followers) ? p.followers : [];
                return h(
                  'tr',
                  { class: short ? 'warn' : null },
                  h('td', { class: 'num' }, String(p.id)),
                  h(
                    'td',
                    null,
                    p.leader != null && p.leader !== '' ? nodeName(p.leader) : h('span', { class: 'pill bad' }, 'none'),
                  ),
                  h('td', { class: 'num' }, fmtInt(p.epoch)),
                  h('td', null, list(p.replicas)),
                  h('td', null, list(p.isr)),
                  h(
                    'td',
                    null,
                    followers.length
                      ? followers.map((f, i) => [i ? ', ' : '', `${f.node}: ${fmtInt(f.lag)}`])
                      : h(
                          'span',
                          { class: 'muted' },
                          p.leader != null && String(p.leader) === String(c.node) ? '—' : 'on its leader',
                        ),
                  ),
                );
              }),
            ),
          ),
        ),
      );
    },
    3000,
  );
}
