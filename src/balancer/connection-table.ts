// The connection table: numbered slots (pen's conns[]) bounded by -x / conn_max. Which slots are
// taken, by which thread, and what each connects is in shared memory, so the bound, the numbers
// and the reports cover every thread; the endpoints themselves stay with the thread that owns them.
import type { Endpoint } from '../pipelines/endpoint';
import type { Client } from './client-table';
import type { Scoreboard } from './scoreboard';
import type { Server } from './server-table';
import { growMemory, sharedMemory } from './shared-memory';

export interface Connection {
  id: number;
  /** the client */
  down: Endpoint;
  /** the server, once connecting */
  up: Endpoint | undefined;
  client: Client;
  /** the client's port (from a PROXY header when one was given) */
  port: number;
  /** the address the request came from, as X-Forwarded-For reports it */
  seen: string;
  server: Server | undefined;
  /** runs while a backend connection is being made */
  connectTimer: NodeJS.Timeout | undefined;
  /** with -H, once relaying (or serving HTTP/2): ends the connection between requests when draining */
  http?: { finish: () => void };
  /** bytes from the client and to it, and when it was accepted (ms), for the JSON log */
  bytesIn: number;
  bytesOut: number;
  opened: number;
}

/** A connection as the reports show it, whichever thread holds it. */
export interface ConnectionReport {
  id: number;
  downfd: number;
  upfd: number;
  /** the client's slot in the client table */
  client: number;
  /** the server's index, undefined while none is chosen */
  server: number | undefined;
  /** bytes waiting to be written to the client and to the server (the owning thread knows them: see `queued`) */
  pendingDown: number;
  pendingUp: number;
}

/** Bytes waiting in connections other threads hold: connection id → [to the client, to the server]. */
export type QueuedBytes = ReadonlyMap<number, readonly [number, number]>;

export interface ConnectionTableMemory {
  header: SharedArrayBuffer;
  slots: SharedArrayBuffer;
}

// header words
const USED = 0;
const LAST = 1;
const HINT = 2;
const CAPACITY = 3;
/** threads waiting for a free slot (only then does closing a connection wake anyone) */
const WAITERS = 4;
const HEADER_WORDS = 5;

// words of one slot
const OWNER = 0;
const DOWN_FD = 1;
const UP_FD = 2;
const CLIENT = 3;
const SERVER_SLOT = 4;
const SERVER_INDEX = 5;
const SLOT_WORDS = 6;

const FREE = 0;
const NONE = 0;
/** the largest conn_max: shared memory is reserved for it up front */
export const CONNECTIONS_LIMIT = 1 << 20;

export class ConnectionTable {
  private readonly header: Int32Array;
  private readonly slots: Int32Array;
  /** this thread's connections, by number */
  private readonly mine: (Connection | undefined)[] = [];
  private readonly owner: number;

  static memory(max: number): ConnectionTableMemory {
    const header = sharedMemory(HEADER_WORDS * 4);
    new Int32Array(header)[CAPACITY] = max;
    return { header, slots: sharedMemory(max * SLOT_WORDS * 4, CONNECTIONS_LIMIT * SLOT_WORDS * 4) };
  }

  constructor(readonly memory: ConnectionTableMemory, private readonly board: Scoreboard, thread: number) {
    this.header = new Int32Array(memory.header);
    this.slots = new Int32Array(memory.slots);
    this.owner = thread + 1;
  }

  /** the bound (-x, conn_max) */
  get max(): number {
    return Atomics.load(this.header, CAPACITY);
  }

  /** open connections, in every thread */
  get count(): number {
    return Atomics.load(this.header, USED);
  }

  /** highest slot number handed out so far (pen's connections_last) */
  get last(): number {
    return Atomics.load(this.header, LAST);
  }

  /** A free slot for a new connection, or undefined when -x connections are open. */
  open(down: Endpoint, client: Client, port: number, seen: string): Connection | undefined {
    const h = this.header;
    for (let used = Atomics.load(h, USED); ; used = Atomics.load(h, USED)) {
      if (used >= Atomics.load(h, CAPACITY)) return undefined;
      if (Atomics.compareExchange(h, USED, used, used + 1) === used) break;
    }
    const id = this.claimSlot();
    const at = id * SLOT_WORDS;
    Atomics.store(this.slots, at + DOWN_FD, down.fd);
    Atomics.store(this.slots, at + UP_FD, -1);
    Atomics.store(this.slots, at + CLIENT, client.slot);
    const conn: Connection = { id, down, up: undefined, client, port, seen, server: undefined, connectTimer: undefined, bytesIn: 0, bytesOut: 0, opened: Date.now() };
    this.mine[id] = conn;
    for (let last = Atomics.load(h, LAST); id > last; last = Atomics.load(h, LAST)) { // another thread may raise it meanwhile
      if (Atomics.compareExchange(h, LAST, last, id) === last) break;
    }
    return conn;
  }

