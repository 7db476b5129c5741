'use strict';
// The control port and penctl: pen's replies word for word, effects on traffic, errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { namedBackend, startPen, exchange, penctl, controlOf, freePort, runPen, IS_ROOT } = require('../support/harness');

async function setup(t, extra = []) {
  const [a, b] = await Promise.all([namedBackend('a', t), namedBackend('b', t)]);
  const pen = await startPen(t, [...extra, `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}:10:20:3:4`], { control: true });
  const ctl = async (...cmd) => (await penctl(`127.0.0.1:${pen.ctl}`, ...cmd)).stdout; // bin/penctl itself, as operators run it
  return { a, b, pen, ctl };
}

test('queries answer in pen\'s format', async (t) => {
  const { a, b, pen, ctl } = await setup(t);
  assert.equal(await ctl('servers'),
    `0 addr 127.0.0.1 port ${a.port} conn 0 max 0 hard 0 weight 0 prio 0 sx 0 rx 0\n` +
    `1 addr 127.0.0.1 port ${b.port} conn 0 max 10 hard 20 weight 3 prio 4 sx 0 rx 0\n`);
  assert.equal(await ctl('mode'), 'no hash no roundrobin no stubborn no weight no prio\n');
  for (const [cmd, reply] of [['blacklist', '30\n'], ['timeout', '3\n'], ['tracking', '0\n'], ['debug', '0\n'],
    ['conn_max', '500\n'], ['clients_max', '2048\n'], ['control_acl', '0\n'], ['client_acl', '0\n'],
    ['idle_timeout', 'Idle timeout: 0 seconds\n'], ['idlers', 'Idlers: 0/0\n'], ['log', ''], ['web_stats', ''],
    ['recent', ''], ['tarpit_acl', 'tarpit_acl = -1'], ['tcp_fastclose', 'do_cmd: ignoring tcp_fastclose without argument\n'],
    ['foo bar', "do_cmd: ignoring command starting with 'foo'\n"], ['# comment', ''],
    ['exit', 'Exit is not enabled; restart with -X flag\n'], ['close 0', 'Forcibly closing connection 0\n'],
    ['close 500', 'Connection 500 out of range\n'], ['socket 5', 'Socket 5 belongs to connection -1\n'],
    ['source bogus', "unable to set source address to 'bogus'"],
    ['connection 0', 'Connection 0:\nstate = 0\ndownfd = -1, upfd = -1\nclient = 0, server = 0\npend = 0\n']]) {
    assert.equal(await ctl(...cmd.split(' ')), reply, cmd);
  }
  assert.equal(await ctl('listen'), `127.0.0.1:${pen.port}\n`);
  assert.equal(await ctl('control'), `127.0.0.1:${pen.ctl}\n`);
  assert.equal(await ctl('pid'), `${pen.pid}\n`);
  assert.match(await ctl('status'), /^<html>\n<head>\n<title>Pen status page<\/title>/);
});

test('setters change the value and answer with it; mode flags change selection', async (t) => {
  const { pen, ctl } = await setup(t);
  assert.equal(await ctl('blacklist', '10'), '10\n');
  assert.equal(await ctl('blacklist'), '10\n');
  await ctl('roundrobin');
  await ctl('stubborn');
  assert.equal(await ctl('mode'), 'no hash roundrobin stubborn no weight no prio\n');
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await exchange(pen.port, { localAddress: '127.0.0.2' })).trim());
  assert.deepEqual(got, ['b', 'a', 'b']);
});

test('server N … changes the table; server N blacklist T takes it out of rotation', async (t) => {
  const { b, pen, ctl } = await setup(t, ['-r']);
  assert.equal(await ctl('server', '0', 'max', '5', 'hard', '6', 'weight', '2', 'prio', '3'), '');
  assert.match(await ctl('servers'), /^0 addr 127\.0\.0\.1 port \d+ conn 0 max 5 hard 6 weight 2 prio 3 /);
  await ctl('server', '0', 'blacklist', '60');
  for (let i = 0; i < 3; i++) assert.equal((await exchange(pen.port)).trim(), 'b');
  assert.equal(await ctl('server', '3', 'address', '127.0.0.1', 'port', String(b.port)), '');
  assert.match(await ctl('servers'), new RegExp(`\n2 addr 0\\.0\\.0\\.0 port 0 [^\n]*\n3 addr 127\\.0\\.0\\.1 port ${b.port} `));
});

