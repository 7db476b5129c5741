// HTTP/1.x message syntax shared by both directions: byte classes, header-line checks, and the
// body framer (Content-Length or chunked). Checks read bytes one by one where they lie, up to a
// limit; one that reaches the limit before it can decide answers INCOMPLETE.

/** Headers only the balancer sets, as the forwarded mode says (the client's are kept, replaced or appended to). */
export const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded']);
/** Client certificate results come only from us: a client sending them is ignored. */
export const IDENTITY = new Set(['x-client-verify', 'x-client-subject-dn', 'x-client-issuer-dn', 'x-client-cert-sha256']);

export const CR = 13;
export const LF = 10;
export const SP = 32;
const TAB = 9;
export const COLON = 0x3a;
export const DIGIT_0 = 0x30;
/** what a check answers when the bytes up to its limit end before it can decide */
export const INCOMPLETE = -1;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,15})(;[\t\x20-\x7e\x80-\xff]*)?$/;
const LINE_MAX = 8192; // chunk-size and trailer lines

/** A message that cannot be framed one way only; `status` is the HTTP answer to a bad request. */
export class Refusal extends Error {
  constructor(readonly status: number, reason: string) {
    super(reason);
  }
}

/** Bytes allowed in a token (method, header name), and in a header value. */
export const TOKEN_BYTE = byteClass((c) => c > 32 && c < 127 && !'"(),/:;<=>?@[\\]{}'.includes(String.fromCharCode(c)));
const VALUE_BYTE = byteClass((c) => c === TAB || (c >= 32 && c !== 127));

