'use strict';
// README's shell examples run as written. The rule (README, "Set up"): every ```sh block whose first
// line starts with `bin/` is run from a scratch directory holding links to the checkout's bin/ and
// geo/, each command as the shell reads it, in order. A `bin/pen` command must stay in the
// foreground (-f) and bind loopback addresses only; it gets HTTP backends of the test's own on its
// server addresses, and must serve a request through (HTTPS with -E, with a client certificate with
// -G), answer `penctl servers` on its -C port and end with exit 0 on TERM to its PID. Every other
// command (penctl, pen-geo) must exit 0.
// The test supplies what an example takes from its surroundings: the certificate files -E, -K and
// -G name; a redis-server for `client_store redis://…`; a Node 22.12 or later first on PATH for
// `workers`. As root it adds `-u root` where -C comes without -u, as test/support/harness.js does
// (as root pen opens no control port without -u). An example is skipped, with the reason, where a
// tool is missing or a port it binds is taken by another program.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const https = require('node:https');
const { spawn, spawnSync, execFile, execFileSync } = require('node:child_process');
const { once } = require('node:events');
const { ROOT, IS_ROOT, WORKERS_NODE, NO_WORKERS_NODE, waitForPort, penctl } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { parseCommandLine } = require('../../dist/cli/options.js');

const NO_REDIS = spawnSync('redis-server', ['--version']).error ? 'redis-server not found: apt-get install -y redis-server' : false;

/** README's ```sh blocks: the heading each is under and its commands (continued lines joined). */
function shellBlocks() {
  const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const found = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('#')) heading = lines[i].replace(/^#+ /, '');
    if (lines[i] !== '```sh') continue;
    const end = lines.indexOf('```', i + 1);
    const commands = lines.slice(i + 1, end).join('\n').split(/(?<!\\)\n/).filter((command) => command.trim() !== '');
    found.push({ heading, commands });
    i = end;
  }
  return found;
}

/** A command's words as sh reads them (quotes, continued lines). */
function shellWords(command) {
  return execFileSync('sh', ['-c', `printf '%s\\0' ${command}`], { encoding: 'utf8' }).split('\0').slice(0, -1);
}

/** host:port of a loopback address or server spec (`127.0.0.1:8003:100:200`); anything else fails. */
function loopback(address, what) {
  const match = /^(127(?:\.\d{1,3}){3}):(\d+)(?::|$)/.exec(address ?? '');
  assert.ok(match, `${what} ${address ?? '(none)'}: README examples bind loopback addresses only (127.0.0.1:PORT)`);
  return { host: match[1], port: Number(match[2]) };
}

/** What a `bin/pen` command line asks for, read by pen-edge's own parser. */
function penOf(words) {
  const { settings, servers, commands } = parseCommandLine(words.slice(1));
  assert.ok(settings.foreground, `${words.join(' ')}: without -f pen detaches; README examples run in the foreground`);
  const redis = commands.map((c) => /^client_store (redis:\/\/[^/\s]+)/.exec(c)?.[1]).find(Boolean);
  return {
    words,
    settings,
    listen: loopback(settings.listen, 'listen address'),
    control: settings.control === undefined ? undefined : loopback(settings.control, '-C'),
    backends: servers.map((spec) => loopback(spec, 'server')),
    redis: redis && loopback(redis.slice('redis://'.length), 'client_store'),
    workers: commands.some((c) => /^workers /.test(c)),
  };
}

