// pen's client table: which server each client address used last, with LRU eviction.

export interface Client {
  address: string;
  /** second of the last connection */
  last: number;
  /** remembered server index, or NO_SERVER */
  server: number;
  connects: number;
  /** bytes sent to the client */
  csx: number;
  /** bytes received from the client */
  crx: number;
  /** position in the table, for reports */
  slot: number;
  /** where the client is, when a geo map or database knows */
  country?: string;
  continent?: string;
}

export class ClientTable {
  // Map iteration order is insertion order; re-inserting on each visit makes it recency order.
  private readonly clients = new Map<string, Client>();
  private nextSlot = 0;

  constructor(public max: number, public trackingTime = 0) {}

  /** Records a connection from address and returns its entry (new, recycled or remembered). */
  visit(address: string, now: number, noServer: number): Client {
    let client = this.clients.get(address);
    if (client) {
      this.clients.delete(address);
      if (this.trackingTime > 0 && client.last + this.trackingTime < now) this.forget(client, noServer);
    } else {
      client = this.newEntry(address, noServer, now);
    }
    this.clients.set(address, client);
    client.last = now;
    client.connects++;
    return client;
  }

  private newEntry(address: string, noServer: number, now: number): Client {
    const slot = this.clients.size < this.max ? this.nextSlot++ : this.evictOldest();
    return { address, last: now, server: noServer, connects: 0, csx: 0, crx: 0, slot };
  }

  /** The least recently seen client is first in the map; if any client has expired, it has. */
  private evictOldest(): number {
    const victim = this.clients.values().next().value as Client;
    this.clients.delete(victim.address);
    return victim.slot;
  }

  private forget(client: Client, noServer: number): void {
    client.server = noServer;
    client.connects = 0;
    client.csx = 0;
    client.crx = 0;
  }

  /** Grows the table (pen never shrinks it). */
  grow(max: number): void {
    if (max > this.max) this.max = max;
  }

  /** Clients in slot order, as pen lists them. */
  list(): Client[] {
    return [...this.clients.values()].sort((a, b) => a.slot - b.slot);
  }
}
