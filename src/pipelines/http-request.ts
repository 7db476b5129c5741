// Strict, incremental HTTP/1.x request framing for the client→server direction. Only request
// heads are buffered (bounded) and rewritten; body bytes are passed on as slices of the chunk
// that carried them. Anything that could be read two ways (request smuggling) is refused.

export interface HttpLimits {
  /** bytes of a whole request head (request line + headers) */
  headMax: number;
  /** bytes of the request line */
  lineMax: number;
}

export interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** header lines as received, without CRLF */
  lines: string[];
}

/** What the framer hands on: rewritten heads, body bytes, a refusal, or "raw from here on". */
export interface FramerSink {
  /** writes bytes to the server; returns false when the server socket is full */
  forward(bytes: Buffer): boolean;
  /** the new head for a request, from the parsed one */
  rewrite(head: RequestHead): Buffer;
  /** refuses the request with an HTTP status; no more bytes are forwarded */
  refuse(status: number, reason: string): void;
}

const CR = 13;
const LF = 10;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})(;[\t\x20-\x7e\x80-\xff]*)?$/;
const LINE_MAX = 8192; // chunk-size and trailer lines

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'raw' | 'refused';

class Refusal extends Error {
  constructor(readonly status: number, reason: string) {
    super(reason);
  }
}

export class RequestFramer {
  private state: State = 'head';
  private readonly head: Buffer;
  private headLength = 0;
  /** bytes left in a Content-Length body or the current chunk */
  private remaining = 0;
  /** a chunk-size or trailer line being collected */
  private line = '';
  /** after this head, the connection turns raw (Upgrade, CONNECT) */
  private upgrade = false;

  constructor(private readonly sink: FramerSink, private readonly limits: HttpLimits) {
    this.head = Buffer.allocUnsafe(limits.headMax);
  }

