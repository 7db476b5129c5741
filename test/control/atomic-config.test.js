'use strict';
// Configuration changes are all or nothing: a file (-F, HUP, include) is checked whole before any
// of it applies; an unknown command at start-up stops the start; one failing HUP step skips no other.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { namedBackend, startPen, exchange, controlOf, runPen, stderrMatching } = require('../support/harness');
const { certificateSet } = require('../support/certs');

function tmp(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-atomic-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('an unknown command in -o or -F stops the start with one line naming it', async (t) => {
  const o = await runPen(['-f', '-o', 'frobnicate 3', '127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(o.code, 1);
  assert.equal(o.stderr, "pen: -o 'frobnicate 3': unknown command 'frobnicate'\n");
  const cfg = path.join(tmp(t), 'pen.cfg');
  fs.writeFileSync(cfg, 'blacklist 10\nfrobnicate 3\n');
  const f = await runPen(['-f', '-F', cfg, '127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(f.code, 1);
  assert.equal(f.stderr, `pen: ${cfg}:2: unknown command 'frobnicate'\n`);
});

test('the control port keeps pen\'s reply to an unknown command', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  assert.equal(await controlOf(pen)('frobnicate', '3'), "do_cmd: ignoring command starting with 'frobnicate'\n");
});

test('HUP with an error on line 2 of -F keeps the running configuration: the denied client stays denied', async (t) => {
  const be = await namedBackend('served', t);
  const cfg = path.join(tmp(t), 'pen.cfg');
  fs.writeFileSync(cfg, 'no acl 1\nacl 1 deny 127.0.0.2\nclient_acl 1\n');
  const pen = await startPen(t, ['-F', cfg, `127.0.0.1:${be.port}`], { control: true });
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.2' }), '');
  fs.writeFileSync(cfg, 'no acl 1\nacl 1 deny 127.0.0.2x\nclient_acl 1\n');
  pen.child.kill('SIGHUP');
  await stderrMatching(pen.child, /reload: .*pen\.cfg:2: acl: bogus address '127\.0\.0\.2x'/);
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.2' }), '');
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.3' }), 'served\n');
});

test('include with a bad line changes nothing and names file:line', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const ctl = controlOf(pen);
  const file = path.join(tmp(t), 'more.cfg');
  fs.writeFileSync(file, 'blacklist 7\ntimeout never\n');
  assert.equal(await ctl('include', file), `${file}:2: timeout: expected a number from 1 to 2147483, not 'never'\n`);
  assert.equal(await ctl('blacklist'), '30\n');
  fs.writeFileSync(file, 'blacklist 7\nfrobnicate\n');
  assert.equal(await ctl('include', file), `${file}:2: unknown command 'frobnicate'\n`);
  fs.writeFileSync(file, 'blacklist 7\ntimeout 4\n');
  assert.equal(await ctl('include', file), '7\n4\n');
  assert.deepEqual([await ctl('blacklist'), await ctl('timeout')], ['7\n', '4\n']);
});

test('HUP: a typo in -F does not keep the new certificate from being served', async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('a', t);
  const cert = certs.write('live.crt', certs.server.cert);
  const key = certs.write('live.key', certs.server.private);
  const cfg = path.join(tmp(t), 'pen.cfg');
  fs.writeFileSync(cfg, 'blacklist 10\n');
  const pen = await startPen(t, ['-F', cfg, '-E', cert, '-K', key, `127.0.0.1:${be.port}`]);
  const served = () => new Promise((resolve, reject) => {
    const s = tls.connect({ port: pen.port, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.cert }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.on('error', reject);
  });
  const before = await served();
  fs.writeFileSync(cfg, 'blacklist ten\n');
  fs.writeFileSync(cert, certs.server2.cert);
  fs.writeFileSync(key, certs.server2.private);
  pen.child.kill('SIGHUP');
  await stderrMatching(pen.child, /reload: .*pen\.cfg:1: blacklist: expected a number, not 'ten'/);
  let now;
  do now = await served(); while (now === before);
  assert.notEqual(now, before);
});
