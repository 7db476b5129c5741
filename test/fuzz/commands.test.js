'use strict';
// Property-based tests of penctl command lines against a real balancer: any line gives a reply
// or a one-line ConfigError, and a line that fails changes nothing (the `write` text and the
// settings are the same before and after it).
const test = require('node:test');
const assert = require('node:assert/strict');
const dns = require('node:dns/promises');
const { isIP } = require('node:net');
const { Balancer } = require('../../dist/balancer/balancer');
const { defaultSettings } = require('../../dist/config/settings');
const { runCommand, runScript } = require('../../dist/config/commands');
const { configText } = require('../../dist/config/write-config');
const { ConfigError } = require('../../dist/errors');
const { fc, fixtures, options, assertOneLineError, ipv4Bytes, ipv4Text, ipv6Bytes, ipv6Text, ipv6Style } = require('./fuzz');

// `server N address NAME` looks names up: here every name is unknown, as on a machine without
// DNS, so that no query leaves the machine and the answer does not depend on the network.
dns.lookup = async (host) => {
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

const stored = fixtures('commands');

/** Files that `include` and `server N ca` can read; any other name cannot be read. */
const FILES = {
  'good.pen': 'acl 1 permit 10.0.0.1\nblacklist 5\nserver 3 address 127.0.0.3 port 81',
  'bad.pen': 'acl 2 permit 10.0.0.2\nclients_max 7\nno_such_command',
  'ca.pem': '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n',
};

/** What the running process does, as harmless stubs; checkScript works on a copy, as pen's does. */
function effects() {
  const e = {
    pid: () => 4242,
    listen: (address) => (address.includes('busy') ? Promise.reject(new ConfigError(`listen ${address}: EADDRINUSE`)) : undefined),
    openLog() {},
    statusPage: () => '<html></html>\n',
    connectionReport: (id) => (id === 0 ? 'connection 0 idle\n' : undefined),
    closeConnection() {},
    socketOwner: () => -1,
    exit() {},
    readFile(path) {
      if (!(path in FILES)) throw new ConfigError(`${path}: cannot read (ENOENT)`);
      return FILES[path];
    },
    writeFile() {},
    reloadTls: () => undefined,
    openGeoDb(path) { throw new ConfigError(`geo_db ${path}: cannot read (ENOENT)`); },
    settingsChanged() {},
    workersRunning: () => undefined,
    killWorker() {},
    useClientStore() {},
    acmeChanged() {},
    acmeReport() {},
    renewAcme() {},
    web: (address) => (address?.includes('busy') ? Promise.reject(new ConfigError(`web ${address}: EADDRINUSE`)) : undefined),
    checkScript: (text, source) => runScript(context(structuredClone(e.owner.settings), e.owner.balancer.configuration()), text, source),
  };
  return e;
}

/** A fresh balancer with default settings (and, to copy, another one's tables). */
function context(settings = defaultSettings(), configuration) {
  const balancer = new Balancer(settings, Balancer.memory(settings), 0);
  if (configuration) balancer.configure(structuredClone(configuration));
  const ctx = { settings, balancer, effects: effects(), now: 1000 };
  ctx.effects.owner = ctx;
  return ctx;
}

const COMMANDS = [
  'abort_on_error', 'acl', 'ascii', 'blacklist', 'client_acl', 'clients_max', 'client_store', 'close', 'connection',
  'conn_max', 'control', 'control_acl', 'debug', 'dsr_if', 'dummy', 'exit', 'clients', 'forwarded', 'geo', 'geo_db',
  'geo_map', 'geo_routing', 'hash', 'http', 'health_interval', 'http_header_max', 'http_head_timeout', 'idle_timeout',
  'idlers', 'include', 'keepalive', 'listen', 'log', 'mode', 'no', 'pending_max', 'pid', 'prio', 'proxy_protocol',
  'recent', 'roundrobin', 'server', 'servers', 'socket', 'source', 'ssl_auto', 'ssl_certificate', 'ssl_reload',
  'ssl_ciphers', 'ssl_client_renegotiation_interval', 'ssl_ocsp_response', 'ssl_option', 'ssl_sni_path', 'status',
  'stubborn', 'tarpit_acl', 'tcp_fastclose', 'tcp_nodelay', 'timeout', 'tracking', 'transparent', 'web_stats',
  'weight', 'trusted_proxies', 'xforwarded', 'worker', 'workers', 'write', 'json', 'bogus', '#', 'acme', 'ssl_acme',
  'ssl_acme_ca', 'ssl_acme_key', 'ssl_acme_dir', 'drain_timeout', 'log_format', 'web', 'web_acl',
];
const KEYWORDS = [
  'permit', 'deny', 'country', 'continent', 'address', 'port', 'max', 'hard', 'weight', 'prio', 'blacklist', 'tls',
  'no_tls', 'servername', 'ca', 'check', 'http', 'tcp', 'off', 'on', 'expect', 'geo', 'proxy_protocol', 'acl', 'kill',
  'auto', 'local', 'redis://127.0.0.1:6379/2', 'redis://x', 'rfc7239', 'append', 'replace', 'pen', 'up', 'down', 'both',
  'no_tlsv1', 'prefer_client_ciphers', 'good.pen', 'bad.pen', 'ca.pem', 'busy:80', '127.0.0.1:8080', '/health',
  'DE', 'eu', '@EU', 'US,@NA', 'localhost', 'no.such.name', '255.255.255.0', '10.0.0.0/8', '2001:db8::/32', '::1/129',
  'https://127.0.0.1:14000/dir', 'ops@example.test', 'a.test,b.test', 'ecdsa', 'rsa2048', 'renew', 'json',
];

const number = fc.oneof(fc.integer({ min: -2, max: 20 }), fc.integer({ min: -1, max: 2 ** 21 }), fc.constantFrom(2 ** 53, 1e21)).map(String);
const argument = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 4, arbitrary: number },
  { weight: 2, arbitrary: ipv4Bytes.map(ipv4Text) },
  { weight: 1, arbitrary: fc.tuple(ipv6Bytes, ipv6Style).map(([b, s]) => ipv6Text(b, s)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 8 }).map((s) => s.replace(/[ \r\n]/g, '')) },
);
/** A command line: a name, arguments, the odd extra space, sometimes `no`/`json` first or a second line after CR/LF. */
const anyLine = fc.tuple(
  fc.constantFrom('', '', '', 'no ', 'json ', ' '),
  fc.constantFrom(...COMMANDS),
  fc.array(argument, { maxLength: 7 }),
  fc.constantFrom(' ', ' ', ' ', '  ', '\t'),
  fc.constantFrom('', '', '', '\n', '\r\nexit', '\rjunk'),
).map(([prefix, name, args, sep, after]) => `${prefix}${[name, ...args].join(sep)}${after}`);

