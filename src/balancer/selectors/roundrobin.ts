import { NO_SERVER } from '../server-table';
import type { Choice, Selector } from './selector';

/** The next available server after the one chosen last, wrapping around. */
export class RoundRobin implements Selector {
  private last = 0;

  pick({ table, now }: Choice): number {
    const n = table.size;
    if (n === 0) return NO_SERVER;
    let i = this.last;
    do {
      i = (i + 1) % n;
      if (!table.isUnavailable(table.servers[i]!, now)) return (this.last = i);
    } while (i !== this.last);
    return NO_SERVER;
  }
}
