import { NO_SERVER } from '../server-table';
import type { Choice, Selector } from './selector';

/** The available server with the lowest priority number; the first of equals. */
export class Prio implements Selector {
  pick({ table, now }: Choice): number {
    let best = NO_SERVER;
    let bestPrio = 0;
    for (const s of table.servers) {
      if (table.isUnavailable(s, now)) continue;
      if (best === NO_SERVER || s.prio < bestPrio) {
        best = s.index;
        bestPrio = s.prio;
      }
    }
    return best;
  }
}
