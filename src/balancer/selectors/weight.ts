import { NO_SERVER } from '../server-table';
import type { Choice, Selector } from './selector';

const WEIGHT_FACTOR = 256;

/** The available server with the fewest connections per unit of weight (weight 0: never). */
export class Weight implements Selector {
  pick({ table, now }: Choice): number {
    let best = NO_SERVER;
    let bestLoad = 0;
    for (const s of table.servers) {
      if (s.weight === 0 || table.isUnavailable(s, now)) continue;
      const load = Math.floor((WEIGHT_FACTOR * table.connections(s)) / s.weight);
      if (best === NO_SERVER || load < bestLoad) {
        best = s.index;
        bestLoad = load;
      }
    }
    return best;
  }
}
