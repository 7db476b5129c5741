// pen's client table: which server each client address used last, with LRU eviction. It lives in
// shared memory, so a returning client gets its server whichever thread takes the connection:
// a hash of address keys (open addressing) over numbered slots, guarded by one spin lock.
import { keyText, writeKey } from './address-key';
import { NO_SERVER } from './server-table';
import { CounterRows, growMemory, sharedMemory, SpinLock } from './shared-memory';

/** A connection's view of its client: what the table held when the connection came in. */
export interface Client {
  address: string;
  /** position in the table (pen's client number) */
  slot: number;
  /** which use of the slot this is: a slot recycled for another address has moved on */
  generation: number;
  /** second of the last connection */
  last: number;
  /** remembered server index, or NO_SERVER */
  server: number;
  connects: number;
  /** where the client is, when a geo map or database knows */
  country?: string;
  continent?: string;
}

/** A client as the reports show it, bytes summed over every thread. */
export interface ClientReport extends Client {
  /** bytes sent to the client */
  csx: number;
  /** bytes received from the client */
  crx: number;
}

export interface ClientTableMemory {
  header: SharedArrayBuffer;
  entries: SharedArrayBuffer;
  stamps: SharedArrayBuffer;
  buckets: SharedArrayBuffer;
  /** one row per thread: [sent, received] per slot */
  bytes: SharedArrayBuffer[];
}

// header words
const LOCK = 0;
const CAPACITY = 1;
const USED = 2;
const BUCKET_COUNT = 3;
const HEADER_WORDS = 4;
/** bytes of the header: its words, then the recency clock (a float64: it never wraps) */
const HEADER_BYTES = HEADER_WORDS * 4 + 8;

// words of one entry: the address key, then what pen keeps per client
const KEY = 0;
const SERVER = 4;
const LAST = 5;
const CONNECTS = 6;
const PLACE = 7;
const GENERATION = 8;
/** 1 when the server changed since the client store last took the changes */
const CHANGED = 9;
const ENTRY_WORDS = 10;

const NO_PLACE = 0;
/** the largest clients_max: shared memory is reserved for it up front, and committed as it grows */
export const CLIENTS_LIMIT = 1 << 20;

/** Two letters in 16 bits each, country high, continent low (0 = unknown). */
const code = (text: string | undefined) => (text && text.length === 2 ? (text.charCodeAt(0) << 8) | text.charCodeAt(1) : 0);
const letters = (bits: number) => (bits === 0 ? undefined : String.fromCharCode(bits >> 8, bits & 0xff));

function bucketCountFor(capacity: number): number {
  let n = 16;
  while (n < capacity * 2) n *= 2;
  return n;
}

export class ClientTable {
  private readonly header: Int32Array;
  private readonly clock: Float64Array;
  private readonly entries: Int32Array;
  private readonly stamps: Float64Array;
  private readonly buckets: Int32Array;
  /** bytes sent to and received from each client slot, one row per thread */
  private readonly bytes: CounterRows;
  private readonly lock: SpinLock;
  private readonly key = new Int32Array(4);
  /** seconds after which a client's server is forgotten (-T); 0 = never */
  trackingTime = 0;

  static memory(capacity: number): ClientTableMemory {
    const header = sharedMemory(HEADER_BYTES);
    const words = new Int32Array(header, 0, HEADER_WORDS);
    words[CAPACITY] = capacity;
    words[BUCKET_COUNT] = bucketCountFor(capacity);
    const room = (perEntry: number) => sharedMemory(capacity * perEntry, CLIENTS_LIMIT * perEntry);
    return {
      header,
      entries: room(ENTRY_WORDS * 4),
      stamps: room(8),
      buckets: sharedMemory(words[BUCKET_COUNT]! * 4, bucketCountFor(CLIENTS_LIMIT) * 4),
      bytes: [],
    };
  }

  /** Rows of byte counters for threads 0 … threads-1 (made before the threads start). */
  static addRows(memory: ClientTableMemory, threads: number): void {
    const capacity = new Int32Array(memory.header, 0, HEADER_WORDS)[CAPACITY]!;
    CounterRows.add(memory.bytes, threads, capacity * 16, CLIENTS_LIMIT * 16);
  }

  constructor(readonly memory: ClientTableMemory, thread: number) {
    this.header = new Int32Array(memory.header, 0, HEADER_WORDS);
    this.clock = new Float64Array(memory.header, HEADER_WORDS * 4, 1);
    this.entries = new Int32Array(memory.entries);
    this.stamps = new Float64Array(memory.stamps);
    this.buckets = new Int32Array(memory.buckets);
    ClientTable.addRows(memory, thread + 1);
    this.bytes = new CounterRows(memory.bytes, thread);
    this.lock = new SpinLock(this.header, LOCK, thread);
  }

