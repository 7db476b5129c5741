// Strict, incremental HTTP/1.x request framing for the client→server direction. Only request
// heads are buffered (bounded) and rewritten; body bytes are passed on as slices of the chunk
// that carried them. Anything that could be read two ways (request smuggling) is refused.
// After an Upgrade or CONNECT request the client is held until the server's answer is known:
// only a switch (101, or 2xx to CONNECT) turns the connection raw.
import {
  BodyFramer, CR, DIGIT_0, FORWARDING, IDENTITY, INCOMPLETE, LF, Named, Refusal, SP, SplitHead, TOKEN_BYTE,
  contentLength, endsInChunked, isHttpVersion, listsToken, readHeaderLines, type HeaderVisitor,
} from './http-syntax';

/**
 * A request trailer passes on as the client sent it, unless a server that merges trailers into
 * the head could take it for the balancer's word (forwarding or client certificate headers), or
 * it carries a control character: then the request is refused.
 */
function checkTrailer(line: string): void {
  const name = line.slice(0, line.indexOf(':')).trim().toLowerCase();
  if (FORWARDING.has(name) || IDENTITY.has(name)) throw new Refusal(400, `${name} in a request trailer`);
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) throw new Refusal(400, 'control character in a trailer');
}

export interface HttpLimits {
  /** bytes of a whole request head (request line + headers) */
  headMax: number;
  /** bytes of the request line */
  lineMax: number;
}

export interface RequestHead {
  /** bytes[start, end): the request line and header lines as received, each ending in CRLF,
   *  without the empty line; valid only until forwardHead returns */
  bytes: Buffer;
  start: number;
  end: number;
  /** the request carries a header only the balancer may set (X-Forwarded-*, Forwarded, client certificate) */
  forwarding: boolean;
  /** the request asks to switch protocols (Upgrade, CONNECT) */
  switches: boolean;
}

/** What a request asks of its response, for the response tracker. */
export enum Expecting { Response, HeadResponse, Tunnel, Upgrade }

/** What the framer hands on: rewritten heads, body bytes, a refusal. */
export interface FramerSink {
  /** writes bytes[from, to) to the server; returns false when the server socket is full */
  forward(bytes: Buffer, from: number, to: number): boolean;
  /** writes a request head, with the balancer's headers in, to the server; false as forward */
  forwardHead(head: RequestHead): boolean;
  /** a request went to the server: what its response will be */
  sent(expecting: Expecting): void;
  /** refuses the request with an HTTP status; no more bytes are forwarded. `headSent`: the
   *  refused request's head went to the server already (its body is what was refused) */
  refuse(status: number, reason: string, headSent: boolean): void;
  /** the client, paused while an upgrade was pending, may be read again */
  resume(): void;
}

type State = 'head' | 'body' | 'awaiting-switch' | 'raw' | 'refused';

const EMPTY = Buffer.alloc(0);

/** One request head: where it lies, and what its header lines say about its framing. */
class HeadFacts implements RequestHead {
  bytes: Buffer = EMPTY;
  start = 0;
  end = 0;
  length: number | undefined;
  transferEncoding = false;
  connectionUpgrade = false;
  hasUpgrade = false;
  forwarding = false;
  switches = false;

  reset(): this {
    this.length = undefined;
    this.transferEncoding = this.connectionUpgrade = this.hasUpgrade = this.forwarding = false;
    return this;
  }

  readonly visit: HeaderVisitor = (bytes, named, from, to) => {
    if (named === Named.Forwarding) {
      this.forwarding = true;
    } else if (named === Named.ContentLength) {
      this.length = contentLength(bytes, from, to, this.length);
    } else {
      const value = bytes.toString('latin1', from, to).trim();
      if (named === Named.TransferEncoding) {
        this.transferEncoding = true;
        if (!endsInChunked(value)) throw new Refusal(400, 'Transfer-Encoding must end in chunked');
      } else if (named === Named.Connection) {
        this.connectionUpgrade ||= listsToken(value, 'upgrade');
      } else {
        this.hasUpgrade = true;
      }
    }
  };
}

const CONNECT = Buffer.from('CONNECT ');
const HEAD = Buffer.from('HEAD ');

