// How the relay reads and writes its two sockets. Plain TCP and unix sockets are driven through
// their libuv stream handle: each direction reads into one fixed buffer, and writes go to the
// kernel once the sockets that were ready together have all been read. That skips the
// Readable/Writable machinery (a Buffer, an event and a write request object per chunk), which
// is most of what a Node relay spends its CPU on. TLS sockets, and a Node without the handle
// interface, use the socket's stream API instead.
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** One direction's source: delivers chunks until paused (by the owner or by onChunk's answer). */
export interface ChunkReader {
  pause(): void;
  resume(): void;
  /** Gives back what the reader holds, once neither socket can touch its bytes (both closed). */
  release(): void;
}

/** One direction's sink. */
export interface ChunkWriter {
  /** Writes bytes[from, to); false when part of them is queued: pause the reader until the drain callback. */
  write(bytes: Buffer, from: number, to: number): boolean;
  /** Hands what was written so far to the socket now (before the socket is written to otherwise or destroyed). */
  flush(): void;
  /** Ends the socket after what was written. */
  end(): void;
}

/**
 * Called with each chunk read; false pauses the reader. The chunk is valid only until the callback
 * returns: it may be written, but anything kept must be copied.
 */
export type OnChunk = (chunk: Buffer) => boolean;

/** The reader for a socket: through its handle when it has one this module can drive. */
export function readerFor(socket: Socket, onChunk: OnChunk): ChunkReader {
  return direct(socket) ? handleReader(socket, onChunk) : streamReader(socket, onChunk);
}

/** The writer for a socket; `onDrain` is called when a write that returned false has gone out. */
export function writerFor(socket: Socket, onDrain: () => void): ChunkWriter {
  return direct(socket) ? new HandleWriter(socket, handleOf(socket)!, onDrain) : streamWriter(socket, onDrain);
}

/** bytes[from, to), without making a view when that is all of it. */
function range(bytes: Buffer, from: number, to: number): Buffer {
  return from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to);
}

// ---- through the stream API ----

function streamReader(socket: Socket, onChunk: OnChunk): ChunkReader {
  socket.on('data', (chunk: Buffer) => {
    if (!onChunk(chunk)) socket.pause();
  });
  socket.resume();
  return { pause: () => socket.pause(), resume: () => socket.resume(), release: () => {} };
}

function streamWriter(socket: Socket, onDrain: () => void): ChunkWriter {
  socket.on('drain', onDrain);
  // A stream that is not busy hands the bytes to its handle at once (TLS encrypts them there),
  // so a borrowed chunk may be written as it is; a busy one keeps it queued, so it gets a copy.
  return {
    write: (bytes, from, to) => {
      const chunk = range(bytes, from, to);
      return socket.write(socket.writableLength === 0 ? chunk : Buffer.from(chunk));
    },
    flush: () => {},
    end: () => socket.end(),
  };
}

// ---- through the libuv handle ----

/** The parts of Node's stream handle (TCPWrap, PipeWrap) used here. */
interface StreamHandle {
  reading: boolean;
  onread: () => void;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(request: WriteRequest, chunk: Uint8Array): number;
}

interface WriteRequest {
  handle: StreamHandle;
  oncomplete: (status: number) => void;
  /** keeps the bytes alive while the kernel has not taken them all */
  chunk: Buffer | undefined;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

const UV_EOF = -4095; // libuv's end-of-stream code, the same on every platform
const READ_BUFFER = 32 * 1024; // per direction, as pen's buffer
/** Read buffers of finished connections, for new ones: a fresh 32 KiB buffer per direction of
 *  every connection costs more than relaying a small request (and presses the GC). */
const spareBuffers: Buffer[] = [];
const SPARE_BUFFERS_MAX = 1024;

const streams = loadStreamBinding();
// read off the binding once: it is a slow (dictionary) object to look names up in
const WriteWrap = streams?.WriteWrap;
const streamState = streams?.streamBaseState ?? new Int32Array(0);
const READ_BYTES = streams?.kReadBytesOrError ?? 0;
const LAST_WRITE_ASYNC = streams?.kLastWriteWasAsync ?? 0;

function loadStreamBinding(): StreamWrapBinding | undefined {
  const quiet = process.noDeprecation;
  process.noDeprecation = true; // using it is a considered choice: no warning for operators to chase
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    const ok = typeof binding.WriteWrap === 'function' && binding.streamBaseState instanceof Int32Array &&
      typeof binding.kReadBytesOrError === 'number' && typeof binding.kLastWriteWasAsync === 'number';
    return ok ? (binding as StreamWrapBinding) : undefined;
  } catch {
    return undefined; // a Node without process.binding: the stream API it is
  } finally {
    process.noDeprecation = quiet;
  }
}

function handleOf(socket: Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  return handle && typeof handle.useUserBuffer === 'function' && typeof handle.writeBuffer === 'function'
    ? (handle as StreamHandle) : undefined;
}

/** A plain TCP or unix socket whose handle this module can drive (not TLS: its handle is the TLS layer's). */
function direct(socket: Socket): boolean {
  return streams !== undefined && !('encrypted' in socket) && handleOf(socket) !== undefined;
}

/** Whether the stream already saw the end of its input (then the handle must not read again). */
function inputEnded(socket: Socket): boolean {
  return (socket as unknown as { _readableState: { ended: boolean } })._readableState.ended;
}

function errnoError(code: number, syscall: string): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  return Object.assign(new Error(`${syscall} ${name}`), { errno: code, code: name, syscall });
}

