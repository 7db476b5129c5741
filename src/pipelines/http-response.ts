// Watches the server→client bytes just enough to know where each response ends, so that the
// answer to an Upgrade or CONNECT request is recognised. Nothing is changed or held back. Of a
// response head only the status line and the framing headers are read: the server is the
// authority on its own answers, and the client reads them as they are. A response that cannot
// be framed ends the watching, and no switch is granted after that. After a refused request the
// tracker can be told to stop at the end of the last answer the server still owes.
import { Expecting } from './http-request';
import {
  BodyFramer, COLON, CR, DIGIT_0, INCOMPLETE, LF, Named, Refusal, SP, SplitHead,
  contentLength, endsInChunked, isDigit, isHttpVersion, namedHeader,
} from './http-syntax';

type State = 'head' | 'body' | 'until-close' | 'switched' | 'lost' | 'settled';

export class ResponseTracker {
  private state: State = 'head';
  /** what each request still without a final response asked for: expected[next, end), oldest
   *  first; the array's storage is kept from request to request */
  private readonly expected: Expecting[] = [];
  private next = 0;
  private end = 0;
  private readonly split: SplitHead;
  private readonly body = new BodyFramer();
  /** the framing headers of the head being read */
  private length: number | undefined;
  private transferEncoding: string | undefined;
  /** requests sent, final responses ended, and after how many of those the watching stops */
  private requests = 0;
  private answers = 0;
  private last = Infinity;
  /** the final status of the response under way, and where it began in the bytes observed so far */
  private status = 0;
  private began = 0;
  /** bytes observed before the current chunk */
  private observed = 0;

  /**
   * `onAnswer` learns whether the server switched protocols for an Upgrade or CONNECT request;
   * `onResponse`, when given (the JSON log), each final response's status and size once it ended.
   */
  constructor(private readonly headMax: number, private readonly onAnswer: (switched: boolean) => void,
    private readonly onResponse?: (status: number, bytes: number) => void) {
    this.split = new SplitHead(headMax);
  }

  /** A request went to the server. */
  sent(expecting: Expecting): void {
    this.expected[this.end++] = expecting;
    this.requests++;
    // no response boundary will be found any more: a switch can never be seen
    if (this.state === 'lost' || this.state === 'until-close') this.onAnswer(false);
  }

  /**
   * Stops the watching at the end of the answer to the last request sent so far, not counting the
   * last `unanswerable` ones (a request whose body was refused never reached the server whole).
   * From then on `settled` is true, and observe returns where in its chunk that answer ended.
   */
  stopAfterAnswers(unanswerable: number): void {
    this.last = this.requests - unanswerable;
    if (this.state === 'head' && this.split.length === 0 && this.answers >= this.last) this.state = 'settled';
  }

  /** The server has given every answer it was asked for by stopAfterAnswers. */
  get settled(): boolean {
    return this.state === 'settled';
  }

  /** Between two responses, where bytes of our own are read by the client as a new response. */
  get atBoundary(): boolean {
    return this.state === 'settled' || (this.state === 'head' && this.split.length === 0);
  }

  /** Reads a chunk on its way to the client; returns how much of it is still answers (all of it,
   *  unless the watching stopped after the last answer owed). */
  observe(chunk: Buffer): number {
    let i = 0;
    try {
      while (i < chunk.length) {
        const answers = this.answers;
        if (this.state === 'head') {
          i = this.readHead(chunk, i);
        } else if (this.state === 'body') {
          i = this.body.read(chunk, i);
          if (this.body.done) this.responseEnded();
        } else {
          return this.state === 'settled' ? i : chunk.length;
        }
        if (this.answers !== answers) this.reportResponse(this.observed + i);
      }
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.noMoreBoundaries('lost');
    } finally {
      this.observed += chunk.length;
    }
    return chunk.length;
  }

  /** The server closed: a response that runs to the close has ended with it. */
  closed(): void {
    if (this.state === 'until-close') this.reportResponse(this.observed);
  }

