// pen's command language (penctl format): one table, one parser, one executor for every source:
// -o/-O, the -F file, `include`, HUP and the control port. A failing command changes nothing, and
// a file is checked whole (on a copy of the configuration) before any of it applies.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Balancer } from '../balancer/balancer';
import { checkStoreUrl } from '../balancer/client-store';
import { CLIENTS_LIMIT } from '../balancer/client-table';
import { CONNECTIONS_LIMIT } from '../balancer/connection-table';
import { SERVER_MAX } from '../balancer/scoreboard';
import { reportedPort, type Server } from '../balancer/server-table';
import type { HealthCheck } from '../health/checker';
import { ConfigError, SystemError, messageOf } from '../errors';
import { loadKeyPair } from '../listeners/tls-options';
import { lookupHost, parsePort } from './address';
import { TIMER_SECONDS_MAX, WORKERS_MAX, type FastClose, type ForwardedMode, type Settings } from './settings';
import { configText } from './write-config';
import { acmeCommands, noAcmeCommands } from './acme-commands';
import type { AcmeDomainState } from '../acme/manager';

/** What commands can do beyond changing settings and tables: wired by the running process. */
export interface Effects {
  pid(): number;
  /** moves the listener (resolved once it listens there, rejected and nothing changed if it cannot); undefined before serving */
  listen(address: string): Promise<void> | undefined;
  openLog(file: string | undefined): void;
  statusPage(): Promise<string>;
  connectionReport(id: number): string | undefined;
  closeConnection(id: number): void;
  socketOwner(fd: number): number;
  exit(): void;
  readFile(path: string): string;
  writeFile(path: string, text: string): void;
  /** re-read certificates, keys, CA files; returns an error message and changes nothing on failure */
  reloadTls(): string | undefined;
  /** opens a MaxMind database for geo lookups; throws a ConfigError and changes nothing on failure */
  openGeoDb(path: string): void;
  /** tables that keep a copy of a setting (sizes, times, debug level) take the new value */
  settingsChanged(): void;
  /** how many workers serve now; undefined before the start (until then the number may change) */
  workersRunning(): number | undefined;
  /** ends worker thread n at once, as kill -9 ends a process; the pool starts another */
  killWorker(n: number): void;
  /** shares the client table through Redis at url from now on (undefined: keep it local) */
  useClientStore(url: string | undefined): void;
  /** runs a script on a copy of the configuration: rejects with its first error, changes nothing */
  checkScript(text: string, source: string): Promise<void>;
  /** ssl_acme changed: a running balancer asks for the new certificate; throws a ConfigError when its listener cannot serve one */
  acmeChanged(): void;
  /** each ACME domain's state; undefined without ssl_acme or before serving */
  acmeReport(): AcmeDomainState[] | undefined;
  /** asks the ACME server for a new certificate now */
  renewAcme(): void;
  /**
   * serves /metrics, /status.json and the dashboard at address (resolved once it listens there,
   * rejected and nothing changed if it cannot; undefined when nothing is to wait for), or nowhere (undefined)
   */
  web(address: string | undefined): Promise<void> | undefined;
}

export interface CommandContext {
  settings: Settings;
  balancer: Balancer;
  effects: Effects;
  /** seconds, for `recent` and `server N blacklist` */
  now: number;
  /** an unknown command is an error (in -o, files and include), not pen's "ignoring" reply */
  strict?: boolean;
  /** how many `include`s deep the command runs */
  includeDepth?: number;
}

/** A command's reply; a promise for a command whose work (a name lookup, a bind) ends later. */
export type Reply = string | Promise<string>;

export interface Command {
  /** argument grammar, for documentation and errors */
  usage: string;
  run(ctx: CommandContext, args: string[]): Reply;
  /** the reply as data, for `json COMMAND` (default: `{ "reply": text }`) */
  json?(ctx: CommandContext, args: string[]): unknown;
}


function integer(text: string | undefined, what: string, min = 0, max = Infinity): number {
  const n = Number(text);
  if (text === undefined || !/^-?\d+$/.test(text) || n < min || n > max) {
    const range = max < Infinity ? ` from ${min} to ${max}` : min === 0 ? '' : ` >= ${min}`;
    throw new ConfigError(`${what}: expected a number${range}, not '${text ?? ''}'`);
  }
  return n;
}

