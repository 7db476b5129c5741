'use strict';
// What the bench measures, and which of it BENCH_SCENARIOS picks.

// Each scenario decides how its balancers are launched and how wrk reaches them:
//   penFlags     flags for both pens (besides -f, -p, -x and the addresses)
//   haproxy      lines for the `defaults` section of haproxy's config
//   tls          the key type ('p-256' or 'rsa-2048') of a certificate to terminate TLS with in
//                the balancers: pens get -E cert -K key, haproxy's bind gets `ssl crt`, and wrk
//                uses https (the direct baseline stays plain http)
//   alpn         with tls: the protocols haproxy's bind offers (`alpn h2,http/1.1`); pen-edge offers
//                h2 and http/1.1 by itself with -H over TLS
//   noDebianPen  leave Debian pen out (it has no HTTP/2)
//   wrkArgs      extra wrk arguments
//   h2load       h2load instead of wrk, over each protocol listed: [{ alpn, args }], alpn being the
//                protocol h2load must agree on with the balancer and args h2load's for it; a row
//                per balancer and protocol, named e.g. 'pen-edge h2'
//   fullHandshakes  preload full-handshakes.c into wrk, so that it never resumes a TLS session
//   connections  wrk's (or h2load's) connection counts, one table each (default [64]; BENCH_CONNECTIONS overrides)
//   per          what CPU time is divided by in the table: 'req' (default) or 'conn'
//   tail         the table also shows the max latency, the requests over 1 s and the timeouts
//   penEdgeArgs  extra arguments for pen-edge only, e.g. ['-o', 'workers 2'] once it has workers
//   unpinned     run every process of the scenario on any CPU, even where pinning is on (for
//                balancers that use more than one core)
//   idle         no wrk: hold this many idle connections through each balancer and compare its
//                memory (VmRSS) before and after
//   group        a second name that selects this scenario with others (BENCH_SCENARIOS=workers)
//   penEdges     several pen-edges instead of one: [{ name, args, node24 }], each with its own
//                arguments; node24: run by the pinned Node 24 in .ci/node24 (without it that
//                pen-edge is left out, saying why)
//   workersNode  run every pen-edge with a Node that has `workers` (the pinned Node 24 in
//                .ci/node24); without one the scenario is skipped, saying why
//   haproxyGlobal  lines for haproxy's `global` section (e.g. nbthread 2)
//   threadCpu    also read each balancer's main thread's CPU time (/proc/PID/task/PID/stat)
//   ratios       { of: [names], to: [[figure, vs]] }: the table shows each figure ('req/s', 'p99'
//                or 'CPU') of every row over that of the row vs names, and the targets are those
//                of each row in `of` (for a scenario without Debian pen, to which the other tables
//                show ratios); vs is a row's name or OWN_HTTP11, each row's own contender over HTTP/1.1
//   compare      { of, to }: the table shows req/s as ratios to each contender in `to` (a name or
//                its first word), and `of`'s CPU per request against the pen-edge among them
//   targets      [{ figure, op, times, vs }]: figure ('req/s', 'p99' or 'CPU') of `compare.of` (or
//                each of `ratios.of`) op ('>=', '>' or '<=') times vs's; each is printed with its
//                measured ratio and whether it holds
//   issue        the number of the issue the targets come from
const CLOSE = ['-H', 'Connection: close']; // a new client connection (and backend connection) per request

const WORKERS = {
  group: 'workers',
  unpinned: true,
  workersNode: true,
  penEdges: [
    { name: 'pen-edge workers 1', args: ['-o', 'workers 1'] },
    { name: 'pen-edge workers 2', args: ['-o', 'workers 2'] },
  ],
  haproxyGlobal: ['nbthread 2'],
  threadCpu: true,
  compare: { of: 'pen-edge workers 2', to: ['pen (Debian)', 'haproxy', 'pen-edge workers 1'] },
  issue: 13,
};
const target = (figure, op, times, vs) => ({ figure, op, times, vs });

// The h2 scenario's protocols. h2load, not wrk, measures HTTP/1.1 too: the same client, TLS
// library and per-request log for every row, so that h2 against HTTP/1.1 compares the protocols
// and not two clients that cost the shared load core differently.
const H2 = { alpn: 'h2', args: ['-m10'] }; // 10 requests at a time on each connection
const HTTP11 = { alpn: 'http/1.1', args: ['--h1', '-m1'] }; // keep-alive, one request at a time (no pipelining)
/** In `ratios`: each row's own contender over HTTP/1.1 ('pen-edge h2' against 'pen-edge http/1.1'). */
const OWN_HTTP11 = { label: 'own http/1.1', nameFor: (row) => row.replace(/ h2$/, ' http/1.1') };

