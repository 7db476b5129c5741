// Watches the server→client bytes just enough to know where each response ends, so that the
// answer to an Upgrade or CONNECT request is recognised. Nothing is changed or held back. A
// response that cannot be framed ends the watching, and no switch is granted after that.
import { Expecting } from './http-request';
import {
  BodyFramer, CR, DIGIT_0, HEAD_END, LF, Named, Refusal, SP,
  contentLength, endsInChunked, headerNameEnd, headerValueEnd, isDigit, isHttpVersion, namedHeader,
} from './http-syntax';

type State = 'head' | 'body' | 'until-close' | 'switched' | 'lost';

export class ResponseTracker {
  private state: State = 'head';
  /** what each request still without a final response asked for, oldest first */
  private readonly expected: Expecting[] = [];
  /** a head split across chunks; made when first needed */
  private head: Buffer | undefined;
  private headLength = 0;
  private readonly body = new BodyFramer();

  /** `onAnswer` learns whether the server switched protocols for an Upgrade or CONNECT request. */
  constructor(private readonly headMax: number, private readonly onAnswer: (switched: boolean) => void) {}

  /** A request went to the server. */
  sent(expecting: Expecting): void {
    this.expected.push(expecting);
    // no response boundary will be found any more: a switch can never be seen
    if (this.state === 'lost' || this.state === 'until-close') this.onAnswer(false);
  }

  /** Reads a chunk on its way to the client. */
  observe(chunk: Buffer): void {
    let i = 0;
    try {
      while (i < chunk.length) {
        if (this.state === 'head') {
          i = this.readHead(chunk, i);
        } else if (this.state === 'body') {
          i = this.body.read(chunk, i);
          if (this.body.done) this.state = 'head';
        } else {
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.noMoreBoundaries('lost');
    }
  }

  private readHead(chunk: Buffer, i: number): number {
    if (this.headLength === 0) {
      const end = chunk.indexOf(HEAD_END, i);
      if (end >= 0) {
        this.finishHead(chunk, i, end + 4);
        return end + 4;
      }
    }
    const lf = chunk.indexOf(LF, i);
    const end = lf < 0 ? chunk.length : lf + 1;
    if (this.headLength + end - i > this.headMax) throw new Refusal(502, 'response head too large');
    this.head ??= Buffer.allocUnsafe(this.headMax);
    chunk.copy(this.head, this.headLength, i, end);
    this.headLength += end - i;
    const len = this.headLength;
    if (lf >= 0 && len >= 4 && this.head[len - 3] === LF && this.head[len - 2] === CR) {
      this.headLength = 0;
      this.finishHead(this.head, 0, len);
    }
    return end;
  }

  /** Reads the status and framing of the head in bytes[start, end) and decides what follows it. */
  private finishHead(bytes: Buffer, start: number, end: number): void {
    if (!isHttpVersion(bytes, start) || bytes[start + 8] !== SP || !isDigit(bytes[start + 9]!) ||
      !isDigit(bytes[start + 10]!) || !isDigit(bytes[start + 11]!)) {
      throw new Refusal(502, 'not an HTTP status line');
    }
    const status = (bytes[start + 9]! - DIGIT_0) * 100 + (bytes[start + 10]! - DIGIT_0) * 10 + bytes[start + 11]! - DIGIT_0;
    let length: number | undefined;
    let transferEncoding: string | undefined;
    for (let p = headerValueEnd(bytes, start + 12) + 2; p < end - 2;) {
      const colon = headerNameEnd(bytes, p);
      const eol = headerValueEnd(bytes, colon + 1);
      const named = namedHeader(bytes, p, colon);
      if (named === Named.ContentLength) length = contentLength(bytes, colon + 1, eol, length);
      else if (named === Named.TransferEncoding) transferEncoding = bytes.toString('latin1', colon + 1, eol).trim();
      p = eol + 2;
    }
    const expecting = this.expected[0] ?? Expecting.Response;
    if (status < 200) {
      if (status !== 101) return; // interim: the final response follows
      if (expecting !== Expecting.Upgrade) return this.noMoreBoundaries('lost');
      this.state = 'switched';
      this.onAnswer(true);
      return;
    }
    this.expected.shift();
    if (expecting === Expecting.Tunnel || expecting === Expecting.Upgrade) {
      const tunnel = expecting === Expecting.Tunnel && status < 300;
      this.onAnswer(tunnel);
      if (tunnel) {
        this.state = 'switched';
        return;
      }
    }
    if (expecting === Expecting.HeadResponse || status === 204 || status === 304) return; // no body
    if (transferEncoding !== undefined) {
      if (endsInChunked(transferEncoding)) this.startBody('chunked');
      else this.noMoreBoundaries('until-close');
    } else if (length !== undefined) {
      this.startBody(length);
    } else {
      this.noMoreBoundaries('until-close');
    }
  }

  /** From here on no response can be told from the next: a pending switch is not granted. */
  private noMoreBoundaries(state: 'lost' | 'until-close'): void {
    this.state = state;
    if (this.expected.some((e) => e === Expecting.Tunnel || e === Expecting.Upgrade)) this.onAnswer(false);
  }

  private startBody(length: number | 'chunked'): void {
    this.body.start(length);
    if (!this.body.done) this.state = 'body';
  }
}
