'use strict';
// What the bench measures, and which of it BENCH_SCENARIOS picks.

// Each scenario decides how its balancers are launched and how wrk reaches them:
//   penFlags  flags for both pens (besides -f, -p and the addresses)
//   haproxy   lines for the `defaults` section of haproxy's config
//   tls       terminate TLS in the balancers: pens get -E cert -K key, haproxy's bind gets
//             `ssl crt`, and wrk uses https (the direct baseline stays plain http)
//   wrkArgs   extra wrk arguments
const SCENARIOS = [
  { name: 'tcp keep-alive', penFlags: ['-r'], haproxy: ['mode tcp'] },
  { name: 'http-xff', penFlags: ['-r', '-H'], haproxy: ['mode http', 'option forwardfor', 'http-reuse never'] },
  { name: 'tls keep-alive', tls: true, penFlags: ['-r'], haproxy: ['mode tcp'] },
  // A new TLS connection, so a full handshake, for every request.
  { name: 'tls handshakes', tls: true, penFlags: ['-r'], haproxy: ['mode tcp'], wrkArgs: ['-H', 'Connection: close'] },
];

// BENCH_SCENARIOS: comma-separated scenario names (case-insensitive); unset = all of them.
// Returns the scenarios, or throws naming the unknown ones.
function selectScenarios(env) {
  const wanted = (env ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (wanted.length === 0) return SCENARIOS;
  const names = SCENARIOS.map((s) => s.name.toLowerCase());
  const unknown = wanted.filter((w) => !names.includes(w));
  if (unknown.length) {
    throw new Error(`unknown BENCH_SCENARIOS ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  }
  return SCENARIOS.filter((s) => wanted.includes(s.name.toLowerCase()));
}

module.exports = { selectScenarios };
