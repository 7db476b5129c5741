'use strict';
// Medians over rounds and the printed tables.

function fmt(n, digits) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const LOAD_FIGURES = ['rps', 'p50', 'p99', 'mean', 'max', 'slow', 'timeouts', 'cpuPerRequest', 'mainCpuPerRequest'];
const IDLE_FIGURES = ['before', 'after', 'perConnection'];

// One row per contender from its rounds: the median of each figure, every note kept once, and
// req/s round by round (a contender that is fast in one round and slow in the next shows there).
function summarise(name, rounds, figures = LOAD_FIGURES) {
  const row = { name, failed: rounds.some((r) => r.failed), notes: [...new Set(rounds.flatMap((r) => r.notes))], rpsByRound: rounds.map((r) => r.rps) };
  for (const figure of figures) row[figure] = median(rounds.map((r) => r[figure]));
  return row;
}

function summariseIdle(name, rounds) {
  return summarise(name, rounds, IDLE_FIGURES);
}

function ms(n) {
  return Number.isFinite(n) ? `${fmt(n, 2)} ms` : 'n/a';
}

function ratio(a, b) {
  return fmt(a / b, 2);
}

// Prints rows as a table of aligned columns; `columns` are [header, (row, pen) => cell] pairs,
// where pen is Debian pen's row (undefined when it has none).
function printColumns(title, rows, columns) {
  const pen = rows.find((r) => r.name === 'pen (Debian)');
  const table = rows.map((r) => columns.map(([, cell]) => (cell(r, pen) ?? 'n/a')));
  const header = columns.map(([h]) => h);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n== ${title} ==`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  table.forEach((row) => console.log(line(row)));
  for (const r of rows) for (const note of r.notes) console.log(`  note: ${r.name}: ${note}`);
}

function status(r) {
  return r.failed ? 'FAILED' : r.notes.length ? 'see notes' : 'ok';
}

const BY_ROUND = ['req/s each round', (r) => r.rpsByRound.map((v) => fmt(v, 0)).join(' ')];

// A wrk scenario's table. `per` names what CPU time is divided by (req or conn); `tail` adds
// the max latency, the requests over 1 s and the timeouts.
function printTable(title, rows, { per = 'req', tail = false } = {}) {
  printColumns(title, rows, [
    ['contender', (r) => r.name],
    ['req/s', (r) => fmt(r.rps, 0)],
    ['p50', (r) => ms(r.p50)],
    ['p99', (r) => ms(r.p99)],
    ...(tail ? [
      ['max', (r) => ms(r.max)],
      ['>1 s', (r) => fmt(r.slow, 0)],
      ['timeouts', (r) => fmt(r.timeouts, 0)],
    ] : []),
    [`CPU us/${per}`, (r) => fmt(r.cpuPerRequest, 1)],
    ['req/s vs pen', (r, pen) => pen && ratio(r.rps, pen.rps)],
    ['p99 vs pen', (r, pen) => pen && ratio(r.p99, pen.p99)],
    ['CPU vs pen', (r, pen) => pen && ratio(r.cpuPerRequest, pen.cpuPerRequest)],
    BY_ROUND,
    ['status', status],
  ]);
}

// The figures a ratio column or a target can name, and where a row holds them.
const FIGURES = { 'req/s': 'rps', p99: 'p99', CPU: 'cpuPerRequest' };
const HOLDS = { '>=': (a, b) => a >= b, '>': (a, b) => a > b, '<=': (a, b) => a <= b };

// The row named `name`, or named `name` and more after a space ('haproxy' finds 'haproxy nbthread 2').
function rowNamed(rows, name) {
  return rows.find((r) => r.name === name) ?? rows.find((r) => r.name.startsWith(`${name} `));
}

// figure of row `of` over figure of row `vs`, both looked up in rows; NaN where either is missing.
function ratioOf(rows, figure, of, vs) {
  return rowNamed(rows, of)?.[FIGURES[figure]] / rowNamed(rows, vs)?.[FIGURES[figure]];
}

// The name of the row a ratio of row `of` is taken against: vs itself, or the row vs names for
// `of` (OWN_HTTP11 in scenarios.js); and how a header or target names it.
function vsName(vs, of) {
  return typeof vs === 'string' ? vs : vs.nameFor(of);
}
function vsLabel(vs) {
  return typeof vs === 'string' ? vs : vs.label;
}

// Each target of row `of` ({ figure, op, times, vs }: figure of `of` op times vs's) with its
// measured ratio and whether it holds; nothing for a row not measured (a pen-edge left out).
function printTargets(rows, of, { targets = [], issue }) {
  if (!rowNamed(rows, of)) return;
  if (targets.length) console.log(`targets${issue ? ` (issue #${issue})` : ''} of ${of}:`);
  for (const t of targets) {
    const vs = vsName(t.vs, of);
    const measured = ratioOf(rows, t.figure, of, vs);
    const verdict = !Number.isFinite(measured) ? 'not measured' : HOLDS[t.op](measured, t.times) ? 'holds' : 'MISSED';
    console.log(`  ${t.figure} ${t.op} ${fmt(t.times, 2)}x ${vs}: ${fmt(measured, 2)}x  ${verdict}`);
  }
}

// A scenario with `compare` (the workers scenario): req/s as ratios to each contender it names,
// CPU per request against the pen-edge among them, the main thread's CPU where it was read; then
// the targets, and whether any work per connection crosses between threads (it would show as
// CPU in the main thread, which serves no client).
function printCompareTable(title, rows, scenario) {
  const { per = 'req', compare } = scenario;
  const of = rowNamed(rows, compare.of);
  const own = compare.to.find((name) => name.startsWith('pen-edge')); // e.g. pen-edge workers 1
  const short = (name) => (name.startsWith('pen-edge ') ? name.slice('pen-edge '.length) : name.split(' ')[0]);
  printColumns(title, rows, [
    ['contender', (r) => r.name],
    ['req/s', (r) => fmt(r.rps, 0)],
    ['p50', (r) => ms(r.p50)],
    ['p99', (r) => ms(r.p99)],
    [`CPU us/${per}`, (r) => fmt(r.cpuPerRequest, 1)],
    [`main thread us/${per}`, (r) => (r.name.startsWith('pen-edge') ? fmt(r.mainCpuPerRequest, 1) : '-')],
    ...compare.to.map((name) => [`req/s vs ${short(name)}`, (r) => ratio(r.rps, rowNamed(rows, name)?.rps)]),
    ...(own ? [[`CPU vs ${short(own)}`, (r) => ratio(r.cpuPerRequest, rowNamed(rows, own)?.cpuPerRequest)]] : []),
    BY_ROUND,
    ['status', status],
  ]);
  printTargets(rows, compare.of, scenario);
  const unit = per === 'conn' ? 'connection' : 'request';
  const base = own && rowNamed(rows, own);
  if (of && base) {
    const share = of.mainCpuPerRequest / of.cpuPerRequest;
    const seen = !Number.isFinite(share) ? 'not measured' : share < 0.01 ? 'none seen' : 'SEEN';
    console.log(`messages between threads per ${unit}: ${seen}: the main thread of ${of.name}, which serves no client, ` +
      `used ${fmt(of.mainCpuPerRequest, 2)} us per ${unit} (${fmt(100 * share, 1)}% of its CPU; under 1% counts as none); ` +
      `its CPU per ${unit} is ${ratio(of.cpuPerRequest, base.cpuPerRequest)}x ${base.name}'s ` +
      `(${fmt(of.cpuPerRequest, 1)} vs ${fmt(base.cpuPerRequest, 1)} us)`);
  }
}

