'use strict';
// `workers N`: several threads serve one listener, and pen's semantics hold as if one process
// served everything: stickiness, limits, the control port's replies, HUP, the log, TLS resumption.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { namedBackend, echoBackend, startPen, controlOf, exchange, runPen, fileCreated, freePort, stderrMatching, spawnServing, penctl,
  PEN, ROOT, IS_ROOT, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');
const { udpBackend, ask } = require('../support/udp');
const { certificateSet } = require('../support/certs');
const { noOpenssl, sClient, sessionLine } = require('../support/openssl');

const workersHere = WORKERS_NODE === process.execPath;

/** bin/pen with `workers 2` (and args), run by a Node that can. */
const startWorkers = (t, args, options = {}) => startPen(t, ['-o', 'workers 2', ...args], { ...options, node: WORKERS_NODE });

/** Connects from address and holds the connection open; resolves once the echo backend answered. */
async function hold(t, port, localAddress) {
  const s = net.connect({ port, host: '127.0.0.1', localAddress }).on('error', () => {}); // a killed worker resets its clients
  t.after(() => s.destroy());
  s.write('hi\n');
  await once(s, 'data');
  return s;
}

test('workers 2 on a Node older than 22.12 stops the start with one line naming the version', { skip: workersHere && 'this Node can run workers' }, async () => {
  const r = await runPen(['-f', '-o', 'workers 2', '127.0.0.1:1', '127.0.0.1:2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^pen: workers 2: needs Node\.js 22\.12 or later \(this is v[\d.]+\); workers 1 runs on this one\n$/);
});

test('workers: the number, `auto`, and no change of it while serving', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWorkers(t, [`127.0.0.1:${be.port}`], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl('workers'), '2\n');
  assert.equal(await ctl('workers', '2'), '2\n');
  assert.match(await ctl('workers', '3'), /^workers: 2 running; the number of workers changes at the next start\n$/);
  assert.equal(await exchange(pen.port), 'a\n');
});

test('with workers 2, each of 10 client addresses keeps its server over many connections', { skip: NO_WORKERS_NODE }, async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => namedBackend(n, t)));
  const pen = await startWorkers(t, backends.map((b) => `127.0.0.1:${b.port}`), { control: true });
  const seen = new Map();
  for (let round = 0; round < 8; round++) {
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const address = `127.0.0.${i + 2}`;
      const answer = await exchange(pen.port, { localAddress: address });
      if (!seen.has(address)) seen.set(address, answer);
      assert.equal(answer, seen.get(address), `${address} in round ${round}`);
    }));
  }
  assert.deepEqual([...new Set(seen.values())].sort(), ['a\n', 'b\n', 'c\n']);
  const clients = (await controlOf(pen)('clients')).trim().split('\n');
  assert.equal(clients.length, 10);
  for (const line of clients) assert.match(line, /connects 8 /);
});

test('with workers 2, -x and the servers\' limits count every worker\'s connections, and the control port sees them all', { skip: NO_WORKERS_NODE }, async (t) => {
  const [one, two] = [await echoBackend(t), await echoBackend(t)];
  const pen = await startWorkers(t, ['-x', '6', '-o', 'server 0 max 2 hard 2', '-o', 'server 1 max 3 hard 3',
    `127.0.0.1:${one.port}`, `127.0.0.1:${two.port}`], { control: true });
  const ctl = controlOf(pen);
  for (let i = 0; i < 5; i++) await hold(t, pen.port, `127.0.0.${i + 2}`); // the kernel spreads them over both workers
  const servers = JSON.parse(await ctl('json', 'servers')).servers;
  assert.deepEqual(servers.map((s) => s.conn), [2, 3]);
  // both servers are at their limit: a sixth client has nowhere to go
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.20' }), '');
  const status = await ctl('status');
  assert.match(status, /Number of connections: 6 max, 5 used/);
  const ids = [...status.matchAll(/<tr>\n<td>(\d+)<\/td>\n<td>\d+<\/td>/g)].map((m) => Number(m[1]));
  assert.equal(new Set(ids).size, ids.length, 'connection numbers are unique');
  assert.equal((await ctl('clients')).trim().split('\n').length, 6);
});

