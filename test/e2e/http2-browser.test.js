'use strict';
// A page with 50 assets loaded over HTTP/2 by headless Chromium (Debian's, through playwright-core)
// through pen-edge's TLS front end (-H -E -K) in front of two HTTP/1.1 backends: the page loads
// whole and works, every asset comes over h2 on the one TLS connection the browser opened, and the
// backend behind it sees each request with the forwarding headers.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { startPen, onLoopback, penctl } = require('../support/harness');
const { certificateSet } = require('../support/certs');

const CHROMIUM = '/usr/bin/chromium';
const NO_CHROMIUM = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: apt-get install -y chromium`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * The site: an HTML page and its 50 assets, path → { type, body }. 25 small SVG images, 10
 * stylesheets, 10 scripts, and 5 SVG images of 200 KB each, which go out in many DATA frames with
 * the backend's answer paused whenever the client stream's buffer is full. Every body names its
 * asset, and the large ones carry random bytes (base64) so that no two are alike.
 */
function site() {
  const assets = new Map();
  const svg = (name, width, filler = '') => `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="4"><!-- ${name} ${filler} --><rect width="100%" height="100%" fill="teal"/></svg>\n`;
  const images = [];
  for (let i = 0; i < 25; i++) {
    assets.set(`/img/${i}.svg`, { type: 'image/svg+xml', body: Buffer.from(svg(`small image ${i}`, i + 1)) });
    images.push([`/img/${i}.svg`, i + 1]);
  }
  for (let i = 0; i < 5; i++) {
    const filler = crypto.randomBytes(150 * 1024).toString('base64'); // 200 KB of text
    assets.set(`/big/${i}.svg`, { type: 'image/svg+xml', body: Buffer.from(svg(`large image ${i}`, 100 + i, filler)) });
    images.push([`/big/${i}.svg`, 100 + i]);
  }
  for (let i = 0; i < 10; i++) {
    assets.set(`/css/${i}.css`, { type: 'text/css', body: Buffer.from(`/* stylesheet ${i} */\n#css-${i} { width: ${10 + i}px; height: 1px; }\n`) });
    assets.set(`/js/${i}.js`, { type: 'text/javascript', body: Buffer.from(`/* script ${i} */\n(window.ran ||= []).push(${i});\n`) });
  }
  const css = [...Array(10).keys()];
  const page = [
    '<!doctype html><html><head><meta charset="utf-8"><title>fifty assets</title>',
    '<link rel="icon" href="data:,">', // no /favicon.ico request
    ...css.map((i) => `<link rel="stylesheet" href="/css/${i}.css">`),
    '</head><body>',
    ...images.map(([src, width]) => `<img src="${src}" data-width="${width}" alt="">`),
    ...css.map((i) => `<div id="css-${i}"></div>`),
    ...css.map((i) => `<script src="/js/${i}.js"></script>`),
    '</body></html>\n',
  ].join('\n');
  return { page: Buffer.from(page), assets };
}

/**
 * A backend serving the site over HTTP/1.1, naming itself in X-Backend; `seen` gets every
 * request's path and the headers the balancer added.
 */
async function siteBackend(t, name, { page, assets }, seen) {
  const server = http.createServer((req, res) => {
    req.resume();
    const h = req.headers;
    seen.push({ backend: name, path: req.url, host: h.host, for: h['x-forwarded-for'], proto: h['x-forwarded-proto'], port: h['x-forwarded-port'] });
    const found = req.url === '/' ? { type: 'text/html; charset=utf-8', body: page } : assets.get(req.url);
    if (!found) {
      res.writeHead(404, { 'x-backend': name }).end();
      return;
    }
    res.writeHead(200, { 'content-type': found.type, 'content-length': found.body.length, 'cache-control': 'no-store', 'x-backend': name });
    res.end(found.body);
  });
  server.connections = 0; // pen-edge's, for the diagnostics
  server.on('connection', () => server.connections++);
  return onLoopback(t, server);
}

/**
 * A browser context in a fresh profile that trusts the test server's certificate, closed (and
 * the profile removed) after the test. Chromium on Linux takes its CAs from an NSS database,
 * which only certutil (not installed) can write; instead --ignore-certificate-errors-spki-list
 * accepts exactly the server certificate's public key (and no other certificate, unlike
 * ignoreHTTPSErrors), so the TLS connection is the real one pen-edge serves. The profile has
 * network prediction off ("Preload pages"): otherwise Chromium preconnects a second socket to an
 * origin it has not yet seen speak h2, and drops it once the first one says h2, so pen-edge would
 * count one or two connections from run to run.
 */
async function browserContext(t, serverCert) {
  const { chromium } = require('playwright-core');
  const spki = new crypto.X509Certificate(serverCert).publicKey.export({ type: 'spki', format: 'der' });
  const pin = crypto.createHash('sha256').update(spki).digest('base64');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-chromium-'));
  fs.mkdirSync(path.join(profile, 'Default'));
  fs.writeFileSync(path.join(profile, 'Default', 'Preferences'), JSON.stringify({ net: { network_prediction_options: 2 } }));
  // playwright passes the profile as --user-data-dir, which the SPKI list needs
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: [...ARGS, `--ignore-certificate-errors-spki-list=${pin}`],
  });
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