// Lines of the commands with the most grammar, mostly well formed, so that many succeed and
// change tables (a failing line after them then has something to leave alone).
const serverField = fc.oneof(
  fc.tuple(fc.constantFrom('max', 'hard', 'weight', 'prio', 'blacklist', 'acl', 'port'), number).map((w) => w.join(' ')),
  fc.tuple(fc.constant('address'), fc.oneof(ipv4Bytes.map(ipv4Text), argument)).map((w) => w.join(' ')),
  fc.constantFrom('tls', 'no_tls', 'servername a.example', 'ca ca.pem', 'ca nope.pem', 'geo DE,@eu', 'geo D',
    'proxy_protocol 2', 'proxy_protocol 3', 'check tcp', 'check off', 'check http /up expect 204', 'check http up', 'check'),
);
const serverLine = fc.tuple(fc.integer({ min: -1, max: 300 }), fc.array(serverField, { maxLength: 5 }))
  .map(([n, fields]) => ['server', n, ...fields].join(' '));
const aclLine = fc.tuple(fc.integer({ min: -1, max: 10 }), fc.constantFrom('permit', 'deny', 'allow'), argument, fc.option(argument))
  .map(([n, verdict, what, mask]) => ['acl', n, verdict, what, ...(mask === null ? [] : [mask])].join(' '));
