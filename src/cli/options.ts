// pen's command line → settings, with GNU getopt rules (clustered flags, attached arguments,
// options after operands, `--`). Bad input throws a ConfigError naming the culprit.
import { CLIENTS_LIMIT } from '../balancer/client-table';
import { CONNECTIONS_LIMIT } from '../balancer/connection-table';
import { ConfigError } from '../errors';
import { defaultSettings, TIMER_SECONDS_MAX, type Settings, type TlsProtocol } from '../config/settings';

export interface CommandLine {
  settings: Settings;
  /** server specs, in order */
  servers: string[];
  /** -o / -O penctl commands, in order */
  commands: string[];
  /** informational lines for stderr (obsolete options, bumped values) */
  notes: string[];
  /** --help or --version: print it and exit 0 */
  info?: 'help' | 'version';
  /** --check: check everything a start would, start nothing */
  check: boolean;
  /** -i: nothing to run (Windows service install) */
  windowsOnly: boolean;
}

const WITH_ARGUMENT = new Set('BCFOSTbceijlmopqtuwxEKGAL'.split(''));
const FLAGS = new Set('DHNPQWXUadfhnrsZR'.split(''));

const OBSOLETE: Record<string, string> = {
  D: '-D is obsolete: delayed forwarding was removed from pen in 0.26.0',
  n: '-n is obsolete: sockets are always non-blocking',
  Q: '-Q is obsolete: the event mechanism is chosen automatically',
  S: '-S is obsolete: the server table grows as needed',
};

function count(option: string, text: string, min: number, max = Infinity): number {
  if (!/^-?\d+$/.test(text)) throw new ConfigError(`-${option}: expected a number, not '${text}'`);
  const n = Number(text);
  if (n < min) throw new ConfigError(`-${option}: ${n} is too small (minimum ${min})`);
  if (n > max) throw new ConfigError(`-${option}: ${n} is too large (maximum ${max})`);
  return n;
}

function tlsProtocol(text: string): TlsProtocol {
  if (text === 'ssl2' || text === 'ssl3') {
    throw new ConfigError(`-L ${text}: not supported (OpenSSL 3 in Node.js has no SSLv2/SSLv3); use ssl23 or tls1.2`);
  }
  if (['ssl23', 'tls1', 'tls1.1', 'tls1.2', 'tls1.3'].includes(text)) return text as TlsProtocol;
  throw new ConfigError(`protocol version ${text} not known`);
}

function apply(cl: CommandLine, option: string, arg: string): void {
  const s = cl.settings;
  switch (option) {
    case 'B': s.abuseServer = arg; break;
    case 'C': s.control = arg; break;
    case 'F': s.configFile = arg; break;
    case 'O': case 'o': cl.commands.push(arg); break;
    case 'T': s.trackingTime = count(option, arg, 0); break;
    case 'b': s.blacklistTime = count(option, arg, 0); break;
    case 'c': s.clientsMax = count(option, arg, 1, CLIENTS_LIMIT); break;
    case 'e': s.emergencyServer = arg; break;
    case 'j': s.chroot = arg; break;
    case 'l': s.logFile = arg; break;
    case 'm': {
      s.multiAccept = count(option, arg, -Infinity);
      if (s.multiAccept < 1) { cl.notes.push('multi_accept bumped to 1'); s.multiAccept = 1; }
      break;
    }
    case 'p': s.pidFile = arg; break;
    case 'q': {
      s.listenQueue = count(option, arg, -Infinity);
      if (s.listenQueue < 50) { cl.notes.push('listen_queue bumped to 50'); s.listenQueue = 50; }
      break;
    }
    case 't': s.timeout = count(option, arg, 1, TIMER_SECONDS_MAX); break;
    case 'u': s.user = arg; break;
    case 'w': s.webFile = arg; break;
    case 'x': s.connMax = count(option, arg, 1, CONNECTIONS_LIMIT); break;
    case 'E': s.tls.certFile = arg; break;
    case 'K': s.tls.keyFile = arg; break;
    case 'G': s.tls.caFile = arg; break;
    case 'A': s.tls.caDir = arg; break;
    case 'L': s.tls.protocol = tlsProtocol(arg); break;
    case 'H': s.http = true; break;
    case 'N': s.hashNoSave = true; break;
    case 'W': s.weight = true; break;
    case 'X': s.exitEnabled = true; break;
    case 'U': s.udp = true; break;
    case 'a': s.ascii = true; break;
    case 'd': s.debug++; break;
    case 'f': s.foreground = true; break;
    case 'h': s.hash = true; break;
    case 'r': s.roundrobin = true; break;
    case 's': s.stubborn = true; break;
    case 'Z': s.tls.compat = true; break;
    case 'R': s.tls.requireClientCert = true; break;
    case 'P': break; // poll(): Node picks its own event mechanism
    case 'i': cl.windowsOnly = true; break;
    default: cl.notes.push(OBSOLETE[option]!);
  }
}

export function parseCommandLine(argv: string[]): CommandLine {
  const cl: CommandLine = { settings: defaultSettings(), servers: [], commands: [], notes: [], check: false, windowsOnly: false };
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') { operands.push(...argv.slice(i + 1)); break; }
    if (word === '--help' || word === '--version') { cl.info = word.slice(2) as 'help' | 'version'; continue; }
    if (word === '--check') { cl.check = true; continue; }
    if (word.startsWith('--')) throw new ConfigError(`unknown option ${word} (--help lists the options)`);
    if (!word.startsWith('-') || word === '-') { operands.push(word); continue; }
    for (let j = 1; j < word.length; j++) {
      const option = word[j]!;
      if (WITH_ARGUMENT.has(option)) {
        const arg = j + 1 < word.length ? word.slice(j + 1) : argv[++i];
        if (arg === undefined) throw new ConfigError(`option -${option} requires an argument`);
        apply(cl, option, arg);
        break;
      }
      if (!FLAGS.has(option)) throw new ConfigError(`unknown option -${option}`);
      apply(cl, option, '');
    }
  }
  const [listen, ...servers] = operands;
  if (listen !== undefined) cl.settings.listen = listen;
  cl.servers = servers;
  return cl;
}
