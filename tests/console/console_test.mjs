// The web console in a real browser (Debian's chromium, headless, driven by
// playwright-core from web/node_modules) against a hermodd of its own:
// the overview of a broker under load, the queues ranked by depth and paged,
// a peek that shows hostile and binary payloads safely, a purge through the
// UI checked with the CLI, requests that must not purge, and the groups,
// connections and cluster pages. Screenshots go to $SCREENSHOT_DIR.
//
//   HERMODD=build/bin/hermodd HERMOD=build/bin/hermod CHROMIUM=/usr/bin/chromium \
//   SCREENSHOT_DIR=/tmp/console-shots node --test tests/console/console_test.mjs
//
// HERMOD_CONSOLE_ASSETS=web/console serves the console's files from the
// work tree (hermodd --console-assets) instead of the copy compiled in.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Background, run, startBroker, waitFor } from './harness.mjs';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const HERMODD = process.env.HERMODD || 'build/bin/hermodd';
const HERMOD = process.env.HERMOD || 'build/bin/hermod';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOT_DIR || path.join(os.tmpdir(), 'hermod-console-shots');

let broker;
let browser;
let page;
let base;
const dialogs = []; // every window.alert/confirm the pages raised
const pageErrors = []; // uncaught exceptions in the pages
const background = [];

// The CLI against the test's broker, as its admin.
function cli(args, options) {
  return run(HERMOD, ['--server', broker.address, '--token-file', broker.tokenFile, ...args], options);
}

function cliBackground(args, name) {
  const p = new Background(HERMOD, ['--server', broker.address, '--token-file', broker.tokenFile, ...args], name);
  background.push(p);
  return p;
}

async function queueDepth(name) {
  const shown = await cli(['queue', 'show', name, '--json']);
  return JSON.parse(shown.stdout).depth;
}