  /** the table's size (-c, clients_max) */
  get max(): number {
    return Atomics.load(this.header, CAPACITY);
  }

  /** Records a connection from address and returns its entry (new, recycled or remembered). */
  visit(address: string, now: number): Client {
    writeKey(address, this.key, 0);
    this.lock.lock();
    try {
      let slot = this.find();
      if (slot < 0) slot = this.newEntry();
      else if (this.trackingTime > 0 && this.entries[slot * ENTRY_WORDS + LAST]! + this.trackingTime < now) this.forget(slot);
      const at = slot * ENTRY_WORDS;
      this.entries[at + LAST] = now;
      this.entries[at + CONNECTS]!++;
      this.stamps[slot] = this.tick();
      return this.clientAt(slot, address);
    } finally {
      this.lock.unlock();
    }
  }

  /** Remembers the server a client was given, unless its slot went to another address meanwhile. */
  remember(client: Client, server: number): void {
    client.server = server;
    const at = client.slot * ENTRY_WORDS;
    this.lock.lock(); // the slot cannot go to another address between the check and the store
    try {
      if (this.entries[at + GENERATION] !== client.generation || this.entries[at + SERVER] === server) return;
      this.entries[at + SERVER] = server;
      this.entries[at + CHANGED] = 1;
    } finally {
      this.lock.unlock();
    }
  }

  /** Clients whose server changed since the last call, as [address, server] (for a client store). */
  takeChanges(): Array<[string, number]> {
    const changes: Array<[string, number]> = [];
    this.lock.lock();
    try {
      for (let slot = 0; slot < this.header[USED]!; slot++) {
        const at = slot * ENTRY_WORDS;
        if (this.entries[at + CHANGED] === 0) continue;
        this.entries[at + CHANGED] = 0;
        changes.push([keyText(this.entries, at + KEY), this.entries[at + SERVER]!]);
      }
    } finally {
      this.lock.unlock();
    }
    return changes;
  }

  /** Takes over another balancer's choice of server for address (no connection is counted). */
  adopt(address: string, server: number, now: number): void {
    writeKey(address, this.key, 0);
    this.lock.lock();
    try {
      let slot = this.find();
      if (slot < 0) {
        slot = this.newEntry();
        this.entries[slot * ENTRY_WORDS + LAST] = now;
        this.stamps[slot] = this.tick();
      }
      this.entries[slot * ENTRY_WORDS + SERVER] = server;
      this.entries[slot * ENTRY_WORDS + CHANGED] = 0;
    } finally {
      this.lock.unlock();
    }
  }

  /** Records where a client is (the geo lookup of its first connection). */
  locate(client: Client, place: { country?: string; continent?: string } | undefined): void {
    client.country = place?.country;
    client.continent = place?.continent;
    const at = client.slot * ENTRY_WORDS;
    const bits = (code(place?.country) << 16) | code(place?.continent);
    if (Atomics.load(this.entries, at + GENERATION) === client.generation) Atomics.store(this.entries, at + PLACE, bits);
  }

  /** Bytes sent to the client, counted in this thread's column. */
  addSent(client: Client, n: number): void {
    this.bytes.own[client.slot * 2] += n;
  }

  addReceived(client: Client, n: number): void {
    this.bytes.own[client.slot * 2 + 1] += n;
  }

  /** Grows the table (pen never shrinks it). */
  grow(max: number): void {
    if (max <= this.max) return;
    this.lock.lock();
    try {
      const m = this.memory;
      growMemory(m.entries, max * ENTRY_WORDS * 4);
      growMemory(m.stamps, max * 8);
      this.bytes.grow(max * 16);
      const buckets = bucketCountFor(max);
      if (buckets > this.header[BUCKET_COUNT]!) {
        growMemory(m.buckets, buckets * 4);
        this.header[BUCKET_COUNT] = buckets;
        this.rehash();
      }
      Atomics.store(this.header, CAPACITY, max);
    } finally {
      this.lock.unlock();
    }
  }

  /** clients in the table */
  get size(): number {
    return Atomics.load(this.header, USED);
  }

  /**
   * How many clients of the table each country has, for those geo placed. Read without the lock
   * (a word at a time, each whole): a client placed meanwhile may count or not, as in any report.
   */
  countByCountry(): Map<string, number> {
    const counts = new Map<string, number>();
    for (let slot = 0; slot < this.size; slot++) {
      const country = letters(Atomics.load(this.entries, slot * ENTRY_WORDS + PLACE) >>> 16);
      if (country !== undefined) counts.set(country, (counts.get(country) ?? 0) + 1);
    }
    return counts;
  }

