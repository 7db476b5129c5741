// File descriptors: how many the process may open (ulimit -n) and has open. Clients and their
// servers may use what is left after a reserve, so that the control port, the log and health
// checks keep working when clients would take them all (HAProxy derives maxconn the same way).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * kept free: each of a listener's 32 accepting descriptors may take a client in one turn of the
 * event loop before a refused one is closed; the control port holds up to 32 connections
 * (src/listeners/control.ts); the log, health checks and a TLS reload need some of their own
 */
const RESERVED_DESCRIPTORS = 80;
/** what each further worker's listener may take in one turn, as above */
const RESERVED_PER_WORKER = 32;

/** The descriptors kept free with `workers` threads listening. */
export function reservedDescriptors(workers: number): number {
  return RESERVED_DESCRIPTORS + RESERVED_PER_WORKER * (workers - 1);
}

/** The soft limit on open files, where /proc tells it (Linux); undefined elsewhere. */
function descriptorLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * Descriptors clients and servers may hold, the `connections` open now (in any worker, two
 * descriptors each) included: the limit, less the reserve and what else is open. A worker that
 * replaces a dead one starts with the others' connections open; they are not counted twice.
 */
export function descriptorBudget(connections: number, workers: number): number {
  const limit = descriptorLimit();
  if (limit === undefined) return Infinity;
  try {
    const others = readdirSync('/proc/self/fd').length - 2 * connections;
    return Math.max(0, limit - others - reservedDescriptors(workers));
  } catch {
    return Infinity;
  }
}
