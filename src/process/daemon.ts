// Daemonizing without fork(): the launcher starts a detached copy of itself (new session, no
// terminal) and exits only when that copy is serving, so start-up errors still reach the shell.
import { spawn } from 'node:child_process';

const MARK = 'PEN_EDGE_DAEMON';

export function isDaemonChild(): boolean {
  return process.env[MARK] === '1';
}

/** In the daemon: tell the launcher we are serving (no error) or why we are not. */
export function reportReady(error?: string): void {
  if (!process.send) return;
  process.send({ error }, () => process.disconnect());
}

export function daemonize(argv: string[]): Promise<void> {
  return new Promise(() => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [MARK]: '1' },
      cwd: process.cwd(),
    });
    child.once('message', (msg: { error?: string }) => {
      if (msg.error) process.stderr.write(`pen: ${msg.error}\n`);
      process.exit(msg.error ? 1 : 0);
    });
    child.once('exit', (code) => {
      process.stderr.write(`pen: daemon exited during start-up (code ${code})\n`);
      process.exit(1);
    });
  });
}