  /** Clients in slot order, as pen lists them. */
  list(): ClientReport[] {
    const clients: ClientReport[] = [];
    this.lock.lock();
    try {
      for (let slot = 0; slot < this.header[USED]!; slot++) {
        const client = this.clientAt(slot, keyText(this.entries, slot * ENTRY_WORDS + KEY));
        clients.push({ ...client, csx: this.bytes.sum(slot * 2), crx: this.bytes.sum(slot * 2 + 1) });
      }
    } finally {
      this.lock.unlock();
    }
    return clients;
  }

  /** Frees the lock if a thread died holding it. */
  releaseFor(deadThread: number): void {
    this.lock.release(deadThread);
  }

  /** The entry at slot as a connection sees it (under the lock); address: its key as text. */
  private clientAt(slot: number, address: string): Client {
    const at = slot * ENTRY_WORDS;
    const place = this.entries[at + PLACE]!;
    return {
      address, slot, generation: this.entries[at + GENERATION]!, last: this.entries[at + LAST]!, server: this.entries[at + SERVER]!,
      connects: this.entries[at + CONNECTS]!, country: letters(place >>> 16), continent: letters(place & 0xffff),
    };
  }

  /** The slot holding the key, or -1. */
  private find(): number {
    const mask = this.header[BUCKET_COUNT]! - 1;
    for (let b = this.home(this.key, 0) & mask; ; b = (b + 1) & mask) {
      const held = this.buckets[b]!;
      if (held === 0) return -1;
      if (this.sameKey(held - 1)) return held - 1;
    }
  }

  private sameKey(slot: number): boolean {
    const at = slot * ENTRY_WORDS + KEY;
    const e = this.entries;
    const k = this.key;
    return e[at] === k[0] && e[at + 1] === k[1] && e[at + 2] === k[2] && e[at + 3] === k[3];
  }

  private home(words: Int32Array, at: number): number {
    let h = Math.imul(words[at + 3]! ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ words[at + 2]! ^ (h >>> 15), 0xc2b2ae35);
    h = Math.imul(h ^ words[at + 1]! ^ (h >>> 13), 0x85ebca6b);
    h ^= words[at]! ^ (h >>> 16);
    return h >>> 0;
  }

  /** The next recency stamp: visits are ordered by it, and the smallest is evicted. */
  private tick(): number {
    return ++this.clock[0]!;
  }

  /** A slot for the key: the next unused one, or the least recently seen client's. */
  private newEntry(): number {
    const used = this.header[USED]!;
    const slot = used < this.header[CAPACITY]! ? (this.header[USED] = used + 1) - 1 : this.evictOldest();
    const at = slot * ENTRY_WORDS;
    this.entries.set(this.key, at + KEY);
    this.entries[at + GENERATION]!++;
    this.entries[at + CONNECTS] = 0;
    this.forget(slot);
    this.insert(slot);
    return slot;
  }

  private forget(slot: number): void {
    const at = slot * ENTRY_WORDS;
    this.entries[at + SERVER] = NO_SERVER;
    this.entries[at + CONNECTS] = 0;
    this.entries[at + PLACE] = NO_PLACE;
    this.entries[at + CHANGED] = 0;
    this.bytes.clear(slot * 2, slot * 2 + 2);
  }

  private evictOldest(): number {
    let oldest = 0;
    for (let slot = 1; slot < this.header[USED]!; slot++) if (this.stamps[slot]! < this.stamps[oldest]!) oldest = slot;
    this.remove(oldest);
    return oldest;
  }

  private insert(slot: number): void {
    const mask = this.header[BUCKET_COUNT]! - 1;
    let b = this.home(this.entries, slot * ENTRY_WORDS + KEY) & mask;
    while (this.buckets[b] !== 0) b = (b + 1) & mask;
    this.buckets[b] = slot + 1;
  }

  /** Takes slot out of the buckets, shifting back the entries that probed past it. */
  private remove(slot: number): void {
    const mask = this.header[BUCKET_COUNT]! - 1;
    let hole = this.home(this.entries, slot * ENTRY_WORDS + KEY) & mask;
    while (this.buckets[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let b = (hole + 1) & mask; this.buckets[b] !== 0; b = (b + 1) & mask) {
      const home = this.home(this.entries, (this.buckets[b]! - 1) * ENTRY_WORDS + KEY) & mask;
      // move b into the hole unless its home lies cyclically in (hole, b]
      const stays = hole <= b ? home > hole && home <= b : home > hole || home <= b;
      if (!stays) {
        this.buckets[hole] = this.buckets[b]!;
        hole = b;
      }
    }
    this.buckets[hole] = 0;
  }

  private rehash(): void {
    this.buckets.fill(0);
    for (let slot = 0; slot < this.header[USED]!; slot++) this.insert(slot);
  }
}