export class RequestFramer {
  private state: State = 'head';
  private readonly split: SplitHead;
  /** in a head being buffered: the request line was checked / how far its method was checked */
  private lineChecked = false;
  private methodChecked = 0;
  private readonly body = new BodyFramer();
  private readonly facts = new HeadFacts();
  /** the request being forwarded asked to switch protocols */
  private switching = false;
  /** the server's answer to it, once known: true = switched */
  private switched: boolean | undefined;
  /** client bytes that came while a switch was pending */
  private held: Buffer[] = [];
  /** a head written in this push filled the server socket */
  private serverFull = false;

  constructor(private readonly sink: FramerSink, private readonly limits: HttpLimits) {
    this.split = new SplitHead(limits.headMax);
    this.body.onTrailer = checkTrailer;
  }

  /** Bytes of an unfinished request head are waiting for the rest. */
  get midHead(): boolean {
    return this.state === 'head' && this.split.length > 0;
  }

  /** Takes the next chunk from the client; returns false when the client must pause. */
  push(chunk: Buffer): boolean {
    if (this.state === 'refused') return true;
    let ok = true;
    let i = 0;
    let run = -1; // start of body and chunk-framing bytes passed on as they are, in one write
    try {
      while (i < chunk.length && this.state !== 'raw' && this.state !== 'awaiting-switch') {
        const before = this.state;
        if (before === 'head' && run >= 0) {
          ok = this.sink.forward(chunk, run, i) && ok;
          run = -1;
        }
        if (before === 'body' && run < 0) run = i;
        i = before === 'head' ? this.readHead(chunk, i) : this.readBody(chunk, i);
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.refuse(err.status, err.message);
      return true;
    }
    if (this.serverFull) {
      this.serverFull = false;
      ok = false;
    }
    if (run >= 0) ok = this.sink.forward(chunk, run, i) && ok;
    if (i === chunk.length) return ok;
    if (this.state === 'raw') return this.sink.forward(chunk, i, chunk.length) && ok;
    this.held.push(Buffer.from(chunk.subarray(i))); // a copy: the chunk's buffer is read into again
    return false;
  }

  /** The server answered the request that asked to switch protocols. */
  answered(switched: boolean): void {
    if (!this.switching) return;
    this.switched = switched;
    if (this.state === 'awaiting-switch') this.switchDecided();
  }

  /** Gives up on a request whose head did not arrive in time. */
  timeOut(): void {
    if (this.midHead) this.refuse(408, 'request head not completed in time');
  }

  private refuse(status: number, reason: string): void {
    const headSent = this.state === 'body';
    this.state = 'refused';
    this.held = [];
    this.sink.refuse(status, reason, headSent);
  }

  private switchDecided(): void {
    this.state = this.switched ? 'raw' : 'head';
    this.switching = false;
    this.switched = undefined;
    const held = this.held;
    this.held = [];
    let ok = true;
    for (const bytes of held) ok = this.push(bytes) && ok;
    if (ok) this.sink.resume(); // false: held again, or the server is full and its drain resumes the client
  }

  private readBody(chunk: Buffer, i: number): number {
    const end = this.body.read(chunk, i);
    if (this.body.done) this.requestDone();
    return end;
  }

  private requestDone(): void {
    if (!this.switching) this.state = 'head';
    else if (this.switched === undefined) this.state = 'awaiting-switch';
    else this.switchDecided();
  }

  private readHead(chunk: Buffer, i: number): number {
    const split = this.split;
    if (split.length === 0 && chunk[i] !== CR) {
      // the usual case: the whole head is in this chunk, and is read where it is
      const end = this.finishHead(chunk, i, Math.min(chunk.length, i + this.limits.headMax));
      if (end !== INCOMPLETE) return end;
    }
    const end = split.append(chunk, i);
    if (end === INCOMPLETE) {
      throw this.lineChecked ? new Refusal(431, 'request header block too large') : new Refusal(414, 'request line too long');
    }
    if (split.bytes[0] === CR && split.length === 2 && split.bytes[1] === LF) {
      split.length = 0; // an empty line before a request is tolerated
    } else if (split.bytes[0] === CR && split.length === 1) {
      // a CR alone so far: whether it begins an empty line shows with the next byte
    } else if (!this.lineChecked) {
      this.checkRequestLineSoFar(split.lineEnded);
    } else if (split.complete) {
      const length = split.length;
      split.length = 0;
      this.lineChecked = false;
      this.methodChecked = 0;
      if (this.finishHead(split.bytes, 0, length) === INCOMPLETE) throw new Refusal(400, 'malformed request head');
    }
    return end;
  }

  /** Refuses what cannot become a request line as soon as it shows (a TLS hello, an SSH banner). */
  private checkRequestLineSoFar(complete: boolean): void {
    const { bytes, length } = this.split;
    for (let p = this.methodChecked; p < length && this.methodChecked >= 0; p++) {
      const c = bytes[p]!;
      if (c === SP && p > 0) this.methodChecked = -1; // the method is all there
      else if (TOKEN_BYTE[c] !== 1) throw new Refusal(400, 'not an HTTP request');
      else this.methodChecked = p + 1;
    }
    if (!complete) return;
    if (requestLineEnd(bytes, 0, length, this.limits.lineMax) === INCOMPLETE) throw new Refusal(400, 'not an HTTP request line');
    this.lineChecked = true;
  }

  /**
   * Checks the head at start, frames its body and passes it on; returns where the head ends, or
   * INCOMPLETE (having changed nothing) when it does not end before limit.
   */
  private finishHead(bytes: Buffer, start: number, limit: number): number {
    const lineEnd = requestLineEnd(bytes, start, limit, this.limits.lineMax);
    if (lineEnd === INCOMPLETE) return INCOMPLETE;
    const facts = this.facts.reset();
    const end = readHeaderLines(bytes, lineEnd + 2, limit, facts.visit);
    if (end === INCOMPLETE) return INCOMPLETE;
    const { length, transferEncoding, connectionUpgrade, hasUpgrade } = facts;
    if (transferEncoding && length !== undefined) throw new Refusal(400, 'both Content-Length and Transfer-Encoding');
    if (transferEncoding && bytes[lineEnd - 1] === DIGIT_0) throw new Refusal(400, 'Transfer-Encoding in an HTTP/1.0 request');
    const expecting = startsWith(bytes, start, CONNECT) ? Expecting.Tunnel
      : connectionUpgrade && hasUpgrade ? Expecting.Upgrade
      : startsWith(bytes, start, HEAD) ? Expecting.HeadResponse : Expecting.Response;
    facts.bytes = bytes;
    facts.start = start;
    facts.end = end - 2;
    facts.switches = expecting === Expecting.Tunnel || expecting === Expecting.Upgrade;
    if (!this.sink.forwardHead(facts)) this.serverFull = true;
    this.switching = expecting === Expecting.Tunnel || expecting === Expecting.Upgrade;
    this.sink.sent(expecting); // may answer a switch at once
    this.body.start(transferEncoding ? 'chunked' : length ?? 0);
    if (this.body.done) this.requestDone();
    else this.state = 'body';
    return end;
  }
}

/** Checks `METHOD SP target SP HTTP/1.x CRLF` at start; returns where its CR is. */
function requestLineEnd(bytes: Buffer, start: number, limit: number, lineMax: number): number {
  let p = start;
  while (p < limit && TOKEN_BYTE[bytes[p]!] === 1) p++;
  if (p === limit) return INCOMPLETE;
  if (p === start || bytes[p] !== SP) throw new Refusal(400, 'not an HTTP request line');
  const target = ++p;
  for (let c = bytes[p]; p < limit && c !== SP && c !== CR && c !== LF; c = bytes[++p]);
  if (p - start + 9 > lineMax) throw new Refusal(414, 'request line too long');
  if (p === limit) return INCOMPLETE;
  if (p === target || bytes[p] !== SP) throw new Refusal(400, 'not an HTTP request line');
  if (p + 10 >= limit) return INCOMPLETE; // the version and CRLF are not all there
  if (!isHttpVersion(bytes, p + 1)) throw new Refusal(400, 'not an HTTP request line');
  p += 9;
  if (bytes[p] !== CR || bytes[p + 1] !== LF) throw new Refusal(400, 'bare CR or LF in the request head');
  if (bytes[p - 3] !== DIGIT_0 + 1) throw new Refusal(505, 'HTTP version not supported');
  return p;
}

function startsWith(bytes: Buffer, start: number, prefix: Buffer): boolean {
  for (let k = 0; k < prefix.length; k++) if (bytes[start + k] !== prefix[k]) return false;
  return true;
}
