'use strict';
// ssl_acme against Debian's pebble (the ACME test server) on loopback, with real TLS-ALPN-01
// validation: pebble resolves pen-edge.test through pebble-challtestsrv's DNS (127.0.0.1) and
// connects to pen-edge's TLS listener, which answers the challenge itself.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawn, spawnSync } = require('node:child_process');
const { once } = require('node:events');
const { X509Certificate } = require('node:crypto');
const { startPen, freePort, waitForPort, controlOf, stderrMatching, ROOT, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');
const { defaultCertificate } = require(path.join(ROOT, 'dist', 'listeners', 'default-certificate.js'));

const DOMAIN = 'pen-edge.test';
const installed = (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
const noPebble = installed('pebble') && installed('pebble-challtestsrv') ? false : 'pebble is not installed (apt-get install -y pebble)';

/** Starts command and resolves with it once its output matches ready; killed by its PID after the test. */
async function startLogging(t, command, args, ready, env) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  child.stopped = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  const seen = new Promise((resolve, reject) => {
    const look = (d) => {
      output += d;
      if (ready.test(output)) resolve(child);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    exited.then(() => reject(new Error(`${command} exited: ${output}`)));
  });
  return seen;
}

/**
 * pebble (its ACME server over HTTPS with a certificate made here) and a DNS server answering
 * 127.0.0.1 for every name; TLS-ALPN-01 validations go to tlsPort, where pen-edge listens, and
 * HTTP-01 ones to httpPort.
 */
async function startPebble(t, tlsPort, httpPort, { vaSleep } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-acme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const https = await defaultCertificate(['localhost', '127.0.0.1'], dir);
  const [acmePort, managementPort, dnsPort, challPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = path.join(dir, 'pebble.json');
  fs.writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: https.certFile, privateKey: https.keyFile, httpPort: httpPort ?? await freePort(), tlsPort,
      ocspResponderURL: '', externalAccountBindingRequired: false,
    },
  }));
  await startLogging(t, 'pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${challPort}`, '-defaultIPv6', ''], /Starting challenge servers/);
  // no random sleeps, no refused nonces, every order validated afresh (no authorization reuse)
  const pebble = await startLogging(t, 'pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], /Listening on:/,
    { ...(vaSleep ? { PEBBLE_VA_SLEEPTIME: String(vaSleep) } : { PEBBLE_VA_NOSLEEP: '1' }), PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
  // pebble and challtestsrv log "listening" before they bind: a CI run was refused here
  await Promise.all([acmePort, managementPort, challPort].map((p) => waitForPort(p)));
  const root = await new Promise((resolve, reject) => {
    require('node:https').get(`https://127.0.0.1:${managementPort}/roots/0`, { ca: fs.readFileSync(https.certFile) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  return { pebble, root, dir, directory: `https://127.0.0.1:${acmePort}/dir`, ca: https.certFile };
}

/** An echo backend that counts its connections. */
async function countingEcho(t) {
  const server = net.createServer((s) => {
    server.connections++;
    s.pipe(s);
  });
  server.connections = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}

/** A TLS connection to pen-edge as DOMAIN, verified against ca (or not verified at all). */
async function connect(port, ca) {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: DOMAIN, ca, rejectUnauthorized: ca !== undefined });
  await once(socket, 'secureConnect');
  return socket;
}

async function echoes(socket, text) {
  socket.write(text);
  const [data] = await once(socket, 'data');
  return data.toString();
}

/** Resolves when the child's stderr holds n lines matching re. */
async function linesMatching(child, re, n) {
  const global = new RegExp(re.source, 'g');
  while ((child.stderrText.match(global) ?? []).length < n) await stderrMatching(child, new RegExp(`(${re.source}[^]*){${n}}`));
}

/** pen-edge listening on port for DOMAIN over ACME, its files in store. */
function penArgs(acme, port, store, backend, extra = []) {
  return ['-o', `listen 127.0.0.1:${port}`, '-o', `ssl_acme_dir ${store}`, '-o', `ssl_acme_ca ${acme.ca}`,
    '-o', `ssl_acme ${acme.directory} admin@example.com ${DOMAIN}`, ...extra, `127.0.0.1:${backend.address().port}`];
}

test('ssl_acme: a certificate from pebble (TLS-ALPN-01 answered by pen-edge, never by a backend), kept and reused', { skip: noPebble }, async (t) => {
  const port = await freePort();
  const acme = await startPebble(t, port);
  const backend = await countingEcho(t);
  const store = path.join(acme.dir, 'store');
  const pen = await startPen(t, penArgs(acme, port, store, backend), { control: true });
  await stderrMatching(pen.child, /ACME: pen-edge\.test: certificate issued/);
  assert.match(pen.child.stderrText, /ACME: pen-edge\.test: answering its TLS-ALPN-01 challenge/);
  assert.equal(backend.connections, 0, 'the validation never reached the backend');

  const client = await connect(port, acme.root); // verified: the chain ends at pebble's root
  assert.equal(await echoes(client, 'ping'), 'ping');
  client.destroy();
  assert.equal(fs.statSync(path.join(store, 'account.key')).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(store, `${DOMAIN}.key`)).mode & 0o777, 0o600);
  const issued = new X509Certificate(fs.readFileSync(path.join(store, `${DOMAIN}.crt`)));
  assert.equal(issued.publicKey.asymmetricKeyType, 'ec');

  const control = controlOf(pen);
  const [line] = (await control('acme')).split('\n');
  assert.match(line, /^pen-edge\.test state valid valid_until \d{4}-\S+Z next_renewal \d{4}-\S+Z last_error -$/);
  const written = path.join(acme.dir, 'written.cfg');
  await control(`write ${written}`);
  assert.match(fs.readFileSync(written, 'utf8'), new RegExp(`^ssl_acme ${acme.directory} admin@example\\.com ${DOMAIN}$`, 'm'));

  // a restart serves the kept certificate and asks for none
  pen.child.kill('SIGTERM');
  await once(pen.child, 'exit');
  const again = await startPen(t, penArgs(acme, port, store, backend));
  await stderrMatching(again.child, /ACME: pen-edge\.test: next renewal/);
  assert.match(again.child.stderrText, /ACME: pen-edge\.test: using .*pen-edge\.test\.crt/);
  assert.doesNotMatch(again.child.stderrText, /asking/);
  const seen = await connect(port, acme.root);
  assert.equal(seen.getPeerX509Certificate().serialNumber, issued.serialNumber);
  seen.destroy();
});

test('while ACME validates, clients offering protocols a TCP listener does not speak are served as always', { skip: noPebble }, async (t) => {
  const port = await freePort();
  const acme = await startPebble(t, port, undefined, { vaSleep: 4 }); // pebble waits up to 4 s before it validates
  const backend = await countingEcho(t);
  const pen = await startPen(t, penArgs(acme, port, path.join(acme.dir, 'store'), backend));
  await stderrMatching(pen.child, /answering its TLS-ALPN-01 challenge/);
  for (let i = 0; i < 5 && !/certificate issued/.test(pen.child.stderrText); i++) {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: DOMAIN, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
    await once(socket, 'secureConnect');
    assert.equal(socket.alpnProtocol, false);
    assert.equal(await echoes(socket, `ping ${i}`), `ping ${i}`);
    socket.destroy();
  }
  await stderrMatching(pen.child, /certificate issued/);
});

test('ssl_acme_challenge http-01: the plain HTTP pen-edge (acme_http01_dir) answers the validation, never its backends', { skip: noPebble }, async (t) => {
  const [port, httpPort] = [await freePort(), await freePort()];
  const acme = await startPebble(t, port, httpPort);
  const store = path.join(acme.dir, 'store');
  const seen = [];
  const web = require('node:http').createServer((req, res) => {
    seen.push(req.url);
    res.end('from the backend\n');
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  t.after(() => web.close());
  const plain = await startPen(t, ['-H', '-o', `listen 127.0.0.1:${httpPort}`, '-o', `acme_http01_dir ${path.join(store, 'http-01')}`, `127.0.0.1:${web.address().port}`]);
  const secure = await startPen(t, penArgs(acme, port, store, await countingEcho(t), ['-o', 'ssl_acme_challenge http-01']));
  await stderrMatching(secure.child, /ACME: pen-edge\.test: certificate issued/);
  assert.match(secure.child.stderrText, /ACME: pen-edge\.test: HTTP-01 answer in /);
  assert.deepEqual(seen, [], 'the validation never reached the backend');
  assert.deepEqual(fs.readdirSync(path.join(store, 'http-01')), [], 'the answer is removed once used');
  const client = await connect(port, acme.root);
  client.destroy();
  const { request } = require('../support/web');
  const unknown = await request(httpPort, '/.well-known/acme-challenge/no-such-token');
  assert.deepEqual([unknown.status, seen], [404, []]);
  const other = await request(httpPort, '/index.html');
  assert.deepEqual([other.body, seen], ['from the backend\n', ['/index.html']]);
  assert.ok(plain.child.exitCode === null);
});

test('acme renew: the new certificate is swapped in and an open connection carries on; a failing ACME server leaves it serving', { skip: noPebble }, async (t) => {
  const port = await freePort();
  const acme = await startPebble(t, port);
  const backend = await countingEcho(t);
  const pen = await startPen(t, penArgs(acme, port, path.join(acme.dir, 'store'), backend, ['-o', 'ssl_acme_key rsa2048']), { control: true });
  const control = controlOf(pen);
  await stderrMatching(pen.child, /certificate issued/);
  const open = await connect(port, acme.root);
  const first = open.getPeerX509Certificate();
  assert.equal(first.publicKey.asymmetricKeyType, 'rsa');
  assert.equal(await echoes(open, 'before'), 'before');

  assert.equal(await control('acme renew'), '');
  await linesMatching(pen.child, /certificate issued/, 2);
  const renewed = await connect(port, acme.root);
  assert.notEqual(renewed.getPeerX509Certificate().serialNumber, first.serialNumber);
  renewed.destroy();
  assert.equal(await echoes(open, 'after'), 'after', 'the connection opened before the swap still works');

  await acme.pebble.stopped();
  assert.equal(await control('acme renew'), '');
  await stderrMatching(pen.child, /failed \(.*\); the certificate in service stays; next attempt in 60 s/);
  const still = await connect(port, acme.root);
  assert.notEqual(still.getPeerX509Certificate().serialNumber, first.serialNumber);
  assert.equal(await echoes(still, 'still'), 'still');
  still.destroy();
  open.destroy();
  assert.match(await control('acme'), /^pen-edge\.test state valid valid_until \S+ next_renewal \S+ last_error .*ECONNREFUSED/);
});

test('ssl_acme with an unreachable ACME server: the self-signed certificate serves, acme shows the error', async (t) => {
  const backend = await countingEcho(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-acme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const closed = await freePort();
  const pen = await startPen(t, ['-o', `ssl_acme_dir ${dir}`, '-o', `ssl_acme https://127.0.0.1:${closed}/dir admin@example.com ${DOMAIN}`,
    `127.0.0.1:${backend.address().port}`], { control: true });
  await stderrMatching(pen.child, /ACME: pen-edge\.test: failed .*; the self-signed certificate stays; next attempt in 60 s/);
  const client = await connect(pen.port);
  const cert = client.getPeerX509Certificate();
  assert.equal(cert.subject, cert.issuer);
  assert.ok(cert.checkHost(DOMAIN));
  client.destroy();
  assert.match(await controlOf(pen)('acme'), /^pen-edge\.test state pending valid_until - next_renewal \S+Z last_error .*ECONNREFUSED/);
});

test('ssl_acme commands: checked, and ssl_acme_key answers its value', async (t) => {
  const backend = await countingEcho(t);
  const pen = await startPen(t, ['-o', 'ssl_auto localhost', `127.0.0.1:${backend.address().port}`], { control: true });
  const control = controlOf(pen);
  assert.equal(await control('ssl_acme http://x/dir a@b c'), "ssl_acme: the directory URL must be https://…, not 'http://x/dir'\n");
  assert.equal(await control('ssl_acme https://x/dir nobody c'), "ssl_acme: expected an email address, not 'nobody'\n");
  assert.equal(await control('ssl_acme https://x/dir a@b bad_name'), "ssl_acme: expected DOMAIN[,DOMAIN…], not 'bad_name'\n");
  assert.equal(await control('ssl_acme_key dsa'), "ssl_acme_key: expected ecdsa or rsa2048, not 'dsa'\n");
  assert.equal(await control('ssl_acme_key'), 'ecdsa\n');
  assert.equal(await control('acme renew'), 'acme: no ssl_acme certificate to renew\n');
  assert.equal(await control('acme'), '');
});

test('with workers, the main thread obtains the certificate and every worker serves it', { skip: noPebble || NO_WORKERS_NODE }, async (t) => {
  const port = await freePort();
  const acme = await startPebble(t, port);
  const backend = await countingEcho(t);
  const pen = await startPen(t, penArgs(acme, port, path.join(acme.dir, 'store'), backend, ['-o', 'workers 2']), { node: WORKERS_NODE });
  await stderrMatching(pen.child, /certificate issued/);
  assert.equal((pen.child.stderrText.match(/asking/g) ?? []).length, 1, 'one thread talks to the ACME server');
  for (let i = 0; i < 6; i++) { // the kernel spreads these over both workers
    const client = await connect(port, acme.root);
    assert.equal(await echoes(client, `n${i}`), `n${i}`);
    client.destroy();
  }
  assert.equal(backend.connections, 6);
});
