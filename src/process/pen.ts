// The running balancer: owns the settings, tables, listeners and files, and carries out the
// effects of control commands. Phases: configure → open → serve → reload (HUP) → close.
import { readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { GeoDatabase } from '../geo/database';
import type { Server as NetServer } from 'node:net';
import { Balancer } from '../balancer/balancer';
import { emptyServer } from '../balancer/server-table';
import { parseServerSpec, parseListenAddress } from '../config/address';
import { runCommand, runScript, type CommandContext, type Effects } from '../config/commands';
import type { Settings } from '../config/settings';
import { ConfigError, messageOf } from '../errors';
import { HealthChecker } from '../health/checker';
import { ConnectionTable } from '../balancer/connection-table';
import { ControlPort } from '../listeners/control';
import { Forwarder } from '../listeners/forward';
import { defaultCertificate } from '../listeners/default-certificate';
import { listenForClients } from '../listeners/listen';
import { SocketEndpoint } from '../pipelines/endpoint';
import { TlsFrontEnd, type TlsFiles } from '../listeners/tls';
import { UdpListener } from '../listeners/udp';
import { diag, setDebugLevel } from '../reports/diag';
import { RequestLog } from '../reports/request-log';
import { statusPage, textStats, type ReportSources } from '../reports/status';

const EMERGENCY = -2;
const ABUSE = -3;

const seconds = () => Math.floor(Date.now() / 1000);

export class Pen {
  readonly balancer: Balancer;
  readonly connections: ConnectionTable;
  readonly forwarder: Forwarder;
  private listener: NetServer | undefined;
  private tls: TlsFrontEnd | undefined;
  private udp: UdpListener | undefined;
  private control: ControlPort | undefined;
  private log: RequestLog | undefined;
  /** log file changes asked for by commands, applied in order */
  private logChange: Promise<void> = Promise.resolve();
  private readonly effects: Effects;
  private readonly health: HealthChecker;
  private geoWatch: FSWatcher | undefined;

  constructor(readonly settings: Settings, private readonly onExit: () => void) {
    this.balancer = new Balancer(settings, Balancer.memory(settings, 1), 0);
    this.connections = new ConnectionTable(ConnectionTable.memory(settings.connMax), this.balancer.servers.board, 0);
    this.forwarder = new Forwarder(settings, this.balancer, this.connections);
    this.effects = this.makeEffects();
    this.health = new HealthChecker(this.balancer.servers, settings);
  }

  /** Command-line servers, -e and -B, then -o commands, then the -F file. */
  configure(servers: string[], commands: string[]): void {
    const s = this.settings;
    const defaultPort = s.listen && !s.listen.includes('/') ? parseListenAddress(s.listen, 'listen address').port : 0;
    servers.forEach((spec, i) => Object.assign(this.balancer.servers.slot(i), parseServerSpec(spec, defaultPort)));
    const special = (spec: string, index: number) => Object.assign(emptyServer(index), parseServerSpec(spec, defaultPort));
    if (s.emergencyServer) this.balancer.servers.emergency = special(s.emergencyServer, EMERGENCY);
    if (s.abuseServer) this.balancer.servers.abuse = special(s.abuseServer, ABUSE);
    for (const line of commands) {
      try {
        process.stdout.write(this.command(line)); // pen prints -o replies on its standard output
      } catch (err) {
        throw new ConfigError(`-o '${line}': ${messageOf(err)}`);
      }
    }
    if (s.configFile) this.readConfigFile();
    this.applySettings();
  }

  private readConfigFile(): void {
    const file = this.settings.configFile!;
    runScript(this.context(), this.effects.readFile(file), file);
  }

  private context(): CommandContext {
    return { settings: this.settings, balancer: this.balancer, effects: this.effects, now: seconds() };
  }

  /** Runs one penctl command and returns its reply. */
  command(line: string): string {
    return runCommand(this.context(), line);
  }

  private applySettings(): void {
    const s = this.settings;
    this.balancer.applySettings();
    s.clientsMax = this.balancer.clients.max;
    this.connections.grow(s.connMax);
    s.connMax = this.connections.max;
    setDebugLevel(s.debug);
  }

  /** Opens the control port and the balancing listener (before privileges are dropped). */
  async open(isRoot: boolean): Promise<void> {
    const s = this.settings;
    if (s.control) {
      if (isRoot && s.user === undefined) {
        diag("Won't open control port running as root; use -u to run as different user");
      } else {
        this.control = await ControlPort.open(s.control, this.balancer.acls, () => s.controlAcl, (line) => this.command(line));
      }
    }
    if (s.listen === undefined) throw new ConfigError('no listen address given');
    if (s.udp) this.udp = await UdpListener.open(s.listen, this.balancer, s);
    else this.listener = await this.openListener(s.listen);
    if (s.logFile) await this.switchLog(s.logFile);
    this.health.start();
  }

  /** A plain listener, or the TLS front end when -E or ssl_auto asks for TLS. */
  private async openListener(address: string): Promise<NetServer> {
    const s = this.settings;
    const files = await this.tlsFiles();
    if (!files) return listenForClients(address, 'listen', s.listenQueue, this.forwarder.accept);
    const front = await TlsFrontEnd.open(address, s.listenQueue, s.tls, files, s.http,
      (socket, origin) => this.forwarder.accept(new SocketEndpoint(socket), origin), this.forwarder.trustsProxyHeader);
    this.tls?.close();
    this.tls = front;
    return front.listener!;
  }

  private async tlsFiles(): Promise<TlsFiles | undefined> {
    const tls = this.settings.tls;
    if (tls.certFile) return { certFile: tls.certFile, keyFile: tls.keyFile ?? tls.certFile };
    if (!tls.auto) return undefined;
    const made = await defaultCertificate(tls.auto);
    diag(`TLS: ${made.created ? 'created' : 'using'} self-signed certificate ${made.certFile} for ${tls.auto.join(', ')}, SHA-256 fingerprint ${made.fingerprint}`);
    return made;
  }

  private async switchLog(target: string | undefined): Promise<void> {
    const next = target === undefined ? undefined : RequestLog.open(target);
    const old = this.log;
    this.log = this.forwarder.log = next;
    await old?.close();
  }

  /** HUP: reopen the log file, re-read -F. Errors are reported; the balancer keeps serving. */
  async reload(): Promise<void> {
    try {
      if (this.settings.logFile) await this.switchLog(this.settings.logFile);
      if (this.settings.configFile) this.readConfigFile();
      this.applySettings();
      if (this.settings.geoDb) this.reloadGeoDb(this.settings.geoDb, 'reload');
      const tlsError = this.tls?.reload();
      if (tlsError) diag(`reload: ${tlsError}; the previous certificates stay in use`);
    } catch (err) {
      diag(`reload: ${messageOf(err)}`);
    }
  }

  /** Opens the geo database again (`why`: HUP or the file replaced); a bad file keeps the old one. */
  private reloadGeoDb(path: string, why: 'reload' | 'file replaced'): void {
    try {
      this.balancer.geo.database = GeoDatabase.open(path);
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

  private reports(): ReportSources {
    return { balancer: this.balancer, connections: this.connections, now: seconds() };
  }

  /** USR1: statistics to the diagnostics and the -w file. */
  stats(): void {
    this.writeWebStats();
    for (const line of textStats(this.reports())) diag(line);
  }

  private writeWebStats(): void {
    if (!this.settings.webFile) return;
    const file = this.settings.webFile;
    try {
      // write then rename, so a reader never sees half a page
      writeFileSync(`${file}.tmp`, statusPage(this.reports()));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      diag(`Can't write to ${file}: ${messageOf(err)}`);
    }
  }

  /** TERM: stop accepting, end every connection, flush the log. */
  async close(): Promise<void> {
    this.listener?.close();
    this.udp?.shutdown();
    this.tls?.close();
    this.control?.close();
    await this.health.stop();
    this.geoWatch?.close();
    for (const conn of this.connections.mineOpen()) {
      conn.down.destroy();
      conn.up?.destroy();
    }
    await this.logChange;
    await this.log?.close();
  }

  private makeEffects(): Effects {
    return {
      pid: () => process.pid,
      listen: (address) => {
        parseListenAddress(address, 'listen');
        const old = this.listener;
        if (old === undefined) return; // not serving yet: open() listens where settings say
        void this.openListener(address).then(
          (server) => { this.listener = server; old?.close(); },
          (err) => diag(messageOf(err)),
        );
      },
      openLog: (file) => {
        if (this.listener === undefined) return; // not serving yet: open() opens settings.logFile
        this.logChange = this.logChange.then(() => this.switchLog(file)).catch((err) => diag(messageOf(err)));
      },
      statusPage: () => {
        this.writeWebStats();
        return statusPage(this.reports());
      },
      connectionReport: (id) => {
        if (id < 0 || id >= this.connections.max) return undefined;
        const c = this.connections.report(id);
        return `Connection ${id}:\nstate = ${c ? 1 : 0}\ndownfd = ${c?.downfd ?? -1}, upfd = ${c?.upfd ?? -1}\n` +
          `client = ${c?.client ?? 0}, server = ${c?.server ?? 0}\npend = 0\n`;
      },
      closeConnection: (id) => {
        const c = this.connections.get(id);
        c?.down.destroy();
        c?.up?.destroy();
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
      reloadTls: () => this.tls?.reload(),
      openGeoDb: (path) => this.openGeoDb(path),
    };
  }
}
