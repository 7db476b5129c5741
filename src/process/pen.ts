// The running balancer: owns the settings, tables and files, and carries out the effects of
// control commands. Phases: configure → open → serve → reload (HUP) → close. Clients are served
// by one Service in this thread (workers 1) or by a pool of worker threads over the same tables.
import { accessSync, constants, readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NO_CHALLENGES, type AcmeChallenges } from '../acme/challenges';
import { AcmeManager } from '../acme/manager';
import { AcmeStore } from '../acme/store';
import { GeoDatabase } from '../geo/database';
import { Balancer } from '../balancer/balancer';
import { RedisClientStore } from '../balancer/client-store';
import { emptyServer } from '../balancer/server-table';
import { lookupListenAddress, parseServerSpec, parseListenAddress } from '../config/address';
import { runCommand, runFile, runScript, type CommandContext, type Effects } from '../config/commands';
import type { Settings } from '../config/settings';
import { ConfigError, SystemError, messageOf } from '../errors';
import { HealthChecker } from '../health/checker';
import { ConnectionTable } from '../balancer/connection-table';
import { ControlPort } from '../listeners/control';
import { WebEndpoint, type WebReports } from '../listeners/web';
import { startSuccessor, type ClientRecord, type Handover } from './upgrade';
import { CERTS_DIR, defaultCertificate } from '../listeners/default-certificate';
import type { TlsFiles } from '../listeners/tls';
import { buildTlsOptions } from '../listeners/tls-options';
import { MemorySessionStore } from '../listeners/tls-sessions';
import { diag, setDebugLevel } from '../reports/diag';
import { RequestLog } from '../reports/request-log';
import { LiveStatus } from '../reports/live-status';
import { Metrics } from '../reports/metrics';
import { statusPage, textStats, type ReportSources } from '../reports/status';
import { Service } from './service';
import type { Configuration, SharedTables } from './worker-messages';
import { WorkerPool } from './workers';

const EMERGENCY = -2;
const ABUSE = -3;

const seconds = () => Math.floor(Date.now() / 1000);

export class Pen {
  readonly balancer: Balancer;
  readonly connections: ConnectionTable;
  private readonly tables: SharedTables;
  private readonly sessions = new MemorySessionStore();
  /** who serves clients, once open: this thread, or the worker threads */
  private service: Service | undefined;
  private pool: WorkerPool | undefined;
  /** the certificate the TLS listener serves, when there is one */
  private tlsFiles: TlsFiles | undefined;
  private control: ControlPort | undefined;
  /** /metrics, /status.json and the dashboard (`web`), and what they serve, made by the first `web` */
  private web: WebEndpoint | undefined;
  private webReports: WebReports | undefined;
  private clientStore: RedisClientStore | undefined;
  private log: RequestLog | undefined;
  /** log file changes asked for by commands, applied in order */
  private logChange: Promise<void> = Promise.resolve();
  private readonly effects: Effects;
  /** the effects of a script run on a copy: they check, and change nothing */
  private readonly checkingEffects: Effects;
  private readonly health: HealthChecker;
  private geoWatch: FSWatcher | undefined;
  /** obtains and renews the certificate over ACME, with ssl_acme */
  private acme: AcmeManager | undefined;
  private acmeChallenges: AcmeChallenges = NO_CHALLENGES;