test('a bad command names the problem and changes nothing', async (t) => {
  const { pen, ctl } = await setup(t);
  const before = await ctl('servers');
  assert.equal(await ctl('server', '0', 'max', '5', 'address', 'no-such-host.invalid'), "server address: unknown or invalid address 'no-such-host.invalid'\n");
  assert.equal(await ctl('servers'), before);
  assert.equal(await ctl('server', '0', 'max', '5', 'weight', 'heavy'), "server weight: expected a number, not 'heavy'\n");
  assert.equal(await ctl('servers'), before);
  assert.equal(await ctl('acl', '1', 'permit', '300.1.1.1'), "acl: bogus address '300.1.1.1'\n");
  assert.equal(await ctl('blacklist', 'soon'), "blacklist: expected a number, not 'soon'\n");
  assert.equal(await ctl('blacklist'), '30\n');
  assert.equal(await ctl('tcp_fastclose', 'both'), '');
  assert.equal(await ctl('tcp_fastclose', 'sideways'), "tcp_fastclose: expected up, down, both or off, not 'sideways'\n");
  const written = path.join(pen.dir, 'after.cfg');
  await ctl('write', written);
  assert.match(fs.readFileSync(written, 'utf8'), /^tcp_fastclose both$/m);
  assert.equal(await ctl('server', '1', 'address', 'localhost'), ''); // a name is looked up without blocking
  assert.match(await ctl('servers'), /^1 addr (127\.0\.0\.1|::1) port \d+ /m);
});

test('write produces a file that starts an identical balancer', async (t) => {
  const { pen } = await setup(t, ['-W', '-b', '17']);
  const ctl = controlOf(pen); // many commands: over the control protocol, without a penctl process each
  await ctl('acl', '2', 'deny', '10.0.0.0', '255.0.0.0');
  await ctl('server', '1', 'acl', '2');
  // a server on a unix socket and empty slots have no port, and a file with `port 0` would not start
  for (const line of ['server 3 address /tmp/pen-write-test.sock', 'source 127.0.0.1', 'dummy', 'clients_max 3000', 'conn_max 700', 'xforwarded replace', 'idle_timeout 9', 'ssl_ciphers HIGH', 'drain_timeout 45', 'log_format json']) {
    await ctl(...line.split(' '));
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-write-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pen.cfg');
  assert.equal(await ctl('write', file), '');
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^# Generated by pen /);
  const copy = await startPen(t, ['-F', file], { control: true });
  const copyCtl = controlOf(copy);
  const queries = ['servers', 'mode', 'blacklist', 'timeout', 'tracking', 'clients_max', 'conn_max', 'client_acl', 'control_acl',
    'debug', 'idle_timeout', 'tarpit_acl', 'xforwarded', 'forwarded', 'geo_routing', 'http_header_max', 'http_head_timeout',
    'health_interval', 'proxy_protocol', 'trusted_proxies', 'client_store', 'workers', 'log', 'web_stats', 'drain_timeout', 'log_format'];
  for (const q of queries) assert.equal(await copyCtl(q), await ctl(q), q);
  await copyCtl('write', `${file}.2`);
  const strip = (s) => s.split('\n').slice(2).join('\n');
  assert.equal(strip(fs.readFileSync(`${file}.2`, 'utf8')), strip(text));
});

test('-X enables exit: pen exits 0', async (t) => {
  const { pen, ctl } = await setup(t, ['-X']);
  assert.equal(await ctl('exit'), '');
  const [code] = await pen.child.exited;
  assert.equal(code, 0);
});

test('control_acl refuses control clients it denies', async (t) => {
  const { pen } = await setup(t, ['-o', 'acl 3 deny 127.0.0.1', '-o', 'control_acl 3']);
  const ask = (localAddress) => new Promise((resolve) => {
    const c = net.connect({ port: pen.ctl, host: '127.0.0.1', localAddress });
    let r = '';
    c.on('error', () => {});
    c.on('data', (d) => { r += d; });
    c.on('close', () => resolve(r));
    c.end('mode\n');
  });
  assert.equal(await ask('127.0.0.1'), '');
  assert.equal(await ask('127.0.0.2'), 'no hash no roundrobin no stubborn no weight no prio\n');
});

test('garbage and over-long lines get an error reply; traffic goes on', async (t) => {
  const { pen } = await setup(t);
  const send = (data) => new Promise((resolve) => {
    const c = net.connect(pen.ctl, '127.0.0.1');
    let r = '';
    c.on('error', () => {});
    c.on('data', (d) => { r += d; });
    c.on('close', () => resolve(r));
    c.write(data);
  });
  assert.match(await send(Buffer.from([0, 1, 2, 0xff, 10])), /^error: binary data/);
  assert.match(await send('x'.repeat(10000)), /^error: command longer than 4096 bytes/);
  const many = await Promise.all(Array.from({ length: 20 }, () => send('mode\n')));
  assert.ok(many.every((r) => r === 'no hash no roundrobin no stubborn no weight no prio\n'));
  assert.match(await exchange(pen.port), /^[ab]\n$/);
});

test('penctl: usage, missing port, nothing listening', async () => {
  const usage = await penctl();
  assert.equal(usage.code, 1);
  assert.match(usage.stderr, /^usage: penctl \[--json\] host:port\|\[host\]:port\|\/path\/to\/socket command/);
  assert.equal((await penctl('127.0.0.1:1')).code, 1, 'no command: the usage, exit 1');
  const noPort = await penctl('127.0.0.1', 'servers');
  assert.equal(noPort.code, 1);
  assert.equal(noPort.stderr, 'no port given\n');
  const refused = await penctl(`127.0.0.1:${await freePort()}`, 'servers');
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr, 'error connecting to server\n');
});

