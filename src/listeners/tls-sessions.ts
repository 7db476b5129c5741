// TLS session resumption: whole sessions kept by ID (TLS 1.2 clients without tickets) and the keys
// that seal session tickets (TLS 1.2 and 1.3). One callback interface: the main thread keeps the
// store, worker threads reach it by message, so a client resumes whichever worker it reaches.
import { randomBytes } from 'node:crypto';
import { sharedMemory } from '../balancer/shared-memory';

export interface TlsSessionStore {
  /** seconds a session stays resumable; also the lifetime of the tickets issued */
  readonly lifetime: number;
  /** Calls done with the session saved under id, or with undefined (unknown or expired). */
  get(id: Buffer, done: (session: Buffer | undefined) => void): void;
  /** Saves a session (OpenSSL's DER, as Node hands it out) under id; calls done once it is kept. */
  set(id: Buffer, session: Buffer, done: () => void): void;
  /** Calls use with the 48 bytes of ticket keys in force, as soon as they are known and after every rotation. */
  watchTicketKeys(use: (keys: Buffer) => void): void;
  close(): void;
}

/** HAProxy's tune.ssl.cachesize */
export const SESSION_CACHE_SIZE = 20_000;
/** OpenSSL's default session timeout, HAProxy's tune.ssl.lifetime and Node's sessionTimeout */
export const SESSION_LIFETIME_S = 300;
const TICKET_KEY_ROTATION_MS = 6 * 3600 * 1000;
const TICKET_KEYS_BYTES = 48; // Node's ticket key name, HMAC secret and AES key

interface StoreOptions {
  capacity?: number;
  lifetime?: number;
  /** the clock, in milliseconds */
  now?: () => number;
}

/** The ticket keys in force, and who is told when they change. */
class TicketKeys {
  private readonly users: Array<(keys: Buffer) => void> = [];

  constructor(private keys: Buffer) {}

  /** Calls use with the keys now and after every change. */
  watch(use: (keys: Buffer) => void): void {
    this.users.push(use);
    use(this.keys);
  }

  set(keys: Buffer): void {
    this.keys = keys;
    for (const use of this.users) use(keys);
  }
}

/** The store of one process: a map in least-recently-used order, and ticket keys rotated on a timer. */
export class MemorySessionStore implements TlsSessionStore {
  readonly lifetime: number;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly sessions = new Map<string, { session: Buffer; expires: number }>();
  private readonly keys = new TicketKeys(randomBytes(TICKET_KEYS_BYTES));
  private readonly rotation = setInterval(() => this.rotateTicketKeys(), TICKET_KEY_ROTATION_MS).unref();

  constructor({ capacity = SESSION_CACHE_SIZE, lifetime = SESSION_LIFETIME_S, now = Date.now }: StoreOptions = {}) {
    this.capacity = capacity;
    this.lifetime = lifetime;
    this.now = now;
  }

  get(id: Buffer, done: (session: Buffer | undefined) => void): void {
    const key = id.toString('hex');
    const entry = this.sessions.get(key);
    if (entry === undefined) return done(undefined);
    this.sessions.delete(key);
    if (entry.expires <= this.now()) return done(undefined);
    this.sessions.set(key, entry); // now the most recently used
    done(entry.session);
  }

  set(id: Buffer, session: Buffer, done: () => void): void {
    const key = id.toString('hex');
    this.sessions.delete(key);
    this.sessions.set(key, { session, expires: this.now() + this.lifetime * 1000 });
    if (this.sessions.size > this.capacity) this.sessions.delete(this.sessions.keys().next().value!);
    done();
  }

  watchTicketKeys(use: (keys: Buffer) => void): void {
    this.keys.watch(use);
  }

  /** The IDs of the sessions kept now. */
  ids(): Buffer[] {
    return [...this.sessions.keys()].map((hex) => Buffer.from(hex, 'hex'));
  }

  /** New ticket keys for every user: tickets sealed with the old ones no longer resume. */
  rotateTicketKeys(): void {
    this.keys.set(randomBytes(TICKET_KEYS_BYTES));
  }

