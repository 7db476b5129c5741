// One HTTP/1.1 connection to a server, carrying requests the balancer makes itself (those of
// HTTP/2 clients). The heads of all requests made in one turn of the event loop are written
// together, one write per connection; answers are read in order. A request that is safe to send
// twice may be sent behind others still unanswered (pipelining, as the pool decides).
import type { Socket } from 'node:net';
import type { Server } from '../balancer/server-table';
import type { Settings } from '../config/settings';
import { AnswerReader, type AnswerHeaders, type AnswerSink } from './answer-reader';
import { Refusal } from './http-syntax';
import { serverSocket } from './server-socket';

/** How a request failed to get its answer. */
export const enum Failure {
  /** no connection could be made: the server never saw the request */
  Connect,
  /** as Connect, after `timeout` seconds */
  ConnectTimeout,
  /** the connection was lost before the answer began: the server may have seen the request */
  Lost,
  /**
   * lost before the answer began on a connection that had served earlier requests, or behind
   * another request: the server closed it (idle, or after that answer), not a failure of its own
   */
  Stale,
  /** no answer began within http_answer_timeout */
  Timeout,
  /** the answer was cut off, or could not be read, after it began */
  Broken,
}

/** A request as a connection carries it; the exchange behind it hears how it goes. */
export interface ServerRequest {
  /** the request head, ready to write */
  readonly requestHead: string;
  /** may wait behind other requests on a connection: a GET or HEAD without a body, not sent before */
  readonly pipelinable: boolean;
  /** the client gave up on the request before it went out: it is not sent */
  readonly cancelled: boolean;
  /** a HEAD request: its answer has no body */
  readonly isHead: boolean;
  /** has a body to send */
  readonly hasBody: boolean;
  /** the connection carrying the request, set by it */
  connection: ServerConnection | undefined;
  /** the head went out on the connection, made (for the byte counts) */
  headWritten(): void;
  /** the body may go now: the connection is made and the head written */
  sendBody(connection: ServerConnection): void;
  /** goes where its client's requests go now (again, after it waited for a connection that failed) */
  send(): void;
  informational(headers: AnswerHeaders, headBytes: number): void;
  head(status: number, headers: AnswerHeaders, headBytes: number): void;
  /** false: the client reads slowly, and the connection waits for resume() */
  data(chunk: Buffer): boolean;
  ended(trailers: AnswerHeaders | undefined): void;
  failed(failure: Failure, why: string): void;
}

/** What the pool hears from its connections. */
export interface ConnectionOwner {
  /**
   * an answer began after its request had waited `ms` on the server (see waited(); undefined
   * when not measured), and the server keeps (or closes) the connection after it
   */
  heard(ms: number | undefined, keepsAlive: boolean): void;
  /** the connection finished an answer and can take more */
  answered(connection: ServerConnection): void;
  gone(connection: ServerConnection): void;
}

/** A kept connection unused this long is closed (a server usually closes its own after 5 s or more). */
const KEEP_IDLE_MS = 4000;

// ---- heads written once per turn ----
let unflushed: ServerConnection[] = [];
/** the turns of the event loop that wrote heads */
let turn = 0;

function flushAll(): void {
  turn++;
  const connections = unflushed;
  unflushed = [];
  for (const connection of connections) connection.flush();
}

/** Where the event loop is: the time (performance.now()), its turn, and how long it has sat idle so far (ms). */
export interface LoopClock {
  now: number;
  turn: number;
  idle: number;
}

const clock: LoopClock = { now: 0, turn: 0, idle: 0 };

/** Where the event loop is now, in one object used again by the next call (read per request: nothing allocated). */
export function loopClock(): Readonly<LoopClock> {
  clock.now = performance.now();
  clock.turn = turn;
  clock.idle = performance.nodeTiming.idleTime;
  return clock;
}