const geoMapLine = fc.tuple(argument, fc.constantFrom('DE', 'us', 'XYZ'), fc.constantFrom('', ' EU', ' E'))
  .map(([cidr, country, continent]) => `geo_map ${cidr} ${country}${continent}`);

/** Is this word one that `server N address` looks up (not an IP literal, not a socket path)? */
const isName = (word) => !isIP(word) && !word.includes('/');

/**
 * A name after `address` is kept only at the end of a line: a field after it that fails leaves
 * the lookup's rejection unhandled (the todo test below), which the other properties avoid.
 */
function avoidStrayLookup(text) {
  const words = text.split(/[ \t]/);
  return words.map((w, i) => (words[i - 1] === 'address' && isName(w) && i < words.length - 1 ? '127.0.0.9' : w)).join(' ');
}
const line = fc.oneof({ weight: 3, arbitrary: anyLine }, serverLine, aclLine, geoMapLine).map(avoidStrayLookup);
const lines = fc.array(line, { minLength: 1, maxLength: 6 });

/** Runs one line: the reply text, or the ConfigError it failed with (anything else is rethrown). */
async function run(ctx, text) {
  try {
    const reply = await runCommand(ctx, text);
    assert.equal(typeof reply, 'string');
    return { reply };
  } catch (err) {
    assertOneLineError(err);
    return { error: err.message };
  }
}

/** What a failing command must not change: the settings and the `write` text (less its date line). */
const snapshot = (ctx) => [JSON.stringify(ctx.settings), ...configText(ctx.settings, ctx.balancer, 'pen.cfg').split('\n').slice(1)];

const replyTitle = 'any command line gives a reply or a one-line ConfigError; json lines reply one line of JSON';
test(replyTitle, async () => {
  await fc.assert(fc.asyncProperty(lines, async (texts) => {
    const ctx = context();
    for (const text of texts) {
      const { reply } = await run(ctx, text);
      if (reply !== undefined && /^json /.test(text)) {
        assert.match(reply, /^[^\n]*\n$/);
        JSON.parse(reply);
      }
    }
  }), options(stored, replyTitle));
});

const unchangedTitle = 'a failing command changes nothing';
test(unchangedTitle, async () => {
  await fc.assert(fc.asyncProperty(lines, async (texts) => {
    const ctx = context();
    for (const text of texts) {
      const before = snapshot(ctx);
      const { error } = await run(ctx, text);
      if (error !== undefined) assert.deepEqual(snapshot(ctx), before, `${JSON.stringify(text)} failed (${error}) and changed the configuration`);
    }
  }), options(stored, unchangedTitle));
});

const includeTitle = 'include runs a good file whole and a bad one not at all';
test(includeTitle, async () => {
  const ctx = context();
  const before = snapshot(ctx);
  assert.match((await run(ctx, 'include bad.pen')).error, /^bad\.pen:3: unknown command 'no_such_command'$/);
  assert.deepEqual(snapshot(ctx), before);
  assert.deepEqual(await run(ctx, 'include good.pen'), { reply: '5\n' }); // its commands' replies: blacklist's
  assert.equal(ctx.settings.blacklistTime, 5);
  assert.equal(ctx.balancer.acls.commands().includes('acl 1 permit 10.0.0.1 255.255.255.255'), true);
});

const strayTitle = 'a server line that fails after `address NAME` leaves no lookup behind';
test(strayTitle, async () => {
  const unhandled = [];
  const record = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', record);
  const input = fc.tuple(fc.constantFrom('no.such.name', '_bad', 'good.pen'), fc.constantFrom('port 0', 'max x', 'check', 'bogus 1', 'acl 10'));
  try {
    await fc.assert(fc.asyncProperty(input, async ([name, field]) => {
      unhandled.length = 0;
      await run(context(), `server 0 address ${name} ${field}`);
      await new Promise((resolve) => setImmediate(resolve)); // rejections are reported after the microtasks
      assert.deepEqual(unhandled.map(String), []);
    }), options(stored, strayTitle));
  } finally {
    process.off('unhandledRejection', record);
  }
});
