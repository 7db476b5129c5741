// Plain TCP and unix-socket endpoints driven through their libuv handles, with no net.Socket:
// accepted from the listening handle, connected with a connect request, read into one buffer
// shared by every connection, written from a shared slab. A net.Socket (Socket, Duplex, two
// stream states, listeners) costs more to build and tear down than a short connection costs to
// relay, and its Readable/Writable machinery allocates a Buffer, emits an event and builds a
// write request per chunk. The handle interface is Node's internal tcp_wrap, pipe_wrap and
// stream_wrap bindings; where they are missing, or PEN_EDGE_IO=stream, sockets are used instead.
import { getSystemErrorName } from 'node:util';
import { Endpoint, range } from './endpoint';

/** The parts of Node's stream handles (TCPWrap, PipeWrap) used here. */
interface StreamHandle {
  owner: HandleEndpoint | undefined;
  onread: (this: StreamHandle) => void;
  readonly fd: number;
  readonly writeQueueSize: number;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(request: WriteRequest, chunk: Uint8Array): number;
  shutdown(request: ShutdownRequest): number;
  close(onClose: (this: StreamHandle) => void): void;
  getpeername?(into: AddressInfo): number;
  getsockname?(into: AddressInfo): number;
  setNoDelay?(on: boolean): number;
  setKeepAlive?(on: boolean, delaySeconds: number): number;
  bind?(address: string, port: number): number;
  bind6?(address: string, port: number, flags: number): number;
  connect(request: ConnectRequest, address: string, port?: number): number;
  connect6?(request: ConnectRequest, address: string, port: number): number;
}

/** A listening handle: net.Server's, whose accepts are taken over. */
export interface ListeningHandle {
  onconnection: (status: number, handle: StreamHandle | undefined) => void;
}

interface AddressInfo {
  address?: string;
  port?: number;
}

interface Request {
  owner: HandleEndpoint;
  handle: StreamHandle;
  oncomplete: (this: Request, status: number) => void;
}
interface WriteRequest extends Request {
  /** keeps the bytes alive while the kernel has not taken them all */
  chunk: Buffer | undefined;
}
type ShutdownRequest = Request;
type ConnectRequest = Request;

interface Bindings {
  TCP: new (kind: number) => StreamHandle;
  TCPConnectWrap: new () => ConnectRequest;
  tcpSocket: number;
  Pipe: new (kind: number) => StreamHandle;
  PipeConnectWrap: new () => ConnectRequest;
  pipeSocket: number;
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  streamState: Int32Array;
  READ_BYTES: number;
  LAST_WRITE_ASYNC: number;
}

const UV_EOF = -4095; // libuv's end-of-stream code, the same on every platform

/** One of Node's internal bindings (process.binding), or undefined where there is none. */
export function internalBinding<T>(name: string): Partial<T> | undefined {
  const quiet = process.noDeprecation;
  process.noDeprecation = true; // using them is a considered choice: no warning for operators to chase
  try {
    return (process as unknown as { binding(name: string): Partial<T> }).binding(name);
  } catch {
    return undefined; // a Node without process.binding
  } finally {
    process.noDeprecation = quiet;
  }
}

function loadBindings(): Bindings | undefined {
  if (process.env.PEN_EDGE_IO === 'stream') return undefined;
  const tcp = internalBinding<{ TCP: Bindings['TCP']; TCPConnectWrap: Bindings['TCPConnectWrap']; constants: { SOCKET?: number } }>('tcp_wrap');
  const pipe = internalBinding<{ Pipe: Bindings['Pipe']; PipeConnectWrap: Bindings['PipeConnectWrap']; constants: { SOCKET?: number } }>('pipe_wrap');
  const stream = internalBinding<{ WriteWrap: Bindings['WriteWrap']; ShutdownWrap: Bindings['ShutdownWrap'];
    streamBaseState: Int32Array; kReadBytesOrError: number; kLastWriteWasAsync: number }>('stream_wrap');
  if (!tcp || !pipe || !stream) return undefined; // sockets it is
  const found: Partial<Bindings> = {
    TCP: tcp.TCP, TCPConnectWrap: tcp.TCPConnectWrap, tcpSocket: tcp.constants?.SOCKET,
    Pipe: pipe.Pipe, PipeConnectWrap: pipe.PipeConnectWrap, pipeSocket: pipe.constants?.SOCKET,
    WriteWrap: stream.WriteWrap, ShutdownWrap: stream.ShutdownWrap, streamState: stream.streamBaseState,
    READ_BYTES: stream.kReadBytesOrError, LAST_WRITE_ASYNC: stream.kLastWriteWasAsync,
  };
  const usable = Object.values(found).every((v) => v !== undefined) &&
    typeof found.TCP!.prototype.useUserBuffer === 'function' && typeof found.TCP!.prototype.writeBuffer === 'function';
  return usable ? (found as Bindings) : undefined;
}

