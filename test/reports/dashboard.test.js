'use strict';
// The dashboard in a real browser (Debian's chromium through playwright-core): its numbers follow
// the traffic through the balancer, and it loads nothing from outside pen-edge.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startPen, freePort } = require('../support/harness');
const { request, httpBackend } = require('../support/web');

const CHROMIUM = '/usr/bin/chromium';
const NO_CHROMIUM = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: apt-get install -y chromium`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** A browser page in a fresh profile, closed (and the profile removed) after the test. */
async function browserPage(t) {
  const { chromium } = require('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-chromium-'));
  // playwright passes the profile as --user-data-dir
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport: { width: 1200, height: 900 } });
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  return context.newPage();
}

test('the dashboard shows the connections, requests, servers and countries change while traffic flows', { skip: NO_CHROMIUM, timeout: 120000 }, async (t) => {
  const [a, b] = [await httpBackend(t, 'a'), await httpBackend(t, 'b')];
  const dead = await freePort(); // refuses: blacklisted once a client is sent there
  const web = await freePort();
  const pen = await startPen(t, ['-H', '-b', '600', '-o', `web ${web}`, '-o', 'geo_map 127.0.0.0/24 US NA', '-o', 'geo_map 127.0.1.0/24 DE EU',
    '-o', 'geo_map 127.0.2.0/24 FR EU', `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, `127.0.0.1:${dead}`]);
  const page = await browserPage(t);
  const origin = `http://127.0.0.1:${web}`;
  const outside = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(`${origin}/`)) outside.push(req.url());
  });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${origin}/`);
  const number = async (selector) => Number((await page.textContent(selector)).replace(/,/g, ''));
  await page.waitForFunction(() => document.getElementById('total').textContent === '0');

  // requests from clients in three countries, one after another, until the page has shown the
  // count move twice while they go on (bounded for a broken run)
  let sent = 0;
  let flowing = true;
  const traffic = (async () => {
    for (; flowing && sent < 20000; sent++) {
      const { body } = await request(pen.port, '/', { localAddress: `127.0.${sent % 3}.${10 + (sent % 7)}` });
      assert.match(body, /^[ab]\n$/);
    }
  })();
  const seen = [];
  for (let shown = 0; seen.length < 2;) {
    await page.waitForFunction((before) => Number(document.getElementById('total').textContent.replace(/,/g, '')) > before, shown);
    shown = await number('#total');
    seen.push(shown);
  }
  flowing = false;
  await traffic;
  assert.ok(seen[0] > 0 && seen[1] > seen[0], `the count moved while requests went on: ${seen}`);

  // once it stops, the page settles on the totals
  await page.waitForFunction((n) => document.getElementById('total').textContent.replace(/,/g, '') === String(n), sent);
  await page.waitForFunction((n) => document.getElementById('requests').textContent.replace(/,/g, '') === String(n), sent);
  assert.equal(await number('#server-0 .total') + await number('#server-1 .total'), sent);
  assert.equal(await page.textContent('#server-2 .state'), 'blacklisted');
  assert.equal(await page.textContent('#server-0 .state'), 'up');
  assert.deepEqual(await page.$$eval('#countries tbody tr td:first-child', (cells) => cells.map((c) => c.textContent)), ['DE', 'FR', 'US']);
  assert.equal(await page.isHidden('#no-countries'), true);
  // the chart has drawn the rates: a line for each, with points above zero
  await page.waitForFunction(() => document.querySelectorAll('#chart polyline.connections, #chart polyline.requests').length === 2);
  assert.ok(await page.$eval('#chart polyline.connections', (line) => line.getAttribute('points').split(' ').length) >= 1);
  assert.match(await page.textContent('#updated'), /^updated /);

  assert.deepEqual(outside, [], 'nothing loaded from outside pen-edge');
  assert.deepEqual(errors, []);
  const status = JSON.parse((await request(web, '/status.json')).body);
  assert.equal(status.connections.total, sent);
});
