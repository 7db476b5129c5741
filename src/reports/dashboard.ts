// The live dashboard at `web`'s address: one page, its style and its script, all served by
// pen-edge itself (nothing from elsewhere). The script polls status.json once a second and draws
// the server table, the totals, a chart of connections and requests per second (inline SVG) and
// the clients by country.

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pen-edge</title>
<link rel="icon" href="favicon.svg">
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>pen-edge</h1>
  <p id="updated">waiting for the first status&hellip;</p>
</header>
<main>
  <section class="tiles" aria-label="totals">
    <div class="tile"><h2>open connections</h2><p id="active">&ndash;</p></div>
    <div class="tile"><h2>connections / s</h2><p id="cps">&ndash;</p></div>
    <div class="tile"><h2>requests / s</h2><p id="rps">&ndash;</p></div>
    <div class="tile"><h2>connections</h2><p id="total">&ndash;</p></div>
    <div class="tile"><h2>HTTP requests</h2><p id="requests">&ndash;</p></div>
    <div class="tile"><h2>HTTP errors</h2><p id="errors">&ndash;</p></div>
    <div class="tile"><h2>clients</h2><p id="clients">&ndash;</p></div>
    <div class="tile"><h2>bytes in / out</h2><p id="bytes">&ndash;</p></div>
    <div class="tile"><h2>TLS handshakes ok / failed</h2><p id="tls">&ndash;</p></div>
    <div class="tile"><h2>workers</h2><p id="workers">&ndash;</p></div>
  </section>
  <section class="panel">
    <h2>Per second, last 5 minutes</h2>
    <p class="legend"><span class="key connections"></span>connections <span class="key requests"></span>HTTP requests</p>
    <svg id="chart" viewBox="0 0 960 220" role="img" aria-label="connections and HTTP requests per second"></svg>
  </section>
  <section class="panel">
    <h2>Servers</h2>
    <table id="servers">
      <thead><tr><th>#</th><th>address</th><th>state</th><th class="num">open</th><th class="num">connections</th><th>blacklisted</th><th>health</th><th class="num">sent</th><th class="num">received</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section class="panel">
    <h2>Clients by country</h2>
    <table id="countries">
      <thead><tr><th>country</th><th class="num">clients</th><th class="num">connections</th><th>share of clients</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-countries">No client has a country yet: <code>geo_map</code> or <code>geo_db</code> places them.</p>
  </section>