// A scenario with `ratios` (the h2 scenario, which has no Debian pen to compare with): the mean
// and max latency too, and a column for each [figure, vs] in ratios.to, every row's figure over
// that of the row vs names for it; then the targets of each row in ratios.of.
function printRatioTable(title, rows, scenario) {
  const { ratios } = scenario;
  printColumns(title, rows, [
    ['contender', (r) => r.name],
    ['req/s', (r) => fmt(r.rps, 0)],
    ['p50', (r) => ms(r.p50)],
    ['p99', (r) => ms(r.p99)],
    ['mean', (r) => ms(r.mean)],
    ['max', (r) => ms(r.max)],
    ['CPU us/req', (r) => fmt(r.cpuPerRequest, 1)],
    ...ratios.to.map(([figure, vs]) => [`${figure} vs ${vsLabel(vs)}`, (r) => fmt(ratioOf(rows, figure, r.name, vsName(vs, r.name)), 2)]),
    BY_ROUND,
    ['status', status],
  ]);
  for (const of of ratios.of) printTargets(rows, of, scenario);
}

function mib(kib) {
  return Number.isFinite(kib) ? `${fmt(kib / 1024, 1)} MiB` : 'n/a';
}

// The idle-connection scenario's table: the balancer's RSS before and after, and the growth per
// connection.
function printIdleTable(title, rows) {
  printColumns(title, rows, [
    ['contender', (r) => r.name],
    ['RSS before', (r) => mib(r.before)],
    ['RSS after', (r) => mib(r.after)],
    ['KiB/conn', (r) => fmt(r.perConnection, 2)],
    // a difference, not a ratio: pen's own figure is close to nothing
    ['KiB/conn more than pen', (r, pen) => pen && fmt(r.perConnection - pen.perConnection, 2)],
    ['status', status],
  ]);
}

module.exports = { summarise, summariseIdle, printTable, printCompareTable, printRatioTable, printIdleTable };
