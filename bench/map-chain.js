'use strict';
// Usage: node bench/map-chain.js
//
// Why src/pipelines/h2-stream-table.ts exists, without HTTP/2: 16 long-lived tables of entries
// that come and go (as an HTTP/2 session's streams do, 10 at a time), kept in a Map and in a
// plain object, each in its own process for 4 s with one full collection forced after 1 s. The
// Map's replaced tables link to their successors; once the full collection has made a table old,
// every later entry is promoted to the old generation. Prints what V8's --trace-gc-nvp counts.

const { execFileSync } = require('node:child_process');

const TABLES = 16;
const IN_FLIGHT = 10; // entries per table at once
const SECONDS = 4;

function churn(kind) {
  const tables = Array.from({ length: TABLES }, () => (kind === 'Map' ? new Map() : Object.create(null)));
  const add = kind === 'Map' ? (table, id, entry) => table.set(id, entry) : (table, id, entry) => { table[id] = entry; };
  const remove = kind === 'Map' ? (table, id) => table.delete(id) : (table, id) => { delete table[id]; };
  const live = []; // [table, id], oldest first
  let id = 0;
  const start = Date.now();
  let forced = false;
  (function turn() {
    while (live.length >= TABLES * IN_FLIGHT) remove(...live.shift());
    for (let i = 0; i < TABLES; i++) {
      const entry = { id: ++id, parts: Array.from({ length: 12 }, (_, k) => ({ k, text: `part ${k}` })) };
      add(tables[i], id, entry);
      live.push([tables[i], id]);
    }
    if (!forced && Date.now() - start > 1000) {
      forced = true;
      globalThis.gc(); // a full collection
    }
    if (Date.now() - start < SECONDS * 1000) setImmediate(turn);
  })();
}

function measure(kind) {
  const out = execFileSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', __filename, kind], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const sums = { promotedMB: 0, scavengeMs: 0, markCompacts: 0 };
  for (const line of out.split('\n')) {
    const field = (name) => Number(line.match(new RegExp(`\\b${name}=([\\d.]+)`))?.[1] ?? 0);
    if (/\bgc=s\b/.test(line)) sums.scavengeMs += field('pause');
    else if (/\bgc=mc\b/.test(line)) sums.markCompacts++;
    sums.promotedMB += field('promoted') / 1e6;
  }
  return sums;
}

if (process.argv[2]) {
  churn(process.argv[2]);
} else {
  console.log(`node ${process.version}: ${TABLES} tables, ${IN_FLIGHT} entries each at once, ${SECONDS} s, one full collection after 1 s`);
  for (const kind of ['Map', 'object']) {
    const { promotedMB, scavengeMs, markCompacts } = measure(kind);
    console.log(`${kind.padEnd(7)} promoted ${promotedMB.toFixed(0).padStart(5)} MB, scavenges ${scavengeMs.toFixed(0).padStart(5)} ms, mark-compacts ${markCompacts}`);
  }
}
