'use strict';
// Selectors and tables without the network: pure functions over the server table.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Balancer } = require('../../dist/balancer/balancer');
const { ClientTable } = require('../../dist/balancer/client-table');
const { defaultSettings } = require('../../dist/config/settings');

function balancer(n, change = {}, servers = {}) {
  const settings = { ...defaultSettings(), ...change };
  const b = new Balancer(settings, Balancer.memory(settings), 0);
  for (let i = 0; i < n; i++) {
    const { c = 0, ...fields } = servers[i] ?? {};
    const s = Object.assign(b.servers.slot(i), { host: '127.0.0.1', port: 9000 + i, ...fields });
    for (let k = 0; k < c; k++) b.servers.openSession(s);
  }
  b.applySettings();
  return b;
}
const connected = (b, route) => {
  b.servers.openSession(route.candidates[0]);
  b.remember(route.candidates[0], route.client);
};
function clientTable(max, trackingTime) {
  const t = new ClientTable(ClientTable.memory(max), 0);
  t.trackingTime = trackingTime;
  return t;
}
const first = (b, addr, now = 1000, port = 40000) => b.route(addr, port, now).candidates[0]?.index;

test('a new client goes to the server after the last one chosen, a known client to its own', () => {
  const b = balancer(3);
  const picks = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => {
    const r = b.route(a, 1, 1000);
    connected(b, r);
    return r.candidates[0].index;
  });
  assert.deepEqual(picks, [1, 2, 0]);
  assert.equal(first(b, '127.0.0.3'), 2);
});

test('round robin ignores the client table', () => {
  const b = balancer(3, { roundrobin: true });
  const picks = [1, 2, 3, 4].map(() => {
    const r = b.route('127.0.0.2', 1, 1000);
    connected(b, r);
    return r.candidates[0].index;
  });
  assert.deepEqual(picks, [1, 2, 0, 1]);
});

test('hash sends a client where pen does: the sum of the IPv4 octets modulo 3 servers', () => {
  const b = balancer(3, { hash: true });
  assert.deepEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.1.0.2', '127.0.0.10'].map((a) => first(b, a)), [0, 1, 2, 1, 2]);
  assert.equal(first(b, '::1'), 1);
});

test('failover order: the initial server, then the next ones wrapping, then the emergency server', () => {
  const b = balancer(3, { hash: true });
  b.servers.emergency = { ...b.servers.slot(0), index: -2, host: '127.0.0.9' };
  assert.deepEqual(b.route('127.0.0.3', 1, 1000).candidates.map((s) => s.index), [1, 2, 0, -2]);
});

test('stubborn tries only the initial server', () => {
  const b = balancer(3, { hash: true, stubborn: true });
  assert.deepEqual(b.route('127.0.0.3', 1, 1000).candidates.map((s) => s.index), [1]);
});

test('weight picks the lowest connections per weight; weight 0 is never chosen by weight', () => {
  const b = balancer(3, { weight: true }, { 0: { weight: 0 }, 1: { weight: 1, c: 1 }, 2: { weight: 3, c: 2 } });
  assert.equal(first(b, '127.0.0.2'), 2);
});

test('prio picks the lowest priority among available servers', () => {
  const b = balancer(3, { prio: true }, { 0: { prio: 5 }, 1: { prio: 1 }, 2: { prio: 1 } });
  assert.equal(first(b, '127.0.0.2'), 1);
  b.servers.blacklist(b.servers.servers[1], 1000);
  assert.equal(first(b, '127.0.0.3'), 2);
});

test('soft limit refuses new clients, hard limit still admits returning ones', () => {
  const b = balancer(1, {}, { 0: { maxc: 1, hard: 2, c: 1 } });
  const s = b.servers.servers[0];
  const newcomer = b.route('127.0.0.2', 1, 1000).client;
  assert.equal(b.canTry(s, newcomer, 1000), false);
  newcomer.server = 0;
  assert.equal(b.canTry(s, newcomer, 1000), true);
  b.servers.openSession(s);
  assert.equal(b.canTry(s, newcomer, 1000), false);
});

test('a blacklisted server is skipped until the blacklist time has passed', () => {
  const b = balancer(1, { blacklistTime: 30 });
  const s = b.servers.servers[0];
  const c = b.route('127.0.0.2', 1, 1000).client;
  b.servers.blacklist(s, 1000);
  assert.equal(b.canTry(s, c, 1029), false);
  assert.equal(b.canTry(s, c, 1030), true);
});