  /** Claims the first free slot from the hint on; one exists, since USED was below the bound. */
  private claimSlot(): number {
    const max = this.max;
    for (let id = Math.min(Atomics.load(this.header, HINT), max - 1); ; id = (id + 1) % max) {
      if (Atomics.compareExchange(this.slots, id * SLOT_WORDS + OWNER, FREE, this.owner) === FREE) {
        Atomics.store(this.header, HINT, id + 1);
        return id;
      }
    }
  }

  /**
   * The connection to server is made: it counts against the server's limits until it closes, or
   * until it is connected to another (an HTTP/2 client moving on from a failed server).
   */
  connected(conn: Connection, server: Server): void {
    this.board.acquire(server.slot);
    const at = conn.id * SLOT_WORDS;
    Atomics.store(this.slots, at + UP_FD, conn.up?.fd ?? -1);
    Atomics.store(this.slots, at + SERVER_INDEX, server.index);
    const counted = Atomics.exchange(this.slots, at + SERVER_SLOT, server.slot + 1);
    if (counted !== NONE) this.board.release(counted - 1);
  }

  close(conn: Connection): void {
    if (this.mine[conn.id] !== conn) return;
    this.mine[conn.id] = undefined;
    this.free(conn.id);
  }

  /** Gives slot id back, with the server connection it counted. */
  private free(id: number): void {
    const at = id * SLOT_WORDS;
    const counted = Atomics.exchange(this.slots, at + SERVER_SLOT, NONE);
    if (counted !== NONE) this.board.release(counted - 1);
    Atomics.store(this.slots, at + OWNER, FREE);
    Atomics.sub(this.header, USED, 1);
    if (id < Atomics.load(this.header, HINT)) Atomics.store(this.header, HINT, id);
    if (Atomics.load(this.header, WAITERS) > 0) Atomics.notify(this.header, USED);
  }

  /**
   * Calls back once the number of open connections (in any thread) is no longer `seen`: at once if
   * it has changed already, else when a connection closes.
   */
  whenChanged(seen: number, callback: () => void): void {
    Atomics.add(this.header, WAITERS, 1);
    const wait = Atomics.waitAsync(this.header, USED, seen);
    const done = () => {
      Atomics.sub(this.header, WAITERS, 1);
      callback();
    };
    if (wait.async) void wait.value.then(done);
    else queueMicrotask(done);
  }

  /** After a thread died: its slots and server counts (UDP sessions' too) are given back; how many. */
  freeFor(deadThread: number): number {
    let freed = this.board.releaseSessionsOf(deadThread);
    for (let id = 0; id <= this.last; id++) {
      if (Atomics.load(this.slots, id * SLOT_WORDS + OWNER) !== deadThread + 1) continue;
      this.free(id);
      freed++;
    }
    return freed;
  }

  /** This thread's open connections. */
  mineOpen(): Connection[] {
    return this.mine.filter((c): c is Connection => c !== undefined);
  }

  /** This thread's connection number id, if it holds it. */
  get(id: number): Connection | undefined {
    return this.mine[id];
  }

  /** The thread holding connection id, or -1 when the slot is free. */
  holder(id: number): number {
    if (id < 0 || id >= this.max) return -1;
    return Atomics.load(this.slots, id * SLOT_WORDS + OWNER) - 1;
  }

  /**
   * This thread's connections with bytes waiting to be written, for a report made in another
   * thread: [id, to the client, to the server] after one another.
   */
  queued(): number[] {
    const found: number[] = [];
    for (const c of this.mine) {
      const down = c?.down.pending ?? 0;
      const up = c?.up?.pending ?? 0;
      if (down + up > 0) found.push(c!.id, down, up);
    }
    return found;
  }

  /** Every thread's open connections, in number order; `queued` has the other threads' (see queued()). */
  list(queued?: QueuedBytes): ConnectionReport[] {
    const reports: ConnectionReport[] = [];
    for (let id = 0; id <= this.last && id < this.max; id++) {
      const report = this.report(id, queued);
      if (report) reports.push(report);
    }
    return reports;
  }

  /** Connection id as the reports show it, whichever thread holds it; undefined when free. */
  report(id: number, queued?: QueuedBytes): ConnectionReport | undefined {
    const at = id * SLOT_WORDS;
    if (id < 0 || id >= this.max || Atomics.load(this.slots, at + OWNER) === FREE) return undefined;
    const local = this.mine[id];
    const counted = Atomics.load(this.slots, at + SERVER_SLOT) !== NONE;
    return {
      id, downfd: Atomics.load(this.slots, at + DOWN_FD), upfd: local ? local.up?.fd ?? -1 : Atomics.load(this.slots, at + UP_FD),
      client: Atomics.load(this.slots, at + CLIENT), server: local?.server?.index ?? (counted ? Atomics.load(this.slots, at + SERVER_INDEX) : undefined),
      pendingDown: local ? local.down.pending : queued?.get(id)?.[0] ?? 0,
      pendingUp: local ? local.up?.pending ?? 0 : queued?.get(id)?.[1] ?? 0,
    };
  }

  grow(max: number): void {
    if (max <= this.max) return;
    growMemory(this.memory.slots, max * SLOT_WORDS * 4);
    Atomics.store(this.header, CAPACITY, max);
  }
}
