// Watches the server→client bytes just enough to know where each response ends, so that the
// answer to an Upgrade or CONNECT request is recognised. Nothing is changed or held back. A
// response that cannot be framed ends the watching, and no switch is granted after that.
import { Expecting } from './http-request';
import {
  BodyFramer, DIGIT_0, INCOMPLETE, Named, Refusal, SP, SplitHead,
  contentLength, endsInChunked, headerValueEnd, isDigit, isHttpVersion, readHeaderLines, type HeaderVisitor,
} from './http-syntax';

type State = 'head' | 'body' | 'until-close' | 'switched' | 'lost';

export class ResponseTracker {
  private state: State = 'head';
  /** what each request still without a final response asked for, oldest first from `next` */
  private expected: Expecting[] = [];
  private next = 0;
  private readonly split: SplitHead;
  private readonly body = new BodyFramer();
  /** the framing headers of the head being read */
  private length: number | undefined;
  private transferEncoding: string | undefined;
  private readonly visit: HeaderVisitor = (bytes, named, from, to) => {
    if (named === Named.ContentLength) this.length = contentLength(bytes, from, to, this.length);
    else if (named === Named.TransferEncoding) this.transferEncoding = bytes.toString('latin1', from, to).trim();
  };

  /** `onAnswer` learns whether the server switched protocols for an Upgrade or CONNECT request. */
  constructor(private readonly headMax: number, private readonly onAnswer: (switched: boolean) => void) {
    this.split = new SplitHead(headMax);
  }

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
    const split = this.split;
    if (split.length === 0) {
      const end = this.finishHead(chunk, i, Math.min(chunk.length, i + this.headMax));
      if (end !== INCOMPLETE) return end;
    }
    const end = split.append(chunk, i);
    if (end === INCOMPLETE) throw new Refusal(502, 'response head too large');
    if (split.complete) {
      const length = split.length;
      split.length = 0;
      if (this.finishHead(split.bytes, 0, length) === INCOMPLETE) throw new Refusal(502, 'malformed response head');
    }
    return end;
  }

  /**
   * Reads the status and framing of the head at start and decides what follows it; returns where
   * the head ends, or INCOMPLETE (having changed nothing) when it does not end before limit.
   */
  private finishHead(bytes: Buffer, start: number, limit: number): number {
    if (start + 13 >= limit) return INCOMPLETE;
    if (!isHttpVersion(bytes, start) || bytes[start + 8] !== SP || !isDigit(bytes[start + 9]!) ||
      !isDigit(bytes[start + 10]!) || !isDigit(bytes[start + 11]!)) {
      throw new Refusal(502, 'not an HTTP status line');
    }
    const status = (bytes[start + 9]! - DIGIT_0) * 100 + (bytes[start + 10]! - DIGIT_0) * 10 + bytes[start + 11]! - DIGIT_0;
    const lineEnd = headerValueEnd(bytes, start + 12, limit);
    if (lineEnd === INCOMPLETE) return INCOMPLETE;
    this.length = this.transferEncoding = undefined;
    const end = readHeaderLines(bytes, lineEnd + 2, limit, this.visit);
    if (end === INCOMPLETE) return INCOMPLETE;
    this.framed(status, this.length, this.transferEncoding);
    return end;
  }

  /** Decides what follows a response head with this status and framing. */
  private framed(status: number, length: number | undefined, transferEncoding: string | undefined): void {
    const expecting = this.expected[this.next] ?? Expecting.Response;
    if (status < 200) {
      if (status !== 101) return; // interim: the final response follows
      if (expecting !== Expecting.Upgrade) return this.noMoreBoundaries('lost');
      this.state = 'switched';
      this.onAnswer(true);
      return;
    }
    this.answeredOne();
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

  private startBody(length: number | 'chunked'): void {
    this.body.start(length);
    if (!this.body.done) this.state = 'body';
  }

  /** From here on no response can be told from the next: a pending switch is not granted. */
  private noMoreBoundaries(state: 'lost' | 'until-close'): void {
    this.state = state;
    if (this.expected.slice(this.next).some((e) => e === Expecting.Tunnel || e === Expecting.Upgrade)) this.onAnswer(false);
  }

  /** The oldest request has its final response. Deep pipelines cost O(1) per response, not a shift. */
  private answeredOne(): void {
    if (this.next < this.expected.length) this.next++;
    if (this.next === this.expected.length) {
      this.expected.length = 0;
      this.next = 0;
    } else if (this.next >= 1024 && this.next * 2 >= this.expected.length) {
      this.expected = this.expected.slice(this.next);
      this.next = 0;
    }
  }
}
