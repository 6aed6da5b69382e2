// The console's entry point: hash routing between pages, and the life of a
// page (its polls stop and its charts go when another page is shown).

import { api } from './api.js';
import {
  ageNotice,
  clearError,
  clearErrors,
  getToken,
  h,
  promptToken,
  replace,
  setError,
  setNodeLabel,
  setToken,
} from './ui.js';
import { overviewPage } from './overview.js';
import { queuesPage } from './queues.js';
import { queuePage } from './queue.js';
import { clusterPage, connectionsPage, groupPage, groupsPage } from './pages.js';

// [pattern, page, nav entry]. A page is page(ctx, ...decoded captures).
const routes = [
  [/^\/overview$/, overviewPage, 'overview'],
  [/^\/queues$/, queuesPage, 'queues'],
  [/^\/queue\/(.+)$/, queuePage, 'queues'],
  [/^\/groups$/, groupsPage, 'groups'],
  [/^\/group\/(.+)$/, groupPage, 'groups'],
  [/^\/connections$/, connectionsPage, 'connections'],
  [/^\/cluster$/, clusterPage, 'cluster'],
];

// What a page gets: its element, and polls and clean-ups tied to its life.
class PageContext {
  constructor(el) {
    this.el = el;
    this.alive = true;
    this.disposers = [];
  }

  onDispose(fn) {
    this.disposers.push(fn);
  }

  dispose() {
    this.alive = false;
    for (const fn of this.disposers.splice(0)) {
      try {
        fn();
      } catch (e) {
        console.error(e);
      }
    }
  }

  // Runs fn now and again every ms after each run ends (never two at once,
  // so a slow broker is not asked faster than it answers), while the page is
  // shown. A failed run shows its error until a run succeeds. Returns
  // {now()}: run again at once (after an operation, a refresh button).
  poll(source, fn, ms) {
    let timer = null;
    let running = false;
    let again = false;
    const run = async () => {
      timer = null;
      running = true;
      try {
        await fn();
        if (this.alive) clearError(source);
      } catch (e) {
        if (this.alive) setError(source, e.message);
      }
      running = false;
      if (!this.alive) return;
      if (again) {
        again = false;
        run();
      } else {
        timer = setTimeout(run, ms);
      }
    };
    this.onDispose(() => clearTimeout(timer));
    run();
    return {
      now() {
        if (running) again = true;
        else {
          clearTimeout(timer);
          run();
        }
      },
    };
  }

  // Runs a one-off request (a page load, an operation): its error shows in
  // the error bar; resolves with fn's value, or undefined after an error.
  async task(source, fn) {
    try {
      const value = await fn();
      if (this.alive) clearError(source);
      return value;
    } catch (e) {
      if (this.alive) setError(source, e.message);
      return undefined;
    }
  }
}

let current = null;

function route() {
  const path = location.hash.replace(/^#/, '');
  if (!path || path === '/') {
    location.replace('#/overview');
    return;
  }
  if (current) current.dispose();
  clearErrors();
  ageNotice();
  const main = document.getElementById('page');
  const el = h('div', { class: 'page' });
  replace(main, el);
  current = new PageContext(el);
  for (const [pattern, page, nav] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    let args;
    try {
      args = match.slice(1).map(decodeURIComponent);
    } catch {
      break; // a malformed percent-encoding: not found
    }
    for (const link of document.querySelectorAll('#nav a')) {
      link.classList.toggle('active', link.dataset.route === nav);
    }
    page(current, ...args);
    return;
  }
  replace(
    el,
    h('h1', null, 'Not found'),
    h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/overview' }, 'Overview')),
  );
}

function start() {
  setToken(getToken()); // marks the token button
  document.getElementById('token-button').addEventListener('click', async () => {
    const token = await promptToken(
      getToken() ? 'Replace the stored admin token, or clear it.' : 'Enter an admin token.',
    );
    if (token && current) route(); // load the page again with the new token
  });
  window.addEventListener('hashchange', route);
  route();
  if (!location.hash.startsWith('#/overview')) {
    api('/api/overview').then(setNodeLabel, () => {});
  }
}

start();
