// USR2, an upgrade without a gap: a new pen-edge, started from the installed code with the same
// arguments, is handed the listening sockets as descriptors and, before it serves, the client
// table. Clients keep connecting to the same sockets throughout, so none is refused or reset,
// and each keeps its server; once the new process serves, the old one drains as on QUIT.
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';

/** The environment variable that hands the listening sockets to the successor: their address and descriptors, as JSON. */
const HANDOVER = 'PEN_EDGE_HANDOVER';
/** Where the successor finds the descriptors: 3 is its IPC channel to the process before. */
const FIRST_FD = 4;
/** How long the successor waits for the client table before it serves without it. */
const CLIENTS_WAIT_MS = 5000;

/** A client table entry as it crosses: address, server index, second of the last connection. */
export type ClientRecord = [string, number, number];

/** What the process before handed over: listening sockets (descriptors here) and its clients. */
export interface Handover {
  fds: number[];
  clients: ClientRecord[];
}

/** Messages on the channel between the old process and its successor. */
type FromSuccessor = { want: 'clients' } | { error?: string };

/**
 * What the process before handed over; the sockets only when they listen where this one is told
 * to (the others are closed: a changed listen address binds anew). The mark is taken out of the
 * environment, so that this process's own successor does not see it.
 */
export async function receiveHandover(listen: string | undefined): Promise<Handover> {
  const text = process.env[HANDOVER];
  delete process.env[HANDOVER];
  if (text === undefined || !process.send) return { fds: [], clients: [] };
  const { address, fds } = JSON.parse(text) as { address: string; fds: number[] };
  const clients = await askForClients();
  if (address === listen) return { fds, clients };
  for (const fd of fds) closeSync(fd);
  return { fds: [], clients };
}

function askForClients(): Promise<ClientRecord[]> {
  return new Promise((resolve) => {
    const late = setTimeout(() => done([]), CLIENTS_WAIT_MS);
    const done = (clients: ClientRecord[]) => {
      clearTimeout(late);
      process.off('message', onMessage);
      resolve(clients);
    };
    const onMessage = (m: { clients?: ClientRecord[] }) => done(m.clients ?? []);
    process.on('message', onMessage);
    process.send!({ want: 'clients' } satisfies FromSuccessor);
  });
}

/**
 * Starts the successor with `fds` handed over, `clients()` sent when it asks; resolves with its
 * pid once it serves, rejects with its start-up error (then it has exited, and this process goes
 * on serving).
 */
export function startSuccessor(argv: string[], address: string, fds: number[], clients: () => ClientRecord[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    detached: true, // its own session: it outlives this process and its terminal's signals
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...fds],
    env: { ...process.env, [HANDOVER]: JSON.stringify({ address, fds: fds.map((_, i) => FIRST_FD + i) }) },
    cwd: process.cwd(),
  });
  return new Promise((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`the new process exited during start-up (code ${code})`));
    child.once('exit', exited);
    child.on('message', (m: FromSuccessor) => {
      if ('want' in m) return void child.send({ clients: clients() });
      child.off('exit', exited);
      if (child.connected) child.disconnect();
      child.unref();
      if (m.error) reject(new Error(m.error));
      else resolve(child.pid!);
    });
  });
}