export class ServerConnection implements AnswerSink {
  /** the requests sent or to be sent, oldest first: the first is being answered */
  private readonly queue: ServerRequest[] = [];
  /** when the oldest request went out, 0 while it waits for the flush */
  private firstSentAt = 0;
  /** the loop's turn and idle time then */
  private firstSentTurn = 0;
  private firstSentIdle = 0;
  /** answers taken whole: a connection with some is a kept one */
  private answers = 0;
  private connected = false;
  /** the connection takes no new request: it closes after the answers it owes */
  private closing = false;
  private paused = false;
  /** the oldest request's answer head went to its client: a failure now cuts the answer off */
  private answering = false;
  private out = '';
  /** the newest requests in the queue whose heads are in `out`, not written yet */
  private unwritten = 0;
  private waitingForFlush = false;
  /** the request whose body goes next, once the connection is made and its head written */
  private bodyToSend: ServerRequest | undefined;
  private readonly socket: Socket;
  private readonly reader: AnswerReader;
  /** why the connection is being closed by the balancer, for the requests it still has */
  private closeReason: { failure: Failure; why: string } | undefined;

  constructor(server: Server, private readonly settings: Settings, private readonly owner: ConnectionOwner, proxyHeader: Buffer | undefined) {
    this.reader = new AnswerReader(settings.httpHeadMax, this);
    this.socket = serverSocket(server, { source: settings.source, allowHalfOpen: false, alpn: ['http/1.1'] });
    if (proxyHeader !== undefined) this.out = proxyHeader.toString('latin1');
    this.socket.setTimeout(settings.timeout * 1000);
    this.socket.once(server.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('timeout', () => this.onTimeout());
    this.socket.on('error', (err: Error) => {
      this.closeReason ??= this.connected ? undefined : { failure: Failure.Connect, why: `connect error ${(err as NodeJS.ErrnoException).code ?? err.message}` };
    });
    this.socket.once('close', () => this.onClose());
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.closing;
  }

  /** Whether request may go on this connection: it is idle, or the request may wait behind the ones there (all GET or HEAD, fewer than `depth`, the oldest waited on for less than `window` ms). */
  takes(request: ServerRequest, depth: number, window: number, clock: Readonly<LoopClock>): boolean {
    if (this.closing) return false;
    const n = this.queue.length;
    if (n === 0) return true;
    return request.pipelinable && n < depth && this.queue[n - 1]!.pipelinable && this.waited(clock) < window;
  }

  /**
   * How long the oldest request has waited on the server (ms). An answer read within a turn of
   * the loop after its request is as prompt as the loop allows, however long a busy loop took
   * over that turn: then only the time the loop sat idle in between counts.
   */
  private waited(clock: Readonly<LoopClock>): number {
    if (this.firstSentAt === 0) return 0;
    const ms = clock.now - this.firstSentAt;
    return clock.turn - this.firstSentTurn <= 1 ? Math.min(ms, clock.idle - this.firstSentIdle) : ms;
  }

  /** The oldest request is out now. */
  private sentNow(): void {
    const clock = loopClock();
    this.firstSentAt = clock.now;
    this.firstSentTurn = clock.turn;
    this.firstSentIdle = clock.idle;
  }

  send(request: ServerRequest): void {
    if (this.queue.length === 0) {
      this.firstSentAt = 0;
      if (this.connected) this.socket.setTimeout(this.settings.httpAnswerTimeout * 1000);
    }
    this.queue.push(request);
    request.connection = this;
    this.out += request.requestHead;
    this.unwritten++;
    if (request.hasBody) this.bodyToSend = request;
    if (!this.waitingForFlush) {
      this.waitingForFlush = true;
      if (unflushed.length === 0) setImmediate(flushAll);
      unflushed.push(this);
    }
  }

  /** Writes the heads made this turn. */
  flush(): void {
    this.waitingForFlush = false;
    if (this.out === '' || this.socket.destroyed) return;
    this.socket.write(this.out, 'latin1');
    this.out = '';
    const written = this.unwritten;
    this.unwritten = 0;
    if (this.firstSentAt === 0) this.sentNow();
    // before the connection is made, heads are counted when it is: a server never reached got nothing
    if (!this.connected) return;
    for (let k = this.queue.length - written; k < this.queue.length; k++) this.queue[k]!.headWritten();
    this.startBody();
  }

  /** Writes part of a request body; false when the connection's buffer is full (wait for drain). */
  write(bytes: Buffer | string): boolean {
    return this.socket.write(bytes);
  }

  onceDrained(then: () => void): void {
    this.socket.once('drain', then);
  }

  /** Stops reading answers until resume(): the client reads slowly. */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
  }

