// Memory every worker sees: SharedArrayBuffers made once by the main thread and handed to each
// worker thread, so that pen's tables are one truth and no connection waits for another thread.

/** Growable shared memory for `bytes` now, room for `max` later. */
export function sharedMemory(bytes: number, max = bytes): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes, { maxByteLength: Math.max(bytes, max) });
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