  /** Takes the next chunk from the client; returns false when the server wants a pause. */
  push(chunk: Buffer): boolean {
    if (this.state === 'refused') return true;
    let ok = true;
    let i = 0;
    let run = -1; // start of body and chunk-framing bytes passed on as they are, in one write
    try {
      while (i < chunk.length && this.state !== 'raw') {
        const before = this.state;
        if (before === 'head' && run >= 0) {
          ok = this.sink.forward(chunk.subarray(run, i)) && ok;
          run = -1;
        }
        if (before !== 'head' && run < 0) run = i;
        i = this.step(chunk, i);
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.state = 'refused';
      this.sink.refuse(err.status, err.message);
      return true;
    }
    if (run >= 0) ok = this.sink.forward(chunk.subarray(run, i)) && ok;
    if (i < chunk.length) ok = this.sink.forward(chunk.subarray(i)) && ok; // raw after an Upgrade
    return ok;
  }

  /** Consumes bytes from i for the current state; returns the new position. */
  private step(chunk: Buffer, i: number): number {
    switch (this.state) {
      case 'head': return this.readHead(chunk, i);
      case 'body': return this.readBody(chunk, i);
      case 'chunk-data': return this.readBody(chunk, i);
      default: return this.readLine(chunk, i);
    }
  }

  private readHead(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(LF, i);
    const end = lf < 0 ? chunk.length : lf + 1;
    const n = end - i;
    if (this.headLength + n > this.limits.headMax) {
      const inRequestLine = this.head.subarray(0, this.headLength).indexOf(LF) < 0;
      throw inRequestLine ? new Refusal(414, 'request line too long') : new Refusal(431, 'request header block too large');
    }
    chunk.copy(this.head, this.headLength, i, end);
    this.headLength += n;
    if (lf >= 0) {
      const len = this.headLength;
      // the head ends with an empty line (CRLF CRLF); a leading empty line before a request is tolerated
      if (len === 2 && this.head[0] === CR) this.headLength = 0;
      else if (len >= 4 && this.head[len - 3] === LF && this.head[len - 2] === CR) this.finishHead();
    }
    return end;
  }

  private finishHead(): void {
    const text = this.head.toString('latin1', 0, this.headLength - 4);
    this.headLength = 0;
    const lines = text.split('\r\n');
    if (lines.some((l) => l.includes('\r') || l.includes('\n'))) throw new Refusal(400, 'bare CR or LF in the request head');
    const requestLine = lines.shift()!;
    if (requestLine.length > this.limits.lineMax) throw new Refusal(414, 'request line too long');
    const m = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
    if (!m || !TOKEN.test(m[1]!)) throw new Refusal(400, 'not an HTTP request line');
    if (m[3] !== '1') throw new Refusal(505, 'HTTP version not supported');
    const head: RequestHead = { method: m[1]!, target: m[2]!, version: `${m[3]}.${m[4]}`, lines };
    this.frameBody(head);
    this.sink.forward(this.sink.rewrite(head));
    if (this.upgrade) this.state = 'raw';
  }

  /** Decides how the body is delimited, refusing every ambiguous combination. */
  private frameBody(head: RequestHead): void {
    let length: number | undefined;
    let chunked = false;
    let transferEncoding = false;
    let connectionUpgrade = false;
    let hasUpgrade = false;
    for (const line of head.lines) {
      if (line.startsWith(' ') || line.startsWith('\t')) throw new Refusal(400, 'obsolete line folding');
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new Refusal(400, 'malformed header line');
      const value = line.slice(colon + 1).trim();
      if (!FIELD_VALUE.test(value)) throw new Refusal(400, 'control character in a header value');
      switch (name.toLowerCase()) {
        case 'content-length':
          // one plain number only: repeated or listed lengths are refused, as llhttp and nginx do
          if (!/^\d{1,15}$/.test(value)) throw new Refusal(400, 'invalid Content-Length');
          if (length !== undefined) throw new Refusal(400, 'more than one Content-Length');
          length = Number(value);
          break;
        case 'transfer-encoding': {
          transferEncoding = true;
          const codings = value.toLowerCase().split(',').map((c) => c.trim());
          chunked = codings[codings.length - 1] === 'chunked' && codings.indexOf('chunked') === codings.length - 1;
          if (!chunked) throw new Refusal(400, 'Transfer-Encoding must end in chunked');
          break;
        }
        case 'connection':
          connectionUpgrade ||= value.toLowerCase().split(',').some((t) => t.trim() === 'upgrade');
          break;
        case 'upgrade':
          hasUpgrade = true;
          break;
      }
    }
    if (transferEncoding && length !== undefined) throw new Refusal(400, 'both Content-Length and Transfer-Encoding');
    if (transferEncoding && head.version === '1.0') throw new Refusal(400, 'Transfer-Encoding in an HTTP/1.0 request');
    this.upgrade = head.method === 'CONNECT' || (connectionUpgrade && hasUpgrade);
    if (chunked) {
      this.state = 'chunk-size';
    } else if (length) {
      this.state = 'body';
      this.remaining = length;
    } else {
      this.state = 'head';
    }
  }

  private readBody(chunk: Buffer, i: number): number {
    const n = Math.min(this.remaining, chunk.length - i);
    this.remaining -= n;
    if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-end';
    return i + n;
  }

  /** chunk-size lines, the CRLF after chunk data, and trailer lines. */
  private readLine(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(LF, i);
    const end = lf < 0 ? chunk.length : lf + 1;
    this.line += chunk.toString('latin1', i, end);
    if (this.line.length > LINE_MAX) throw new Refusal(400, 'chunk or trailer line too long');
    if (lf < 0) return end;
    const line = this.line;
    this.line = '';
    if (!line.endsWith('\r\n') || line.slice(0, -2).includes('\r')) throw new Refusal(400, 'bare CR or LF in chunked framing');
    const text = line.slice(0, -2);
    if (this.state === 'chunk-end') {
      if (text !== '') throw new Refusal(400, 'chunk data longer than its size');
      this.state = 'chunk-size';
    } else if (this.state === 'chunk-size') {
      const m = CHUNK_SIZE.exec(text);
      if (!m) throw new Refusal(400, 'invalid chunk size');
      this.remaining = parseInt(m[1]!, 16);
      this.state = this.remaining === 0 ? 'trailer' : 'chunk-data';
    } else if (text === '') {
      this.state = 'head';
    } else if (!TOKEN.test(text.slice(0, Math.max(0, text.indexOf(':'))))) {
      throw new Refusal(400, 'malformed trailer line');
    }
    return end;
  }
}
