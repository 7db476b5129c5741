// `pen`: parse argv → configure → (daemonize) → open listeners → drop privileges → serve → exit.
import { accessSync, constants, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseCommandLine, type CommandLine } from '../cli/options';
import { USAGE } from '../cli/usage';
import { ConfigError, messageOf } from '../errors';
import { closeWindow, useSyslog } from '../reports/diag';
import { isLogFile } from '../reports/request-log';
import { daemonize, isDaemonChild, reportReady } from './daemon';
import { Pen } from './pen';
import { WORKERS_NODE, workersSupported } from './workers';
import type { Settings } from '../config/settings';
import { dropPrivileges, lookupUser } from './privileges';
import { handleSignals } from './signals';
import { receiveHandover } from './upgrade';

function fail(err: unknown): never {
  const message = messageOf(err);
  reportReady(message); // to the launcher, or to the process before (USR2)
  process.stderr.write(`pen: ${message}\n`);
  process.exit(1);
}

/** Options that are understood but whose feature this build refuses rather than ignore. */
function refuseUnsupported(cl: CommandLine): void {
  const s = cl.settings;
  if (s.udp && s.tls.certFile !== undefined) throw new ConfigError('-U with -E: TLS needs a TCP listener (DTLS is not supported)');
  if (s.chroot !== undefined) {
    throw new ConfigError(`-j ${s.chroot}: Node.js cannot chroot safely; use systemd's RootDirectory= or a container instead`);
  }
}

/** `workers N` (from -o or -F) needs reusePort, which listeners have from Node 22.12 on. */
function checkWorkers(s: Settings): void {
  if (s.workers === 1) return;
  if (!workersSupported()) {
    throw new ConfigError(`workers ${s.workers}: needs Node.js ${WORKERS_NODE.join('.')} or later (this is ${process.version}); workers 1 runs on this one`);
  }
}

/** Settings that would silently do nothing: one warning line each on stderr, before anything starts. */
function warnings(s: Settings, checking: boolean): string[] {
  const found: string[] = [];
  const tls = s.tls;
  if (!tls.certFile && !tls.auto && (tls.caFile || tls.caDir || tls.requireClientCert)) {
    found.push('-G, -A and -R act on TLS clients: without -E (or ssl_auto) there are none, and no certificate is asked for');
  }
  if (tls.sniPath && !existsSync(tls.sniPath)) found.push(`ssl_sni_path ${tls.sniPath}: no such directory; every name gets the default certificate`);
  if (s.webFile) {
    try {
      accessSync(dirname(s.webFile), constants.W_OK);
    } catch (err) {
      found.push(`-w ${s.webFile}: its directory cannot be written (${(err as NodeJS.ErrnoException).code}); USR1 will not update the status page`);
    }
  }
  // in the foreground pen's own line says so; a detached pen has no terminal to say it on, --check opens nothing
  if (s.control && (!s.foreground || checking) && process.getuid?.() === 0 && s.user === undefined) {
    found.push(`-C ${s.control}: pen opens no control port when it runs as root without -u (give -u USER to have one)`);
  }
  return found;
}

export async function main(argv: string[]): Promise<void> {
  let cl: CommandLine;
  try {
    cl = parseCommandLine(argv);
  } catch (err) {
    fail(err);
  }
  if (cl.info === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (cl.info === 'version') {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`pen-edge ${version} (pen 0.34.1 compatible), Node.js ${process.version}\n`);
    process.exit(0);
  }
  if (cl.windowsOnly) {
    process.stderr.write('Windows only\n');
    process.exit(0);
  }
  for (const note of cl.notes) process.stderr.write(`${note}\n`);
  const s = cl.settings;
  if (s.listen === undefined && s.configFile === undefined && cl.commands.length === 0) {
    process.stdout.write(USAGE);
    process.exit(1);
  }

  let pen: Pen;
  let user: ReturnType<typeof lookupUser> | undefined;
  try {
    refuseUnsupported(cl);
    pen = new Pen(s, () => void shutdown(0));
    await pen.configure(cl.servers, cl.commands);
    if (s.listen === undefined) throw new ConfigError('no listen address: give [host:]port or a `listen` command');
    checkWorkers(s);
    user = s.user === undefined ? undefined : lookupUser(s.user);
  } catch (err) {
    fail(err);
  }
  if (!isDaemonChild()) for (const warning of warnings(s, cl.check)) process.stderr.write(`pen: warning: ${warning}\n`);
  if (cl.check) {
    try {
      pen.check();
    } catch (err) {
      fail(err);
    }
    process.stdout.write('configuration OK\n');
    process.exit(0);
  }

  if (!s.foreground && !isDaemonChild()) return daemonize(argv);
  if (isDaemonChild()) useSyslog();

  const shutdown = async (code: number) => {
    await pen.close();
    closeWindow(); // the count of lines held back is a line too
    removePidFile(s.pidFile);
    process.exit(code);
  };

  handleSignals(pen, argv, shutdown); // first: once the pid file exists, an operator may send any of them
  try {
    await pen.open(process.getuid?.() === 0, await receiveHandover(s.listen));
    if (user) dropPrivileges(user, s.logFile && isLogFile(s.logFile) ? [s.logFile] : []);
    if (s.pidFile) {
      try {
        writeFileSync(s.pidFile, String(process.pid));
      } catch (err) {
        throw new ConfigError(`Can't create pidfile ${s.pidFile}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
      }
    }
  } catch (err) {
    fail(err);
  }
  reportReady();
}

/** Removes the pid file at exit, unless a successor (USR2) has written its own pid there. */
function removePidFile(file: string | undefined): void {
  if (file === undefined) return;
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
  } catch { /* already gone */ }
}
