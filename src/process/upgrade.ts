// USR2, an upgrade without a gap: a new pen-edge, started from the installed code with the same
// arguments, is handed the listening sockets as descriptors. Clients keep connecting to the same
// sockets throughout, so none is refused or reset; once the new process serves, the old one
// drains as on QUIT.
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';

/** The environment variable that hands the listening sockets to the successor: a Handover as JSON. */
const HANDOVER = 'PEN_EDGE_HANDOVER';
/** Where the successor finds the descriptors: 3 is its IPC channel to the process before. */
const FIRST_FD = 4;

/** The listening sockets of the process before: the address they listen on, and their descriptors here. */
export interface Handover {
  address: string;
  fds: number[];
}

/**
 * The sockets the process before handed over, when they listen where this one is told to; the
 * others are closed (a changed listen address binds anew). The mark is taken out of the
 * environment, so that this process's own successor does not see it.
 */
export function takeHandover(listen: string | undefined): number[] {
  const text = process.env[HANDOVER];
  delete process.env[HANDOVER];
  if (text === undefined) return [];
  const handover = JSON.parse(text) as Handover;
  if (handover.address === listen) return handover.fds;
  for (const fd of handover.fds) closeSync(fd);
  return [];
}

/**
 * Starts the successor with `fds` handed over; resolves with its pid once it serves, rejects
 * with its start-up error (then it has exited, and this process goes on serving).
 */
export function startSuccessor(argv: string[], address: string, fds: number[]): Promise<number> {
  const handover: Handover = { address, fds: fds.map((_, i) => FIRST_FD + i) };
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    detached: true, // its own session: it outlives this process and its terminal's signals
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...fds],
    env: { ...process.env, [HANDOVER]: JSON.stringify(handover) },
    cwd: process.cwd(),
  });
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`the new process exited during start-up (code ${code})`));
    child.once('exit', exited);
    child.once('message', (m: { error?: string }) => {
      child.off('exit', exited);
      if (child.connected) child.disconnect();
      child.unref();
      if (m.error) reject(new Error(m.error));
      else resolve(child.pid!);
    });
  });
}
