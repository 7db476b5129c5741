'use strict';
// Selectors and tables without the network: pure functions over the server table.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Balancer } = require('../../dist/balancer/balancer');
const { ClientTable } = require('../../dist/balancer/client-table');
const { defaultSettings } = require('../../dist/config/settings');

function balancer(n, change = {}, servers = {}) {
  const settings = { ...defaultSettings(), ...change };
  const b = new Balancer(settings);
  for (let i = 0; i < n; i++) Object.assign(b.servers.slot(i), { host: '127.0.0.1', port: 9000 + i, ...servers[i] });
  b.applySettings();
  return b;
}
const first = (b, addr, now = 1000, port = 40000) => b.route(addr, port, now).candidates[0]?.index;

test('a new client goes to the server after the last one chosen, a known client to its own', () => {
  const b = balancer(3);
  const picks = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => {
    const r = b.route(a, 1, 1000);
    b.connected(r.candidates[0], r.client);
    return r.candidates[0].index;
  });
  assert.deepEqual(picks, [1, 2, 0]);
  assert.equal(first(b, '127.0.0.3'), 2);
});

test('round robin ignores the client table', () => {
  const b = balancer(3, { roundrobin: true });
  const picks = [1, 2, 3, 4].map(() => {
    const r = b.route('127.0.0.2', 1, 1000);
    b.connected(r.candidates[0], r.client);
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
  s.c = 2;
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
  const t = new ClientTable(2, 0);
  t.visit('a', 1, -1).server = 0;
  t.visit('b', 1, -1).server = 1;
  t.visit('a', 1, -1);
  t.visit('c', 1, -1); // evicts b, the least recently seen
  assert.deepEqual(t.list().map((c) => c.address).sort(), ['a', 'c']);
  const tracked = new ClientTable(10, 5);
  tracked.visit('a', 100, -1).server = 1;
  assert.equal(tracked.visit('a', 105, -1).server, 1);
  assert.equal(tracked.visit('a', 111, -1).server, -1);
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