test('control on a unix socket', async (t) => {
  const be = await namedBackend('be', t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-ctl-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'ctl.sock');
  const args = ['-C', sock, `127.0.0.1:${be.port}`];
  if (IS_ROOT) args.unshift('-u', 'root');
  await startPen(t, args);
  assert.equal((await penctl(sock, 'blacklist')).stdout, '30\n');
});

test('penctl --json answers queries as JSON objects, errors as {"error"}', async (t) => {
  const { a, pen } = await setup(t);
  const json = async (...cmd) => JSON.parse((await penctl('--json', `127.0.0.1:${pen.ctl}`, ...cmd)).stdout);
  const { servers } = await json('servers');
  assert.deepEqual(servers[0], { index: 0, address: '127.0.0.1', port: a.port, conn: 0, max: 0, hard: 0, weight: 0, prio: 0, acl: 0, sx: 0, rx: 0, blacklisted: false, health: 'unchecked' });
  assert.deepEqual(await json('mode'), { hash: false, roundrobin: false, stubborn: false, weight: false, prio: false });
  assert.deepEqual(await json('blacklist', '12'), { blacklist: 12 });
  await exchange(pen.port, { localAddress: '127.0.0.9' });
  assert.equal((await json('recent')).clients[0].address, '127.0.0.9');
  assert.deepEqual(await json('timeout', 'x'), { error: "timeout: expected a number from 1 to 2147483, not 'x'" });
  assert.deepEqual(await json('nonsense'), { error: "unknown command 'nonsense'" });
});

test('listen moves the listener; connections open on the old one are kept', async (t) => {
  const { echoBackend } = require('../support/harness');
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const s = net.connect(pen.port, '127.0.0.1');
  s.write('one');
  await new Promise((r) => s.once('data', r));
  const port = await freePort();
  assert.equal((await penctl(`127.0.0.1:${pen.ctl}`, 'listen', `127.0.0.1:${port}`)).stdout, `127.0.0.1:${port}\n`);
  // the reply comes once it listens: nothing to wait for
  assert.equal(await exchange(port, { data: 'new', end: true }), 'new');
  // a busy port: the error is the reply, and the listener stays where it is
  assert.match((await penctl(`127.0.0.1:${pen.ctl}`, 'listen', `127.0.0.1:${be.port}`)).stdout,
    new RegExp(`^error: listen 127\\.0\\.0\\.1:${be.port}: can't bind local address \\(EADDRINUSE\\)\n$`));
  assert.equal((await penctl(`127.0.0.1:${pen.ctl}`, 'listen')).stdout, `127.0.0.1:${port}\n`);
  assert.equal(await exchange(port, { data: 'still', end: true }), 'still');
  s.write('two');
  const [echo] = await new Promise((r) => s.once('data', (...d) => r(d)));
  assert.equal(echo.toString(), 'two');
  s.destroy();
});

test('commands take effect on traffic: source, weight, prio, no acl, conn_max, dummy', async (t) => {
  const { a, b, pen, ctl } = await setup(t, ['-r']);
  void a; void b;
  await ctl('source', '127.0.0.5');
  const seen = new Promise((resolve) => a.once('connection', (s) => resolve(s.remoteAddress)));
  await exchange(pen.port); // round robin: server 1
  await exchange(pen.port); // server 0
  assert.equal(await seen, '127.0.0.5');
  await ctl('no', 'roundrobin');
  await ctl('prio');
  await ctl('server', '0', 'prio', '9');
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.20' })).trim(), 'b'); // server 1 has prio 4 < 9
  await ctl('no', 'prio');
  await ctl('weight');
  await ctl('server', '1', 'weight', '0');
  await ctl('server', '0', 'weight', '1');
  assert.equal((await exchange(pen.port, { localAddress: '127.0.0.21' })).trim(), 'a');
  await ctl('acl', '4', 'deny', '127.0.0.22');
  await ctl('client_acl', '4');
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.22' }), '');
  await ctl('no', 'acl', '4');
  assert.match(await exchange(pen.port, { localAddress: '127.0.0.22' }), /^[ab]\n$/);
  assert.equal(await ctl('conn_max', '1000'), '1000\n');
  await ctl('dummy');
  assert.match(await exchange(pen.port, { data: 'GET / HTTP/1.0\r\n\r\n', end: true }), /^HTTP\/1\.1 200 OK\r\n[^]*pen-edge dummy target\n$/);
});