test('with workers 2, HUP re-reads -F for every worker', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await namedBackend('served', t);
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-workers-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'pen.cfg');
  fs.writeFileSync(config, 'no acl 1\n');
  const pen = await startWorkers(t, ['-F', config, `127.0.0.1:${be.port}`]);
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.5' }), 'served\n');
  fs.writeFileSync(config, 'acl 1 deny 127.0.0.5\nclient_acl 1\n');
  process.kill(pen.pid, 'SIGHUP');
  // the configuration reaches each worker by its own message: wait until a batch spread over both
  // workers is refused whole (a bound for a broken run, not a wait)
  const batch = () => Promise.all(Array.from({ length: 20 }, () => exchange(pen.port, { localAddress: '127.0.0.5' })));
  for (let deadline = Date.now() + 10000; Date.now() < deadline;) if ((await batch()).every((a) => a === '')) break;
  const answers = await batch();
  assert.deepEqual(new Set(answers), new Set(['']));
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.6' }), 'served\n');
});

test('with workers 2, the log gets every line whole, from one writer', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await namedBackend('ok', t);
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-workers-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logFile = path.join(dir, 'pen.log');
  const pen = await startWorkers(t, ['-l', logFile, `127.0.0.1:${be.port}`]);
  const requests = 200;
  await Promise.all(Array.from({ length: requests }, (_, i) =>
    exchange(pen.port, { localAddress: `127.0.${1 + (i % 4)}.${2 + (i % 50)}`, data: `GET /request-${i} HTTP/1.0\r\n\r\n` })));
  await fileCreated(logFile);
  let lines = [];
  while (lines.length < requests) {
    lines = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '');
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(lines.length, requests);
  for (const line of lines) assert.match(line, /^127\.0\.\d+\.\d+ \d+ 127\.0\.0\.1 GET \/request-\d+ HTTP\/1\.0$/);
  assert.equal(new Set(lines.map((l) => l.split(' ')[4])).size, requests);
});