const bindings = loadBindings();
/** Whether plain connections go through their handles (else through net.Socket). */
export const handlesUsable = bindings !== undefined;
// read off the bindings once: they are slow (dictionary) objects to look names up in
const streamState = bindings?.streamState ?? new Int32Array(0);
const READ_BYTES = bindings?.READ_BYTES ?? 0;
const LAST_WRITE_ASYNC = bindings?.LAST_WRITE_ASYNC ?? 0;

// Every handle reads into this one buffer: a chunk is used up (written, copied or dropped) before
// its read callback returns, so no connection holds a read buffer while it waits.
const READ_BUFFER = 32 * 1024;
const readBuffer = Buffer.allocUnsafe(bindings ? READ_BUFFER : 0);
let readView = readBuffer.subarray(0, 0); // replies of one size reuse one view

function onRead(this: StreamHandle): void {
  const endpoint = this.owner!;
  const n = streamState[READ_BYTES]!;
  if (n > 0) {
    if (n !== readView.length) readView = readBuffer.subarray(0, n);
    if (!endpoint.onchunk(readView)) endpoint.pause();
  } else if (n === UV_EOF) {
    endpoint.inputEnded();
  } else if (n < 0) {
    endpoint.destroy();
  }
}

// Writes made while the event loop handles one batch of readable sockets are copied into a shared
// slab and go out together once the batch is done (setImmediate runs right after the poll phase).
// Writing at once would wake the peer (wrk, a backend) in the middle of the batch, and on a busy
// machine it then preempts the balancer. Copying every write also means no write ever points into
// the shared read buffer.
const SLAB_SIZE = 64 * 1024;
const GATHER_MAX = 16 * 1024; // bigger chunks (bulk transfers) go out at once
let slab = Buffer.allocUnsafe(bindings ? SLAB_SIZE : 0);
let slabUsed = 0;
let slabHeld = false; // a write the kernel did not take at once still points into the slab
/** endpoints with gathered bytes: gathering[0, gatheringCount); the array keeps its storage, not them */
const gathering: (HandleEndpoint | undefined)[] = [];
let gatheringCount = 0;
let flushScheduled = false;