// Publishes `count` messages of `size` bytes to each queue given, at most
// `parallel` CLI processes at a time.
async function fill(queues, { size = 16, parallel = 6 } = {}) {
  const todo = [...queues];
  const worker = async () => {
    for (let q = todo.shift(); q; q = todo.shift()) {
      await cli(['pub', q.name, '--count', String(q.count), '--size', String(size)]);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

function screenshot(name) {
  return page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

// A number as the console prints it ("12,345", "1.5") to a Number.
function number(text) {
  return Number(String(text).replace(/[,\s]/g, ''));
}

async function open(route) {
  await page.goto(`${base}/#/${route}`);
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  // Refused requests wait (as a refused Hello does): briefly here, where
  // the test makes several on purpose.
  const extraArgs = '--auth-failure-delay-ms 20 --auth-failure-max-delay-ms 200'.split(' ');
  if (process.env.HERMOD_CONSOLE_ASSETS) extraArgs.push('--console-assets', process.env.HERMOD_CONSOLE_ASSETS);
  broker = await startBroker({ hermodd: HERMODD, logFile: path.join(SHOTS, 'hermodd.log'), extraArgs });
  base = `http://${broker.http}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  for (const p of background) await p.stop().catch(() => {});
  await browser?.close().catch(() => {});
  await broker?.stop();
});

test('overview of a broker under load: the token prompt, then the publish rate rises', { timeout: 45000 }, async () => {
  await open('overview');
  // The API answers 401 until the page has the token: it asks for it.
  const input = page.getByTestId('token-input');
  await input.waitFor({ state: 'visible' });
  await input.fill(broker.token);
  await page.getByTestId('token-save').click();
  await page.getByTestId('token-dialog').waitFor({ state: 'hidden' });
  const version = await waitFor('the version on the overview', async () => {
    const text = await page.getByTestId('overview-meta').textContent();
    return /hermodd \S+/.test(text) && text;
  });
  assert.match(version, /sync (always|batch|none)/);

  const rate = page.getByTestId('rate-published');
  const totals = page.getByTestId('total-published');
  // Bounded load: bench publish with few publishes in flight (a steady rate
  // for some seconds rather than a burst), and beside it a stream that is
  // consumed and acked, so that all three rates move.
  const bench = cliBackground(
    'bench publish --queues 10 --count 50000 --size 64 --inflight 4 --duration 15s --prefix load'.split(' '),
    'bench publish',
  );
  const stream = cliBackground(
    'bench latency --rate 2000 --duration 12s --size 64 --prefix stream'.split(' '),
    'bench latency',
  );
  const seen = await waitFor(
    'the published rate on the overview to rise above 0',
    async () => {
      const value = number(await rate.textContent());
      return value > 0 && value;
    },
    { timeout: 20000, interval: 200 },
  );
  assert.ok(seen > 0);
  // Some seconds of load on the chart: six polls that saw the published
  // total grow, with deliveries and acks moving too.
  const polls = new Set();
  await waitFor(
    'six polls of the overview under load',
    async () => {
      polls.add(await totals.textContent());
      return polls.size >= 6 && number(await page.getByTestId('rate-acked').textContent()) > 0;
    },
    { timeout: 20000, interval: 200 },
  );
  // The deepest queues, as they are now (the page refreshes them every 10 s).
  await page.getByTestId('deepest-refresh').click();
  await page.getByTestId('deepest-table').waitFor({ state: 'visible' });
  await screenshot('overview.png');
  // The load has done its part; the next scenarios run without it.
  await bench.stop();
  await stream.stop();
  assert.equal(await page.getByTestId('error').isVisible(), false, 'no API error on the overview');
});

test('queues ranked by depth, paged', { timeout: 45000 }, async () => {
  // 120 queues of distinct depths: depth.<i> holds i + 1 entries.
  const queues = Array.from({ length: 120 }, (_, i) => ({ name: `depth.${i}`, count: i + 1 }));
  await fill(queues);
  await waitFor('the 120 queues to be listed', async () => {
    const ls = await cli(['queue', 'ls', '--prefix', 'depth.', '--json']);
    const rows = ls.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return rows.length === 120 && rows.every((r) => r.depth === Number(r.name.slice(6)) + 1);
  });

  await open('queues');
  const table = page.getByTestId('queues-table');
  // Each render bumps data-loaded: wait for a new one after each action.
  const loaded = () => table.getAttribute('data-loaded');
  const rendered = async (before, what) =>
    waitFor(what, async () => (await loaded()) !== before && (await table.getAttribute('aria-busy')) === null);
  let mark = await waitFor('the first page of queues', loaded);
  await page.getByTestId('queues-prefix').fill('depth.');
  await rendered(mark, 'the filtered list');
  // Sorting by depth rebuilds the page (its header shows the sort) and
  // loads the ranked rows.
  await page.getByTestId('sort-depth').click();
  assert.equal(await page.getByTestId('sort-select').inputValue(), 'depth');
  await waitFor(
    'rows ranked by depth',
    async () => (await table.locator('tbody tr').first().getAttribute('data-name')) === 'depth.119',
  );

  const readRows = () =>
    table.locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        name: tr.dataset.name,
        depth: Number(tr.querySelector('td[data-col="depth"]').dataset.value),
      })),
    );
  const page1 = await readRows();
  assert.equal(page1.length, 50, 'a page of 50 rows');
  assert.deepEqual(page1[0], { name: 'depth.119', depth: 120 }, 'the deepest queue first');
  for (let i = 1; i < page1.length; i++) {
    assert.ok(page1[i].depth <= page1[i - 1].depth, `row ${i} (${page1[i].name}) is not deeper than row ${i - 1}`);
  }
  assert.equal(await page.getByTestId('queues-prev').isDisabled(), true);
  await screenshot('queues.png');

  mark = await loaded();
  await page.getByTestId('queues-next').click();
  await rendered(mark, 'the second page');
  const page2 = await readRows();
  assert.equal(page2.length, 50);
  assert.ok(page2[0].depth <= page1[page1.length - 1].depth, 'the second page continues the ranking');
  assert.deepEqual(page2[0], { name: 'depth.69', depth: 70 });
  const names = new Set(page1.map((r) => r.name));
  for (const r of page2) assert.ok(!names.has(r.name), `${r.name} shown on both pages`);
  for (let i = 1; i < page2.length; i++) assert.ok(page2[i].depth <= page2[i - 1].depth);

  // Previous goes back to the first page.
  mark = await loaded();
  await page.getByTestId('queues-prev').click();
  await rendered(mark, 'the first page again');
  assert.deepEqual((await readRows())[0], { name: 'depth.119', depth: 120 });
});

test('peek shows markup as text and binary payloads encoded', { timeout: 30000 }, async () => {
  const q = 'peek.q';
  await cli(['pub', q, 'hello, peek']);
  await cli(['pub', q], { input: Buffer.from([0x00, 0xff, 0x01, 0xfe, 0x41]) });
  await cli(['pub', q, '<script>alert(1)</script>', '--header', 'note=<img src=x onerror=alert(2)>']);
  await waitFor('peek.q to hold 3 entries', async () => (await queueDepth(q)) === 3);

  const dialogsBefore = dialogs.length;
  await open(`queue/${encodeURIComponent(q)}`);
  await waitFor(
    'the queue depth on the page',
    async () => (await page.getByTestId('queue-depth').textContent()) === '3',
  );
  const rows = page.getByTestId('peek-table').locator('tbody tr');
  await waitFor('3 peeked entries', async () => (await rows.count()) === 3);

  const cell = (seq) => page.locator(`[data-testid="peek-table"] tr[data-seq="${seq}"] [data-testid="peek-payload"]`);
  assert.equal(await cell(1).getAttribute('data-encoding'), 'text');
  assert.equal((await cell(1).textContent()).trim(), 'hello, peek');

  // Binary: shown as hex and base64, never as raw bytes.
  assert.equal(await cell(2).getAttribute('data-encoding'), 'binary');
  const binary = await cell(2).textContent();
  assert.match(binary, /00 ff 01 fe 41/);
  assert.match(binary, /AP8B\/kE=/);

  // Markup: the literal text, not elements, and nothing ran.
  assert.equal(await cell(3).getAttribute('data-encoding'), 'text');
  assert.equal((await cell(3).textContent()).trim(), '<script>alert(1)</script>');
  const headerText = await page.locator('[data-testid="peek-table"] tr[data-seq="3"] td.headers').textContent();
  assert.match(headerText, /note: <img src=x onerror=alert\(2\)>/);
  const injected = await page.getByTestId('peek-table').evaluate((t) => t.querySelectorAll('script, img').length);
  assert.equal(injected, 0, 'no element made from a payload or header');
  assert.equal(dialogs.length, dialogsBefore, 'no alert ran');
  await screenshot('queue.png');
});

test('purge through the UI, after a cancelled one', { timeout: 30000 }, async () => {
  const q = 'purge.q';
  await cli(['pub', q, '--count', '1000', '--size', '32']);
  await waitFor('purge.q to hold 1000 entries', async () => (await queueDepth(q)) === 1000);
  await open(`queue/${encodeURIComponent(q)}`);
  const depth = page.getByTestId('queue-depth');
  await waitFor('the depth on the page', async () => (await depth.getAttribute('data-value')) === '1000');

  // Cancel: nothing happens.
  await page.getByTestId('purge-button').click();
  await page.getByTestId('confirm-dialog').waitFor({ state: 'visible' });
  await page.getByTestId('confirm-cancel').click();
  await page.getByTestId('confirm-dialog').waitFor({ state: 'hidden' });
  assert.equal(await queueDepth(q), 1000, 'a cancelled purge removes nothing');

  await page.getByTestId('purge-button').click();
  await page.getByTestId('confirm-dialog').waitFor({ state: 'visible' });
  assert.match(await page.getByTestId('confirm-dialog').textContent(), /purge\.q/);
  await page.getByTestId('confirm-button').click();
  const notice = page.getByTestId('notice');
  await waitFor('the purge result', async () => /removed 1,000 entries/.test(await notice.textContent()));
  assert.equal(await queueDepth(q), 0, 'the CLI sees the queue empty');
  await waitFor('the page to show depth 0', async () => (await depth.getAttribute('data-value')) === '0');
});

test(
  'no purge without the admin credential, from another origin, as a form, or by GET',
  { timeout: 30000 },
  async () => {
    const q = 'guard.q';
    await cli(['pub', q, '--count', '5', '--size', '8']);
    await waitFor('guard.q to hold 5 entries', async () => (await queueDepth(q)) === 5);
    await open('overview'); // any page of the console: the requests come from its origin

    const statuses = await page.evaluate(
      async ({ name, token }) => {
        const json = JSON.stringify({ name });
        const status = (init, url = '/api/queue/purge') => fetch(url, init).then((r) => r.status);
        return {
          noToken: await status({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: json }),
          wrongToken: await status({
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: 'Bearer not-the-token' },
            body: json,
          }),
          // What a form on another site can send: refused even with the token.
          formEncoded: await status({
            method: 'POST',
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${token}` },
            body: `name=${encodeURIComponent(name)}`,
          }),
          textPlain: await status({
            method: 'POST',
            headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${token}` },
            body: json,
          }),
          getWithToken: await status(
            { headers: { Authorization: `Bearer ${token}` } },
            `/api/queue/purge?name=${encodeURIComponent(name)}`,
          ),
          getWithoutToken: await status({}, `/api/queue/purge?name=${encodeURIComponent(name)}`),
        };
      },
      { name: q, token: broker.token },
    );
    assert.deepEqual(statuses, {
      noToken: 401,
      wrongToken: 401,
      formEncoded: 415,
      textPlain: 415,
      getWithToken: 405,
      getWithoutToken: 401,
    });

    // A browser does not let a page set Origin: this one comes from the test,
    // with the admin token, as a foreign page's request would look.
    const foreign = await page.request.post(`${base}/api/queue/purge`, {
      headers: {
        Origin: 'http://attacker.example',
        Authorization: `Bearer ${broker.token}`,
        'Content-Type': 'application/json',
      },
      data: JSON.stringify({ name: q }),
    });
    assert.equal(foreign.status(), 403);
    const refusal = await foreign.json();
    assert.equal(typeof refusal.error?.message, 'string');

    assert.equal(await queueDepth(q), 5, 'guard.q still holds its entries');
  },
);

test('groups, connections and cluster pages', { timeout: 40000 }, async () => {
  await cli(['group', 'create', 'team.a']);
  await cli(['group', 'add', 'team.a', 'member.1', 'member.2', 'member.3']);
  // One consumer stays connected, bounded: it ends after a message or 60 s.
  const sub = cliBackground(['sub', 'sub.q', '--count', '1', '--timeout', '60s'], 'sub');

  await open('groups');
  const group = page.locator('[data-testid="groups-table"] tr[data-name="team.a"]');
  await waitFor('team.a in the groups list', async () => (await group.count()) === 1, { timeout: 10000 });
  assert.equal((await group.locator('td').nth(1).textContent()).trim(), '3');
  await screenshot('groups.png');
  await group.locator('a').click();
  await waitFor(
    'the members of team.a',
    async () => (await page.locator('[data-testid="members-table"] tbody tr').count()) === 3,
  );
  assert.match(await page.getByTestId('group-count').textContent(), /^3 members/);

  await open('connections');
  // The page refreshes itself every 5 s; the consumer shows once subscribed.
  const consumer = page.locator('[data-testid="connections-table"] tbody tr', {
    has: page.locator('a', { hasText: /^sub\.q$/ }),
  });
  await waitFor('the consumer of sub.q on the connections page', async () => (await consumer.count()) === 1, {
    timeout: 15000,
    interval: 250,
  });
  assert.match(await consumer.locator('td').nth(1).textContent(), /^127\.0\.0\.1:\d+$/);
  await screenshot('connections.png');

  await open('cluster');
  await page.getByTestId('cluster-single').waitFor({ state: 'visible' });
  assert.match(await page.getByTestId('cluster-single').textContent(), /single node/i);
  await screenshot('cluster.png');

  // The consumer gets its message and ends by itself.
  await cli(['pub', 'sub.q', 'bye']);
  const exit = await Promise.race([sub.exited, waitFor('hermod sub to end', () => !sub.running, { timeout: 10000 })]);
  assert.ok(exit);
  assert.equal(sub.child.exitCode, 0, sub.output);
});

test('no uncaught error in the console pages', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(dialogs, []);
});
