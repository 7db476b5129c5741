import { NO_SERVER } from '../server-table';
import type { Choice, Selector } from './selector';

/**
 * The next available server after the one chosen last, wrapping around. The cursor is shared:
 * threads take turns from one rotation, as if one process chose.
 */
export class RoundRobin implements Selector {
  pick({ table, now }: Choice): number {
    const n = table.size;
    if (n === 0) return NO_SERVER;
    for (;;) {
      const last = table.board.roundRobin;
      const next = this.nextAvailable(table, last % n, n, now);
      if (next === NO_SERVER || table.board.moveRoundRobin(last, next)) return next;
    }
  }

  private nextAvailable(table: Choice['table'], last: number, n: number, now: number): number {
    let i = last;
    do {
      i = (i + 1) % n;
      if (!table.isUnavailable(table.servers[i]!, now)) return i;
    } while (i !== last);
    return NO_SERVER;
  }
}
