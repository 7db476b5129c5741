'use strict';
// pen's command line: bad input → one line naming the culprit on stderr and a non-zero exit.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runPen, freePort, namedBackend, startPen, exchange } = require('../support/harness');

const oneLine = (text) => text.trim().split('\n').length === 1;

test('no arguments prints the usage and exits non-zero', async () => {
  const r = await runPen([]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout, /^usage:/);
});

for (const [args, culprit] of [
  [['-Y', '8080', 'a'], /unknown option -Y/],
  [['-f', '-b'], /option -b requires an argument/],
  [['-f', '-t', '0', '8080', '127.0.0.1:80'], /-t: 0 is too small/],
  [['-f', '-c', 'many', '8080', '127.0.0.1:80'], /-c: expected a number, not 'many'/],
  [['-f', '-L', 'foo', '8080', '127.0.0.1:80'], /protocol version foo not known/],
  [['-f', '-L', 'ssl3', '8080', '127.0.0.1:80'], /-L ssl3: not supported/],
  [['-f', '127.0.0.1:99999', '127.0.0.1:80'], /bad port '99999'/],
  [['-f', 'LISTEN', 'nosuchhost.invalid:80'], /unknown or invalid address 'nosuchhost.invalid'/],
  [['-f', 'LISTEN', '127.0.0.1:notaservice'], /bad port 'notaservice'/],
  [['-f', 'LISTEN', '127.0.0.1:80:x'], /server '127\.0\.0\.1:80:x': maxc must be a number, not 'x'/],
  [['-f', '-B', '127.0.0.1:81:y', 'LISTEN', '127.0.0.1:80'], /-B '127\.0\.0\.1:81:y': maxc must be a number, not 'y'/],
  [['-f', '-e', 'nosuchhost.invalid:80', 'LISTEN', '127.0.0.1:80'], /-e 'nosuchhost\.invalid:80': unknown or invalid address/],
  [['-f', '-F', '/nonexistent/pen.cfg', 'LISTEN', '127.0.0.1:80'], /Can't read config file '\/nonexistent\/pen.cfg'/],
  [['-f', '-o', 'server 0 max lots', 'LISTEN', '127.0.0.1:80'], /-o 'server 0 max lots': server max: expected a number/],
  [['-f', '-j', '/tmp', 'LISTEN', '127.0.0.1:80'], /-j \/tmp: Node.js cannot chroot/],
  [['-f', '-u', 'no-such-user-here', 'LISTEN', '127.0.0.1:80'], /-u no-such-user-here: no such user/],
  [['-f', '-l', '/nonexistent/dir/log', 'LISTEN', '127.0.0.1:80'], /Can't open logfile \/nonexistent\/dir\/log/],
  [['-f', '-p', '/nonexistent/dir/pid', 'LISTEN', '127.0.0.1:80'], /Can't create pidfile \/nonexistent\/dir\/pid/],
]) {
  test(`pen ${args.join(' ')} → one-line error, exit 1`, async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const r = await runPen(args.map((a) => (a === 'LISTEN' ? listen : a)));
    assert.equal(r.code, 1);
    assert.match(r.stderr, culprit);
    assert.ok(oneLine(r.stderr), `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /    at /);
  });
}

test('a listen port already in use is a one-line error', async (t) => {
  const be = await namedBackend('be', t);
  const r = await runPen(['-f', `127.0.0.1:${be.port}`, '127.0.0.1:80']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /can't bind local address/);
  assert.ok(oneLine(r.stderr));
});

test('-i prints "Windows only" and exits 0', async () => {
  const r = await runPen(['-i', 'x']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, 'Windows only\n');
});

test('server specs: service names, default port, limits, and IPv6 in brackets', async (t) => {
  const be = await namedBackend('be', t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}:10:20:3:4`, 'localhost:http', '[::1]:8080:1', '127.0.0.1'], { control: true });
  const { penctl } = require('../support/harness');
  const { stdout } = await penctl(`127.0.0.1:${pen.ctl}`, 'servers');
  const lines = stdout.split('\n');
  assert.match(lines[0], new RegExp(`^0 addr 127.0.0.1 port ${be.port} conn 0 max 10 hard 20 weight 3 prio 4 `));
  assert.match(lines[1], /^1 addr (127\.0\.0\.1|::1) port 80 conn 0 max 0 /);
  assert.match(lines[2], /^2 addr ::1 port 8080 conn 0 max 1 /);
  assert.match(lines[3], new RegExp(`^3 addr 127.0.0.1 port ${pen.port} `)); // port defaults to the listen port
});

test('options after operands and clustered flags are understood (GNU getopt)', async (t) => {
  const be = await namedBackend('be', t);
  const port = await freePort();
  const pen = await startPen(t, [`127.0.0.1:${port}`, `127.0.0.1:${be.port}`, '-rs'].slice(1), { control: true });
  const { penctl } = require('../support/harness');
  assert.equal((await penctl(`127.0.0.1:${pen.ctl}`, 'mode')).stdout, 'no hash roundrobin stubborn no weight no prio\n');
  assert.equal((await exchange(pen.port)).trim(), 'be');
});

test('--help prints the usage and --version the version, both exit 0; an unknown long option is named', async () => {
  const help = await runPen(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage:\n  pen \[options\]/);
  const version = await runPen(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^pen-edge \d+\.\d+\.\d+ \(pen 0\.34\.1 compatible\), Node\.js v\d+/);
  const unknown = await runPen(['--foo', '8080', 'a:80']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, 'pen: unknown option --foo (--help lists the options)\n');
});

test('--check reads everything a start would and binds nothing: "configuration OK", or the one-line error, exit 1', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const net = require('node:net');
  const { certificateSet } = require('../support/certs');
  const certs = await certificateSet(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-check-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [port, ctl] = [await freePort(), await freePort()];
  const config = path.join(dir, 'pen.cfg');
  fs.writeFileSync(config, 'blacklist 5\nacl 1 deny 10.0.0.0 255.0.0.0\nclient_acl 1\n');
  const user = require('../support/harness').IS_ROOT ? ['-u', 'nobody'] : [];
  const good = ['-C', `127.0.0.1:${ctl}`, ...user, '-F', config, '-E', certs.serverCert, '-K', certs.serverKey, '-G', certs.caFile,
    '-l', path.join(dir, 'pen.log'), `127.0.0.1:${port}`, '127.0.0.1:80'];
  const ok = await runPen(['--check', ...good]);
  assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, 'configuration OK\n', '']);
  for (const p of [port, ctl]) { // nothing listens: not even for a moment
    const s = net.connect(p, '127.0.0.1');
    assert.equal((await require('node:events').once(s, 'error'))[0].code, 'ECONNREFUSED');
  }
  fs.writeFileSync(config, 'blacklist 5\nacl 1 deny 10.0.0.0 255.0.0.300\n');
  for (const [args, culprit] of [
    [good, new RegExp(`^pen: ${config}:2: `)],
    [['-E', path.join(dir, 'none.crt'), `127.0.0.1:${port}`, '127.0.0.1:80'], /none\.crt/],
    [['-E', certs.serverCert, '-K', certs.expiredKey, `127.0.0.1:${port}`, '127.0.0.1:80'], /key/i],
    [['-C', '127.0.0.1:99999', `127.0.0.1:${port}`, '127.0.0.1:80'], /-C '127\.0\.0\.1:99999': bad port/],
    [['-l', '/no/such/dir/pen.log', `127.0.0.1:${port}`, '127.0.0.1:80'], /Can't open logfile \/no\/such\/dir\/pen\.log/],
  ]) {
    const r = await runPen(['--check', ...args]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, culprit);
    assert.ok(oneLine(r.stderr), r.stderr);
  }
});

test('a bad -C address is an error also as root without -u, where pen opens no control port; --check warns of that', { skip: !require('../support/harness').IS_ROOT && 'needs root' }, async () => {
  const bad = await runPen(['-f', '-C', '127.0.0.1:99999', '127.0.0.1:1', '127.0.0.1:80']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /-C '127\.0\.0\.1:99999': bad port/);
  const check = await runPen(['--check', '-C', '127.0.0.1:10080', '127.0.0.1:1', '127.0.0.1:80']);
  assert.equal(check.code, 0);
  assert.match(check.stderr, /^pen: warning: -C 127\.0\.0\.1:10080: pen opens no control port when it runs as root without -u/);
});
