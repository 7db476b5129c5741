import type { ServerTable } from '../server-table';

/** What a selector may look at: never a socket. */
export interface Choice {
  table: ServerTable;
  /** client address (normalised: dotted IPv4 or IPv6 text) */
  address: string;
  /** client source port */
  port: number;
  /** current second */
  now: number;
}

/** Picks the initial server index for a new client, or NO_SERVER. */
export interface Selector {
  pick(choice: Choice): number;
}