test('Chromium loads a page with 50 assets over HTTP/2 through the TLS front end: one connection, every asset whole, forwarding headers on each request', { skip: NO_CHROMIUM, timeout: 60000 }, async (t) => {
  const certs = await certificateSet(t);
  const content = site();
  assert.equal(content.assets.size, 50);
  const seen = [];
  const backends = [await siteBackend(t, 'a', content, seen), await siteBackend(t, 'b', content, seen)];
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, ...backends.map((b) => `127.0.0.1:${b.port}`)], { control: true });
  const origin = `https://127.0.0.1:${pen.port}`;
  const urls = new Set([`${origin}/`, ...[...content.assets.keys()].map((p) => origin + p)]);

  const context = await browserContext(t, certs.server.cert);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  const responses = new Map(); // url → playwright Response
  page.on('response', (response) => responses.set(response.url(), response));
  // the browser's own record of each response: its protocol and the connection it came over
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const network = new Map(); // url → { protocol, connectionId, remotePort }
  const ids = new Map(); // CDP requestId → url
  let finishing = 0;
  let allFinished;
  const finished = new Promise((resolve) => { allFinished = resolve; });
  cdp.on('Network.responseReceived', ({ requestId, response }) => {
    ids.set(requestId, response.url);
    network.set(response.url, { protocol: response.protocol, connectionId: response.connectionId, remotePort: response.remotePort });
  });
  const done = ({ requestId }) => {
    if (urls.has(ids.get(requestId)) && ++finishing === urls.size) allFinished();
  };
  cdp.on('Network.loadingFinished', done);
  cdp.on('Network.loadingFailed', done);

  const started = performance.now();
  const navigation = await page.goto(`${origin}/`, { waitUntil: 'load' }); // resolves on the page's load event
  await finished;
  t.diagnostic(`page and 50 assets loaded in ${Math.round(performance.now() - started)} ms`);
  assert.equal(navigation.status(), 200);
  const security = await navigation.securityDetails();
  assert.equal(security.subjectName, 'localhost');
  assert.equal(security.issuer, 'pen-edge test CA');

  // what the user sees: every image decoded at its width, every stylesheet applied, every script run in order
  const view = await page.evaluate(() => ({
    images: [...document.images].map((img) => [img.getAttribute('src'), img.complete, img.naturalWidth, Number(img.dataset.width)]),
    widths: [...Array(10).keys()].map((i) => getComputedStyle(document.getElementById(`css-${i}`)).width),
    ran: window.ran,
  }));
  assert.equal(view.images.length, 30);
  for (const [src, complete, width, expected] of view.images) assert.ok(complete && width === expected, `${src}: decoded ${width} px wide, ${expected} expected`);
  assert.deepEqual(view.widths, [...Array(10).keys()].map((i) => `${10 + i}px`));
  assert.deepEqual(view.ran, [...Array(10).keys()]);
  assert.deepEqual(errors, []);

  // every answer: 200 with the asset's own bytes, from the one backend the connection holds
  assert.deepEqual([...responses.keys()].sort(), [...urls].sort(), 'the page and its 50 assets, and nothing else');
  const served = new Set();
  for (const [url, response] of responses) {
    const { pathname } = new URL(url);
    const expected = pathname === '/' ? content.page : content.assets.get(pathname).body;
    assert.equal(response.status(), 200, url);
    const body = await response.body();
    assert.equal(body.length, expected.length, `${url}: ${body.length} bytes, ${expected.length} expected`);
    assert.ok(body.equals(expected), `${url}: the asset's own bytes`);
    served.add(response.headers()['x-backend']);
  }
  assert.equal(served.size, 1, `one HTTP/2 connection holds one server: ${[...served]}`);
  const [backend] = served;

  // all over h2, all over one connection (the browser's view), and pen-edge accepted just that one
  for (const url of urls) assert.equal(network.get(url)?.protocol, 'h2', url);
  const connections = new Set([...urls].map((url) => network.get(url).connectionId));
  assert.equal(connections.size, 1, `connections the responses came over: ${[...connections]}`);
  assert.ok([...urls].every((url) => network.get(url).remotePort === pen.port));
  const json = async (...cmd) => JSON.parse((await penctl('--json', `127.0.0.1:${pen.ctl}`, ...cmd)).stdout);
  const { clients } = await json('recent');
  assert.deepEqual(clients.map((c) => [c.address, c.connects]), [['127.0.0.1', 1]], 'one TLS connection accepted from the browser');
  const { servers } = await json('servers');
  assert.deepEqual(servers.map((s) => s.conn), backends.map((_, i) => (i === clients[0].server ? 1 : 0)), 'the open connection counts against its server alone');
  assert.equal(['a', 'b'][clients[0].server], backend);

  // the backend saw the 51 requests, each with the client's address and the TLS front end's protocol and port
  assert.deepEqual(seen.map((r) => r.path).sort(), [...urls].map((u) => new URL(u).pathname).sort());
  for (const r of seen) {
    assert.deepEqual(r, { backend, path: r.path, host: `127.0.0.1:${pen.port}`, for: '127.0.0.1', proto: 'https', port: String(pen.port) });
  }
  t.diagnostic(`pen-edge made ${backends.map((b) => b.connections).join(' + ')} connections to the backends for the 51 requests`);
});
