'use strict';
// Which backend answers: bin/pen started as an operator starts pen, clients from several loopback addresses.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { namedBackend, echoBackend, startPen, exchange, freePort, penctl } = require('../support/harness');

async function three(t) {
  return Promise.all(['be1', 'be2', 'be3'].map((n) => namedBackend(n, t)));
}
const spec = (b) => `127.0.0.1:${b.port}`;
const from = async (port, hosts) => {
  const out = [];
  for (const h of hosts) out.push((await exchange(port, { localAddress: `127.0.0.${h}` })).trim());
  return out;
};

test('default: new clients in turn starting at server 1, returning clients stick to their server', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, [...b.map(spec)]);
  assert.deepEqual(await from(pen.port, [2, 3, 4, 2, 3, 4, 5]), ['be2', 'be3', 'be1', 'be2', 'be3', 'be1', 'be2']);
});

test('-r: round robin regardless of the client', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-r', ...b.map(spec)]);
  assert.deepEqual(await from(pen.port, [2, 2, 2, 2]), ['be2', 'be3', 'be1', 'be2']);
});

test('-h: the client address hash picks the server, stable across connections', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-h', ...b.map(spec)]);
  assert.deepEqual(await from(pen.port, [2, 3, 4, 5, 2]), ['be1', 'be2', 'be3', 'be1', 'be1']);
});

test('-N: hash without remembering the client', async (t) => {
  const b = await three(t);
  const pen = await startPen(t, ['-N', ...b.map(spec)]);
  assert.deepEqual(await from(pen.port, [2, 3, 2]), ['be1', 'be2', 'be1']);
});

test('a refused server is blacklisted and the client fails over to the next one', async (t) => {
  const b = await three(t);
  const dead = await freePort();
  const pen = await startPen(t, ['-h', `127.0.0.1:${dead}`, spec(b[1]), spec(b[2])], { control: true });
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.2' })).trim(), 'be2'); // hash → dead server 0
  const { stdout } = await penctl(`127.0.0.1:${pen.ctl}`, 'status');
  assert.match(stdout, /<td>0<\/td>\n<td>127\.0\.0\.1<\/td>\n<td>[1-9]\d+<\/td>/, 'server 0 shows its blacklist time');
});

test('-s stubborn: no failover, the client is closed', async (t) => {
  const b = await three(t);
  const dead = await freePort();
  const pen = await startPen(t, ['-h', '-s', `127.0.0.1:${dead}`, spec(b[1]), spec(b[2])]);
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.2' }), ''); // hash → dead server 0
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.3' })).trim(), 'be2');
});

test('-e: the emergency server takes clients when every server is down', async (t) => {
  const [e] = await Promise.all([namedBackend('emergency', t)]);
  const dead1 = await freePort();
  const dead2 = await freePort();
  const pen = await startPen(t, ['-e', spec(e), `127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`]);
  assert.equal((await exchange(pen.port)).trim(), 'emergency');
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.3' })).trim(), 'emergency');
});

test('all servers down and no emergency server: the client is closed', async (t) => {
  const pen = await startPen(t, [`127.0.0.1:${await freePort()}`]);
  assert.equal(await exchange(pen.port), '');
});

test('-B: clients refused by client_acl go to the abuse server, others are served', async (t) => {
  const [be, abuse] = await Promise.all([namedBackend('be', t), namedBackend('abuse', t)]);
  const pen = await startPen(t, ['-B', spec(abuse), '-o', 'acl 1 deny 127.0.0.2', '-o', 'client_acl 1', spec(be)]);
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.2' })).trim(), 'abuse');
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.3' })).trim(), 'be');
});

test('client_acl without an abuse server closes refused clients', async (t) => {
  const be = await namedBackend('be', t);
  const pen = await startPen(t, ['-o', 'acl 1 deny 127.0.0.2', '-o', 'client_acl 1', spec(be)]);
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.2' }), '');
});

test('soft max: a full server sends new clients on to the next server', async (t) => {
  const hold = net.createServer((s) => s.on('error', () => {}));
  hold.listen(0, '127.0.0.1');
  await new Promise((r) => hold.once('listening', r));
  t.after(() => hold.close());
  const be2 = await namedBackend('be2', t);
  const pen = await startPen(t, ['-r', `127.0.0.1:${hold.address().port}:1`, spec(be2)], { control: true });
  // first client lands on server 1 (be2) and finishes; the second on server 0 and stays open
  assert.equal((await exchange(pen.port)).trim(), 'be2');
  const held = net.connect(pen.port, '127.0.0.1');
  t.after(() => held.destroy());
  await new Promise((r) => hold.once('connection', r));
  for (;;) { // wait until pen counts it
    const { stdout } = await penctl(`127.0.0.1:${pen.ctl}`, 'servers');
    if (/^0 .* conn 1 max 1/m.test(stdout)) break;
  }
  // round robin points at server 1 then 0: server 0 is full, so both go to be2
  assert.equal((await exchange(pen.port)).trim(), 'be2');
  assert.equal((await exchange(pen.port)).trim(), 'be2');
});

test('-x 2: clients beyond the limit wait in order and are served as connections end; beyond -q they are closed', async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, ['-x', '2', '-q', '50', `127.0.0.1:${be.port}`]);
  const connect = async (text) => {
    const s = net.connect(pen.port, '127.0.0.1').on('error', () => {}); // reset when pen stops
    t.after(() => s.destroy());
    await once(s, 'connect');
    s.write(text);
    return s;
  };
  const [one, two] = [await connect('1'), await connect('2')];
  assert.deepEqual([(await once(one, 'data'))[0].toString(), (await once(two, 'data'))[0].toString()], ['1', '2']);
  const [three, four] = [await connect('3'), await connect('4')];
  for (let i = 0; i < 48; i++) await connect('waits');
  assert.equal(await exchange(pen.port), ''); // 50 clients wait (-q 50): the next is closed
  const answered = [];
  three.on('data', (d) => answered.push(d.toString()));
  four.on('data', (d) => answered.push(d.toString()));
  one.destroy();
  await once(three, 'data');
  assert.deepEqual(answered, ['3']);
  two.destroy();
  await once(four, 'data');
  assert.deepEqual(answered, ['3', '4']);
});