/** Resolves with false when something already listens on host:port. */
function portFree({ host, port }) {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/**
 * Resolves once address can be bound again: a pen stopped soon after it starts leaves its listening
 * socket to its descriptor helper (README, Architecture) for a moment after it exits.
 */
async function released(address, deadline = Date.now() + 10000) {
  while (!(await portFree(address))) {
    if (Date.now() > deadline) throw new Error(`${address.host}:${address.port} still bound after pen exited`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** An HTTP backend on address that answers with its address and the X-Forwarded-For it got. */
async function httpBackend(t, { host, port }) {
  const server = http.createServer((req, res) => {
    res.end(`backend ${host}:${port}\nx-forwarded-for: ${req.headers['x-forwarded-for'] ?? 'none'}\n`);
  });
  server.listen(port, host);
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
}

/** A child process, stopped with TERM by its PID after the test if it still runs. */
function child(t, command, args, options) {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  proc.stdout.resume();
  proc.stderrText = '';
  proc.stderr.on('data', (d) => { proc.stderrText += d; });
  proc.exited = once(proc, 'exit');
  t.after(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(proc.pid, 'SIGTERM');
    await proc.exited;
  });
  return proc;
}

/** Resolves once address accepts connections; fails with proc's stderr if proc exits first. */
async function serving(proc, { host, port }, name) {
  const died = proc.exited.then(([code]) => { throw new Error(`${name} exited (${code}): ${proc.stderrText}`); });
  await Promise.race([waitForPort(port, host), died]);
}

async function startRedis(t, address) {
  const redis = child(t, 'redis-server', ['--port', String(address.port), '--bind', address.host, '--save', '', '--appendonly', 'no']);
  await serving(redis, address, 'redis-server');
}

/** The certificate files the pens name, in dir: a server chain and key, the CA of client certificates. */
async function writeCertificates(t, pens, dir) {
  if (pens.every((pen) => pen.settings.tls.certFile === undefined)) return undefined;
  const certs = await certificateSet(t);
  for (const { settings: { tls } } of pens) {
    if (tls.certFile === undefined) continue;
    fs.writeFileSync(path.join(dir, tls.certFile), tls.keyFile === undefined ? `${certs.server.cert}${certs.server.private}` : certs.server.cert);
    if (tls.keyFile !== undefined) fs.writeFileSync(path.join(dir, tls.keyFile), certs.server.private);
    if (tls.caFile !== undefined) fs.writeFileSync(path.join(dir, tls.caFile), certs.ca.cert);
  }
  return certs;
}

/** Runs a command that ends (penctl, pen-geo) and resolves with { code, stdout, stderr }. */
function runToEnd(words, options) {
  return new Promise((resolve) => {
    execFile(path.join(options.cwd, words[0]), words.slice(1), { timeout: 10000, ...options }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** GET / through a pen, over TLS when it has -E (with the client certificate when it asks for one). */
function get(pen, certs) {
  const { host, port } = pen.listen;
  const tls = pen.settings.tls.certFile !== undefined;
  const options = { host, port, path: '/', agent: false, headers: { connection: 'close' } };
  if (tls) Object.assign(options, { ca: certs.ca.cert }, pen.settings.tls.caFile === undefined ? {} : { cert: certs.client.cert, key: certs.client.private });
  return new Promise((resolve, reject) => {
    (tls ? https : http).get(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

/** The request through pen reached one of its backends (with X-Forwarded-For under -H). */
async function assertServes(pen, certs) {
  const { status, body } = await get(pen, certs);
  assert.equal(status, 200, body);
  const [, port] = /^backend 127\.0\.0\.1:(\d+)\n/.exec(body) ?? [];
  assert.ok(pen.backends.some((b) => b.port === Number(port)), `answered by none of the example's servers: ${body}`);
  if (pen.settings.http) assert.match(body, /\nx-forwarded-for: 127\.0\.0\.1\n/);
}

async function assertControl(pen) {
  const { code, stdout } = await penctl(`${pen.control.host}:${pen.control.port}`, 'servers');
  assert.equal(code, 0);
  for (const { host, port } of pen.backends) assert.match(stdout, new RegExp(`addr ${host.replace(/\./g, '\\.')} port ${port} `));
}

/** Why an example cannot run here, or false. */
async function missing(pens) {
  if (pens.some((pen) => pen.workers) && !WORKERS_NODE) return NO_WORKERS_NODE;
  if (pens.some((pen) => pen.redis) && NO_REDIS) return NO_REDIS;
  for (const pen of pens) {
    for (const address of [pen.listen, pen.control, pen.redis, ...pen.backends].filter(Boolean)) {
      if (!(await portFree(address))) return `${address.host}:${address.port} is taken by another program`;
    }
  }
  return false;
}

/** A scratch directory holding links to the checkout's bin/ and geo/, the examples' working directory. */
function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-readme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const name of ['bin', 'geo']) fs.symlinkSync(path.join(ROOT, name), path.join(dir, name));
  return dir;
}

const BLOCKS = shellBlocks();
const EXAMPLES = BLOCKS.filter(({ commands }) => commands[0].startsWith('bin/'));

test("README's examples are the sh blocks that start with bin/, and every block that runs bin/ does", () => {
  assert.ok(EXAMPLES.length >= 5, `${EXAMPLES.length} examples found`);
  assert.deepEqual(BLOCKS.filter(({ commands }) => commands.some((c) => c.includes('bin/'))), EXAMPLES);
});

for (const { heading, commands } of EXAMPLES) {
  test(`README, ${heading}: ${commands[0].split('\n')[0]}`, { timeout: 20000 }, async (t) => {
    const steps = commands.map(shellWords).map((words) => ({ words, pen: words[0] === 'bin/pen' ? penOf(words) : undefined }));
    const pens = steps.filter((step) => step.pen).map((step) => step.pen);
    const reason = await missing(pens);
    if (reason) return t.skip(reason);
    const cwd = scratch(t);
    const env = pens.some((pen) => pen.workers) ? { ...process.env, PATH: `${path.dirname(WORKERS_NODE)}:${process.env.PATH}` } : process.env;
    const certs = await writeCertificates(t, pens, cwd);
    for (const pen of pens) {
      if (pen.redis) await startRedis(t, pen.redis);
      for (const backend of pen.backends) await httpBackend(t, backend);
    }
    for (const { words, pen } of steps) {
      if (pen) {
        const asRoot = IS_ROOT && pen.control && pen.settings.user === undefined ? ['-u', 'root'] : [];
        pen.proc = child(t, path.join(cwd, words[0]), [...asRoot, ...words.slice(1)], { cwd, env });
        await serving(pen.proc, pen.listen, words.join(' '));
      } else {
        const run = await runToEnd(words, { cwd, env });
        assert.equal(run.code, 0, `${words.join(' ')}: ${run.stderr}`);
        assert.notEqual(run.stdout, '', words.join(' '));
      }
    }
    for (const pen of pens) {
      await assertServes(pen, certs);
      if (pen.control) await assertControl(pen);
      process.kill(pen.proc.pid, 'SIGTERM');
      const [code] = await pen.proc.exited;
      assert.equal(code, 0, pen.proc.stderrText);
      await released(pen.listen);
    }
  });
}
