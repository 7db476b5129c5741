// pen's diagnostics: "YYYY-MM-DD HH:MM:SS: message" on stderr in the foreground, syslog as a daemon.
// Lines alike (the same text but for numbers) are limited per window, so that a flood of bad
// clients cannot flood the log: the rest are counted and reported as "N more like this".
import { spawn, type ChildProcess } from 'node:child_process';

let toSyslog = false;
let level = 0;
/** one logger(1) process for the life of pen-edge, fed a line per message */
let logger: ChildProcess | undefined;

const WINDOW_MS = 5000;
const ALIKE_PER_WINDOW = 10;
/** lines alike seen in this window: how many, and an example of the ones held back */
const alike = new Map<string, { count: number; example: string }>();
let window: NodeJS.Timeout | undefined;

export function setDebugLevel(n: number): void {
  level = n;
}

export function debugLevel(): number {
  return level;
}

/** After daemonizing there is no terminal: diagnostics go to syslog through logger(1). */
export function useSyslog(): void {
  toSyslog = true;
}

export function isSyslog(): boolean {
  return toSyslog;
}

export function localTimestamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/** An unconditional diagnostic line (pen's debug()); with -d every line is written, none held back. */
export function diag(message: string): void {
  if (level === 0 && !admitted(message)) return;
  write(message);
}

function write(message: string): void {
  if (!toSyslog) {
    process.stderr.write(`${localTimestamp()}: ${message}\n`);
    return;
  }
  if (logger === undefined || logger.exitCode !== null || !logger.stdin?.writable) {
    logger = spawn('logger', ['-t', 'pen', '-p', 'user.debug'], { stdio: ['pipe', 'ignore', 'ignore'] });
    logger.on('error', () => {});
    logger.stdin!.on('error', () => {});
    logger.unref();
    (logger.stdin as unknown as { unref?: () => void }).unref?.();
  }
  logger.stdin!.write(`${message.replace(/\n/g, ' | ')}\n`);
}

/** Whether a line goes out now: up to ALIKE_PER_WINDOW alike per window, the others counted. */
function admitted(message: string): boolean {
  const key = message.replace(/\d+/g, '#');
  const seen = alike.get(key);
  if (seen === undefined) {
    alike.set(key, { count: 1, example: message });
    window ??= setTimeout(closeWindow, WINDOW_MS).unref();
    return true;
  }
  seen.example = message;
  return ++seen.count <= ALIKE_PER_WINDOW;
}

/** Reports the lines held back so far (at the end of a window, and before pen-edge exits). */
export function closeWindow(): void {
  if (window !== undefined) clearTimeout(window);
  window = undefined;
  for (const { count, example } of alike.values()) {
    if (count > ALIKE_PER_WINDOW) write(`${count - ALIKE_PER_WINDOW} more like this: ${example}`);
  }
  alike.clear();
}

/** A diagnostic shown only at debug level n or above (-d repeated n times). */
export function debug(n: number, message: () => string): void {
  if (level >= n) diag(message());
}

/** A communication dump (-ddd): the byte count, then the bytes in hex or, with -a, as text. */
export function dump(chunk: Buffer, ascii: boolean): void {
  let text = '';
  for (const b of chunk) {
    text += ascii ? (b >= 32 && b < 127) || b === 9 || b === 10 || b === 13 ? String.fromCharCode(b) : '.' : `${b.toString(16).padStart(2, '0')} `;
  }
  process.stderr.write(`${chunk.length}: ${text}\n`);
}
