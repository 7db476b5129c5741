'use strict';
// The session store behind TLS resumption: its bound, its lifetime, its ticket keys, and which
// sessions are worth keeping by ID.
const test = require('node:test');
const assert = require('node:assert/strict');
const tls = require('node:tls');
const { once } = require('node:events');
const { constants } = require('node:crypto');
const { MemorySessionStore, resumableById, SESSION_CACHE_SIZE, SESSION_LIFETIME_S } = require('../../dist/listeners/tls-sessions');
const { certificateSet } = require('../support/certs');

const id = (text) => Buffer.from(text);

/** What store.get hands to its callback (the memory store answers at once). */
function lookUp(store, key) {
  let found;
  store.get(id(key), (session) => { found = session?.toString(); });
  return found;
}

function save(store, key) {
  let saved = false;
  store.set(id(key), Buffer.from(`session ${key}`), () => { saved = true; });
  assert.ok(saved);
}

test('the store keeps HAProxy\'s 20,000 sessions for 300 s by default', () => {
  assert.equal(SESSION_CACHE_SIZE, 20000);
  assert.equal(SESSION_LIFETIME_S, 300);
  const store = new MemorySessionStore();
  assert.equal(store.lifetime, 300);
  store.close();
});

test('when full, the store drops the least recently used session', () => {
  const store = new MemorySessionStore({ capacity: 2 });
  save(store, 'a');
  save(store, 'b');
  assert.equal(lookUp(store, 'a'), 'session a'); // b is now the least recently used
  save(store, 'c');
  assert.equal(lookUp(store, 'b'), undefined);
  assert.equal(lookUp(store, 'a'), 'session a');
  assert.equal(lookUp(store, 'c'), 'session c');
  store.close();
});

test('a session expires after the lifetime', () => {
  let now = 1_000_000;
  const store = new MemorySessionStore({ lifetime: 300, now: () => now });
  save(store, 'a');
  now += 299_999;
  assert.equal(lookUp(store, 'a'), 'session a');
  now += 1;
  assert.equal(lookUp(store, 'a'), undefined);
  store.close();
});

test('ticket keys: 48 bytes to each watcher at once, new ones to all on rotation', () => {
  const store = new MemorySessionStore();
  const seen = [[], []];
  store.watchTicketKeys((keys) => seen[0].push(keys));
  store.watchTicketKeys((keys) => seen[1].push(keys));
  assert.equal(seen[0][0].length, 48);
  assert.ok(seen[1][0].equals(seen[0][0]));
  store.rotateTicketKeys();
  assert.equal(seen[0].length, 2);
  assert.ok(!seen[0][1].equals(seen[0][0]));
  assert.ok(seen[1][1].equals(seen[0][1]));
  store.close();
});

test('TLS 1.2 sessions are kept by ID, TLS 1.3 ones (placeholder IDs for tickets) are not', async (t) => {
  const certs = await certificateSet(t);
  const server = tls.createServer({ cert: certs.server.cert, key: certs.server.private }, (s) => s.end());
  const sessions = [];
  server.on('newSession', (_id, session, done) => { sessions.push(session); done(); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const handshake = async (options) => {
    const s = tls.connect({ port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
    s.resume();
    await once(s, 'close');
  };
  await handshake({ maxVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_TICKET });
  assert.equal(sessions.length, 1);
  assert.equal(resumableById(sessions[0]), true);
  await handshake({ minVersion: 'TLSv1.3' });
  assert.ok(sessions.length > 1);
  assert.ok(sessions.slice(1).every((s) => !resumableById(s)));
});

test('the session index: IDs added are found, unknown ones are not (bar rare false alarms), rebuild forgets', () => {
  const { SessionIndex } = require('../../dist/listeners/tls-sessions');
  const { randomBytes } = require('node:crypto');
  const index = new SessionIndex(SessionIndex.memory());
  const kept = Array.from({ length: 1000 }, () => randomBytes(32));
  for (const id of kept) index.add(id);
  assert.ok(kept.every((id) => index.mayHold(id)));
  const alarms = Array.from({ length: 10000 }, () => randomBytes(32)).filter((id) => index.mayHold(id)).length;
  assert.ok(alarms < 10, `${alarms} false alarms in 10,000`);
  assert.equal(index.mayHold(Buffer.alloc(0)), false);
  index.rebuild(kept.slice(0, 10));
  assert.ok(kept.slice(0, 10).every((id) => index.mayHold(id)));
  assert.ok(kept.slice(10).filter((id) => index.mayHold(id)).length < 5);
});