function handleReader(socket: Socket, onChunk: OnChunk): ChunkReader {
  const handle = handleOf(socket)!;
  const buffer = spareBuffers.pop() ?? Buffer.allocUnsafe(READ_BUFFER);
  let view = buffer.subarray(0, 0);
  socket.pause(); // the stream must not start the handle again by itself
  let flowing = true;
  for (let early: Buffer | null; (early = socket.read() as Buffer | null) !== null;) flowing = onChunk(early) && flowing;
  let ended = inputEnded(socket);
  const reader: ChunkReader = {
    pause() {
      handle.reading = false;
      handle.readStop();
    },
    resume() {
      if (ended || socket.destroyed) return;
      handle.reading = true;
      handle.readStart();
    },
    release() {
      if (spareBuffers.length < SPARE_BUFFERS_MAX) spareBuffers.push(buffer);
    },
  };
  if (ended) return reader;
  handle.useUserBuffer(buffer);
  handle.onread = () => {
    const n = streamState[READ_BYTES]!;
    if (n > 0) {
      if (n !== view.length) view = buffer.subarray(0, n); // replies of one size reuse one view
      if (!onChunk(view)) reader.pause();
    } else if (n === UV_EOF) {
      ended = true;
      reader.pause();
      socket.push(null); // the stream ends as it would have: 'end', then half-close handling
      socket.read(0);
    } else if (n < 0) {
      socket.destroy(errnoError(n, 'read'));
    }
  };
  if (flowing) reader.resume();
  else reader.pause();
  return reader;
}

// Writes made while the event loop handles one batch of readable sockets are gathered in a shared
// slab and go out together once the batch is done (setImmediate runs right after the poll phase).
// Writing at once would wake the peer (wrk, a backend) in the middle of the batch, and on a busy
// machine it then preempts the balancer.
const SLAB_SIZE = 64 * 1024;
const GATHER_MAX = 16 * 1024; // bigger chunks (bulk transfers) are written at once
let slab = Buffer.allocUnsafe(SLAB_SIZE);
let slabUsed = 0;
let slabHeld = false; // a write the kernel did not take at once still points into the slab
/** writers with gathered bytes: gathering[0, gatheringCount); the array keeps its storage */
const gathering: HandleWriter[] = [];
let gatheringCount = 0;
let flushScheduled = false;

function flushGathered(): void {
  flushScheduled = false;
  for (let k = 0; k < gatheringCount; k++) gathering[k]!.batchDone();
  gatheringCount = 0;
  if (slabHeld) {
    slab = Buffer.allocUnsafe(SLAB_SIZE); // the old one lives on in its write request
    slabHeld = false;
  }
  slabUsed = 0;
}

/** Copies source[from, to) to target at `at`; a short run byte by byte, which is cheaper than
 *  the view Buffer#copy makes to copy part of a buffer. */
function copyBytes(source: Buffer, from: number, to: number, target: Buffer, at: number): void {
  if (to - from > 64) {
    source.copy(target, at, from, to);
    return;
  }
  while (from < to) target[at++] = source[from++]!;
}

/** Writes to a socket through its handle: small writes are gathered, the rest go out at once. */
class HandleWriter implements ChunkWriter {
  private spare: WriteRequest | undefined; // a request the kernel finished with at once is used again
  private queued = 0; // writes the kernel has not finished
  private from = 0; // the gathered bytes: slab[from, to)
  private to = 0;
  private listed = false; // in `gathering`
  private readonly oncomplete = (status: number) => {
    if (status < 0) this.socket.destroy(errnoError(status, 'write'));
    else if (--this.queued === 0) this.onDrain();
  };

  constructor(private readonly socket: Socket, private readonly handle: StreamHandle, private readonly onDrain: () => void) {}

  write(bytes: Buffer, from: number, to: number): boolean {
    const length = to - from;
    if (this.queued > 0 || length > GATHER_MAX) {
      this.flush();
      return this.send(range(bytes, from, to));
    }
    if (slabUsed + length > SLAB_SIZE) flushGathered();
    if (this.from === this.to || this.to !== slabUsed) {
      this.flush(); // bytes gathered earlier in the slab go first
      this.from = slabUsed;
      if (!this.listed) {
        this.listed = true;
        gathering[gatheringCount++] = this;
      }
    }
    copyBytes(bytes, from, to, slab, slabUsed);
    slabUsed += length;
    this.to = slabUsed;
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushGathered);
    }
    return true;
  }

  /** The batch is over: its bytes go out. */
  batchDone(): void {
    this.listed = false;
    this.flush();
  }

  flush(): void {
    if (this.from === this.to) return;
    const bytes = slab.subarray(this.from, this.to);
    this.from = this.to;
    if (!this.send(bytes)) slabHeld = true;
  }

  end(): void {
    this.flush();
    this.socket.end();
  }

  /** Hands the bytes to the kernel; false when it keeps them queued (they must stay untouched). */
  private send(bytes: Buffer): boolean {
    const request = this.spare ?? new WriteWrap!();
    request.handle = this.handle; // once closed, it answers every write with an error code
    request.oncomplete = this.oncomplete;
    const err = this.handle.writeBuffer(request, bytes);
    if (err !== 0) {
      this.socket.destroy(errnoError(err, 'write')); // no-op when the relay is already tearing down
      return true;
    }
    if (streamState[LAST_WRITE_ASYNC] === 0) {
      this.spare = request;
      return true;
    }
    this.spare = undefined;
    request.chunk = bytes;
    this.queued++;
    return false;
  }
}
