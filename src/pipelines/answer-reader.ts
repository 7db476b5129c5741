// Reads a server's HTTP/1.1 answers off one connection, for requests the balancer made itself
// (those of HTTP/2 clients): each head as the header object an HTTP/2 answer takes, each body
// without its framing (Content-Length, chunked with trailers, or up to the close), in the order
// the requests went.
import type { OutgoingHttpHeaders } from 'node:http2';
import { CONNECTION_SPECIFIC } from './h2-headers';
import { BodyFramer, Refusal, endsInChunked, isToken, listEntries } from './http-syntax';

/**
 * An answer's headers (with `:status`) or trailers for an HTTP/2 client: names in lower case, a
 * repeated Set-Cookie as a list and other repeats joined, less the headers of the server's own
 * connection (RFC 9113 8.2.2).
 */
export type AnswerHeaders = OutgoingHttpHeaders;

/** The framing headers of the head being read, kept aside (they are not passed on, but for Content-Length). */
interface Framing {
  length: string | undefined;
  transferEncoding: string | undefined;
  connection: string | undefined;
}

/** Where the answers go: the connection they came on, which knows which request each one is for. */
export interface AnswerSink {
  /** the answer now being read is to a HEAD request (a head and no body) */
  answersHead(): boolean;
  /** headBytes: the head's size on the wire (with a 100 Continue's before it), for the byte counts */
  informational(headers: AnswerHeaders, headBytes: number): void;
  head(status: number, headers: AnswerHeaders, headBytes: number): void;
  data(chunk: Buffer): void;
  ended(trailers: AnswerHeaders | undefined): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const DIGITS = /^\d{1,15}$/;
/** The entries of an absent Connection header: one list for every answer without one. */
const NO_ENTRIES: readonly string[] = [];

type State = 'head' | 'body' | 'until-close' | 'stopped';

export class AnswerReader {
  private state: State = 'head';
  /** the start of a head that did not end in its chunk */
  private partial: Buffer | undefined;
  private readonly body = new BodyFramer();
  private trailers: AnswerHeaders | undefined;
  private readonly framing: Framing = { length: undefined, transferEncoding: undefined, connection: undefined };
  /** the server keeps the connection open after the answer being read */
  keepAlive = true;
  /** some of the answer being read has arrived (a close now cuts it off) */
  started = false;
  /** bytes of heads read and not yet handed on (a 100 Continue's go with the head after it) */
  private headBytes = 0;

  constructor(private readonly headMax: number, private readonly sink: AnswerSink) {
    this.body.onTrailer = (line) => addField(this.trailers ??= {}, line, 0, line.length, undefined);
  }

