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
  /** the request line and header lines as received, each ending in CRLF, without the empty line;
   *  valid only until rewrite returns */
  raw: Buffer;
  /** the request carries a header only the balancer may set (X-Forwarded-*, Forwarded, client certificate) */
  forwarding: boolean;
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
const SP = 32;
const TAB = 9;
const COLON = 0x3a;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const HTTP_SLASH = Buffer.from('HTTP/');
const CONNECT = Buffer.from('CONNECT');
const HEAD_END = Buffer.from('\r\n\r\n');
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})(;[\t\x20-\x7e\x80-\xff]*)?$/;
const LINE_MAX = 8192; // chunk-size and trailer lines

/** Bytes allowed in a token (method, header name), and in a header value. */
const TOKEN_BYTE = byteClass((c) => c > 32 && c < 127 && !'"(),/:;<=>?@[\\]{}'.includes(String.fromCharCode(c)));
const VALUE_BYTE = byteClass((c) => c === 9 || (c >= 32 && c !== 127));

function byteClass(test: (c: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

/** The headers framing looks at; everything else passes untouched. */
const enum Named { Other, ContentLength, TransferEncoding, Connection, Upgrade, Forwarding }
const NAMED: [string, Named][] = [
  ['content-length', Named.ContentLength], ['transfer-encoding', Named.TransferEncoding],
  ['connection', Named.Connection], ['upgrade', Named.Upgrade],
  ...['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'x-client-verify',
    'x-client-subject-dn', 'x-client-issuer-dn', 'x-client-cert-sha256'].map((n): [string, Named] => [n, Named.Forwarding]),
];
/** the named headers by length, so most header names are passed over after one look-up */
const NAMED_BY_LENGTH: [string, Named][][] = [];
for (const entry of NAMED) (NAMED_BY_LENGTH[entry[0].length] ??= []).push(entry);

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
    if (this.headLength === 0 && chunk[i] !== CR) {
      // the usual case: the whole head is in this chunk, and is read where it is
      const end = chunk.indexOf(HEAD_END, i);
      if (end >= 0 && end + 4 - i <= this.limits.headMax) {
        this.finishHead(chunk, i, end + 4);
        return end + 4;
      }
    }
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
      else if (len >= 4 && this.head[len - 3] === LF && this.head[len - 2] === CR) {
        this.headLength = 0;
        this.finishHead(this.head, 0, len);
      }
    }
    return end;
  }

  /** Checks the head in bytes[start, end) (end is just after CRLF CRLF), frames its body, passes it on. */
  private finishHead(bytes: Buffer, start: number, end: number): void {
    const lineEnd = requestLineEnd(bytes, start, this.limits.lineMax);
    let length: number | undefined;
    let transferEncoding = false;
    let connectionUpgrade = false;
    let hasUpgrade = false;
    let forwarding = false;
    for (let p = lineEnd + 2; p < end - 2;) {
      const colon = headerNameEnd(bytes, p);
      const eol = headerValueEnd(bytes, colon + 1);
      const named = namedHeader(bytes, p, colon);
      if (named === Named.Forwarding) {
        forwarding = true;
      } else if (named !== Named.Other) {
        const value = bytes.toString('latin1', colon + 1, eol).trim();
        if (named === Named.ContentLength) {
          // one plain number only: repeated or listed lengths are refused, as llhttp and nginx do
          if (!/^\d{1,15}$/.test(value)) throw new Refusal(400, 'invalid Content-Length');
          if (length !== undefined) throw new Refusal(400, 'more than one Content-Length');
          length = Number(value);
        } else if (named === Named.TransferEncoding) {
          transferEncoding = true;
          const codings = value.toLowerCase().split(',').map((c) => c.trim());
          if (codings.indexOf('chunked') !== codings.length - 1) throw new Refusal(400, 'Transfer-Encoding must end in chunked');
        } else if (named === Named.Connection) {
          connectionUpgrade ||= value.toLowerCase().split(',').some((t) => t.trim() === 'upgrade');
        } else {
          hasUpgrade = true;
        }
      }
      p = eol + 2;
    }
    if (transferEncoding && length !== undefined) throw new Refusal(400, 'both Content-Length and Transfer-Encoding');
    if (transferEncoding && bytes[lineEnd - 1] === DIGIT_0) throw new Refusal(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (transferEncoding) {
      this.state = 'chunk-size';
    } else if (length) {
      this.state = 'body';
      this.remaining = length;
    } else {
      this.state = 'head';
    }
    this.sink.forward(this.sink.rewrite({ raw: bytes.subarray(start, end - 2), forwarding }));
    if (isConnect(bytes, start) || (connectionUpgrade && hasUpgrade)) this.state = 'raw';
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
    } else if (!isToken(text.slice(0, Math.max(0, text.indexOf(':'))))) {
      throw new Refusal(400, 'malformed trailer line');
    }
    return end;
  }
}