test('with workers 2, a TLS session made by one worker resumes on whichever worker a client reaches', { skip: NO_WORKERS_NODE || noOpenssl }, async (t) => {
  const certs = await certificateSet(t);
  const be = await namedBackend('pong', t);
  const pen = await startWorkers(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`]);
  for (const [name, args, version] of [['by session ID', ['-tls1_2', '-no_ticket'], 'TLSv1.2'], ['by ticket', ['-tls1_3'], 'TLSv1.3']]) {
    const file = path.join(certs.dir, `session-${version}.pem`);
    assert.match(sessionLine(await sClient(pen.port, [...args, '-sess_out', file])), new RegExp(`^New, ${version}`), name);
    // new connections come from new ports: the kernel hashes them over both workers
    for (let i = 0; i < 6; i++) {
      const again = await sClient(pen.port, [...args, '-sess_in', file]);
      assert.match(again, /^pong$/m);
      assert.match(sessionLine(again), new RegExp(`^Reused, ${version}`), `${name}, connection ${i}`);
    }
  }
});

test('with workers 2, TERM stops every worker and the process', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, [`127.0.0.1:${be.port}`]);
  const open = await hold(t, pen.port, '127.0.0.2');
  const closed = once(open, 'close');
  pen.child.kill('SIGTERM');
  const [code] = await pen.child.exited;
  assert.equal(code, 0);
  await closed;
  await assert.rejects(new Promise((resolve, reject) => net.connect(pen.port, '127.0.0.1').on('connect', resolve).on('error', reject)));
});

test('with workers 2, the client table is one LRU table of -c entries', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startWorkers(t, ['-c', '3', `127.0.0.1:${be.port}`], { control: true });
  for (const last of [2, 3, 4, 2, 5]) await exchange(pen.port, { localAddress: `127.0.0.${last}` }); // 5 evicts 3, the least recent
  const clients = (await controlOf(pen)('clients')).trim().split('\n').map((l) => l.split(' ')[0]).sort();
  assert.deepEqual(clients, ['127.0.0.2', '127.0.0.4', '127.0.0.5']);
});

test('with workers 2, a server that fails is blacklisted for every worker', { skip: NO_WORKERS_NODE }, async (t) => {
  const dead = await freePort();
  const be = await namedBackend('b', t);
  const pen = await startWorkers(t, [`127.0.0.1:${dead}`, `127.0.0.1:${be.port}`], { control: true });
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => exchange(pen.port, { localAddress: `127.0.0.${i + 2}` })));
  assert.deepEqual(new Set(answers), new Set(['b\n']));
  const [down] = JSON.parse(await controlOf(pen)('json', 'servers')).servers;
  assert.equal(down.blacklisted, true);
});

test('with workers 2, USR1 reports every worker\'s connections', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, [`127.0.0.1:${be.port}`]);
  for (let i = 0; i < 6; i++) await hold(t, pen.port, `127.0.0.${i + 2}`);
  process.kill(pen.pid, 'SIGUSR1');
  const text = await stderrMatching(pen.child, /Connection \d+ status:(.|\n)*Connection \d+ status:(.|\n)*Connection \d+ status:(.|\n)*Connection \d+ status:(.|\n)*Connection \d+ status:(.|\n)*Connection \d+ status:/);
  assert.match(text, /Server 0 status: .*, 6 connections \(0 soft, 0 hard\)/);
});

test('with workers 2, UDP clients are served by every worker, each keeping its server', { skip: NO_WORKERS_NODE }, async (t) => {
  const backends = await Promise.all(['a', 'b'].map((n) => udpBackend(t, n)));
  const pen = await startWorkers(t, ['-U', 'LISTEN', ...backends.map((p) => `127.0.0.1:${p}`)]);
  const first = new Map();
  for (let round = 0; round < 3; round++) {
    for (let i = 2; i < 10; i++) {
      const reply = await ask(pen.port, `r${round}`, `127.0.0.${i}`);
      const server = reply.split(':')[0];
      if (!first.has(i)) first.set(i, server);
      assert.equal(reply, `${first.get(i)}:r${round}`);
    }
  }
});

test('with workers 2, the UDP sessions of a worker that dies no longer count against their server', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await udpBackend(t, 'a');
  const pen = await startWorkers(t, ['-U', 'LISTEN', `127.0.0.1:${be}`], { control: true });
  const ctl = controlOf(pen);
  for (let i = 2; i < 18; i++) assert.equal(await ask(pen.port, 'hi', `127.0.0.${i}`), 'a:hi'); // sessions in both workers
  const conn = async () => JSON.parse(await ctl('json', 'servers')).servers[0].conn;
  assert.equal(await conn(), 16);
  await ctl('worker', '1', 'kill');
  await stderrMatching(pen.child, /worker 1 is serving again/);
  const [, freed] = /worker 1 died \(exit code 1\) with (\d+) connections/.exec(pen.child.stderrText);
  assert.ok(Number(freed) > 0 && Number(freed) < 16, `worker 1 had ${freed} of the 16 sessions`);
  assert.equal(await conn(), 16 - Number(freed));
});

test('worker N kill ends one worker with its connections; the others keep theirs, and a new worker serves', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, [`127.0.0.1:${be.port}`], { control: true });
  const ctl = controlOf(pen);
  assert.match(await ctl('worker', '3', 'kill'), /^worker: expected a number from 1 to 2, not '3'\n$/);
  const held = [];
  for (let i = 0; i < 16; i++) held.push(await hold(t, pen.port, `127.0.0.${i + 2}`)); // hashed over both workers
  const closed = held.map((s) => new Promise((resolve) => s.once('close', () => resolve(true)))); // not once(): a reset is an 'error' first
  assert.equal(await ctl('worker', '1', 'kill'), 'Killing worker 1\n');
  await stderrMatching(pen.child, /worker 1 is serving again/);
  assert.match(pen.child.stderrText, /worker 1 died \(exit code 1\) with \d+ connections; starting a new one/);
  const gone = await Promise.all(closed.map((c) => Promise.race([c, new Promise((r) => setImmediate(r, false))])));
  const survivors = held.filter((_, i) => !gone[i]);
  assert.ok(survivors.length > 0 && survivors.length < held.length, `${survivors.length} of ${held.length} survived`);
  for (const s of survivors) {
    s.write('still here\n');
    assert.match((await once(s, 'data'))[0].toString(), /still here/);
  }
  assert.deepEqual(JSON.parse(await ctl('json', 'servers')).servers.map((s) => s.conn), [survivors.length]);
  assert.equal(await exchange(pen.port, { localAddress: '127.0.0.99', end: true }), 'hello\n');
});

/** Whether every directory down to the checkout lets other users in and read (a new worker loads its code after -u). */
const openToOthers = (() => {
  for (let dir = ROOT; ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o005) !== 0o005) return false;
    if (path.dirname(dir) === dir) return true;
  }
})();

test('with workers 2 and -u, a worker that dies is replaced and serves: it listens on a copy of a socket bound before the user changed', {
  skip: NO_WORKERS_NODE || (!IS_ROOT && 'needs root to change user') || (!openToOthers && 'the checkout is in a directory only its owner can read: user nobody could not load a new worker'),
}, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, ['-u', 'nobody', `127.0.0.1:${be.port}`], { control: true, worldWritable: true });
  assert.equal(await controlOf(pen)('worker', '1', 'kill'), 'Killing worker 1\n');
  assert.match(await stderrMatching(pen.child, /worker 1 (is serving again|: .*)\n/), /worker 1 is serving again/);
  const answers = await Promise.all(Array.from({ length: 32 }, (_, i) => exchange(pen.port, { localAddress: `127.0.0.${i + 2}`, end: true })));
  assert.deepEqual(answers, Array(32).fill('hello\n'));
});

test('with workers 2, a unix socket listener is served by every worker, also by one that replaced another', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-workers-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'pen.sock');
  const pidFile = path.join(dir, 'pen.pid');
  const control = `127.0.0.1:${await freePort()}`;
  const child = await spawnServing(t, WORKERS_NODE, [PEN, '-f', '-p', pidFile, '-C', control, ...(IS_ROOT ? ['-u', 'root'] : []),
    '-o', 'workers 2', socketPath, `127.0.0.1:${be.port}`], pidFile);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => exchange(socketPath, { data: `n${i}\n`, end: true })));
  assert.deepEqual(answers, Array.from({ length: 40 }, (_, i) => `n${i}\n`));
  await penctl(control, 'worker', '1', 'kill');
  await stderrMatching(child, /worker 1 is serving again/);
  await penctl(control, 'worker', '2', 'kill');
  await stderrMatching(child, /worker 2 is serving again/);
  assert.equal(await exchange(socketPath, { end: true }), 'hello\n');
  child.kill('SIGTERM');
  await child.exited;
  assert.equal(fs.existsSync(socketPath), false, 'the socket file is removed at the end');
});

test('with workers 2, clients beyond -x wait and are served when a connection ends in any worker', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, ['-x', '2', `127.0.0.1:${be.port}`]);
  const held = [await hold(t, pen.port, '127.0.0.2'), await hold(t, pen.port, '127.0.0.3')];
  const waiting = Array.from({ length: 6 }, (_, i) => net.connect({ port: pen.port, host: '127.0.0.1', localAddress: `127.0.1.${i + 2}` }).on('error', () => {}));
  let served = 0;
  const twoServed = new Promise((resolve) => {
    for (const w of waiting) {
      t.after(() => w.destroy());
      w.write('w');
      w.once('data', () => ++served === 2 && resolve());
    }
  });
  for (const h of held) h.destroy(); // whichever workers held them, two waiting clients get the slots
  await twoServed;
  assert.equal(served, 2);
});

for (const [name, workers, node] of [['one thread', 1, process.execPath], ['workers 2', 2, WORKERS_NODE]]) {
  test(`${name}: the status page and USR1 show the bytes waiting for a server that does not read`, { skip: workers > 1 && NO_WORKERS_NODE }, async (t) => {
    const sink = net.createServer((s) => s.pause()); // takes the connection, never reads
    await new Promise((r) => sink.listen(0, '127.0.0.1', r));
    t.after(() => sink.close());
    const pen = await startPen(t, ['-o', `workers ${workers}`, `127.0.0.1:${sink.address().port}`], { control: true, node });
    const client = net.connect(pen.port, '127.0.0.1').on('error', () => {});
    t.after(() => client.destroy());
    client.write(Buffer.alloc(64 << 20, 'x')); // more than the kernel's buffers on the way hold: pen-edge has to keep some
    const waitingUp = (page) => {
      const rows = page.split('<h2>Active connections</h2>')[1].split('<tr>').slice(2);
      return rows.map((r) => Number(r.split('<td>')[5].split('<')[0])).find((n) => n > 0);
    };
    let waiting;
    for (const deadline = Date.now() + 10000; waiting === undefined && Date.now() < deadline;) waiting = waitingUp(await controlOf(pen)('status'));
    assert.ok(waiting > 0, 'bytes waiting for the server');
    // the kernel may take all that waits at the moment of a report (its buffers grow): ask again until one shows bytes waiting
    const reported = () => [...pen.child.stderrText.matchAll(/pending data \d+ down, (\d+) up/g)].map((m) => Number(m[1]));
    for (const deadline = Date.now() + 10000; !reported().some((up) => up > 0);) {
      assert.ok(Date.now() < deadline, 'USR1 never showed bytes waiting for the server');
      const seen = reported().length;
      pen.child.kill('SIGUSR1');
      while (reported().length === seen) await once(pen.child.stderr, 'data');
    }
  });
}

test('with workers 2, a worker that dies while pen-edge drains (QUIT) is not replaced: no new clients come in', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startWorkers(t, [`127.0.0.1:${be.port}`], { control: true });
  const held = [];
  for (let i = 0; i < 16; i++) held.push(await hold(t, pen.port, `127.0.0.${i + 2}`)); // hashed over both workers
  pen.child.kill('SIGQUIT');
  await stderrMatching(pen.child, /draining: no new clients/);
  assert.equal(await controlOf(pen)('worker', '1', 'kill'), 'Killing worker 1\n');
  await stderrMatching(pen.child, /worker 1 died \(exit code 1\) with \d+ connections; not replaced while draining/);
  const refused = net.connect(pen.port, '127.0.0.1');
  assert.equal((await once(refused, 'error'))[0].code, 'ECONNREFUSED');
  for (const s of held) s.end();
  assert.deepEqual(await pen.child.exited, [0, null]);
  assert.doesNotMatch(pen.child.stderrText, /starting a new one/);
});

test('with workers 2, a worker that replaces another counts the connections open in the others once (ulimit -n)', { skip: NO_WORKERS_NODE }, async (t) => {
  const be = await echoBackend(t);
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pen-workers-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [port, ctl] = [await freePort(), await freePort()];
  const pidFile = path.join(dir, 'pen.pid');
  const args = ['-f', '-p', pidFile, '-C', `127.0.0.1:${ctl}`, ...(IS_ROOT ? ['-u', 'root'] : []), '-o', "'workers 2'", `127.0.0.1:${port}`, `127.0.0.1:${be.port}`];
  const child = await spawnServing(t, 'bash', ['-c', `ulimit -n 400 && exec "${WORKERS_NODE}" "${PEN}" ${args.join(' ')}`], pidFile);
  const room = () => [...child.stderrText.matchAll(/ulimit -n leaves descriptors for (\d+) connections/g)].map((m) => Number(m[1]));
  await stderrMatching(child, /(ulimit -n leaves[^]*){2}/); // each worker says it
  for (let i = 0; i < 80; i++) await hold(t, port, `127.0.${1 + (i >> 6)}.${(i & 63) + 2}`);
  await penctl(`127.0.0.1:${ctl}`, 'worker', '1', 'kill');
  await stderrMatching(child, /worker 1 is serving again/);
  const [first, second, replacement] = room();
  assert.ok(replacement >= Math.min(first, second) - 4, `room for ${first} and ${second} connections at the start, ${replacement} in the replacement`);
});

test('with workers 2, ssl_* set on the control port reach every worker at ssl_reload', { skip: NO_WORKERS_NODE }, async (t) => {
  const certs = await certificateSet(t);
  const be = await echoBackend(t);
  const sni = await certs.sniDirectory('a.example');
  const pen = await startWorkers(t, ['-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${be.port}`], { control: true });
  const ctl = controlOf(pen);
  assert.equal(await ctl(`ssl_sni_path ${sni}`), '');
  assert.equal(await ctl('ssl_reload'), '');
  const names = await Promise.all(Array.from({ length: 16 }, async (_, i) => { // hashed over both workers
    const s = require('node:tls').connect({ port: pen.port, host: '127.0.0.1', localAddress: `127.0.0.${i + 2}`, servername: 'a.example', ca: certs.ca.cert });
    await once(s, 'secureConnect');
    const name = s.getPeerCertificate().subject.CN;
    s.destroy();
    return name;
  }));
  assert.deepEqual(names, Array(16).fill('a.example'));
});