  /** Reads a chunk; throws a Refusal (status 502) for an answer that cannot be read. */
  read(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'head') {
        this.started = true;
        i = this.readHead(chunk, i);
      } else if (this.state === 'body') {
        i = this.readBody(chunk, i);
      } else if (this.state === 'until-close') {
        i = this.pass(chunk, i, chunk.length);
      } else {
        return;
      }
    }
  }

  /** The connection closed: an answer that runs to the close has ended. */
  closed(): void {
    if (this.state === 'until-close') this.finish();
    this.state = 'stopped';
  }

  /** Reads no more (the connection is being closed). */
  stop(): void {
    this.state = 'stopped';
  }

  private readHead(chunk: Buffer, i: number): number {
    const partial = this.partial;
    const bytes = partial === undefined ? chunk : Buffer.concat([partial, chunk.subarray(i)]);
    const start = partial === undefined ? i : 0;
    const end = bytes.indexOf(HEAD_END, start);
    if (end < 0 || end + 4 - start > this.headMax) {
      if (end >= 0 || bytes.length - start > this.headMax) throw new Refusal(502, 'answer head over http_header_max');
      this.partial = Buffer.from(bytes.subarray(start)); // a copy: the chunk is not kept for a few bytes of it
      return chunk.length;
    }
    this.partial = undefined;
    this.headBytes += end + 4 - start;
    const next = end + 4 - (partial === undefined ? 0 : partial.length - i); // where the head ends in chunk
    this.readHeadText(bytes.toString('latin1', start, end));
    return next;
  }

  private readHeadText(text: string): void {
    let eol = text.indexOf('\r\n');
    const status = STATUS_LINE.exec(eol < 0 ? text : text.slice(0, eol));
    if (status === null) throw new Refusal(502, 'not an HTTP/1.x status line');
    const code = Number(status[2]);
    const headers: AnswerHeaders = { ':status': code };
    const framing = this.framing;
    framing.length = framing.transferEncoding = framing.connection = undefined;
    while (eol >= 0) {
      const start = eol + 2;
      eol = text.indexOf('\r\n', start);
      addField(headers, text, start, eol < 0 ? text.length : eol, framing);
    }
    if (framing.transferEncoding !== undefined) delete headers['content-length']; // the encoding frames the body (RFC 9112 6.3)
    const connection = framing.connection === undefined ? NO_ENTRIES : listEntries(framing.connection);
    if (connection.length > 0) dropNamed(headers, connection);
    if (code < 200) {
      if (code === 101) throw new Refusal(502, 'the server switched protocols unasked');
      if (code !== 100) this.sink.informational(headers, this.takeHeadBytes()); // 100 is the balancer's to send
      this.started = false;
      return;
    }
    this.keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    this.sink.head(code, headers, this.takeHeadBytes());
    if (this.state === 'stopped') return;
    this.frame(code);
  }

  private takeHeadBytes(): number {
    const bytes = this.headBytes;
    this.headBytes = 0;
    return bytes;
  }

  /** What follows a final head (RFC 9112 6.3). */
  private frame(status: number): void {
    const { transferEncoding, length } = this.framing;
    if (this.sink.answersHead() || status === 204 || status === 304) return this.finish();
    if (transferEncoding !== undefined) {
      if (!endsInChunked(transferEncoding)) return this.untilClose();
      this.body.start('chunked');
      this.state = 'body';
    } else if (length !== undefined) {
      if (!DIGITS.test(length)) throw new Refusal(502, 'invalid Content-Length in the answer');
      this.body.start(Number(length));
      if (this.body.done) return this.finish();
      this.state = 'body';
    } else {
      this.untilClose();
    }
  }

  private untilClose(): void {
    this.keepAlive = false;
    this.state = 'until-close';
  }

  private readBody(chunk: Buffer, i: number): number {
    const data = this.body.inData;
    let next: number;
    try {
      next = this.body.read(chunk, i);
    } catch (err) {
      throw err instanceof Refusal ? new Refusal(502, `answer body: ${err.message}`) : err;
    }
    if (data) this.pass(chunk, i, next);
    if (this.body.done && this.state === 'body') this.finish();
    return next;
  }

  private pass(chunk: Buffer, from: number, to: number): number {
    if (to > from) this.sink.data(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
    return to;
  }

  private finish(): void {
    const trailers = this.trailers;
    this.trailers = undefined;
    this.started = false;
    if (this.state !== 'stopped') this.state = 'head';
    this.sink.ended(trailers);
  }
}

/**
 * Adds the header line text[start, end) to headers; a malformed line is a Refusal. The framing
 * headers of a head go to `framing` (Content-Length to both), and no connection-specific header
 * is added.
 */
function addField(headers: AnswerHeaders, text: string, start: number, end: number, framing: Framing | undefined): void {
  const colon = text.indexOf(':', start);
  const name = colon > start && colon < end ? text.slice(start, colon).toLowerCase() : '';
  if (!isToken(name)) throw new Refusal(502, 'malformed header line in the answer');
  const value = text.slice(colon + 1, end).trim();
  if (framing !== undefined) {
    if (name === 'content-length') {
      if (framing.length !== undefined && framing.length !== value) throw new Refusal(502, 'conflicting Content-Length in the answer');
      framing.length = value;
    } else if (name === 'transfer-encoding') {
      framing.transferEncoding = framing.transferEncoding === undefined ? value : `${framing.transferEncoding}, ${value}`;
    } else if (name === 'connection') {
      framing.connection = framing.connection === undefined ? value : `${framing.connection}, ${value}`;
    }
  }
  if (CONNECTION_SPECIFIC.has(name)) return;
  const before = headers[name];
  if (before === undefined) headers[name] = value;
  else if (name === 'set-cookie') headers[name] = typeof before === 'string' ? [before, value] : [...before as string[], value];
  else if (name !== 'content-length') headers[name] = `${String(before)}, ${value}`;
}

/** Leaves out the headers the server's Connection header names (its entries) as its connection's own. */
function dropNamed(headers: AnswerHeaders, connection: readonly string[]): void {
  for (const name of connection) if (name !== 'close' && name !== 'keep-alive' && name !== ':status') delete headers[name];
}
