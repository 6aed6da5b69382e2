// Time charts on uPlot (loaded by index.html as the global uPlot, from
// /assets/uPlot.iife.min.js). A chart follows its container's width.

import { h, replace } from './ui.js';

function compact(v) {
  if (v == null) return '';
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

// 1, 2, 5, 10, 20, 50, ... up to 5e15.
const WHOLE_INCREMENTS = Array.from({ length: 48 }, (_, i) => [1, 2, 5][i % 3] * 10 ** Math.floor(i / 3));

// series: [{label, stroke, fill?}], format: a value's text in the legend,
// span: the least time shown (s), so that a chart with few points does not
// stretch them over its width; integer: values are counts. Returns {setData([xs, ...ys]), destroy()}; xs
// in seconds since the epoch.
export function timeChart(container, { series, height = 200, format = String, span = 120, integer = false }) {
  if (typeof window.uPlot !== 'function') {
    replace(container, h('p', { class: 'muted' }, 'Charts are not available (uPlot did not load).'));
    return { setData() {}, destroy() {} };
  }
  const opts = {
    width: Math.max(container.clientWidth, 300),
    height,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: {
      x: {
        time: true,
        // Before any data: the last `span` seconds, not the epoch.
        range: (u, min, max) => {
          if (min == null || max == null) {
            const now = Date.now() / 1000;
            return [now - span, now];
          }
          return [Math.min(min, max - span), max];
        },
      },
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      {
        stroke: '#5b6473',
        grid: { stroke: '#eceef2' },
        ticks: { stroke: '#d9dde3' },
        space: 70,
        // Local wall-clock time, one line: HH:MM:SS.
        values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toTimeString().slice(0, 8)),
      },
      {
        stroke: '#5b6473',
        grid: { stroke: '#eceef2' },
        ticks: { stroke: '#d9dde3' },
        size: 56,
        // Counts (a depth) tick at whole numbers only.
        incrs: integer ? WHOLE_INCREMENTS : undefined,
        // Axis labels short (12k, 1.5M); the legend has the exact values.
        values: (u, ticks) => ticks.map(compact),
      },
    ],
    series: [
      { label: 'time', value: (u, v) => (v == null ? '—' : new Date(v * 1000).toISOString().slice(11, 19) + 'Z') },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        fill: s.fill,
        width: 1.5,
        value: (u, v) => (v == null ? '—' : format(v)),
      })),
    ],
  };
  const empty = [[], ...series.map(() => [])];
  const plot = new window.uPlot(opts, empty, container);
  // Follow the container's width; the height stays.
  const observer = new ResizeObserver(() => {
    const width = Math.max(container.clientWidth, 300);
    if (width !== plot.width) plot.setSize({ width, height });
  });
  observer.observe(container);
  return {
    setData(data) {
      plot.setData(data);
      // uPlot ranges a single point around the epoch: show the last span.
      if (data[0].length < 2) {
        const end = data[0].length ? data[0][0] : Date.now() / 1000;
        plot.setScale('x', { min: end - span, max: end });
      }
    },
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}
