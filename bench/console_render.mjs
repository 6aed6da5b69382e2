// Time until the console shows the queues table in a browser (bench/console.sh):
// Debian's chromium, headless, driven by playwright-core (web/node_modules).
//
//   node bench/console_render.mjs URL SORT RUNS [TOKEN]
//
// SORT name: from opening URL/#/queues until the table has rows. SORT
// depth: the page is open by name, then from choosing "depth" until the
// ranked rows are in the table (the /api/queues answer included). Prints
// the median of RUNS, each in a fresh page.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const [url, sort, runsText, token] = process.argv.slice(2);
const runs = Number(runsText || 5);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
const rows = '[data-testid=queues-table] tbody tr';
const times = [];
try {
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    if (token) {
      await page.addInitScript((t) => sessionStorage.setItem('hermod.token', t), token);
    }
    let start = performance.now();
    await page.goto(`${url}/#/queues`);
    await page.waitForSelector(rows, { timeout: 120000 });
    if (sort !== 'name') {
      start = performance.now();
      const answered = page.waitForResponse(
        (r) => r.url().includes('/api/queues') && r.url().includes(`sort=${sort}`),
        { timeout: 120000 },
      );
      await page.selectOption('[data-testid=sort-select]', sort);
      await answered;
      await page.waitForSelector(`[data-testid=sort-${sort}][class*=active]`, { timeout: 120000 });
      await page.waitForSelector(rows, { timeout: 120000 });
    }
    times.push(performance.now() - start);
    await page.close();
  }
} finally {
  await browser.close();
}
times.sort((a, b) => a - b);
const median = times[Math.floor((times.length - 1) / 2)];
console.log(
  `browser: queues table by ${sort} shown after ${median.toFixed(0)} ms (median of ${runs}; ` +
    `all: ${times.map((t) => t.toFixed(0)).join(', ')})`,
);