function flushGathered(): void {
  flushScheduled = false;
  for (let k = 0; k < gatheringCount; k++) {
    gathering[k]!.batchDone();
    gathering[k] = undefined;
  }
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

function writeDone(this: Request, status: number): void {
  this.owner.writeDone(status);
}

function shutdownDone(this: Request, status: number): void {
  this.owner.shutdownDone(status);
}

function closed(this: StreamHandle): void {
  this.owner!.onclose();
}

const scratch: AddressInfo = {};

export class HandleEndpoint extends Endpoint {
  private reading = false;
  private inputDone = false; // the peer's end of stream was read
  private outputDone = false; // our end went out
  private shut = false; // end() was called
  private closing = false;
  private early: Buffer | undefined; // bytes put back by unread()
  private sent: (() => void) | undefined;
  private spare: WriteRequest | undefined; // a request the kernel finished with at once is used again
  private queued = 0; // writes the kernel has not finished
  private from = 0; // the gathered bytes: slab[from, to)
  private to = 0;
  private listed = false; // in `gathering`

  constructor(private readonly handle: StreamHandle) {
    super();
    handle.owner = this;
    handle.onread = onRead;
    handle.useUserBuffer(readBuffer);
  }

  get destroyed(): boolean {
    return this.closing;
  }

  get fd(): number {
    return this.closing ? -1 : this.handle.fd;
  }

  get pending(): number {
    return this.to - this.from + (this.closing ? 0 : this.handle.writeQueueSize);
  }

  get tls(): undefined {
    return undefined;
  }

  remote(): { address: string | undefined; port: number } {
    return this.addressOf(this.handle.getpeername);
  }

  local(): { address: string; port: number } {
    const { address, port } = this.addressOf(this.handle.getsockname);
    return { address: address ?? '0.0.0.0', port };
  }

  private addressOf(query: StreamHandle['getpeername']): { address: string | undefined; port: number } {
    scratch.address = undefined;
    scratch.port = 0;
    if (query !== undefined && !this.closing) query.call(this.handle, scratch);
    return { address: scratch.address, port: scratch.port ?? 0 };
  }

  resume(): void {
    if (this.closing || this.inputDone) return;
    if (this.early !== undefined) {
      const early = this.early;
      this.early = undefined;
      if (!this.onchunk(early) || this.closing) return;
    }
    if (this.reading) return;
    this.reading = true;
    if (this.handle.readStart() !== 0) this.destroy();
  }

  pause(): void {
    if (!this.reading) return;
    this.reading = false;
    this.handle.readStop();
  }

  unread(bytes: Buffer): void {
    this.early = this.early === undefined ? bytes : Buffer.concat([bytes, this.early]);
  }

  /** The peer ended its side. */
  inputEnded(): void {
    this.inputDone = true;
    this.pause();
    this.onend();
    if (this.outputDone) this.destroy(); // both ways done, as a half-open net.Socket does
  }

  write(bytes: Buffer, from: number, to: number): boolean {
    const length = to - from;
    if (this.closing) return true;
    if (length > SLAB_SIZE) {
      // only a chunk of the caller's own is this big (never one of the shared read buffer)
      this.flush();
      this.send(range(bytes, from, to));
      return this.queued === 0;
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
    if (this.queued === 0 && length <= GATHER_MAX) {
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushGathered);
      }
      return true;
    }
    this.flush();
    return this.queued === 0;
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
    if (this.send(bytes)) slabHeld = true;
  }

  end(sent?: () => void): void {
    if (this.shut || this.closing) return;
    this.flush();
    this.shut = true;
    if (this.inputDone && this.queued === 0) {
      // nothing more to read or to wait for: closing sends our FIN after what was written
      sent?.();
      this.destroy();
      return;
    }
    this.sent = sent;
    const request = new bindings!.ShutdownWrap();
    request.owner = this;
    request.handle = this.handle;
    request.oncomplete = shutdownDone;
    if (this.handle.shutdown(request) !== 0) this.destroy();
  }

  shutdownDone(status: number): void {
    if (status < 0) {
      this.destroy();
      return;
    }
    this.outputDone = true;
    this.sent?.();
    if (this.inputDone) this.destroy();
  }

  destroy(): void {
    if (this.closing) return;
    this.closing = true;
    this.reading = false;
    this.from = this.to; // gathered bytes not yet sent are dropped
    this.early = undefined;
    this.handle.close(closed);
  }

  /** Hands bytes to the kernel; true when it keeps them queued (they must stay untouched). */
  private send(bytes: Buffer): boolean {
    const request = this.spare ?? newWriteRequest(this);
    request.handle = this.handle; // once closed, it answers every write with an error code
    const err = this.handle.writeBuffer(request, bytes);
    if (err !== 0) {
      this.destroy();
      return false;
    }
    if (streamState[LAST_WRITE_ASYNC] === 0) {
      this.spare = request;
      return false;
    }
    this.spare = undefined;
    request.chunk = bytes;
    this.queued++;
    return true;
  }

  writeDone(status: number): void {
    if (status < 0) this.destroy();
    else if (--this.queued === 0 && !this.closing) this.ondrain();
  }

  /** Starts a connection to host:port (family 4 or 6) or to the unix socket at host (family 0). */
  static connect(host: string, port: number, family: number, options: ConnectOptions, done: (error: string | undefined) => void): HandleEndpoint {
    const b = bindings!;
    const handle = family === 0 ? new b.Pipe(b.pipeSocket) : new b.TCP(b.tcpSocket);
    const endpoint = new HandleEndpoint(handle);
    const request = family === 0 ? new b.PipeConnectWrap() : new b.TCPConnectWrap();
    request.owner = endpoint;
    request.handle = handle;
    request.oncomplete = function (this: Request, status: number) {
      if (endpoint.closing) return; // given up on (timeout, the client left)
      if (status >= 0 && family !== 0) configure(handle, options);
      done(status < 0 ? getSystemErrorName(status) : undefined);
    };
    let err = 0;
    if (family !== 0 && options.source !== undefined) {
      err = family === 6 ? handle.bind6!(options.source, 0, 0) : handle.bind!(options.source, 0);
    }
    if (err === 0) err = family === 6 ? handle.connect6!(request, host, port) : handle.connect(request, host, port);
    if (err !== 0) setImmediate(() => endpoint.closing || done(getSystemErrorName(err)));
    return endpoint;
  }

  /** An accepted client handle. */
  static accepted(handle: StreamHandle): HandleEndpoint {
    handle.setNoDelay?.(true);
    return new HandleEndpoint(handle);
  }
}

export interface ConnectOptions {
  /** local address to connect from (`source`) */
  source: string | undefined;
  /** SO_KEEPALIVE (`keepalive`) */
  keepAlive: boolean;
}

function configure(handle: StreamHandle, options: ConnectOptions): void {
  handle.setNoDelay!(true);
  if (options.keepAlive) handle.setKeepAlive!(true, 0);
}

function newWriteRequest(owner: HandleEndpoint): WriteRequest {
  const request = new bindings!.WriteWrap();
  request.owner = owner;
  request.oncomplete = writeDone;
  return request;
}

