// Something kept for each server (a pool of connections to it), made on first use and made again
// when the server's address or connection limits change.
import type { Server } from './server-table';

/** What such a thing is made for: a change to any of it needs a new one. */
type Target = Pick<Server, 'host' | 'port' | 'maxc' | 'hard' | 'tls'>;

/** Whether server is still the target (by value: worker threads get servers as copies). */
const isTarget = (target: Target, server: Server): boolean => target.host === server.host && target.port === server.port &&
  target.maxc === server.maxc && target.hard === server.hard && (target.tls === undefined) === (server.tls === undefined) &&
  target.tls?.servername === server.tls?.servername && target.tls?.caFile === server.tls?.caFile;

export class PerServer<T> {
  private readonly made = new Map<number, { target: Target; value: T }>();

  /** `replaced` hands over from the old value to the one made in its place. */
  constructor(private readonly make: (server: Server) => T, private readonly replaced: (old: T, made: T) => void) {}

  for(server: Server): T {
    const kept = this.made.get(server.index);
    if (kept && isTarget(kept.target, server)) return kept.value;
    const { host, port, maxc, hard, tls } = server;
    const value = this.make(server);
    this.made.set(server.index, { target: { host, port, maxc, hard, tls }, value });
    if (kept) this.replaced(kept.value, value);
    return value;
  }

  /** Everything made so far, forgotten here. */
  takeAll(): T[] {
    const values = [...this.made.values()].map(({ value }) => value);
    this.made.clear();
    return values;
  }
}
