// Node keeps an HTTP/2 session's open streams in a Map, and that Map is what costs pen-edge most
// under HTTP/2 load. A Map whose entries come and go is rebuilt every few streams, and V8 leaves
// in each replaced table a link to its successor (for iterators still walking it). Once a full
// collection has moved a session's table to the old generation, every replaced table there is
// garbage that young collections cannot see as such: it keeps its successor alive, with the
// streams in it, and the successor keeps the next. Every stream and all it holds then survives
// to the old generation until the next full collection, which starts the chain again: Node 20 to
// 24 spent a tenth of their time or more copying dead streams, and stalled every request on the
// collections (bench/map-chain.js shows it without HTTP/2). A table over a plain object keeps no
// such link.
import type { ServerHttp2Session } from 'node:http2';
import { debug } from '../reports/diag';

/**
 * A session's streams by id. Node 20 to 24 use get, set, delete, size and forEach; the rest of a
 * Map's surface is here too, so that a Node that walks its streams otherwise still finds them.
 */
export class StreamTable<Stream> {
  private byId: Record<number, Stream> = Object.create(null);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): Stream | undefined {
    return this.byId[id];
  }

  has(id: number): boolean {
    return this.byId[id] !== undefined;
  }

  set(id: number, stream: Stream): this {
    if (this.byId[id] === undefined) this.count++;
    this.byId[id] = stream;
    return this;
  }

  delete(id: number): boolean {
    if (this.byId[id] === undefined) return false;
    delete this.byId[id];
    this.count--;
    return true;
  }

  clear(): void {
    this.byId = Object.create(null);
    this.count = 0;
  }

  /** As Map's: a stream deleted by `visit` (a stream destroyed) before its turn is not visited. */
  forEach(visit: (stream: Stream, id: number, table: this) => void): void {
    for (const id in this.byId) {
      const stream = this.byId[id];
      if (stream !== undefined) visit(stream, Number(id), this);
    }
  }

  *entries(): IterableIterator<[number, Stream]> {
    for (const id in this.byId) {
      const stream = this.byId[id];
      if (stream !== undefined) yield [Number(id), stream];
    }
  }

  *keys(): IterableIterator<number> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): IterableIterator<Stream> {
    for (const [, stream] of this.entries()) yield stream;
  }

  [Symbol.iterator](): IterableIterator<[number, Stream]> {
    return this.entries();
  }
}

/** Node's key of a session's inner state, found on the first session. */
let stateKey: symbol | undefined;
/** debug has said that this Node keeps its streams otherwise (said once) */
let unlike = false;

/** Node's map of streams: a SafeMap, whose prototype chain leads to no Map (instanceof cannot tell). */
interface NodeStreams {
  size: number;
  forEach(visit: (stream: unknown, id: number) => void): void;
}

function isNodeStreams(streams: unknown): streams is NodeStreams {
  const map = streams as Partial<NodeStreams> | undefined;
  return typeof map?.size === 'number' && typeof map.forEach === 'function' && !(streams instanceof StreamTable);
}

/**
 * Puts a StreamTable in place of the session's own Map of streams. A Node whose session is not
 * shaped as expected (no inner state, or no Map of streams in it) keeps its Map, and debug level 1
 * says so once.
 */
export function useStreamTable(session: ServerHttp2Session): void {
  stateKey ??= Object.getOwnPropertySymbols(session).find((key) => key.description === 'state');
  const state = stateKey === undefined ? undefined : (session as unknown as Record<symbol, { streams?: unknown } | undefined>)[stateKey];
  if (state !== undefined && isNodeStreams(state.streams)) {
    const table = new StreamTable<unknown>();
    state.streams.forEach((stream, id) => table.set(id, stream));
    state.streams = table;
  } else if (!unlike) {
    unlike = true;
    debug(1, () => `HTTP/2: this Node (${process.version}) keeps its streams otherwise; its own Map stays`);
  }
}