  /** A final response ended at `end` (in the bytes observed): reported, and the next one begins there. */
  private reportResponse(end: number): void {
    this.onResponse?.(this.status, end - this.began);
    this.began = end;
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
    this.length = this.transferEncoding = undefined;
    const end = this.readFraming(bytes, lineAfter(bytes, start + 12, limit), limit);
    if (end === INCOMPLETE) return INCOMPLETE;
    this.framed(status, this.length, this.transferEncoding);
    return end;
  }

  /** Reads Content-Length and Transfer-Encoding from the header lines at p; returns where the
   *  head ends, or INCOMPLETE when it does not end before limit. */
  private readFraming(bytes: Buffer, p: number, limit: number): number {
    while (p !== INCOMPLETE && p < limit) {
      const first = bytes[p]!;
      if (first === LF) return p + 1;
      if (first === CR) return p + 1 === limit ? INCOMPLETE : bytes[p + 1] === LF ? p + 2 : lost('bare CR in a response head');
      const next = lineAfter(bytes, p, limit);
      const lower = first | 0x20;
      if (next !== INCOMPLETE && (lower === 0x63 || lower === 0x74)) this.framingHeader(bytes, p, next); // c, t
      p = next;
    }
    return INCOMPLETE;
  }

  /** The header line bytes[p, next), if it is Content-Length or Transfer-Encoding. */
  private framingHeader(bytes: Buffer, p: number, next: number): void {
    let colon = p;
    while (colon < next && bytes[colon] !== COLON) colon++;
    if (colon === next) return;
    const named = namedHeader(bytes, p, colon);
    const end = bytes[next - 2] === CR ? next - 2 : next - 1;
    if (named === Named.ContentLength) this.length = contentLength(bytes, colon + 1, end, this.length);
    else if (named === Named.TransferEncoding) this.transferEncoding = bytes.toString('latin1', colon + 1, end).trim();
  }

  /** Decides what follows a response head with this status and framing. */
  private framed(status: number, length: number | undefined, transferEncoding: string | undefined): void {
    const expecting = this.next < this.end ? this.expected[this.next]! : Expecting.Response;
    if (status < 200) {
      if (status !== 101) return; // interim: the final response follows
      if (expecting !== Expecting.Upgrade) return this.noMoreBoundaries('lost');
      this.state = 'switched';
      this.onAnswer(true);
      return;
    }
    this.answeredOne();
    this.status = status;
    if (expecting === Expecting.Tunnel || expecting === Expecting.Upgrade) {
      const tunnel = expecting === Expecting.Tunnel && status < 300;
      this.onAnswer(tunnel);
      if (tunnel) {
        this.state = 'switched';
        return;
      }
    }
    if (expecting === Expecting.HeadResponse || status === 204 || status === 304) return this.responseEnded(); // no body
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
    if (this.body.done) this.responseEnded();
    else this.state = 'body';
  }

  /** A final response ended: the next one, or the end of the watching. */
  private responseEnded(): void {
    this.state = ++this.answers >= this.last ? 'settled' : 'head';
  }

  /** From here on no response can be told from the next: a pending switch is not granted. */
  private noMoreBoundaries(state: 'lost' | 'until-close'): void {
    this.state = state;
    if (this.expected.slice(this.next, this.end).some((e) => e === Expecting.Tunnel || e === Expecting.Upgrade)) this.onAnswer(false);
  }

  /** The oldest request has its final response. Deep pipelines cost O(1) per response, not a shift. */
  private answeredOne(): void {
    if (this.next < this.end) this.next++;
    if (this.next === this.end) {
      this.next = this.end = 0;
    } else if (this.next >= 1024 && this.next * 2 >= this.end) {
      this.expected.copyWithin(0, this.next, this.end);
      this.end -= this.next;
      this.next = 0;
    }
  }
}

/** Where the line holding p ends (after its LF), or INCOMPLETE. */
function lineAfter(bytes: Buffer, p: number, limit: number): number {
  while (p < limit && bytes[p] !== LF) p++;
  return p < limit ? p + 1 : INCOMPLETE;
}

function lost(reason: string): never {
  throw new Refusal(502, reason);
}