  /** Closes the connection; the requests it still has fail as `failure`. */
  abandon(failure: Failure, why: string): void {
    this.closeReason ??= { failure, why };
    this.closing = true;
    this.reader.stop();
    this.socket.destroy();
  }

  private onConnect(): void {
    this.connected = true;
    for (let k = 0; k < this.queue.length - this.unwritten; k++) this.queue[k]!.headWritten();
    this.socket.setTimeout(this.queue.length > 0 ? this.settings.httpAnswerTimeout * 1000 : KEEP_IDLE_MS);
    if (!this.waitingForFlush) this.startBody();
  }

  private startBody(): void {
    const request = this.bodyToSend;
    if (request === undefined) return;
    this.bodyToSend = undefined;
    request.sendBody(this);
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.read(chunk);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.abandon(this.answering ? Failure.Broken : Failure.Lost, err.message);
    }
  }

  private onTimeout(): void {
    if (!this.connected) return this.abandon(Failure.ConnectTimeout, `no connection within ${this.settings.timeout} s`);
    if (this.queue.length === 0) return this.abandon(Failure.Stale, 'idle');
    if (this.paused) return; // the client is slow, not the server
    if (this.answering) return this.abandon(Failure.Broken, `the answer stopped for ${this.settings.httpAnswerTimeout} s`);
    this.abandon(Failure.Timeout, `no answer in ${this.settings.httpAnswerTimeout} s`);
  }

  private onClose(): void {
    this.closing = true;
    this.reader.closed(); // ends an answer that runs to the close
    const reason = this.closeReason;
    const requests = this.queue.splice(0);
    for (let k = 0; k < requests.length; k++) {
      const request = requests[k]!;
      if (reason !== undefined && (k === 0 || reason.failure === Failure.Connect || reason.failure === Failure.ConnectTimeout)) {
        request.failed(reason.failure, reason.why);
      } else if (k === 0 && this.answering) {
        request.failed(Failure.Broken, 'the server closed the connection during the answer');
      } else {
        // nothing of the answer came on a connection that served others before: the server closed it as the request went out
        const stale = k > 0 || (this.answers > 0 && !this.reader.started);
        request.failed(stale ? Failure.Stale : Failure.Lost, 'the server closed the connection before answering');
      }
    }
    this.owner.gone(this);
  }

  // ---- AnswerSink: the answers, to the oldest request ----

  answersHead(): boolean {
    return this.queue[0]!.isHead;
  }

  informational(headers: AnswerHeaders, headBytes: number): void {
    this.current().informational(headers, headBytes);
  }

  head(status: number, headers: AnswerHeaders, headBytes: number): void {
    const request = this.current();
    this.owner.heard(this.firstSentAt !== 0 ? this.waited(loopClock()) : undefined, this.reader.keepAlive);
    this.answering = true;
    request.head(status, headers, headBytes);
  }

  data(chunk: Buffer): void {
    if (!this.queue[0]!.data(chunk)) this.pause();
  }

  ended(trailers: AnswerHeaders | undefined): void {
    const request = this.queue.shift()!;
    this.answers++;
    this.answering = false;
    if (this.queue.length === 0) this.firstSentAt = 0;
    else this.sentNow();
    if (!this.reader.keepAlive) this.closing = true;
    if (this.paused) this.resume(); // the slow client has the whole answer in its buffer; the next answer is another's
    request.ended(trailers);
    if (this.closing) {
      if (!this.socket.destroyed) this.socket.destroy();
    } else {
      if (this.queue.length === 0) this.socket.setTimeout(KEEP_IDLE_MS);
      this.owner.answered(this);
    }
  }

  /** The request an answer begins for: none is a server talking out of turn. */
  private current(): ServerRequest {
    const request = this.queue[0];
    if (request === undefined) throw new Refusal(502, 'an answer to no request');
    return request;
  }
}