function byteClass(test: (c: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

/** The headers framing looks at; everything else passes untouched. */
export const enum Named { Other, ContentLength, TransferEncoding, Connection, Upgrade, Forwarding }
const NAMED: [string, Named][] = [
  ['content-length', Named.ContentLength], ['transfer-encoding', Named.TransferEncoding],
  ['connection', Named.Connection], ['upgrade', Named.Upgrade],
  ...['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'forwarded', 'x-client-verify',
    'x-client-subject-dn', 'x-client-issuer-dn', 'x-client-cert-sha256'].map((n): [string, Named] => [n, Named.Forwarding]),
];
/** the named headers by length, so most header names are passed over after one look-up */
const NAMED_BY_LENGTH: [string, Named][][] = [];
for (const entry of NAMED) (NAMED_BY_LENGTH[entry[0].length] ??= []).push(entry);

/** Checks `HTTP/d.d` at p. */
export function isHttpVersion(bytes: Buffer, p: number): boolean {
  return bytes[p] === 0x48 && bytes[p + 1] === 0x54 && bytes[p + 2] === 0x54 && bytes[p + 3] === 0x50 &&
    bytes[p + 4] === 0x2f && isDigit(bytes[p + 5]!) && bytes[p + 6] === 0x2e && isDigit(bytes[p + 7]!);
}

export function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_0 + 9;
}

/** Checks the header name of the line at p (a token, then a colon); returns the colon's position. */
function headerNameEnd(bytes: Buffer, p: number, limit: number): number {
  if (bytes[p] === SP || bytes[p] === TAB) throw new Refusal(400, 'obsolete line folding');
  let q = p;
  while (q < limit && TOKEN_BYTE[bytes[q]!] === 1) q++;
  if (q === limit) return INCOMPLETE;
  if (q === p || bytes[q] !== COLON) throw new Refusal(400, 'malformed header line');
  return q;
}

/** Checks a header value (or a reason phrase) from p; returns where the CR ending its line is. */
function headerValueEnd(bytes: Buffer, p: number, limit: number): number {
  while (p < limit && VALUE_BYTE[bytes[p]!] === 1) p++;
  if (p + 1 >= limit) return INCOMPLETE;
  if (bytes[p] === CR && bytes[p + 1] === LF) return p;
  throw bytes[p] === CR || bytes[p] === LF
    ? new Refusal(400, 'bare CR or LF in the message head')
    : new Refusal(400, 'control character in a header value');
}

/** At a line start p (p + 1 below the limit): whether this is the empty line that ends the head. */
function isEmptyLine(bytes: Buffer, p: number): boolean {
  if (bytes[p] !== CR) return false;
  if (bytes[p + 1] !== LF) throw new Refusal(400, 'bare CR or LF in the message head');
  return true;
}

/** Called for each line of a named header: which one it is, and where its value lies. */
export type HeaderVisitor = (bytes: Buffer, named: Named, valueStart: number, valueEnd: number) => void;

/**
 * Checks the header lines from p up to the empty line, calling `visit` for each; returns where the
 * head ends (after the empty line), or INCOMPLETE when it does not end before limit.
 */
export function readHeaderLines(bytes: Buffer, p: number, limit: number, visit: HeaderVisitor): number {
  for (;;) {
    if (p + 1 >= limit) return INCOMPLETE;
    if (isEmptyLine(bytes, p)) return p + 2;
    const colon = headerNameEnd(bytes, p, limit);
    if (colon === INCOMPLETE) return INCOMPLETE;
    const eol = headerValueEnd(bytes, colon + 1, limit);
    if (eol === INCOMPLETE) return INCOMPLETE;
    const named = namedHeader(bytes, p, colon);
    if (named !== Named.Other) visit(bytes, named, colon + 1, eol);
    p = eol + 2;
  }
}

/** Which of the named headers the name in bytes[p, colon) is, in any case. */
export function namedHeader(bytes: Buffer, p: number, colon: number): Named {
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

/**
 * The Content-Length value in bytes[p, end), read in place: one plain number between optional
 * spaces. Repeated or listed lengths are refused, as llhttp and nginx do.
 */
export function contentLength(bytes: Buffer, p: number, end: number, before: number | undefined): number {
  while (p < end && (bytes[p] === SP || bytes[p] === TAB)) p++;
  while (end > p && (bytes[end - 1] === SP || bytes[end - 1] === TAB)) end--;
  if (p === end) throw new Refusal(400, 'invalid Content-Length');
  let length = 0;
  for (let q = p; q < end; q++) {
    if (!isDigit(bytes[q]!)) throw new Refusal(400, 'invalid Content-Length');
    length = length * 10 + bytes[q]! - DIGIT_0;
  }
  if (end - p > 15) throw new Refusal(413, 'Content-Length too large');
  if (before !== undefined) throw new Refusal(400, 'more than one Content-Length');
  return length;
}

/** The entries of a comma-separated header value, lower-cased and trimmed. */
export function listEntries(value: string): string[] {
  return value.toLowerCase().split(',').map((entry) => entry.trim());
}

/** Whether a Transfer-Encoding value ends in chunked (and names it only there). */
export function endsInChunked(value: string): boolean {
  const codings = listEntries(value);
  return codings.indexOf('chunked') === codings.length - 1;
}

/** Whether a comma-separated header value lists `token` (lower case), in any case. */
export function listsToken(value: string, token: string): boolean {
  return listEntries(value).includes(token);
}

export function isToken(text: string): boolean {
  if (text === '') return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff || TOKEN_BYTE[text.charCodeAt(i)] === 0) return false;
  return true;
}

/** A message head that arrives in pieces, gathered line by line up to `max` bytes; the buffer
 *  is made when first needed (most heads come whole and are read where they lie). */
export class SplitHead {
  bytes = Buffer.alloc(0);
  length = 0;

  constructor(private readonly max: number) {}

  /** Appends chunk from i through its next LF (or its end); returns where that stopped, or
   *  INCOMPLETE, appending nothing, when the head would grow past max. */
  append(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(LF, i);
    const end = lf < 0 ? chunk.length : lf + 1;
    if (this.length + end - i > this.max) return INCOMPLETE;
    if (this.bytes.length === 0) this.bytes = Buffer.allocUnsafe(this.max);
    chunk.copy(this.bytes, this.length, i, end);
    this.length += end - i;
    return end;
  }

  /** The bytes gathered end a line. */
  get lineEnded(): boolean {
    return this.length > 0 && this.bytes[this.length - 1] === LF;
  }

  /** The line just ended is the empty one after others (CRLF or, in a response, a bare LF): the head is all there. */
  get complete(): boolean {
    const n = this.length;
    const b = this.bytes;
    return n >= 2 && b[n - 1] === LF && (b[n - 2] === LF || (n >= 4 && b[n - 2] === CR && b[n - 3] === LF));
  }
}

type BodyState = 'done' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer';

/** Finds where a message body ends: after Content-Length bytes, or after chunked framing and trailers. */
export class BodyFramer {
  private state: BodyState = 'done';
  /** bytes left in a Content-Length body or the current chunk */
  private remaining = 0;
  /** a chunk-size or trailer line being collected */
  private line = '';
  /** given each trailer line (without its CRLF) by a reader that passes trailers on */
  onTrailer: ((line: string) => void) | undefined;

  get done(): boolean {
    return this.state === 'done';
  }

  /** The bytes the next read consumes are body data (not chunked framing). */
  get inData(): boolean {
    return this.state === 'length' || this.state === 'chunk-data';
  }

  /** Starts a body: `length` bytes, or chunked when length is 'chunked'. */
  start(length: number | 'chunked'): void {
    if (length === 'chunked') {
      this.state = 'chunk-size';
    } else if (length > 0) {
      this.state = 'length';
      this.remaining = length;
    }
  }

  /** Consumes body bytes from i; returns the new position. */
  read(chunk: Buffer, i: number): number {
    if (this.state === 'length' || this.state === 'chunk-data') {
      const n = Math.min(this.remaining, chunk.length - i);
      this.remaining -= n;
      if (this.remaining === 0) this.state = this.state === 'length' ? 'done' : 'chunk-end';
      return i + n;
    }
    return this.readLine(chunk, i);
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
      if (!m) throw /^[0-9A-Fa-f]{16,}(;|$)/.test(text) ? new Refusal(413, 'chunk size too large') : new Refusal(400, 'invalid chunk size');
      this.remaining = parseInt(m[1]!, 16);
      this.state = this.remaining === 0 ? 'trailer' : 'chunk-data';
    } else if (text === '') {
      this.state = 'done';
    } else if (!isToken(text.slice(0, Math.max(0, text.indexOf(':'))))) {
      throw new Refusal(400, 'malformed trailer line');
    } else {
      this.onTrailer?.(text);
    }
    return end;
  }
}