/** A numeric setting: with an argument sets it, always replies with the value. */
function numberSetting(name: string, key: keyof Settings, min = 0, max = Infinity, after?: (ctx: CommandContext) => void): Command {
  return {
    usage: '[N]',
    run(ctx, [value]) {
      if (value !== undefined) {
        (ctx.settings[key] as number) = integer(value, name, min, max);
        after?.(ctx);
      }
      return `${ctx.settings[key] as number}\n`;
    },
    json(ctx, args) {
      this.run(ctx, args);
      return { [name]: ctx.settings[key] };
    },
  };
}

/** A setting that is one of a few words: with an argument sets it, always replies with the value. */
function choice(name: string, words: string[], get: (s: Settings) => string, set: (s: Settings, word: string) => void): Command {
  const expected = `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
  return {
    usage: words.join('|'),
    run(ctx, [word]) {
      if (word !== undefined) {
        if (!words.includes(word)) throw new ConfigError(`${name}: expected ${expected}, not '${word}'`);
        set(ctx.settings, word);
      }
      return `${get(ctx.settings)}\n`;
    },
  };
}

/** A flag: `name` turns it on, `no name` (see noCommands) turns it off. */
function flag(key: keyof Settings): Command {
  return { usage: '', run(ctx) { (ctx.settings[key] as boolean) = true; return ''; } };
}

type AclSettingKey = 'proxyProtocolAcl' | 'trustedProxiesAcl' | 'webAcl';

/** A setting that names an ACL list: `off` until given; `no NAME` (aclSettingOff) turns it off. */
function aclSetting(name: string, key: AclSettingKey): Command {
  return {
    usage: 'N',
    run(ctx, [n]) {
      if (n !== undefined) ctx.settings[key] = integer(n, name, 0, 9);
      return `${ctx.settings[key] ?? 'off'}\n`;
    },
  };
}

function aclSettingOff(key: AclSettingKey): Command {
  return { usage: '', run(ctx) { ctx.settings[key] = undefined; return ''; } };
}

/** `include`s within `include`s: a file that includes itself stops here. */
const INCLUDE_DEPTH_MAX = 16;

/** Accepted and ignored, as pen accepts them (obsolete event mechanisms and friends). */
const accepted: Command = { usage: '', run: () => '' };

const aclNumber = (text: string | undefined) => integer(text, 'acl number', 0, 9);

const settingsChanged = (ctx: CommandContext) => ctx.effects.settingsChanged();

/** Whose cipher order counts: the server's (the default) or the client's. */
const CIPHER_ORDER = ['cipher_server_preference', 'prefer_client_ciphers'];
const SSL_OPTIONS = ['no_sslv2', 'no_sslv3', 'no_tlsv1', 'no_tlsv1.1', 'no_tlsv1.2', ...CIPHER_ORDER];

const FAST_CLOSE = ['up', 'down', 'both', 'off'];

const commands: Record<string, Command> = {
  ...acmeCommands,
  abort_on_error: flag('abortOnError'),
  acl: {
    usage: 'N permit|deny ADDR [MASK] | ADDR6[/LEN] | country CC | continent CC',
    run(ctx, [n, verdict, ...rest]) {
      if (verdict === undefined) throw new ConfigError('acl: usage: acl N permit|deny ADDRESS [MASK]');
      ctx.balancer.acls.add(aclNumber(n), verdict, rest);
      return '';
    },
  },
  ascii: flag('ascii'),
  blacklist: numberSetting('blacklist', 'blacklistTime', 0, Infinity, settingsChanged),
  client_acl: numberSetting('client_acl', 'clientAcl', 0, 9),
  clients_max: numberSetting('clients_max', 'clientsMax', 1, CLIENTS_LIMIT, settingsChanged),
  client_store: {
    usage: 'local | redis://HOST:PORT[/DB]',
    run(ctx, [where]) {
      if (where !== undefined) {
        const url = where === 'local' ? undefined : checkStoreUrl(where);
        ctx.effects.useClientStore(url);
        ctx.settings.clientStore = url;
      }
      return `${ctx.settings.clientStore ?? 'local'}\n`;
    },
  },
  close: {
    usage: 'N',
    run(ctx, [n]) {
      const id = integer(n ?? '0', 'close', -Infinity);
      if (id < 0 || id >= ctx.settings.connMax) return `Connection ${id} out of range\n`;
      ctx.effects.closeConnection(id);
      return `Forcibly closing connection ${id}\n`;
    },
  },
  connection: {
    usage: 'N',
    run(ctx, [n]) {
      const id = integer(n ?? '0', 'connection', -Infinity);
      return ctx.effects.connectionReport(id) ?? `Connection ${id} out of range\n`;
    },
  },
  conn_max: numberSetting('conn_max', 'connMax', 1, CONNECTIONS_LIMIT, settingsChanged),
  control: { usage: '', run: (ctx) => `${ctx.settings.control ?? '(null)'}\n` },
  control_acl: numberSetting('control_acl', 'controlAcl', 0, 9),
  debug: numberSetting('debug', 'debug', 0, Infinity, settingsChanged),
  dsr_if: accepted,
  dsr_ip: accepted,
  drain_timeout: numberSetting('drain_timeout', 'drainTimeout', 0, 86400),
  dummy: flag('dummy'),
  epoll: accepted,
  exit: {
    usage: '',
    run(ctx) {
      if (!ctx.settings.exitEnabled) return 'Exit is not enabled; restart with -X flag\n';
      ctx.effects.exit();
      return '';
    },
  },
  clients: {
    usage: '',
    run: (ctx) => ctx.balancer.clients.list()
      .map((c) => `${c.address} country ${c.country ?? '-'} continent ${c.continent ?? '-'} server ${c.server} connects ${c.connects} sx ${c.csx} rx ${c.crx}\n`).join(''),
    json: (ctx) => ({
      clients: ctx.balancer.clients.list().map((c) => ({
        address: c.address, country: c.country ?? null, continent: c.continent ?? null, server: c.server, connects: c.connects, sx: c.csx, rx: c.crx,
      })),
    }),
  },
  forwarded: choice('forwarded', ['rfc7239', 'off'], (s) => (s.forwardedRfc7239 ? 'rfc7239' : 'off'), (s, v) => (s.forwardedRfc7239 = v === 'rfc7239')),
  geo: {
    usage: '',
    run(ctx) {
      const { database } = ctx.balancer.geo;
      const head = database
        ? `database ${database.path} type ${database.type} built ${database.buildEpoch.toISOString()} nodes ${database.nodeCount}\n`
        : 'database none\n';
      return head + Object.entries(connectsByCountry(ctx)).map(([cc, n]) => `${cc} connects ${n}\n`).join('');
    },
    json(ctx) {
      const { database } = ctx.balancer.geo;
      return {
        database: database ? { path: database.path, type: database.type, built: database.buildEpoch.toISOString(), nodes: database.nodeCount } : null,
        connects: connectsByCountry(ctx),
      };
    },
  },
  geo_db: {
    usage: 'FILE',
    run(ctx, [file]) {
      if (file === undefined) return `${ctx.settings.geoDb ?? ''}\n`;
      ctx.effects.openGeoDb(file);
      ctx.settings.geoDb = file;
      return '';
    },
  },
  geo_map: {
    usage: 'CIDR COUNTRY [CONTINENT]',
    run(ctx, [cidr, country, continent]) {
      if (cidr === undefined || country === undefined) throw new ConfigError('geo_map: expected CIDR COUNTRY [CONTINENT]');
      ctx.balancer.geo.addMapping(cidr, country, continent);
      return '';
    },
  },
  geo_routing: choice('geo_routing', ['on', 'off'], (s) => (s.geoRouting ? 'on' : 'off'), (s, v) => (s.geoRouting = v === 'on')),
  hash: flag('hash'),
  http: flag('http'),
  health_interval: numberSetting('health_interval', 'healthInterval', 1, 86400),
  http_header_max: numberSetting('http_header_max', 'httpHeadMax', 1024, 1 << 20),
  http2: choice('http2', ['on', 'off'], (s) => (s.http2 ? 'on' : 'off'), (s, v) => (s.http2 = v === 'on')),
  http2_max_streams: numberSetting('http2_max_streams', 'http2MaxStreams', 1, 1 << 16),
  http2_pipeline: numberSetting('http2_pipeline', 'http2Pipeline', 1, 1024),
  http_head_timeout: numberSetting('http_head_timeout', 'httpHeadTimeout', 1, 3600),
  http_answer_timeout: numberSetting('http_answer_timeout', 'httpAnswerTimeout', 1, 3600),
  idle_timeout: {
    usage: '[N]',
    run(ctx, [n]) {
      if (n !== undefined) ctx.settings.idleTimeout = integer(n, 'idle_timeout', 0, TIMER_SECONDS_MAX);
      return `Idle timeout: ${ctx.settings.idleTimeout} seconds\n`;
    },
  },
  idlers: {
    usage: '[N]',
    run(ctx, [n]) {
      if (n !== undefined) ctx.settings.idlers = integer(n, 'idlers');
      return `Idlers: 0/${ctx.settings.idlers}\n`;
    },
  },
  include: {
    usage: 'FILE',
    run(ctx, [file]) {
      if (file === undefined) throw new ConfigError('Usage: include filename');
      const includeDepth = (ctx.includeDepth ?? 0) + 1;
      if (includeDepth > INCLUDE_DEPTH_MAX) throw new ConfigError(`include ${file}: more than ${INCLUDE_DEPTH_MAX} files deep (does a file include itself?)`);
      return runFile({ ...ctx, includeDepth }, file);
    },
  },
  keepalive: flag('keepalive'),
  kqueue: accepted,
  listen: {
    usage: '[[HOST:]PORT | /path]',
    run(ctx, [address]) {
      if (address === undefined) return `${ctx.settings.listen ?? ''}\n`;
      const listened = () => {
        ctx.settings.listen = address;
        return `${address}\n`;
      };
      const moving = ctx.effects.listen(address);
      return moving ? moving.then(listened) : listened();
    },
  },
  log: {
    usage: '[FILE | HOST:PORT]',
    run(ctx, [file]) {
      if (file !== undefined) {
        ctx.effects.openLog(file);
        ctx.settings.logFile = file;
      }
      return ctx.settings.logFile === undefined ? '' : `${ctx.settings.logFile}\n`;
    },
  },
  log_format: choice('log_format', ['pen', 'json'], (s) => s.logFormat, (s, v) => (s.logFormat = v as Settings['logFormat'])),
  mode: {
    usage: '',
    run({ settings: s }) {
      const on = (b: boolean, name: string) => `${b ? '' : 'no '}${name}`;
      return `${on(s.hash, 'hash')} ${on(s.roundrobin, 'roundrobin')} ${on(s.stubborn, 'stubborn')} ${on(s.weight, 'weight')} ${on(s.prio, 'prio')}\n`;
    },
    json: ({ settings: s }) => ({ hash: s.hash, roundrobin: s.roundrobin, stubborn: s.stubborn, weight: s.weight, prio: s.prio }),
  },
  no: {
    usage: 'COMMAND',
    run(ctx, [name, ...rest]) {
      if (name === undefined) return '';
      const command = noCommands[name];
      if (!command) throw new ConfigError(`no: unknown setting '${name}'`);
      return command.run(ctx, rest);
    },
  },
  peek: accepted,
  pending_max: {
    usage: 'N',
    run(ctx, [n]) {
      ctx.settings.pendingMax = Math.max(1, integer(n, 'pending_max', -Infinity));
      return '';
    },
  },
  pid: { usage: '', run: (ctx) => `${ctx.effects.pid()}\n` },
  poll: accepted,
  prio: flag('prio'),
  proxy_protocol: aclSetting('proxy_protocol', 'proxyProtocolAcl'),
  recent: {
    usage: '[SECONDS]',
    run(ctx, args) {
      return recentClients(ctx, args).map((c) => `${c.address} connects ${c.connects} sx ${c.csx} rx ${c.crx}\n`).join('');
    },
    json: (ctx, args) => ({
      clients: recentClients(ctx, args).map((c) => ({
        address: c.address, connects: c.connects, sx: c.csx, rx: c.crx, server: c.server, age: ctx.now - c.last,
      })),
    }),
  },
  roundrobin: flag('roundrobin'),
  select: accepted,
  server: {
    usage: 'N [acl A] [address ADDR] [port P] [max M] [hard H] [weight W] [prio P] [blacklist T] [tls] [servername NAME] [ca FILE] [check http PATH [expect STATUS] | check tcp | check off]',
    run: (ctx, args) => setServer(ctx, args),
  },
  servers: {
    usage: '',
    run(ctx) {
      const table = ctx.balancer.servers;
      return table.servers
        .map((s) => `${s.index} addr ${s.host} port ${reportedPort(s)} conn ${table.connections(s)} max ${s.maxc} hard ${s.hard} weight ${s.weight} prio ${s.prio} sx ${table.sent(s)} rx ${table.received(s)}\n`)
        .join('');
    },
    json: (ctx) => {
      const table = ctx.balancer.servers;
      return {
        servers: table.servers.map((s) => ({
          index: s.index, address: s.host, port: reportedPort(s), conn: table.connections(s), max: s.maxc, hard: s.hard, weight: s.weight,
          prio: s.prio, acl: s.acl, sx: table.sent(s), rx: table.received(s), blacklisted: table.isBlacklisted(s, ctx.now),
          health: s.check ? (table.checkFailed(s) ? 'failing' : 'passing') : 'unchecked',
        })),
      };
    },
  },
  socket: {
    usage: 'FD',
    run(ctx, [n]) {
      const fd = integer(n ?? '0', 'socket', -Infinity);
      return `Socket ${fd} belongs to connection ${ctx.effects.socketOwner(fd)}\n`;
    },
  },
  source: {
    usage: 'ADDRESS',
    run(ctx, [address]) {
      if (address === undefined || !isIP(address)) return `unable to set source address to '${address ?? '(null)'}'`;
      ctx.settings.source = address;
      return '';
    },
  },
  ssl_auto: {
    usage: 'HOST[,HOST…]',
    run(ctx, [hosts]) {
      if (hosts === undefined || !/^[A-Za-z0-9.:,-]+$/.test(hosts)) throw new ConfigError('ssl_auto: expected HOST[,HOST…]');
      ctx.settings.tls.auto = hosts.split(',').filter((h) => h !== '');
      return '';
    },
  },
  ssl_certificate: {
    usage: 'CERT [KEY]',
    run(ctx, [certFile, keyFile = certFile]) {
      const tls = ctx.settings.tls;
      if (certFile === undefined) throw new ConfigError('ssl_certificate: expected CERT [KEY]');
      if (!tls.certFile && !tls.auto) throw new ConfigError('ssl_certificate: serves beside the -E or ssl_auto certificate: give one of those first');
      try {
        loadKeyPair(certFile, keyFile); // checked now; served from the start or the next ssl_reload
      } catch (err) {
        throw new ConfigError(`ssl_certificate: ${messageOf(err)}`);
      }
      tls.extraCertificates = [...tls.extraCertificates.filter((c) => c.certFile !== certFile), { certFile, keyFile }];
      return '';
    },
  },
  ssl_reload: {
    usage: '',
    run(ctx) {
      const error = ctx.effects.reloadTls();
      if (error) throw new ConfigError(`ssl_reload: ${error}; the previous certificates stay in use`);
      return '';
    },
  },
  ssl_ciphers: {
    usage: 'CIPHERS',
    run(ctx, [ciphers]) {
      ctx.settings.tls.ciphers = ciphers;
      return '';
    },
  },
  ssl_client_renegotiation_interval: {
    usage: 'SECONDS',
    run(ctx, [n]) {
      ctx.settings.tls.renegotiationInterval = integer(n, 'ssl_client_renegotiation_interval');
      return '';
    },
  },
  ssl_ocsp_response: {
    usage: 'FILE',
    run(ctx, [file]) {
      ctx.settings.tls.ocspResponse = file;
      return '';
    },
  },
  ssl_option: {
    usage: SSL_OPTIONS.join('|'),
    run(ctx, [option]) {
      if (option === undefined) throw new ConfigError('ssl_option: Missing option');
      if (!SSL_OPTIONS.includes(option)) throw new ConfigError(`ssl_option: unknown option '${option}'`);
      const tls = ctx.settings.tls;
      if (CIPHER_ORDER.includes(option)) tls.options = tls.options.filter((o) => !CIPHER_ORDER.includes(o)); // the later one counts
      if (!tls.options.includes(option)) tls.options.push(option);
      return '';
    },
  },
  ssl_sni_path: {
    usage: 'DIR',
    run(ctx, [dir]) {
      if (dir === undefined) throw new ConfigError('Missing ssl_sni_path');
      ctx.settings.tls.sniPath = dir;
      return '';
    },
  },
  status: { usage: '', run: (ctx) => ctx.effects.statusPage() },
  stubborn: flag('stubborn'),
  tarpit_acl: {
    usage: '[N]',
    run(ctx, [n]) {
      if (n !== undefined) ctx.settings.tarpitAcl = integer(n, 'tarpit_acl', -1, 9);
      return `tarpit_acl = ${ctx.settings.tarpitAcl}`;
    },
  },
  tcp_fastclose: {
    usage: 'up|down|both|off',
    run(ctx, [mode]) {
      if (mode === undefined) return 'do_cmd: ignoring tcp_fastclose without argument\n';
      if (!FAST_CLOSE.includes(mode)) throw new ConfigError(`tcp_fastclose: expected up, down, both or off, not '${mode}'`);
      ctx.settings.tcpFastclose = mode as FastClose;
      return '';
    },
  },
  tcp_nodelay: flag('tcpNodelay'),
  timeout: numberSetting('timeout', 'timeout', 1, TIMER_SECONDS_MAX),
  tracking: numberSetting('tracking', 'trackingTime', 0, Infinity, settingsChanged),
  transparent: flag('transparent'),
  web: {
    usage: '[ADDR:]PORT',
    run(ctx, [address]) {
      if (address === undefined) return `${ctx.settings.web ?? 'off'}\n`;
      const where = webAddress(address);
      const listened = () => {
        ctx.settings.web = where;
        return `${where}\n`;
      };
      const opening = ctx.effects.web(where);
      return opening ? opening.then(listened) : listened();
    },
  },
  web_acl: aclSetting('web_acl', 'webAcl'),
  web_stats: {
    usage: '[FILE]',
    run(ctx, [file]) {
      if (file !== undefined) ctx.settings.webFile = file;
      return ctx.settings.webFile === undefined ? '' : `${ctx.settings.webFile}\n`;
    },
  },
  weight: flag('weight'),
  trusted_proxies: aclSetting('trusted_proxies', 'trustedProxiesAcl'),
  xforwarded: choice('xforwarded', ['append', 'replace', 'pen'], (s) => s.forwarded, (s, v) => (s.forwarded = v as ForwardedMode)),
  worker: {
    usage: 'N kill',
    run(ctx, [n, action]) {
      const running = ctx.effects.workersRunning() ?? 1;
      if (running === 1) throw new ConfigError('worker: no worker threads run (workers 1)');
      const thread = integer(n, 'worker', 1, running);
      if (action !== 'kill') throw new ConfigError(`worker: expected N kill, not '${action ?? ''}'`);
      ctx.effects.killWorker(thread);
      return `Killing worker ${thread}\n`;
    },
  },
  workers: {
    usage: '[N|auto]',
    run(ctx, [n]) {
      if (n !== undefined) {
        const count = n === 'auto' ? availableParallelism() : integer(n, 'workers', 1, WORKERS_MAX);
        const running = ctx.effects.workersRunning();
        if (running !== undefined && count !== running) {
          throw new ConfigError(`workers: ${running} running; the number of workers changes at the next start`);
        }
        ctx.settings.workers = count;
      }
      return `${ctx.settings.workers}\n`;
    },
  },
  write: {
    usage: '[FILE]',
    run(ctx, [file]) {
      const target = file ?? ctx.settings.configFile;
      if (target === undefined) throw new ConfigError('write: no file');
      ctx.effects.writeFile(target, configText(ctx.settings, ctx.balancer, target));
      return '';
    },
  },
};

/** Turning a flag off: `no NAME`. */
function unflag(key: keyof Settings): Command {
  return { usage: '', run(ctx) { (ctx.settings[key] as boolean) = false; return ''; } };
}

const noCommands: Record<string, Command> = {
  ...noAcmeCommands,
  abort_on_error: unflag('abortOnError'),
  acl: {
    usage: 'N',
    run(ctx, [n]) {
      ctx.balancer.acls.clear(aclNumber(n));
      return '';
    },
  },
  ascii: unflag('ascii'),
  block: accepted, // obsolete: pen answers `block` as unknown but accepts `no block`
  delayed_forward: accepted,
  dummy: unflag('dummy'),
  geo_map: {
    usage: '',
    run(ctx) {
      ctx.balancer.geo.clearMappings();
      return '';
    },
  },
  hash: unflag('hash'),
  http: unflag('http'),
  keepalive: unflag('keepalive'),
  log: {
    usage: '',
    run(ctx) {
      ctx.effects.openLog(undefined);
      ctx.settings.logFile = undefined;
      return '';
    },
  },
  peek: accepted,
  prio: unflag('prio'),
  proxy_protocol: aclSettingOff('proxyProtocolAcl'),
  roundrobin: unflag('roundrobin'),
  ssl_certificate: {
    usage: '',
    run(ctx) {
      ctx.settings.tls.extraCertificates = [];
      return '';
    },
  },
  stubborn: unflag('stubborn'),
  tcp_nodelay: unflag('tcpNodelay'),
  transparent: unflag('transparent'),
  web: {
    usage: '',
    run(ctx) {
      ctx.effects.web(undefined);
      ctx.settings.web = undefined;
      return '';
    },
  },
  web_acl: aclSettingOff('webAcl'),
  web_stats: {
    usage: '',
    run(ctx) {
      ctx.settings.webFile = undefined;
      return '';
    },
  },
  trusted_proxies: aclSettingOff('trustedProxiesAcl'),
  weight: unflag('weight'),
};

/** `web`'s address: a bare port is on 127.0.0.1 (the metrics are for this machine unless an address says otherwise). */
function webAddress(text: string): string {
  if (text.includes('/')) throw new ConfigError(`web: expected [ADDR:]PORT, not '${text}'`);
  return text.includes(':') ? text : `127.0.0.1:${text}`;
}

function connectsByCountry(ctx: CommandContext): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of ctx.balancer.clients.list()) if (c.country) counts[c.country] = (counts[c.country] ?? 0) + c.connects;
  return counts;
}

function recentClients(ctx: CommandContext, [n]: string[]) {
  const since = ctx.now - (n === undefined ? 300 : integer(n, 'recent', -Infinity));
  return ctx.balancer.clients.list().filter((c) => c.last >= since);
}

type ServerChange = (s: Server) => void;
/** a change that needs a name looked up first: started only once every field has been checked */
interface LaterChange {
  later(): Promise<ServerChange>;
}

/**
 * `server N key value … [tls]`: every field is checked before any is applied; a host name is
 * looked up first (without blocking), and the server keeps its old address until it is known.
 */
function setServer(ctx: CommandContext, [n, ...words]: string[]): Reply {
  const index = integer(n, 'server');
  if (index >= SERVER_MAX) throw new ConfigError(`server: ${index} is beyond the table limit of ${SERVER_MAX}`);
  const changes: Array<ServerChange | LaterChange> = [];
  for (let i = 0; i < words.length;) {
    const key = words[i++]!;
    if (key === 'tls' || key === 'no_tls') {
      changes.push((s) => (s.tls = key === 'tls' ? s.tls ?? {} : undefined));
      continue;
    }
    if (key === 'check') {
      const [check, used] = healthCheck(words.slice(i));
      i += used;
      changes.push((s) => { s.check = check; ctx.balancer.servers.setCheckFailed(s, false); });
      continue;
    }
    const value = words[i++];
    if (value === undefined) throw new ConfigError(`server: '${key}' needs a value`);
    changes.push(serverField(ctx, key, value));
  }
  const apply = (ready: ServerChange[]) => {
    const server = ctx.balancer.servers.slot(index);
    for (const change of ready) change(server);
    return '';
  };
  if (changes.every((c): c is ServerChange => typeof c === 'function')) return apply(changes);
  return Promise.all(changes.map((c) => (typeof c === 'function' ? c : c.later()))).then(apply);
}

/** `check http PATH [expect STATUS]`, `check tcp` or `check off`: the check and the words it used. */
function healthCheck(words: string[]): [HealthCheck | undefined, number] {
  const [kind, path, expect, status] = words;
  if (kind === 'off') return [undefined, 1];
  if (kind === 'tcp') return [{ kind: 'tcp' }, 1];
  if (kind !== 'http') throw new ConfigError(`server check: expected http PATH, tcp or off, not '${kind ?? ''}'`);
  if (path === undefined || !path.startsWith('/')) throw new ConfigError(`server check http: expected a path starting with '/', not '${path ?? ''}'`);
  if (expect !== 'expect') return [{ kind: 'http', path }, 2];
  return [{ kind: 'http', path, expect: integer(status, 'server check expect', 100, 599) }, 4];
}

/** One `key value` pair of the server command, checked now (or once its name is looked up), applied later. */
function serverField(ctx: CommandContext, key: string, value: string): ServerChange | LaterChange {
  switch (key) {
    case 'address': {
      if (value.includes('/')) return (s) => Object.assign(s, { host: value, family: 0 });
      if (isIP(value)) return (s) => Object.assign(s, { host: value, family: isIP(value) });
      return { later: () => lookupHost(value, 'server address').then((where) => (s: Server) => Object.assign(s, where)) };
    }
    case 'port': {
      const port = parsePort(value, 'server port');
      return (s) => (s.port = port);
    }
    case 'blacklist': {
      const seconds = integer(value, 'server blacklist');
      return (s) => ctx.balancer.servers.blacklist(s, ctx.now + seconds - ctx.settings.blacklistTime);
    }
    case 'geo': {
      const codes = value.split(',').map((c) => c.toUpperCase());
      if (!codes.every((c) => /^@?[A-Z]{2}$/.test(c))) throw new ConfigError(`server geo: expected CC[,CC…] or @CONTINENT, not '${value}'`);
      const geo = { countries: codes.filter((c) => !c.startsWith('@')), continents: codes.filter((c) => c.startsWith('@')).map((c) => c.slice(1)) };
      return (s) => (s.geo = geo);
    }
    case 'proxy_protocol': {
      if (value !== '1' && value !== '2' && value !== 'off') throw new ConfigError(`server proxy_protocol: expected 1, 2 or off, not '${value}'`);
      return (s) => (s.proxyProtocol = value === 'off' ? undefined : (Number(value) as 1 | 2));
    }
    case 'servername':
      return (s) => (s.tls = { ...s.tls, servername: value });
    case 'ca': {
      const ca = ctx.effects.readFile(value);
      return (s) => (s.tls = { ...s.tls, caFile: value, ca });
    }
    case 'acl': case 'max': case 'hard': case 'weight': case 'prio': {
      const number = key === 'acl' ? aclNumber(value) : integer(value, `server ${key}`);
      const field = ({ acl: 'acl', max: 'maxc', hard: 'hard', weight: 'weight', prio: 'prio' } as const)[key];
      return (s) => (s[field] = number);
    }
    default:
      throw new ConfigError(`server: unknown field '${key}'`);
  }
}

/** Splits a command line into words; an empty line or a comment is no command. */
export function parseCommand(line: string): string[] {
  const text = line.replace(/[\r\n].*$/s, '');
  return text.split(' ').filter((w) => w !== '');
}

/** `json COMMAND …`: the reply as one line of JSON; errors as `{"error": "…"}`. */
async function runJson(ctx: CommandContext, [name, ...args]: string[]): Promise<string> {
  let data: unknown;
  try {
    const command = name === undefined ? undefined : commands[name];
    if (!command) throw new ConfigError(`unknown command '${name ?? ''}'`);
    data = command.json ? command.json(ctx, args) : { reply: await command.run(ctx, args) };
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof SystemError)) throw err;
    data = { error: err.message };
  }
  return `${JSON.stringify(data)}\n`;
}

/** Runs one command line and returns pen's reply text (a promise when its work ends later); throws ConfigError for bad input. */
export function runCommand(ctx: CommandContext, line: string): Reply {
  const [name, ...args] = parseCommand(line);
  if (name === undefined || name.startsWith('#')) return '';
  if (name === 'json') return runJson(ctx, args);
  const command = commands[name];
  if (!command && ctx.strict) throw new ConfigError(`unknown command '${name}'`);
  if (!command) return `do_cmd: ignoring command starting with '${name}'\n`;
  return command.run(ctx, args);
}

/** Runs a file of commands (-F, include): checked whole first, so that a failing line changes nothing. Replies with their replies. */
export async function runFile(ctx: CommandContext, file: string): Promise<string> {
  const text = ctx.effects.readFile(file);
  await ctx.effects.checkScript(text, file);
  return runScript(ctx, text, file);
}

/**
 * Runs every line of a script in order, each after the one before has finished; a failing line
 * names its file and line. runFile checks the script first, so that a failure leaves nothing half
 * done; Effects.checkScript runs it on a copy. Returns the lines' replies, in order.
 */
export async function runScript(ctx: CommandContext, text: string, source: string): Promise<string> {
  const strict = { ...ctx, strict: true };
  const lines = text.split('\n');
  let replies = '';
  for (let i = 0; i < lines.length; i++) {
    try {
      replies += await runCommand(strict, lines[i]!);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${source}:${i + 1}: ${err.message}`);
      if (err instanceof SystemError) throw new SystemError(`${source}:${i + 1}: ${err.message}`);
      throw err;
    }
  }
  return replies;
}
