// Overview: rates as numbers and a live chart, the broker's gauges, the
// deepest queues, and every statistic of `hermod stats`.

import { api } from './api.js';
import { timeChart } from './chart.js';
import { queueLink } from './queues.js';
import {
  append,
  fmtAge,
  fmtBytes,
  fmtDurationMs,
  fmtInt,
  fmtLatencyMs,
  fmtRate,
  h,
  isNum,
  replace,
  setNodeLabel,
} from './ui.js';

const MAX_POINTS = 600; // ten minutes of once-a-second totals

const RATES = [
  { key: 'published', label: 'Published', stat: 'publish_rate', stroke: '#2563eb' },
  { key: 'delivered', label: 'Delivered', stat: 'deliver_rate', stroke: '#d97706' },
  { key: 'acked', label: 'Acked', stat: 'ack_rate', stroke: '#059669' },
];

// The gauges: each a label, its main value and a line under it, from stats.
const CARDS = [
  {
    id: 'connections',
    label: 'Connections',
    value: (s) => fmtInt(s.connections),
    sub: (s) => `${fmtInt(s.subscriptions)} subscriptions`,
  },
  {
    id: 'queues',
    label: 'Queues',
    value: (s) => fmtInt(s.queues),
    sub: (s) => `${fmtInt(s.queues_in_memory)} in memory`,
  },
  {
    id: 'groups',
    label: 'Groups',
    value: (s) => fmtInt(s.groups),
    sub: (s) => `${fmtInt(s.group_publishes_total)} group publishes`,
  },
  {
    id: 'entries',
    label: 'Entries stored',
    value: (s) => fmtInt(s.entries_stored),
    sub: (s) => `${fmtInt(s.messages_stored)} messages`,
  },
  {
    id: 'store',
    label: 'Store used',
    value: (s) => fmtBytes(s.store_used_bytes),
    sub: (s) => `of ${fmtBytes(s.store_map_bytes)} mapped`,
    bar: (s) => (isNum(s.store_used_bytes) && s.store_map_bytes > 0 ? s.store_used_bytes / s.store_map_bytes : null),
  },
  {
    id: 'headroom',
    label: 'Store headroom',
    // -1: no limit known (before the first commit, or a store in memory).
    value: (s) => (s.store_headroom_bytes === -1 ? 'not known yet' : fmtBytes(s.store_headroom_bytes)),
    sub: (s) => `${fmtBytes(s.log_unapplied_bytes)} of log unapplied`,
  },
  {
    id: 'commit',
    label: 'Commit latency',
    value: (s) => `p50 ${fmtLatencyMs(s.commit_latency_p50_ms)}`,
    sub: (s) => `p99 ${fmtLatencyMs(s.commit_latency_p99_ms)} · ${fmtRate(s.batch_messages_avg)} msgs/batch`,
  },
  {
    id: 'sync',
    label: 'Sync mode',
    value: (s) => s.sync_mode ?? '—',
    sub: (s) => (s.healthy === 0 ? 'UNHEALTHY: the store refuses writes' : s.healthy === 1 ? 'healthy' : ''),
    alert: (s) => s.healthy === 0,
  },
  {
    id: 'uptime',
    label: 'Uptime',
    value: (s) => (isNum(s.uptime_seconds) ? fmtDurationMs(s.uptime_seconds * 1000) : '—'),
    sub: (s) => `RSS ${fmtBytes(s.rss_bytes)}`,
  },
  {
    id: 'redelivered',
    label: 'Redelivered',
    value: (s) => fmtInt(s.redelivered_total),
    sub: (s) => `${fmtInt(s.dead_lettered_total)} dead-lettered · ${fmtInt(s.expired_total)} expired`,
  },
];