  constructor(readonly settings: Settings, private readonly onExit: () => void) {
    this.tables = { balancer: Balancer.memory(settings), connections: ConnectionTable.memory(settings.connMax) };
    this.balancer = new Balancer(settings, this.tables.balancer, 0);
    this.connections = new ConnectionTable(this.tables.connections, this.balancer.servers.board, 0);
    this.effects = this.makeEffects();
    this.checkingEffects = {
      ...this.effects,
      listen: (address) => void parseListenAddress(address, 'listen'),
      web: (address) => void (address && parseListenAddress(address, 'web')),
      openLog: (file) => void (file && RequestLog.open(file).close()), closeConnection: () => {}, exit: () => {}, settingsChanged: () => {},
      writeFile: (path) => { // the file is written when the script runs: here, that it can be
        try {
          accessSync(dirname(path), constants.W_OK);
        } catch (err) {
          throw new ConfigError(`Can't open file '${path}': ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
        }
      },
      reloadTls: () => undefined, openGeoDb: (path) => void GeoDatabase.open(path), killWorker: () => {}, useClientStore: () => {},
      checkScript: async () => {}, // an include inside the checked script is checked as it runs there
      acmeChanged: () => {},
      renewAcme: () => this.checkAcme(),
    };
    this.health = new HealthChecker(this.balancer.servers, settings);
  }

  /** Command-line servers, -e and -B, then -o commands, then the -F file. */
  async configure(servers: string[], commands: string[]): Promise<void> {
    const s = this.settings;
    const defaultPort = s.listen && !s.listen.includes('/') ? parseListenAddress(s.listen, 'listen address').port : 0;
    servers.forEach((spec, i) => Object.assign(this.balancer.servers.slot(i), parseServerSpec(spec, defaultPort)));
    const special = (spec: string, index: number, option: string) => Object.assign(emptyServer(index), parseServerSpec(spec, defaultPort, option));
    if (s.emergencyServer) this.balancer.servers.emergency = special(s.emergencyServer, EMERGENCY, '-e');
    if (s.abuseServer) this.balancer.servers.abuse = special(s.abuseServer, ABUSE, '-B');
    for (const line of commands) {
      try {
        process.stdout.write(await runCommand({ ...this.context(), strict: true }, line)); // pen prints -o replies on its standard output
      } catch (err) {
        throw new ConfigError(`-o '${line}': ${messageOf(err)}`);
      }
    }
    if (s.configFile) await this.readConfigFile();
    if (s.control) parseListenAddress(s.control, '-C'); // an error even as root, where it is not opened
    this.applySettings();
  }

  /** --check: what open() reads (certificate, key and CA files, the log) is read; nothing is bound or started. */
  check(): void {
    const tls = this.settings.tls;
    if (tls.certFile) buildTlsOptions(tls, tls.certFile, tls.keyFile ?? tls.certFile);
    if (this.settings.logFile) this.checkingEffects.openLog(this.settings.logFile);
  }

  /** The -F file, checked whole first: an error names file:line and changes nothing. */
  private async readConfigFile(): Promise<void> {
    await runFile(this.context(), this.settings.configFile!); // its replies go nowhere, as pen's do
  }

  /** Runs a script on a copy of the configuration, whose effects only check: throws the first error. */
  private async checkScript(text: string, source: string): Promise<void> {
    const settings = structuredClone(this.settings);
    const balancer = new Balancer(settings, Balancer.memory(settings), 0);
    balancer.configure(structuredClone(this.balancer.configuration()));
    balancer.geo.database = this.balancer.geo.database;
    await runScript({ settings, balancer, effects: this.checkingEffects, now: seconds() }, text, source);
  }

  private context(): CommandContext {
    return { settings: this.settings, balancer: this.balancer, effects: this.effects, now: seconds() };
  }

  /** `acme renew` needs an ssl_acme certificate. */
  private checkAcme(): void {
    if (!this.acme) throw new ConfigError('acme: no ssl_acme certificate to renew');
  }

  /** Runs one penctl command and resolves with its reply once its work is done; the workers take over what it changed. */
  async command(line: string): Promise<string> {
    try {
      return await runCommand(this.context(), line);
    } finally {
      this.pool?.configured();
    }
  }

  /** What a worker needs to serve as this thread would. */
  private configuration(): Configuration {
    return { settings: this.settings, balancer: this.balancer.configuration(), tls: this.tlsFiles, acme: this.acmeChallenges };
  }

  private applySettings(): void {
    const s = this.settings;
    this.balancer.applySettings();
    s.clientsMax = this.balancer.clients.max;
    this.connections.grow(s.connMax);
    s.connMax = this.connections.max;
    setDebugLevel(s.debug);
  }

  /**
   * Opens the control port and the balancing listener (before privileges are dropped). After an
   * upgrade (USR2) `handover` has the process before's listening sockets, to listen on instead,
   * and its clients, who keep their servers.
   */
  async open(isRoot: boolean, handover: Handover = { fds: [], clients: [] }): Promise<void> {
    const s = this.settings;
    for (const [address, server, last] of handover.clients) this.balancer.clients.adopt(address, server, last);
    if (s.control) {
      if (isRoot && s.user === undefined) {
        diag("Won't open control port running as root; use -u to run as different user");
      } else {
        await this.openControl();
      }
    }
    if (s.web) await this.openWeb(s.web);
    if (s.listen === undefined) throw new ConfigError('no listen address given');
    this.tlsFiles = s.udp ? undefined : await this.findTlsFiles();
    if (s.logFile) await this.switchLog(s.logFile);
    if (s.workers > 1) {
      Balancer.addThreads(this.tables.balancer, s.workers + 1);
      const pool = new WorkerPool(s.workers, {
        tables: this.tables, connections: this.connections, clients: this.balancer.clients, sessions: this.sessions,
        configuration: () => this.configuration(), log: () => this.log,
      });
      await pool.open(handover.fds);
      this.pool = pool;
    } else {
      const service = new Service(s, this.balancer, this.connections, this.sessions, false);
      service.forwarder.log = this.log;
      await service.open(this.tlsFiles, handover.fds[0]);
      this.service = service;
    }
    this.useClientStore(s.clientStore);
    this.health.start();
    this.startAcme();
  }

  private acmeStore(): AcmeStore {
    return new AcmeStore(this.settings.tls.acmeDir ?? join(CERTS_DIR, 'acme'));
  }

  /** ssl_acme: this thread talks to the ACME server; whoever serves the listener answers challenges and serves the result. */
  private startAcme(): void {
    this.acme?.stop();
    this.acme = undefined;
    const tls = this.settings.tls;
    if (!tls.acme || !this.tlsFiles) return;
    this.acme = new AcmeManager({ settings: tls.acme, tls, store: this.acmeStore() }, {
      serve: (files) => {
        const previous = this.tlsFiles;
        this.tlsFiles = files;
        const error = this.reloadTls();
        if (error) this.tlsFiles = previous;
        return error;
      },
      answer: (challenges) => {
        this.acmeChallenges = challenges;
        this.service?.answerAcme(challenges);
        this.pool?.configured();
      },
    }, this.acmeChallenges.generation);
    this.acme.start();
  }

  private async openControl(): Promise<void> {
    const s = this.settings;
    this.control = await ControlPort.open(s.control!, this.balancer.acls, () => s.controlAcl, (line) => this.command(line));
  }

  /** Serves the web reports at address; the endpoint before closes once the new one listens. */
  private async openWeb(address: string): Promise<void> {
    const tables = { balancer: this.balancer, connections: this.connections };
    const reports = this.webReports ??= { metrics: new Metrics(tables), status: new LiveStatus(tables) };
    const access = { acls: this.balancer.acls, acl: () => this.settings.webAcl };
    const endpoint = await WebEndpoint.open(await lookupListenAddress(address, 'web'), access, reports);
    this.web?.close();
    this.web = endpoint;
    reports.status.start();
  }

  private closeWeb(): void {
    this.web?.close();
    this.web = undefined;
    this.webReports?.status.stop();
  }

  /**
   * USR2: hands the listening sockets to a new pen-edge started with `argv`; resolves once it
   * serves (then this one should drain), rejects when it could not start (this one serves on).
   * The control port and the web endpoint are closed first, for the new process to bind, and
   * opened again on failure.
   */
  async handOver(argv: string[]): Promise<void> {
    const s = this.settings;
    if (s.udp) throw new ConfigError('not with -U: the UDP socket cannot be handed over; stop and start instead');
    if (this.pool && s.listen?.includes('/')) throw new ConfigError('not with a unix socket listener and workers; stop and start instead');
    const fds = this.pool ? await this.pool.listenerFds() : [this.service?.listenerFd].filter((fd): fd is number => fd !== undefined);
    const control = this.control;
    control?.close();
    this.control = undefined;
    const web = this.web && s.web;
    this.closeWeb();
    try {
      const pid = await startSuccessor(argv, s.listen!, fds, () => this.clientRecords());
      diag(`upgrade: pid ${pid} serves now; this process (pid ${process.pid}) drains`);
    } catch (err) {
      if (control) await this.openControl();
      if (web) await this.openWeb(web);
      throw err;
    }
  }

  /** The clients that have a server, least recently seen first (so that the successor's LRU keeps the same order). */
  private clientRecords(): ClientRecord[] {
    return this.balancer.clients.list().filter((c) => c.server >= 0).sort((a, b) => a.last - b.last).map((c) => [c.address, c.server, c.last]);
  }

  /** client_store: the client table shared through Redis at url, or local only (undefined). */
  private useClientStore(url: string | undefined): void {
    this.clientStore?.close();
    this.clientStore = url === undefined ? undefined : new RedisClientStore(url, this.balancer.clients, () => this.settings.trackingTime);
  }

  /** The certificate when -E, ssl_auto or ssl_acme asks for TLS (a kept ACME one first; a self-signed one is made here, once). */
  private async findTlsFiles(): Promise<TlsFiles | undefined> {
    const tls = this.settings.tls;
    const issued = tls.acme && this.acmeStore().issued(tls.acme.domains);
    if (issued) return issued.files;
    if (tls.certFile) return { certFile: tls.certFile, keyFile: tls.keyFile ?? tls.certFile };
    const hosts = tls.auto ?? tls.acme?.domains; // until ACME issues one, a self-signed certificate serves
    if (!hosts) return undefined;
    const made = await defaultCertificate(hosts, tls.auto ? CERTS_DIR : this.acmeStore().dir);
    diag(`TLS: ${made.created ? 'created' : 'using'} self-signed certificate ${made.certFile} for ${hosts.join(', ')}, SHA-256 fingerprint ${made.fingerprint}`);
    return made;
  }

  /** Opens the new log at once (a failure throws, and the old one stays); resolves once the old one is flushed and closed. */
  private switchLog(target: string | undefined): Promise<void> {
    const next = target === undefined ? undefined : RequestLog.open(target);
    const old = this.log;
    this.log = next;
    if (this.service) this.service.forwarder.log = next;
    return old?.close() ?? Promise.resolve();
  }

  /**
   * HUP: reopen the log file, re-read -F, reopen the geo database, re-read certificates: each step
   * on its own, so that one failing (reported, changing nothing) does not skip the others.
   */
  async reload(): Promise<void> {
    const step = async (what: () => unknown) => {
      try {
        await what();
      } catch (err) {
        diag(`reload: ${messageOf(err)}`);
      }
    };
    const s = this.settings;
    if (s.logFile) await step(() => this.switchLog(s.logFile));
    if (s.configFile) await step(() => this.readConfigFile());
    this.applySettings();
    if (s.geoDb) this.reloadGeoDb(s.geoDb, 'reload');
    const tlsError = this.reloadTls();
    if (tlsError) diag(`reload: ${tlsError}; the previous certificates stay in use`);
    this.pool?.configured();
  }

  /** Re-reads certificates and keys where they are served; what went wrong, and nothing changed, on failure. */
  private reloadTls(): string | undefined {
    if (this.service) return this.service.reloadTls(this.tlsFiles);
    if (!this.pool || !this.tlsFiles) return undefined;
    try {
      buildTlsOptions(this.settings.tls, this.tlsFiles.certFile, this.tlsFiles.keyFile); // checked here, so that no worker fails alone
    } catch (err) {
      return messageOf(err);
    }
    this.pool.configured(); // the workers learn which files first
    this.pool.reloadTls();
    return undefined;
  }

  /** Opens the geo database again (`why`: HUP or the file replaced); a bad file keeps the old one. */
  private reloadGeoDb(path: string, why: 'reload' | 'file replaced'): void {
    try {
      this.balancer.geo.database = GeoDatabase.open(path);
      this.pool?.reloadGeo();
      if (why === 'file replaced') diag(`geo_db ${path}: reloaded`);
    } catch (err) {
      diag(`${why}: ${messageOf(err)}; the previous database stays in use`);
    }
  }

  /** Opens path as the geo database and watches it: a file replaced in place is reloaded. */
  private openGeoDb(path: string): void {
    this.balancer.geo.database = GeoDatabase.open(path);
    this.geoWatch?.close();
    const dir = dirname(path);
    const name = basename(path);
    try {
      this.geoWatch = watch(dir, (_event, file) => {
        if (file === name) this.reloadGeoDb(path, 'file replaced');
      });
      this.geoWatch.unref();
    } catch {
      // no watching on this file system: HUP still reloads
    }
  }

  /** What the reports show; with workers, they are asked which bytes wait in their connections. */
  private async reports(): Promise<ReportSources> {
    const queued = await this.pool?.queued();
    return { balancer: this.balancer, connections: this.connections, now: seconds(), queued };
  }

  /** USR1: statistics to the diagnostics and the -w file. */
  async stats(): Promise<void> {
    const reports = await this.reports();
    this.writeWebStats(reports);
    for (const line of textStats(reports)) diag(line);
  }

  private writeWebStats(reports: ReportSources): void {
    if (!this.settings.webFile) return;
    const file = this.settings.webFile;
    try {
      // write then rename, so a reader never sees half a page
      writeFileSync(`${file}.tmp`, statusPage(reports));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      diag(`Can't write to ${file}: ${messageOf(err)}`);
    }
  }

  /**
   * QUIT: no new clients; resolves once every open connection (in every worker) has ended, or
   * after drain_timeout seconds, when close() ends the rest.
   */
  async drain(): Promise<void> {
    this.service?.drain();
    await this.pool?.drain(); // the workers' listeners are closed before this says so
    const left = this.connections.count;
    diag(`draining: no new clients; ${left} connections may take ${this.settings.drainTimeout} s to finish`);
    const drained = await new Promise<boolean>((resolve) => {
      const late = setTimeout(() => resolve(false), this.settings.drainTimeout * 1000);
      const look = (): void => {
        const open = this.connections.count;
        if (open > 0) return this.connections.whenChanged(open, look);
        clearTimeout(late);
        resolve(true);
      };
      look();
    });
    if (!drained) diag(`drain_timeout: closing the ${this.connections.count} connections still open`);
  }

  /** TERM: stop accepting, end every connection, flush the log. */
  async close(): Promise<void> {
    this.acme?.stop();
    this.service?.close();
    await this.pool?.close();
    this.sessions.close();
    this.clientStore?.close();
    this.control?.close();
    this.closeWeb();
    await this.health.stop();
    this.geoWatch?.close();
    await this.logChange;
    await this.log?.close();
  }

  private get serving(): boolean {
    return this.service !== undefined || this.pool !== undefined;
  }

  private makeEffects(): Effects {
    return {
      pid: () => process.pid,
      listen: (address) => {
        if (!this.serving) return void parseListenAddress(address, 'listen'); // open() listens where the settings say
        const current = this.settings.listen!;
        return Promise.all([lookupListenAddress(address, 'listen'), lookupListenAddress(current, 'listen')]).then(async ([literal, now]) => {
          if (literal === now) return; // listening there already (HUP reads the -F line again)
          await this.service?.listen(literal, this.tlsFiles);
          const error = await this.pool?.listen(literal);
          if (error) throw new SystemError(error);
        });
      },
      openLog: (file) => {
        if (!this.serving) return; // not serving yet: open() opens settings.logFile
        const closing = this.switchLog(file);
        this.logChange = this.logChange.then(() => closing);
      },
      statusPage: async () => {
        const reports = await this.reports();
        this.writeWebStats(reports);
        return statusPage(reports);
      },
      connectionReport: (id) => {
        if (id < 0 || id >= this.connections.max) return undefined;
        const c = this.connections.report(id);
        return `Connection ${id}:\nstate = ${c ? 1 : 0}\ndownfd = ${c?.downfd ?? -1}, upfd = ${c?.upfd ?? -1}\n` +
          `client = ${c?.client ?? 0}, server = ${c?.server ?? 0}\npend = 0\n`;
      },
      closeConnection: (id) => {
        this.service?.closeConnection(id);
        this.pool?.closeConnection(id);
      },
      socketOwner: (fd) => this.connections.list().find((c) => c.downfd === fd || c.upfd === fd)?.id ?? -1,
      exit: () => setImmediate(this.onExit),
      readFile: (path) => {
        try {
          return readFileSync(path, 'utf8');
        } catch (err) {
          throw new ConfigError(`Can't read config file '${path}': ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
        }
      },
      writeFile: (path, text) => {
        try {
          writeFileSync(path, text);
        } catch (err) {
          throw new ConfigError(`Can't open file '${path}': ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
        }
      },
      settingsChanged: () => this.applySettings(),
      reloadTls: () => this.reloadTls(),
      openGeoDb: (path) => this.openGeoDb(path),
      workersRunning: () => (this.serving ? this.settings.workers : undefined),
      killWorker: (n) => this.pool?.kill(n),
      checkScript: (text, source) => this.checkScript(text, source),
      useClientStore: (url) => {
        if (this.serving) this.useClientStore(url); // else open() starts it
      },
      acmeChanged: () => {
        if (!this.serving) return; // open() starts it
        if (this.settings.tls.acme && !this.tlsFiles) throw new ConfigError('ssl_acme: the listener does not speak TLS; give ssl_acme at start');
        this.startAcme();
      },
      acmeReport: () => this.acme?.report(),
      renewAcme: () => {
        this.checkAcme();
        this.acme!.renew();
      },
      web: (address) => {
        if (!this.serving) return void (address && parseListenAddress(address, 'web')); // open() listens where the settings say
        if (address === undefined) return void this.closeWeb();
        if (address === this.settings.web && this.web) return undefined; // listening there already (HUP reads the -F line again)
        return this.openWeb(address);
      },
    };
  }
}