  close(): void {
    clearInterval(this.rotation);
  }
}

/**
 * Whether a session handed to Node's 'newSession' can be resumed by its ID. A TLS 1.3 one cannot:
 * OpenSSL gives each stateless ticket a placeholder ID that no client ever sends back. The
 * version is the second INTEGER of OpenSSL's encoding (SSL_SESSION_ASN1): 02 01 01, 02 02 03 04.
 */
export function resumableById(session: Buffer): boolean {
  const lengthBytes = session[1]! & 0x80 ? session[1]! & 0x7f : 0; // of the outer SEQUENCE
  const version = 2 + lengthBytes + 3;
  if (session.length < version + 4 || session[version] !== 0x02 || session[version + 1] !== 0x02) return true;
  return session.readUInt16BE(version + 2) !== 0x0304;
}

const INDEX_BITS = 1 << 20;

/** Two bit positions for a session ID (FNV-1a with two seeds). */
function indexBits(id: Buffer): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < id.length; i++) {
    a = Math.imul(a ^ id[i]!, 0x01000193);
    b = Math.imul(b ^ id[i]!, 0x811c9dc5);
  }
  return [(a >>> 0) % INDEX_BITS, (b >>> 0) % INDEX_BITS];
}

/**
 * Which session IDs the main thread's store may hold, as bits in shared memory (a Bloom filter).
 * Every TLS 1.3 hello carries a random session ID, and Node asks for it: a worker answers "none"
 * itself when the bits say so, instead of a message to the main thread and back per handshake.
 */
export class SessionIndex {
  private readonly words: Int32Array;

  static memory(): SharedArrayBuffer {
    return sharedMemory(INDEX_BITS / 8);
  }

  constructor(memory: SharedArrayBuffer) {
    this.words = new Int32Array(memory);
  }

  add(id: Buffer): void {
    for (const bit of indexBits(id)) Atomics.or(this.words, bit >>> 5, 1 << (bit & 31));
  }

  /** false: certainly not kept; true: perhaps (rarely a false alarm, which costs one question). */
  mayHold(id: Buffer): boolean {
    if (id.length === 0) return false;
    for (const bit of indexBits(id)) if ((Atomics.load(this.words, bit >>> 5) & (1 << (bit & 31))) === 0) return false;
    return true;
  }

  /** Starts over from the IDs kept now, so expired sessions stop raising false alarms. */
  rebuild(ids: Buffer[]): void {
    for (let i = 0; i < this.words.length; i++) Atomics.store(this.words, i, 0);
    for (const id of ids) this.add(id);
  }
}

/**
 * A worker thread's view of the main thread's store: sessions are asked for and handed over by
 * message (only TLS 1.2 clients resuming by an ID the index knows ask), ticket keys arrive when
 * they rotate.
 */
export class RemoteSessionStore implements TlsSessionStore {
  private readonly waiting = new Map<number, (session: Buffer | undefined) => void>();
  private seq = 0;
  private readonly keys: TicketKeys;

  constructor(readonly lifetime: number, keys: Buffer, private readonly index: SessionIndex,
    private readonly ask: (seq: number, id: Buffer) => void, private readonly keep: (id: Buffer, session: Buffer) => void) {
    this.keys = new TicketKeys(keys);
  }

  get(id: Buffer, done: (session: Buffer | undefined) => void): void {
    if (!this.index.mayHold(id)) return done(undefined);
    const seq = ++this.seq;
    this.waiting.set(seq, done);
    this.ask(seq, id);
  }

  /** The main thread's answer to get(). */
  answer(seq: number, session: Buffer | undefined): void {
    const done = this.waiting.get(seq);
    this.waiting.delete(seq);
    done?.(session);
  }

  set(id: Buffer, session: Buffer, done: () => void): void {
    this.keep(id, session);
    done();
  }

  watchTicketKeys(use: (keys: Buffer) => void): void {
    this.keys.watch(use);
  }

  /** The main thread's keys, after a rotation. */
  useTicketKeys(keys: Buffer): void {
    this.keys.set(keys);
  }

  close(): void {
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
  }
}