test('include and log commands', async (t) => {
  const { pen, ctl } = await setup(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-inc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'extra.cfg'), '# set two things\nblacklist 7\ntimeout 9\n');
  assert.equal(await ctl('include', path.join(dir, 'extra.cfg')), '7\n9\n'); // the replies of its commands, in order
  assert.equal(await ctl('blacklist'), '7\n');
  assert.equal(await ctl('timeout'), '9\n');
  const log = path.join(dir, 'pen.log');
  assert.equal(await ctl('log', log), `${log}\n`);
  await exchange(pen.port, { data: 'HELLO log\n', localAddress: '127.0.0.30' });
  const watcher = fs.watch(dir);
  while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('HELLO'))) await require('node:events').once(watcher, 'change');
  watcher.close();
  assert.match(fs.readFileSync(log, 'utf8'), /^127\.0\.0\.30 \d+ 127\.0\.0\.1 HELLO log\n$/);
  // a log that cannot be opened is an error now, and the one in use stays
  assert.equal(await ctl('log', '/no/such/dir/x.log'), "Can't open logfile /no/such/dir/x.log: ENOENT\n");
  assert.equal(await ctl('log'), `${log}\n`);
});

test('files are checked whole: include of itself, write where it cannot, and acme renew without ssl_acme change nothing', async (t) => {
  const { ctl } = await setup(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-inc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const self = path.join(dir, 'self.cfg');
  fs.writeFileSync(self, `blacklist 8\ninclude ${self}\n`);
  assert.match(await ctl('include', self), /more than 16 files deep/);
  for (const [i, line] of ['write /no/such/dir/pen.cfg', 'acme renew'].entries()) {
    const file = path.join(dir, `half${i}.cfg`);
    fs.writeFileSync(file, `blacklist 8\n${line}\ntimeout 9\n`);
    assert.match(await ctl('include', file), new RegExp(`${file.replace(/[.]/g, '\\.')}:2: `), line);
  }
  assert.equal(await ctl('blacklist'), '30\n');
  assert.equal(await ctl('timeout'), '3\n');
});

test('timers longer than Node can hold (2147483 s) are refused, not run at once', async (t) => {
  const { pen, ctl } = await setup(t);
  assert.match(await ctl('timeout', '2147484'), /^timeout: expected a number from 1 to 2147483, not '2147484'\n$/);
  assert.match(await ctl('idle_timeout', '2147484'), /^idle_timeout: expected a number from 0 to 2147483/);
  assert.equal(await ctl('timeout', '2147483'), '2147483\n');
  assert.match((await exchange(pen.port)).trim(), /^[ab]$/);
  const r = await runPen(['-f', '-t', '2147484', '127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /-t: 2147484 is too large \(maximum 2147483\)/);
});

test('listen to the address pen-edge listens on already answers it and changes nothing (HUP reads a -F line with it again)', async (t) => {
  const be = await namedBackend('a', t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-listen-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const file = path.join(dir, 'pen.cfg');
  fs.writeFileSync(file, `listen 127.0.0.1:${port}\nblacklist 12\nserver 0 address 127.0.0.1 port ${be.port}\n`);
  const pen = await startPen(t, ['-F', file], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl('listen', `127.0.0.1:${port}`), `127.0.0.1:${port}\n`);
  fs.writeFileSync(file, `listen 127.0.0.1:${port}\nblacklist 13\nserver 0 address 127.0.0.1 port ${be.port}\n`);
  pen.child.kill('SIGHUP');
  while ((await ctl('blacklist')) !== '13\n') await new Promise((resolve) => setImmediate(resolve)); // HUP is read in its own time
  assert.equal((await exchange(port)).trim(), 'a');
  assert.doesNotMatch(pen.child.stderrText, /EADDRINUSE/);
});

test('penctl --json: an error from the system is JSON too', async (t) => {
  const { pen } = await setup(t);
  const busy = net.createServer().listen(0, '127.0.0.1');
  await require('node:events').once(busy, 'listening');
  t.after(() => busy.close());
  const reply = await controlOf(pen)('json', 'listen', `127.0.0.1:${busy.address().port}`);
  assert.match(JSON.parse(reply).error, /EADDRINUSE/);
});