</main>
</body>
</html>
`;

const STYLE = `:root { color-scheme: light; --ink: #1d2733; --soft: #5b6b7c; --line: #dde3ea; --panel: #ffffff; --ground: #f2f5f8;
  --connections: #1f6fd1; --requests: #e0782b; --up: #1d8a4e; --down: #c23b32; --warn: #b7791f; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--ground); }
header { display: flex; align-items: baseline; gap: 1.5rem; padding: 0.8rem 1.5rem; background: var(--ink); color: #fff; }
header h1 { margin: 0; font-size: 1.3rem; }
#updated { margin: 0; color: #b8c4d0; font-size: 0.9rem; }
#updated.stale { color: #ffb4a8; }
main { padding: 1rem 1.5rem; display: grid; gap: 1rem; max-width: 80rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: 0.6rem; }
.tile, .panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.tile { padding: 0.5rem 0.8rem; }
.tile h2 { margin: 0; font-size: 0.75rem; font-weight: 600; color: var(--soft); text-transform: uppercase; letter-spacing: 0.03em; }
.tile p { margin: 0.2rem 0 0; font-size: 1.35rem; font-variant-numeric: tabular-nums; }
.panel { padding: 0.8rem 1rem; overflow-x: auto; }
.panel h2 { margin: 0 0 0.5rem; font-size: 1rem; }
.legend { margin: 0 0 0.3rem; color: var(--soft); font-size: 0.85rem; }
.key { display: inline-block; width: 1.2rem; height: 0.25rem; margin: 0 0.35rem 0.2rem 0.8rem; vertical-align: middle; }
.key.connections { background: var(--connections); margin-left: 0; }
.key.requests { background: var(--requests); }
#chart { width: 100%; height: auto; display: block; }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart text { fill: var(--soft); font-size: 11px; }
#chart .connections { fill: none; stroke: var(--connections); stroke-width: 2; }
#chart .requests { fill: none; stroke: var(--requests); stroke-width: 2; stroke-dasharray: 6 3; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.3rem 0.6rem; text-align: left; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 0.8rem; color: var(--soft); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.up, .passing { color: var(--up); font-weight: 600; }
.blacklisted, .failing { color: var(--down); font-weight: 600; }
.empty, .unchecked { color: var(--soft); }
meter { width: 12rem; }
#no-countries { margin: 0.5rem 0 0; color: var(--soft); }
`;

// Runs in the browser: plain ES2017, no template strings (this file holds it in one).
const SCRIPT = `'use strict';
(function () {
  var POLL_MS = 1000;
  var SVG = 'http://www.w3.org/2000/svg';
  var WIDTH = 960, HEIGHT = 220, LEFT = 48, BOTTOM = 22, TOP = 8;
  var count = new Intl.NumberFormat('en');
  var byId = function (id) { return document.getElementById(id); };
  var show = function (id, value) { byId(id).textContent = value; };

  function bytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }

  function cell(row, value, className) {
    var td = document.createElement('td');
    td.textContent = value;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function where(s) {
    if (s.address.indexOf('/') >= 0) return s.address;
    return (s.address.indexOf(':') >= 0 ? '[' + s.address + ']' : s.address) + ':' + s.port;
  }

  function servers(list) {
    var rows = list.map(function (s) {
      var tr = document.createElement('tr');
      tr.id = 'server-' + s.index;
      cell(tr, s.index);
      cell(tr, where(s));
      cell(tr, s.state, 'state ' + s.state);
      cell(tr, count.format(s.connections), 'num open');
      cell(tr, count.format(s.connectionsTotal), 'num total');
      cell(tr, s.blacklistedFor > 0 ? s.blacklistedFor + ' s more' : 'no');
      cell(tr, s.health, s.health);
      cell(tr, bytes(s.sent), 'num');
      cell(tr, bytes(s.received), 'num');
      return tr;
    });
    var body = byId('servers').tBodies[0];
    body.replaceChildren.apply(body, rows);
  }

  function countries(list, clients) {
    var rows = list.map(function (c) {
      var tr = document.createElement('tr');
      cell(tr, c.country);
      cell(tr, count.format(c.clients), 'num');
      cell(tr, count.format(c.connections), 'num');
      var td = document.createElement('td');
      var meter = document.createElement('meter');
      meter.max = Math.max(1, clients);
      meter.value = c.clients;
      td.appendChild(meter);
      tr.appendChild(td);
      return tr;
    });
    var body = byId('countries').tBodies[0];
    body.replaceChildren.apply(body, rows);
    byId('no-countries').hidden = list.length > 0;
  }

  function svg(name, attributes, text) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (text !== undefined) element.textContent = text;
    return element;
  }

  /** The smallest 1, 2 or 5 times a power of ten at or above n. */
  function roundUp(n) {
    var power = Math.pow(10, Math.floor(Math.log10(n)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= n) return steps[i] * power;
    return 10 * power;
  }

  function chart(history) {
    var span = 300 / history.seconds;
    var top = roundUp(Math.max(1, Math.max.apply(null, history.connections.concat(history.requests))));
    var x = function (i, n) { return WIDTH - (n - 1 - i) * (WIDTH - LEFT) / (span - 1); };
    var y = function (v) { return TOP + (HEIGHT - TOP - BOTTOM) * (1 - v / top); };
    var parts = [];
    [0, top / 2, top].forEach(function (v) {
      parts.push(svg('line', { class: 'grid', x1: LEFT, x2: WIDTH, y1: y(v), y2: y(v) }));
      parts.push(svg('text', { x: LEFT - 6, y: y(v) + 4, 'text-anchor': 'end' }, count.format(v)));
    });
    for (var minute = 5; minute >= 0; minute--) {
      var at = WIDTH - minute * 60 / history.seconds * (WIDTH - LEFT) / (span - 1);
      parts.push(svg('text', { x: at, y: HEIGHT - 6, 'text-anchor': minute === 0 ? 'end' : 'middle' }, minute === 0 ? 'now' : '-' + minute + ' min'));
    }
    ['connections', 'requests'].forEach(function (name) {
      var values = history[name];
      var points = values.map(function (v, i) { return x(i, values.length).toFixed(1) + ',' + y(v).toFixed(1); });
      parts.push(svg('polyline', { class: name, points: points.join(' ') }));
    });
    var element = byId('chart');
    element.replaceChildren.apply(element, parts);
  }

  function last(values) {
    return values.length > 0 ? values[values.length - 1] : 0;
  }

  function render(status) {
    var errors = Object.keys(status.http.errors).reduce(function (sum, code) { return sum + status.http.errors[code]; }, 0);
    show('active', count.format(status.connections.active) + ' of ' + count.format(status.connections.max));
    show('cps', count.format(last(status.history.connections)));
    show('rps', count.format(last(status.history.requests)));
    show('total', count.format(status.connections.total));
    show('requests', count.format(status.http.requests));
    show('errors', count.format(errors));
    show('clients', count.format(status.clients.count));
    show('bytes', bytes(status.bytes.in) + ' / ' + bytes(status.bytes.out));
    show('tls', count.format(status.tls.ok) + ' / ' + count.format(status.tls.failed));
    show('workers', count.format(status.workers));
    servers(status.servers);
    countries(status.countries, status.clients.count);
    chart(status.history);
    var updated = byId('updated');
    updated.textContent = 'updated ' + new Date(status.time * 1000).toLocaleTimeString();
    updated.className = '';
  }

  function poll() {
    fetch('status.json', { cache: 'no-store' })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(render)
      .catch(function (err) {
        var updated = byId('updated');
        updated.textContent = 'no status: ' + err.message;
        updated.className = 'stale';
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
})();
`;

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2733"/>
<path d="M3 12 L6 7 L9 9 L13 4" fill="none" stroke="#e0782b" stroke-width="2"/></svg>
`;

export interface WebFile {
  type: string;
  body: string;
}

/** The dashboard's files by path. */
export const DASHBOARD_FILES: ReadonlyMap<string, WebFile> = new Map([
  ['/', { type: 'text/html; charset=utf-8', body: PAGE }],
  ['/dashboard.css', { type: 'text/css; charset=utf-8', body: STYLE }],
  ['/dashboard.js', { type: 'text/javascript; charset=utf-8', body: SCRIPT }],
  ['/favicon.svg', { type: 'image/svg+xml', body: ICON }],
]);