test('client_acl sends refused clients to the abuse server, or nowhere', () => {
  const b = balancer(2, { clientAcl: 1 });
  b.acls.add(1, 'deny', ['127.0.0.2']);
  assert.deepEqual(b.route('127.0.0.2', 1, 1000).candidates, []);
  b.servers.abuse = { ...b.servers.slot(0), index: -3 };
  assert.deepEqual(b.route('127.0.0.2', 1, 1000).candidates.map((s) => s.index), [-3]);
  assert.equal(b.route('127.0.0.3', 1, 1000).candidates.length, 2);
});

test('client table: LRU eviction by order of last connection, tracking time forgets the server', () => {
  const t = clientTable(2, 0);
  t.remember(t.visit('10.0.0.1', 1), 0);
  t.remember(t.visit('10.0.0.2', 1), 1);
  t.visit('10.0.0.1', 1);
  t.visit('10.0.0.3', 1); // evicts 10.0.0.2, the least recently seen
  assert.deepEqual(t.list().map((c) => c.address), ['10.0.0.1', '10.0.0.3']);
  assert.deepEqual(t.list().map((c) => c.server), [0, -1]);
  const tracked = clientTable(10, 5);
  tracked.remember(tracked.visit('10.0.0.1', 100), 1);
  assert.equal(tracked.visit('10.0.0.1', 105).server, 1);
  assert.equal(tracked.visit('10.0.0.1', 111).server, -1);
});

test('client table: many addresses, IPv4 and IPv6, each found again after evictions and growth', () => {
  const t = clientTable(64, 0);
  const address = (i) => (i % 2 ? `10.${i >> 8 & 255}.${i & 255}.7` : `2001:db8::${i.toString(16)}:1`);
  for (let i = 0; i < 1000; i++) t.remember(t.visit(address(i), i), i % 7);
  const kept = t.list();
  assert.equal(kept.length, 64);
  assert.deepEqual(kept.map((c) => c.address).sort(), Array.from({ length: 64 }, (_, k) => address(936 + k)).sort());
  t.grow(500);
  for (const c of kept) assert.equal(t.visit(c.address, 2000).server, c.server, c.address);
  assert.equal(t.max, 500);
  assert.equal(t.list().length, 64);
});

test('client table: bytes are counted per thread and summed; a recycled slot starts from zero', () => {
  const memory = ClientTable.memory(1);
  const [a, b] = [new ClientTable(memory, 1), new ClientTable(memory, 2)];
  const seen = a.visit('192.0.2.1', 1);
  a.addSent(seen, 100);
  b.addSent(b.visit('192.0.2.1', 2), 20);
  a.addReceived(seen, 5);
  assert.deepEqual(a.list().map(({ address, connects, csx, crx }) => ({ address, connects, csx, crx })),
    [{ address: '192.0.2.1', connects: 2, csx: 120, crx: 5 }]);
  b.visit('192.0.2.2', 3);
  a.remember(seen, 4); // the slot now holds another address: nothing is written into it
  assert.deepEqual(a.list().map(({ address, server, csx }) => ({ address, server, csx })), [{ address: '192.0.2.2', server: -1, csx: 0 }]);
});

test('geo tiers keep the selector\'s order inside each tier (prio here)', () => {
  const b = balancer(4, { prio: true, geoRouting: true }, {
    0: { prio: 3, geo: { countries: ['DE'], continents: [] } },
    1: { prio: 1, geo: { countries: ['DE'], continents: [] } },
    2: { prio: 0, geo: { countries: [], continents: ['EU'] } },
    3: { prio: 2 },
  });
  b.geo.addMapping('127.0.1.0/24', 'DE', 'EU');
  assert.deepEqual(b.route('127.0.1.2', 1, 1000).candidates.map((s) => s.index), [1, 0, 2, 3]);
});

test('address keys: every IPv4 and IPv6 form comes back as the text pen prints', () => {
  const { writeKey, keyText } = require('../../dist/balancer/address-key');
  const words = new Int32Array(4);
  const roundTrip = (a) => (writeKey(a, words, 0), keyText(words, 0));
  for (const a of ['127.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '2001:db8::8:800:200c:417a', 'fe80::', '::']) {
    assert.equal(roundTrip(a), a);
  }
  assert.equal(roundTrip('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(roundTrip('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(roundTrip('not an address'), '0.0.0.0');
});

test('round robin is one rotation for every thread sharing the scoreboard', () => {
  const settings = { ...defaultSettings(), roundrobin: true };
  const memory = Balancer.memory(settings);
  const threads = [1, 2].map((t) => {
    const b = new Balancer(settings, memory, t);
    for (let i = 0; i < 3; i++) Object.assign(b.servers.slot(i), { host: '127.0.0.1', port: 9000 + i });
    return b;
  });
  const picks = [0, 1, 0, 0, 1, 1].map((t) => threads[t].route('127.0.0.2', 1, 1000).candidates[0].index);
  assert.deepEqual(picks, [1, 2, 0, 1, 2, 0]);
});
