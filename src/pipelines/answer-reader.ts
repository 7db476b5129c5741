// Reads a server's HTTP/1.1 answers off one connection, for requests the balancer made itself
// (those of HTTP/2 clients): each head as a header object, each body without its framing
// (Content-Length, chunked with trailers, or up to the close), in the order the requests went.
import { BodyFramer, Refusal, endsInChunked, isToken, listsToken } from './http-syntax';

/** Header names (lower case) and values; a repeated Set-Cookie is a list, other repeats are joined. */
export type AnswerHeaders = Record<string, string | string[]>;

/** Where the answers go: the connection they came on, which knows which request each one is for. */
export interface AnswerSink {
  /** the answer now being read is to a HEAD request (a head and no body) */
  answersHead(): boolean;
  informational(status: number, headers: AnswerHeaders): void;
  head(status: number, headers: AnswerHeaders): void;
  data(chunk: Buffer): void;
  ended(trailers: AnswerHeaders | undefined): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const DIGITS = /^\d{1,15}$/;

type State = 'head' | 'body' | 'until-close' | 'stopped';

export class AnswerReader {
  private state: State = 'head';
  /** the start of a head that did not end in its chunk */
  private partial: Buffer | undefined;
  private readonly body = new BodyFramer();
  private trailers: AnswerHeaders | undefined;
  /** the server keeps the connection open after the answer being read */
  keepAlive = true;
  /** some of the answer being read has arrived (a close now cuts it off) */
  started = false;

  constructor(private readonly headMax: number, private readonly sink: AnswerSink) {
    this.body.onTrailer = (line) => addHeader(this.trailers ??= {}, line);
  }

  /** Between answers: a close here loses no answer under way. */
  get atBoundary(): boolean {
    return this.state === 'head' && !this.started;
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
    const next = end + 4 - (partial === undefined ? 0 : partial.length - i); // where the head ends in chunk
    this.readHeadText(bytes.toString('latin1', start, end));
    return next;
  }

  private readHeadText(text: string): void {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (status === null) throw new Refusal(502, 'not an HTTP/1.x status line');
    const code = Number(status[2]);
    const headers: AnswerHeaders = {};
    for (let k = 1; k < lines.length; k++) addHeader(headers, lines[k]!);
    if (code < 200) {
      if (code === 101) throw new Refusal(502, 'the server switched protocols unasked');
      if (code !== 100) this.sink.informational(code, headers); // 100 is the balancer's to send
      this.started = false;
      return;
    }
    const connection = headers.connection === undefined ? '' : String(headers.connection);
    this.keepAlive = status[1] === '1' ? !listsToken(connection, 'close') : listsToken(connection, 'keep-alive');
    this.sink.head(code, headers);
    if (this.state === 'stopped') return;
    this.frame(code, headers);
  }

  /** What follows a final head (RFC 9112 6.3). */
  private frame(status: number, headers: AnswerHeaders): void {
    const te = headers['transfer-encoding'];
    const length = headers['content-length'];
    if (this.sink.answersHead() || status === 204 || status === 304) return this.finish();
    if (te !== undefined) {
      if (!endsInChunked(String(te))) return this.untilClose();
      this.body.start('chunked');
      this.state = 'body';
    } else if (length !== undefined) {
      if (typeof length !== 'string' || !DIGITS.test(length)) throw new Refusal(502, 'invalid Content-Length in the answer');
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

/** Adds the header line `Name: value` (lower-cased name) to headers; a malformed line is a Refusal. */
function addHeader(headers: AnswerHeaders, line: string): void {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon).toLowerCase() : '';
  if (!isToken(name)) throw new Refusal(502, 'malformed header line in the answer');
  const value = line.slice(colon + 1).trim();
  const before = headers[name];
  if (before === undefined) {
    headers[name] = value;
  } else if (name === 'content-length') {
    if (before !== value) throw new Refusal(502, 'conflicting Content-Length in the answer');
  } else if (name === 'set-cookie') {
    headers[name] = typeof before === 'string' ? [before, value] : [...before, value];
  } else {
    headers[name] = `${String(before)}, ${value}`;
  }
}
