// Memory every worker sees: SharedArrayBuffers made once by the main thread and handed to each
// worker thread, so that pen's tables are one truth and no connection waits for another thread.

/** Shared memory for `bytes` now, growable to `max` when that is more. */
export function sharedMemory(bytes: number, max = bytes): SharedArrayBuffer {
  // only when needed: V8 checks the length of a view on growable memory with a call at every access
  return max > bytes ? new SharedArrayBuffer(bytes, { maxByteLength: max }) : new SharedArrayBuffer(bytes);
}

/** Grows memory to hold at least `bytes` (never shrinks). */
export function growMemory(memory: SharedArrayBuffer, bytes: number): void {
  if (bytes > memory.byteLength) memory.grow(bytes);
}

/**
 * A lock word for short critical sections (a hash probe and a few stores). Threads spin: the
 * main thread may not Atomics.wait, and the sections are far shorter than a wake-up. The word
 * holds the holder's number + 1, so a worker that died holding it can be unlocked for it.
 */
export class SpinLock {
  constructor(private readonly words: Int32Array, private readonly at: number, private readonly holder: number) {}

  lock(): void {
    while (Atomics.compareExchange(this.words, this.at, 0, this.holder + 1) !== 0) {
      // spin: the holder is inside a handful of instructions
    }
  }

  unlock(): void {
    Atomics.store(this.words, this.at, 0);
  }

  /** Frees the lock if the given (dead) holder had it. */
  release(deadHolder: number): void {
    Atomics.compareExchange(this.words, this.at, deadHolder + 1, 0);
  }
}

/**
 * Counters kept in one row per thread (float64s, each row written by its thread alone: no
 * contention, no atomics) and summed when read. The rows are made before the threads start.
 */
export class CounterRows {
  /** this thread's row */
  readonly own: Float64Array;
  /** views of every row, for sums and resets, made again when rows were added */
  private views: Float64Array[] = [];

  /** Rows for threads 0 … threads-1, each `bytes` long, with room to grow to `maxBytes`. */
  static add(rows: SharedArrayBuffer[], threads: number, bytes: number, maxBytes = bytes): void {
    while (rows.length < threads) rows.push(sharedMemory(bytes, maxBytes));
  }

  constructor(private readonly rows: SharedArrayBuffer[], thread: number) {
    this.own = new Float64Array(rows[thread]!);
  }

  /** Counter `at`, summed over every thread. */
  sum(at: number): number {
    let total = 0;
    for (const row of this.all()) total += row[at]!;
    return total;
  }

  /** Zeroes counters [from, to) in every thread's row. */
  clear(from: number, to: number): void {
    for (const row of this.all()) row.fill(0, from, to);
  }

  /** Thread's counter `at`, zeroed (the thread is gone). */
  take(thread: number, at: number): number {
    const row = this.all()[thread];
    if (row === undefined) return 0;
    const value = row[at]!;
    row[at] = 0;
    return value;
  }

  /** Grows every row to at least `bytes`. */
  grow(bytes: number): void {
    for (const row of this.rows) growMemory(row, bytes);
  }

  private all(): Float64Array[] {
    if (this.views.length !== this.rows.length) this.views = this.rows.map((b) => new Float64Array(b));
    return this.views;
  }
}