const SCENARIOS = [
  { name: 'tcp keep-alive', penFlags: ['-r'], haproxy: ['mode tcp'] },
  { name: 'http-xff', penFlags: ['-r', '-H'], haproxy: ['mode http', 'option forwardfor', 'http-reuse never'] },
  { name: 'tls keep-alive', tls: 'p-256', penFlags: ['-r'], haproxy: ['mode tcp'] },
  { name: 'conn per request', penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: CLOSE, per: 'conn' },
  // A new TLS connection, so a full handshake, for every request; RSA signs far slower than P-256.
  { name: 'tls handshakes rsa-2048', tls: 'rsa-2048', penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: CLOSE, per: 'conn', fullHandshakes: true },
  { name: 'tls handshakes p-256', tls: 'p-256', penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: CLOSE, per: 'conn', fullHandshakes: true },
  // tcp keep-alive again, with many more clients at once: how the tail grows.
  { name: 'many connections', penFlags: ['-r'], haproxy: ['mode tcp'], connections: [64, 256, 1000], tail: true },
  // A client table as big as the connections, as an operator holding this many would set it.
  { name: 'idle connections', penFlags: ['-r', '-c', '6000'], haproxy: ['mode tcp'], idle: 5000 },
  // HTTP/2 on the TLS front end: h2load -c16 -m10 against pen-edge and haproxy `mode http`, both
  // relaying to the backends over HTTP/1.1, and HTTP/1.1 keep-alive over TLS at the same 16
  // connections; `option forwardfor` as pen-edge's -H adds X-Forwarded-For. pen-edge runs twice:
  // on the Node running the bench and on Node 24, whose garbage collector keeps far less of
  // what an HTTP/2 stream leaves behind (README, HTTP/2).
  { name: 'h2', tls: 'p-256', penFlags: ['-r', '-H'], haproxy: ['mode http', 'option forwardfor'], alpn: 'h2,http/1.1',
    noDebianPen: true, connections: [16], h2load: [H2, HTTP11],
    penEdges: [{ name: 'pen-edge' }, { name: 'pen-edge (Node 24)', node24: true }],
    ratios: { of: ['pen-edge h2', 'pen-edge (Node 24) h2'],
      to: [['req/s', 'haproxy h2'], ['p99', 'haproxy h2'], ['CPU', 'haproxy h2'], ['req/s', OWN_HTTP11]] },
    targets: [target('req/s', '>=', 0.6, 'haproxy h2'), target('req/s', '>', 1, OWN_HTTP11),
      target('p99', '<=', 2, 'haproxy h2')] },
  // pen-edge's worker threads (issue #13): `workers 1` and `workers 2` side by side with pen and
  // haproxy with two threads, all of them and wrk unpinned, sharing the cores.
  { ...WORKERS, name: 'workers tls handshakes rsa-2048', tls: 'rsa-2048', penFlags: ['-r'], haproxy: ['mode tcp'],
    wrkArgs: CLOSE, per: 'conn', fullHandshakes: true,
    targets: [target('req/s', '>=', 1.2, 'pen (Debian)'), target('req/s', '>=', 1.0, 'haproxy'),
      target('req/s', '>=', 1.4, 'pen-edge workers 1')] },
  { ...WORKERS, name: 'workers conn per request', penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: CLOSE, per: 'conn',
    targets: [target('req/s', '>=', 1.2, 'pen (Debian)')] },
];

const DEFAULT_CONNECTIONS = [64];

// BENCH_SCENARIOS: comma-separated scenario names or group names (case-insensitive); unset =
// all of them. Returns the scenarios, or throws naming the unknown ones.
function selectScenarios(env) {
  const wanted = (env ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (wanted.length === 0) return SCENARIOS;
  const picks = (s, w) => s.name.toLowerCase() === w || s.group === w;
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => picks(s, w)));
  if (unknown.length) {
    const known = [...SCENARIOS.map((s) => s.name), ...new Set(SCENARIOS.map((s) => s.group).filter(Boolean))];
    throw new Error(`unknown BENCH_SCENARIOS ${unknown.join(', ')}; known: ${known.join(', ')}`);
  }
  return SCENARIOS.filter((s) => wanted.some((w) => picks(s, w)));
}

// BENCH_CONNECTIONS: one wrk connection count or a comma-separated list of them; when set it
// replaces every scenario's own counts. Returns the list, or null when unset; throws when malformed.
function parseConnections(env) {
  if (!env?.trim()) return null;
  const counts = env.split(',').map((s) => s.trim());
  const bad = counts.filter((c) => !/^[1-9]\d*$/.test(c));
  if (bad.length) throw new Error(`BENCH_CONNECTIONS takes positive whole numbers separated by commas, not ${bad.join(', ')}`);
  return counts.map(Number);
}

function connectionCounts(scenario, override) {
  return override ?? scenario.connections ?? DEFAULT_CONNECTIONS;
}

module.exports = { selectScenarios, parseConnections, connectionCounts };
