// The -l log: one line per chunk read from a client, "CLIENT TIME SERVER FIRST-LINE", as pen writes
// it; "host:port" sends "+ CLIENT SERVER FIRST-LINE" datagrams to a penlogd instead.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { ConfigError } from '../errors';

const KEEP_MAX = 100; // bytes of the request kept in a file line (pen's KEEP_MAX)
const NET_MAX = 1024;

/** Where the forwarder logs: the log itself, or a worker's relay to it. */
export interface RequestSink {
  /** pen's format: a chunk a client sent */
  write(client: string, server: string, chunk: Buffer): void;
  /** a whole line made by the forwarder (the JSON log), without its newline */
  line(text: string): void;
}

/** What a JSON log line tells: when, who, where to; then either a connection's bytes or a request's exchange. */
export type LogFields = { client: string; country: string | null; server: string | null } &
  ({ bytes_in: number; bytes_out: number; ms: number } | { method: string; path: string; status: number; bytes: number; ms: number });

/** One line of the JSON log. */
export function jsonLine(fields: LogFields): string {
  return JSON.stringify({ time: new Date().toISOString(), ...fields });
}

/** The first line of a chunk, as long as any log target keeps it, with bytes outside ASCII shown as '.'. */
function firstLine(chunk: Buffer): string {
  const n = Math.min(chunk.length, NET_MAX);
  let out = '';
  for (let i = 0; i < n; i++) {
    const b = chunk[i]!;
    if (b === 13 || b === 10) break;
    out += b < 128 ? String.fromCharCode(b) : '.';
  }
  return out;
}

/** A log target is a file unless it is `host:port` (a penlogd). */
export function isLogFile(target: string): boolean {
  const colon = target.indexOf(':');
  return colon <= 0 || target.startsWith('/');
}

export class RequestLog implements RequestSink {
  private file: WriteStream | undefined;
  private net: { socket: UdpSocket; host: string; port: number } | undefined;

  private constructor(readonly target: string) {}

  /** Opens a log file (append, at once, so a reopen swaps files with no gap) or a network log target. */
  static open(target: string): RequestLog {
    const log = new RequestLog(target);
    if (!isLogFile(target)) {
      const colon = target.indexOf(':');
      const port = Number(target.slice(colon + 1));
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`log: bad port in '${target}'`);
      log.net = { socket: createSocket('udp4'), host: target.slice(0, colon), port };
      return log;
    }
    let fd: number;
    try {
      fd = openSync(target, 'a');
    } catch (err) {
      throw new ConfigError(`Can't open logfile ${target}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    log.file = createWriteStream('', { fd });
    return log;
  }

  write(client: string, server: string, chunk: Buffer): void {
    this.record(client, server, firstLine(chunk));
  }

  /** One line for a chunk whose first line (firstLine) is `line`. */
  record(client: string, server: string, line: string): void {
    if (this.file) {
      this.file.write(`${client} ${Math.floor(Date.now() / 1000)} ${server} ${line.slice(0, KEEP_MAX)}\n`);
    } else if (this.net) {
      this.net.socket.send(`+ ${client} ${server} ${line.slice(0, NET_MAX - client.length - server.length - 5)}\n`, this.net.port, this.net.host);
    }
  }

  line(text: string): void {
    if (this.file) this.file.write(`${text}\n`);
    else this.net?.socket.send(`${text}\n`, this.net.port, this.net.host);
  }

  /** Flushes every line written so far and closes. */
  async close(): Promise<void> {
    if (this.file) {
      const file = this.file;
      this.file = undefined;
      await new Promise<void>((resolve) => file.end(resolve));
    }
    if (this.net) {
      this.net.socket.close();
      this.net = undefined;
    }
  }
}

/** One log line, as a worker hands it to the main thread: [client, server, first line of the chunk], or a whole line */
export type LogRecord = [string, string, string] | string;

/** A worker thread's log: lines gathered and sent to the main thread, which alone writes the file. */
export class LogRelay implements RequestSink {
  private records: LogRecord[] = [];

  constructor(private readonly send: (records: LogRecord[]) => void) {}

  write(client: string, server: string, chunk: Buffer): void {
    this.add([client, server, firstLine(chunk)]);
  }

  line(text: string): void {
    this.add(text);
  }

  private add(record: LogRecord): void {
    if (this.records.length === 0) setImmediate(this.flush);
    this.records.push(record);
  }

  /** Sends what was gathered (also before the thread stops). */
  readonly flush = (): void => {
    if (this.records.length === 0) return;
    this.send(this.records);
    this.records = [];
  };
}