// The head checks below read bytes one by one: a head always ends in CRLF CRLF, so every scan
// stops inside it.

/** Checks `METHOD SP target SP HTTP/1.x CRLF` at start; returns where its CR is. */
function requestLineEnd(bytes: Buffer, start: number, lineMax: number): number {
  let p = start;
  while (TOKEN_BYTE[bytes[p]!] === 1) p++;
  if (p === start || bytes[p] !== SP) throw new Refusal(400, 'not an HTTP request line');
  const target = ++p;
  for (let c = bytes[p]; c !== SP && c !== CR && c !== LF; c = bytes[++p]);
  if (p - start + 9 > lineMax) throw new Refusal(414, 'request line too long');
  if (p === target || bytes[p] !== SP) throw new Refusal(400, 'not an HTTP request line');
  p++;
  for (let k = 0; k < 5; k++) if (bytes[p + k] !== HTTP_SLASH[k]) throw new Refusal(400, 'not an HTTP request line');
  if (!isDigit(bytes[p + 5]!) || bytes[p + 6] !== DOT || !isDigit(bytes[p + 7]!)) throw new Refusal(400, 'not an HTTP request line');
  if (bytes[p + 8] !== CR || bytes[p + 9] !== LF) throw new Refusal(400, 'bare CR or LF in the request head');
  if (bytes[p + 5] !== DIGIT_0 + 1) throw new Refusal(505, 'HTTP version not supported');
  return p + 8;
}

/** Checks the header name of the line at p (a token, then a colon); returns the colon's position. */
function headerNameEnd(bytes: Buffer, p: number): number {
  if (bytes[p] === SP || bytes[p] === TAB) throw new Refusal(400, 'obsolete line folding');
  let q = p;
  while (TOKEN_BYTE[bytes[q]!] === 1) q++;
  if (q === p || bytes[q] !== COLON) throw new Refusal(400, 'malformed header line');
  return q;
}

/** Checks a header value from p; returns where the CR ending its line is. */
function headerValueEnd(bytes: Buffer, p: number): number {
  while (VALUE_BYTE[bytes[p]!] === 1) p++;
  if (bytes[p] === CR && bytes[p + 1] === LF) return p;
  throw bytes[p] === CR || bytes[p] === LF
    ? new Refusal(400, 'bare CR or LF in the request head')
    : new Refusal(400, 'control character in a header value');
}

/** Which of the named headers the name in bytes[p, colon) is, in any case. */
function namedHeader(bytes: Buffer, p: number, colon: number): Named {
  const candidates = NAMED_BY_LENGTH[colon - p];
  if (candidates === undefined) return Named.Other;
  for (const [name, named] of candidates) {
    let k = 0;
    // | 0x20 lower-cases letters and leaves the other token bytes of these names as they are
    while (k < name.length && (bytes[p + k]! | 0x20) === name.charCodeAt(k)) k++;
    if (k === name.length) return named;
  }
  return Named.Other;
}

function isConnect(bytes: Buffer, start: number): boolean {
  for (let k = 0; k < CONNECT.length; k++) if (bytes[start + k] !== CONNECT[k]) return false;
  return bytes[start + CONNECT.length] === SP;
}

function isToken(text: string): boolean {
  if (text === '') return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff || TOKEN_BYTE[text.charCodeAt(i)] === 0) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_0 + 9;
}
