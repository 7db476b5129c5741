'use strict';
// PROXY protocol: the real client address from trusted peers (v1 and v2) drives geo routing,
// ACLs and the client table; untrusted peers' headers are not honoured; backends can get one.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { namedBackend, startPen, exchange, penctl } = require('../support/harness');
const { proxyHeader } = require('../../dist/pipelines/proxy-protocol');

async function setup(t, extra = []) {
  const [us, de] = await Promise.all([namedBackend('us', t), namedBackend('de', t)]);
  const pen = await startPen(t, ['-o', 'geo_map 203.0.113.0/24 DE EU', '-o', 'geo_map 198.51.100.0/24 US NA', '-o', 'geo_routing on',
    '-o', `server 0 address 127.0.0.1 port ${us.port} geo US`, '-o', `server 1 address 127.0.0.1 port ${de.port} geo DE`,
    '-o', 'acl 5 permit 127.0.0.1', '-o', 'proxy_protocol 5', ...extra, 'LISTEN'], { control: true });
  return pen;
}

test('v1 and v2 headers from a trusted peer give the real client address', async (t) => {
  const pen = await setup(t);
  const v1 = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\nhello\n');
  assert.equal((await exchange(pen.port, { data: v1 })).trim(), 'de');
  const v2 = Buffer.concat([proxyHeader(2, '198.51.100.9', 40001, '127.0.0.1', 80), Buffer.from('hello\n')]);
  assert.equal((await exchange(pen.port, { data: v2 })).trim(), 'us');
  const v6 = Buffer.from('PROXY TCP6 2001:db8::1 ::1 40002 80\r\nhello\n');
  assert.match(await exchange(pen.port, { data: v6 }), /^(us|de)\n$/);
  const { stdout } = await penctl(`127.0.0.1:${pen.ctl}`, 'clients');
  assert.match(stdout, /^203\.0\.113\.7 country DE /m);
  assert.match(stdout, /^198\.51\.100\.9 country US /m);
  assert.match(stdout, /^2001:db8::1 /m);
});

test('a trusted peer without a valid header is closed; an untrusted peer\'s header is not honoured', async (t) => {
  const pen = await setup(t);
  assert.equal(await exchange(pen.port, { data: 'GET / HTTP/1.0\r\n\r\n' }), '');
  const got = [];
  const backend = net.createServer((s) => s.once('data', (d) => { got.push(d.toString()); s.end('seen\n'); }));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.after(() => backend.close());
  const strict = await startPen(t, ['-o', 'acl 5 permit 127.0.0.1', '-o', 'proxy_protocol 5', `127.0.0.1:${backend.address().port}`]);
  assert.equal((await exchange(strict.port, { localAddress: '127.0.0.2', data: 'PROXY TCP4 203.0.113.7 1.1.1.1 1 2\r\n' })).trim(), 'seen');
  assert.match(got[0], /^PROXY TCP4 203\.0\.113\.7/); // passed on as data: 127.0.0.2 is not trusted
});

test('server N proxy_protocol 1|2 sends the client address to the backend first', async (t) => {
  for (const version of [1, 2]) {
    const got = [];
    const backend = net.createServer((s) => s.once('data', (d) => { got.push(d); s.end('ok\n'); }));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    t.after(() => backend.close());
    const pen = await startPen(t, ['-o', `server 0 address 127.0.0.1 port ${backend.address().port} proxy_protocol ${version}`, 'LISTEN']);
    await exchange(pen.port, { localAddress: '127.0.0.4', data: 'x' });
    const head = got[0];
    if (version === 1) assert.match(head.toString(), new RegExp(`^PROXY TCP4 127\\.0\\.0\\.4 127\\.0\\.0\\.1 \\d+ ${pen.port}\\r\\n`));
    else assert.deepEqual([...head.subarray(16, 20)], [127, 0, 0, 4]);
  }
});

test('a TLS listener reads a trusted peer\'s PROXY header before the handshake', async (t) => {
  const tls = require('node:tls');
  const { certificateSet } = require('../support/certs');
  const certs = await certificateSet(t);
  const seen = [];
  const backend = net.createServer((s) => {
    let head = '';
    s.on('data', (d) => {
      head += d;
      if (!head.includes('\r\n\r\n')) return; // our headers may come in a write of their own
      seen.push(/^x-forwarded-for: (.*)$/im.exec(head)?.[1]);
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.after(() => backend.close());
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, '-o', 'acl 5 permit 127.0.0.1',
    '-o', 'proxy_protocol 5', `127.0.0.1:${backend.address().port}`]);
  const get = async (localAddress, header) => {
    const raw = net.connect({ port: pen.port, host: '127.0.0.1', localAddress });
    await once(raw, 'connect');
    if (header) raw.write(header);
    const s = tls.connect({ socket: raw, servername: 'localhost', ca: certs.ca.cert });
    s.on('error', () => {});
    let reply = '';
    s.on('data', (d) => { reply += d; });
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await once(raw, 'close');
    return reply;
  };
  assert.match(await get('127.0.0.1', 'PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n'), /^HTTP\/1\.1 200 /);
  assert.match(await get('127.0.0.1', proxyHeader(2, '198.51.100.9', 40001, '127.0.0.1', 443)), /^HTTP\/1\.1 200 /);
  assert.equal(await get('127.0.0.1', undefined), '', 'a trusted peer without a header is dropped');
  assert.match(await get('127.0.0.6', undefined), /^HTTP\/1\.1 200 /, 'an untrusted peer needs no header');
  assert.deepEqual(seen, ['203.0.113.7', '198.51.100.9', '127.0.0.6']);
});
