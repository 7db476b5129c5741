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

// One row per contender from its rounds: the median of each figure, every note kept once.
function summarise(name, rounds) {
  return {
    name,
    rps: median(rounds.map((r) => r.rps)),
    p99: median(rounds.map((r) => r.p99)),
    cpuPerRequest: median(rounds.map((r) => r.cpuPerRequest)),
    failed: rounds.some((r) => r.failed),
    notes: [...new Set(rounds.flatMap((r) => r.notes))],
  };
}

function printTable(title, rows) {
  const pen = rows.find((r) => r.name === 'pen (Debian)');
  const table = rows.map((r) => [
    r.name,
    fmt(r.rps, 0),
    Number.isFinite(r.p99) ? `${fmt(r.p99, 2)} ms` : 'n/a',
    fmt(r.cpuPerRequest, 1),
    pen ? fmt(r.rps / pen.rps, 2) : 'n/a',
    pen ? fmt(r.p99 / pen.p99, 2) : 'n/a',
    r.failed ? 'FAILED' : r.notes.length ? 'see notes' : 'ok',
  ]);
  const header = ['contender', 'req/s', 'p99', 'CPU us/req', 'req/s vs pen', 'p99 vs pen', 'status'];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n== ${title} ==`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  table.forEach((row) => console.log(line(row)));
  for (const r of rows) for (const note of r.notes) console.log(`  note: ${r.name}: ${note}`);
}

module.exports = { summarise, printTable };
