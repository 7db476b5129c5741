// pen's diagnostics: "YYYY-MM-DD HH:MM:SS: message" on stderr in the foreground, syslog as a daemon.
import { spawn } from 'node:child_process';

let toSyslog = false;
let level = 0;

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

/** An unconditional diagnostic line (pen's debug()). */
export function diag(message: string): void {
  if (toSyslog) {
    spawn('logger', ['-t', 'pen', '-p', 'user.debug', '--', message], { stdio: 'ignore' }).on('error', () => {});
  } else {
    process.stderr.write(`${localTimestamp()}: ${message}\n`);
  }
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
