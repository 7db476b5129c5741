// The scoreboard: the live counters of the servers, shared by every thread. Connections per
// server (limits, weights), blacklist time and health are one truth read and written with
// Atomics; bytes, connections made and health check results are counted in one row per thread
// (no contention) and summed when reported.
import { CounterRows, sharedMemory } from './shared-memory';

/** Server slots: `server N` for N < SERVER_MAX, then the emergency (-e) and abuse (-B) servers. */
export const SERVER_MAX = 4096;
const SLOTS = SERVER_MAX + 2;

/** int32 fields per server slot */
const CONNECTIONS = 0;
const BLACKLISTED_AT = 1;
const CHECK_FAILED = 2;
const FIELDS = 4;

/** float64 counters per server slot, in each thread's row */
const SENT = 0;
const RECEIVED = 1;
const CONNECTS = 2;
const CHECKS_PASSED = 3;
const CHECKS_FAILED = 4;
/** UDP sessions open to the server (each counts as a connection), for a thread that dies */
const SESSIONS = 5;
const COUNTERS = 6;

/** int32 words after the server slots */
const ROUND_ROBIN = SLOTS * FIELDS;
const CURRENT = ROUND_ROBIN + 1;
const WORDS = CURRENT + 2;

/** The slot of server index i (emergency -2, abuse -3). */
export function serverSlot(index: number): number {
  return index >= 0 ? index : SERVER_MAX - index - 2;
}

export interface ScoreboardMemory {
  words: SharedArrayBuffer;
  /** one row per thread: [sent, received, connects, checks passed, checks failed, UDP sessions] per server slot */
  counts: SharedArrayBuffer[];
}

export class Scoreboard {
  private readonly words: Int32Array;
  /** COUNTERS per server slot, one row per thread */
  private readonly counts: CounterRows;

  static memory(): ScoreboardMemory {
    return { words: sharedMemory(WORDS * 4), counts: [] };
  }

  /** Rows of counters for threads 0 … threads-1 (made before the threads start). */
  static addRows(memory: ScoreboardMemory, threads: number): void {
    CounterRows.add(memory.counts, threads, SLOTS * COUNTERS * 8);
  }

  constructor(memory: ScoreboardMemory, thread: number) {
    Scoreboard.addRows(memory, thread + 1);
    this.words = new Int32Array(memory.words);
    this.counts = new CounterRows(memory.counts, thread);
  }

  connections(slot: number): number {
    return Atomics.load(this.words, slot * FIELDS + CONNECTIONS);
  }

  /** One more connection to the server; a connection that succeeds also lifts its blacklisting. */
  acquire(slot: number): void {
    Atomics.add(this.words, slot * FIELDS + CONNECTIONS, 1);
    Atomics.store(this.words, slot * FIELDS + BLACKLISTED_AT, 0);
    this.counts.own[slot * COUNTERS + CONNECTS]++;
  }

  /** connections made to the server so far, by every thread */
  totalConnects(slot: number): number {
    return this.counts.sum(slot * COUNTERS + CONNECTS);
  }

  release(slot: number): void {
    Atomics.sub(this.words, slot * FIELDS + CONNECTIONS, 1);
  }

  /** A UDP session to the server: a connection, owned by this thread until releaseSession(). */
  acquireSession(slot: number): void {
    this.acquire(slot);
    this.counts.own[slot * COUNTERS + SESSIONS]++;
  }

  releaseSession(slot: number): void {
    this.release(slot);
    this.counts.own[slot * COUNTERS + SESSIONS]--;
  }

  /** After thread died: its UDP sessions no longer count against their servers; how many there were. */
  releaseSessionsOf(deadThread: number): number {
    let released = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      const n = this.counts.take(deadThread, slot * COUNTERS + SESSIONS);
      if (n === 0) continue;
      Atomics.sub(this.words, slot * FIELDS + CONNECTIONS, n);
      released += n;
    }
    return released;
  }

  blacklistedAt(slot: number): number {
    return Atomics.load(this.words, slot * FIELDS + BLACKLISTED_AT);
  }

  setBlacklistedAt(slot: number, second: number): void {
    Atomics.store(this.words, slot * FIELDS + BLACKLISTED_AT, second);
  }

  checkFailed(slot: number): boolean {
    return Atomics.load(this.words, slot * FIELDS + CHECK_FAILED) !== 0;
  }

  setCheckFailed(slot: number, failing: boolean): void {
    Atomics.store(this.words, slot * FIELDS + CHECK_FAILED, failing ? 1 : 0);
  }

  /** One more health check of the server done, passed or failed. */
  countCheck(slot: number, passed: boolean): void {
    this.counts.own[slot * COUNTERS + (passed ? CHECKS_PASSED : CHECKS_FAILED)]++;
  }

  totalChecks(slot: number, passed: boolean): number {
    return this.counts.sum(slot * COUNTERS + (passed ? CHECKS_PASSED : CHECKS_FAILED));
  }

  /** Bytes sent to the server (this thread's row: no other thread writes it). */
  addSent(slot: number, n: number): void {
    this.counts.own[slot * COUNTERS + SENT] += n;
  }

  addReceived(slot: number, n: number): void {
    this.counts.own[slot * COUNTERS + RECEIVED] += n;
  }

  totalSent(slot: number): number {
    return this.counts.sum(slot * COUNTERS + SENT);
  }

  totalReceived(slot: number): number {
    return this.counts.sum(slot * COUNTERS + RECEIVED);
  }

  /** pen's round-robin cursor, shared so that rotation is one rotation across threads. */
  get roundRobin(): number {
    return Atomics.load(this.words, ROUND_ROBIN);
  }

  /** Moves the cursor from `from` to `to`; false when another thread moved it first. */
  moveRoundRobin(from: number, to: number): boolean {
    return Atomics.compareExchange(this.words, ROUND_ROBIN, from, to) === from;
  }

  /** the server chosen last (pen's `current`) */
  get current(): number {
    return Atomics.load(this.words, CURRENT);
  }

  set current(index: number) {
    Atomics.store(this.words, CURRENT, index);
  }
}