export function overviewPage(ctx) {
  // Totals over time, oldest first; rates are differences of neighbours.
  const points = { t: [], published: [], delivered: [], acked: [] };
  let lastStats = {};

  const rateEls = {};
  const rates = h(
    'section',
    { class: 'rates' },
    RATES.map((r) => {
      rateEls[r.key] = h('span', { class: 'big', testid: `rate-${r.key}` }, '—');
      return h(
        'div',
        { class: 'card rate' },
        h(
          'div',
          { class: 'card-label' },
          h('span', { class: `swatch swatch-${r.key}` }),
          r.label,
          h('span', { class: 'unit' }, ' msg/s'),
        ),
        rateEls[r.key],
        h('div', { class: 'card-sub', testid: `total-${r.key}` }, ''),
      );
    }),
  );
  const chartBox = h('div', { class: 'chart', testid: 'rates-chart' });
  const cardEls = {};
  const cards = h(
    'section',
    { class: 'cards' },
    CARDS.map((c) => {
      const el = {
        card: h('div', { class: 'card', testid: `card-${c.id}` }),
        value: h('div', { class: 'card-value', testid: `stat-${c.id}` }, '—'),
        sub: h('div', { class: 'card-sub' }),
        bar: c.bar ? h('div', { class: 'bar' }, h('div', { class: 'bar-fill' })) : null,
      };
      append(el.card, [h('div', { class: 'card-label' }, c.label), el.value, el.bar, el.sub]);
      cardEls[c.id] = el;
      return el.card;
    }),
  );
  const meta = h('span', { class: 'muted', testid: 'overview-meta' });
  const deepest = h('div', { class: 'table-wrap' });
  const statsBody = h('tbody');
  replace(
    ctx.el,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), meta),
    rates,
    h('section', { class: 'panel' }, h('h2', null, 'Messages per second'), chartBox),
    cards,
    h(
      'section',
      { class: 'panel' },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', null, 'Deepest queues'),
        h('button', { type: 'button', testid: 'deepest-refresh', onclick: () => loadDeepest() }, 'Refresh'),
        h('a', { href: '#/queues' }, 'all queues'),
      ),
      deepest,
    ),
    h(
      'details',
      { class: 'panel' },
      h('summary', null, 'All statistics'),
      h(
        'table',
        { class: 'table compact', testid: 'stats-table' },
        h('thead', null, h('tr', null, h('th', null, 'name'), h('th', { class: 'num' }, 'value'))),
        statsBody,
      ),
    ),
  );

  const chart = timeChart(chartBox, {
    series: RATES.map((r) => ({ label: r.label, stroke: r.stroke })),
    height: 220,
    format: (v) => fmtRate(v),
    span: 60,
  });
  ctx.onDispose(() => chart.destroy());

  // Appends the samples newer than the last one kept. Without a history
  // (an older broker), each poll's totals make the points.
  function merge(overview) {
    const stats = overview.stats || {};
    let samples = overview.history?.samples;
    if (!Array.isArray(samples) || samples.length === 0) {
      samples = [
        {
          t: overview.time_ms ?? Date.now(),
          published: stats.published_total,
          delivered: stats.delivered_total,
          acked: stats.acked_total,
        },
      ];
    }
    const lastT = points.t.length ? points.t[points.t.length - 1] : -Infinity;
    for (const s of samples) {
      if (!(s.t > lastT)) continue;
      points.t.push(s.t);
      for (const r of RATES) points[r.key].push(isNum(s[r.key]) ? s[r.key] : null);
    }
    const extra = points.t.length - MAX_POINTS;
    if (extra > 0) for (const k of Object.keys(points)) points[k].splice(0, extra);
  }

  // Rates per second between neighbouring samples (none below 0: totals
  // start again from 0 when the broker restarts).
  function rateSeries() {
    const xs = [];
    const ys = RATES.map(() => []);
    for (let i = 1; i < points.t.length; i++) {
      const dt = (points.t[i] - points.t[i - 1]) / 1000;
      xs.push(points.t[i] / 1000);
      RATES.forEach((r, j) => {
        const a = points[r.key][i - 1];
        const b = points[r.key][i];
        ys[j].push(a == null || b == null || dt <= 0 ? null : Math.max(0, (b - a) / dt));
      });
    }
    return [xs, ...ys];
  }

  function update(overview) {
    const stats = overview.stats || {};
    lastStats = stats;
    setNodeLabel(overview);
    const data = rateSeries();
    chart.setData(data);
    RATES.forEach((r, j) => {
      const series = data[j + 1];
      // The latest difference; before there are two samples, the broker's own
      // recent rate.
      const latest = series.length ? series[series.length - 1] : stats[r.stat];
      rateEls[r.key].textContent = fmtRate(latest ?? stats[r.stat]);
      rateEls[r.key].parentElement.querySelector('.card-sub').textContent = `${fmtInt(stats[`${r.key}_total`])} total`;
    });
    for (const c of CARDS) {
      const el = cardEls[c.id];
      el.value.textContent = c.value(stats);
      el.sub.textContent = c.sub ? c.sub(stats) : '';
      if (c.bar) {
        const f = c.bar(stats);
        el.bar.firstChild.style.width = f == null ? '0' : `${Math.min(100, f * 100).toFixed(1)}%`;
      }
      if (c.alert) el.card.classList.toggle('alert', c.alert(stats));
    }
    meta.textContent = [
      overview.version || stats.version ? `hermodd ${overview.version || stats.version}` : '',
      overview.node ? `node ${overview.node}` : 'single node',
      stats.sync_mode ? `sync ${stats.sync_mode}` : '',
      isNum(stats.uptime_seconds) ? `up ${fmtDurationMs(stats.uptime_seconds * 1000)}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    renderStats(stats);
  }

  // Only rewritten while the details are open: 60 rows a second for nothing
  // otherwise.
  function renderStats(stats) {
    if (!statsBody.closest('details').open && statsBody.childElementCount) return;
    const rows = Object.keys(stats)
      .sort()
      .map((name) => {
        const v = stats[name];
        return h(
          'tr',
          null,
          h('td', null, name),
          h(
            'td',
            { class: 'num' },
            typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 3 }) : String(v),
          ),
        );
      });
    replace(statsBody, rows);
  }
  statsBody.closest('details').addEventListener('toggle', () => renderStats(lastStats));

  // Ranking every queue costs the broker a pass over them (as a /metrics
  // scrape does): asked every 10 s and on Refresh, not every second.
  async function loadDeepest() {
    await ctx.task('deepest', async () => {
      const answer = await api('/api/queues', { query: { sort: 'depth', limit: 10 } });
      const rows = (answer.queues || []).filter((q) => q.depth > 0);
      if (!ctx.alive) return;
      if (!rows.length) {
        replace(deepest, h('p', { class: 'muted' }, 'No queue holds entries.'));
        return;
      }
      replace(
        deepest,
        h(
          'table',
          { class: 'table compact', testid: 'deepest-table' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'queue'),
              h('th', { class: 'num' }, 'depth'),
              h('th', { class: 'num' }, 'bytes'),
              h('th', { class: 'num' }, 'oldest'),
              h('th', { class: 'num' }, 'consumers'),
            ),
          ),
          h(
            'tbody',
            null,
            rows.map((q) =>
              h(
                'tr',
                null,
                h('td', null, queueLink(q.name)),
                h('td', { class: 'num' }, fmtInt(q.depth)),
                h('td', { class: 'num' }, fmtBytes(q.bytes)),
                h('td', { class: 'num' }, fmtAge(q.oldest_age_ms)),
                h('td', { class: 'num' }, fmtInt(q.consumers)),
              ),
            ),
          ),
        ),
      );
    });
  }

  ctx.poll(
    'overview',
    async () => {
      const overview = await api('/api/overview');
      if (!ctx.alive) return;
      merge(overview);
      update(overview);
    },
    1000,
  );
  let deepestTimer = null;
  const refreshDeepest = async () => {
    await loadDeepest();
    if (ctx.alive) deepestTimer = setTimeout(refreshDeepest, 10000);
  };
  ctx.onDispose(() => clearTimeout(deepestTimer));
  refreshDeepest();
}
