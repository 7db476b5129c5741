// One HTTP/2 request as an HTTP/1.1 exchange with a server: the request goes out on a kept-alive
// connection of the server's pool, the answer streams back, each way at the pace the receiving
// side reads. A server that fails before answering is replaced by the next one when the request
// can safely be sent again.
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Server } from '../balancer/server-table';
import type { AnswerHeaders } from './answer-reader';
import { errorPage } from './http-errors';
import type { Exchange } from './http-exchanges';
import { requestHead, requestTrailer } from './h2-headers';
import type { Forwarding } from './http';
import { Failure, type ServerConnection, type ServerRequest } from './server-connection';
import type { ServerPool } from './server-pool';

/** What the requests of one HTTP/2 connection share: its server, and what happens to it. */
export interface H2Connection {
  /** where requests go now; undefined when no server is left */
  readonly server: Server | undefined;
  /** the status a request gets when no server is left: 503, or 504 after a connect timeout */
  readonly failure: number;
  readonly forwarding: Forwarding;
  /** how long a request body may stop coming while the balancer reads it (ms: http_head_timeout) */
  readonly bodyTimeoutMs: number;
  /** the header lines added to a request that has none of the forwarding headers (made once) */
  readonly usualHeaders: string;
  pool(server: Server): ServerPool;
  /** server failed before answering (status: what that failure alone would answer); the connection moves on */
  failed(server: Server, why: string, status: number): void;
  /** bytes of requests to the server and of answers from it, heads and bodies (not chunked framing) */
  sent(server: Server, bytes: number): void;
  received(server: Server, bytes: number): void;
  /** the balancer answered with an error of its own */
  refused(status: number, reason: string): void;
  /** the client reset a stream before its answer was done */
  aborted(): void;
  /** each request with its answer, for the JSON log; undefined when that log is off */
  onExchange: ((exchange: Exchange) => void) | undefined;
}

/** Methods that may be sent twice with the effect of once (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Times a request may be sent again on a kept connection the server had closed, before it fails. */
const STALE_RETRIES = 3;

const PATH_MAX = 2048;

export class H2Exchange implements ServerRequest {
  private readonly method: string;
  private readonly path: string;
  readonly requestHead: string;
  /** a GET or HEAD without a body, until it has to be sent again: then on a connection of its own */
  pipelinable: boolean;
  readonly isHead: boolean;
  readonly hasBody: boolean;
  private readonly started = performance.now();
  /** the server the request is with, and the connection carrying it */
  private server: Server | undefined;
  connection: ServerConnection | undefined;
  private status = 0;
  private bytes = 0;
  private trailers: OutgoingHttpHeaders = {};
  /** some of the request body has gone to a server: it cannot be sent again */
  private bodyTaken = false;
  /** the request body is framed as chunks (the client gave no content-length) */
  private readonly chunked: boolean;
  /** the lines of the client's trailers that go after the last chunk */
  private trailerSection = '';
  /** the balancer gave up on the request (the client reset it, or its body stopped coming): the answer goes nowhere */
  private abandoned = false;
  /** the balancer reset the stream itself: not a reset by the client (rapid reset counts those) */
  private resetHere = false;
  private staleRetries = 0;
  /** the answer waits for the client to read (the connection is paused until its stream drains) */
  private awaitingDrain = false;
  /** stops reading the request body into a connection that failed */
  private detachBody: (() => void) | undefined;
  /** the exchange is in the log */
  private logDone = false;

  constructor(private readonly h2: H2Connection, private readonly stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ended: boolean) {
    this.method = headers[':method'] ?? 'GET';
    this.path = headers[':path'] ?? '/';
    this.hasBody = !ended;
    this.chunked = this.hasBody && headers['content-length'] === undefined;
    this.isHead = this.method === 'HEAD';
    this.pipelinable = !this.hasBody && (this.method === 'GET' || this.isHead);
    this.requestHead = requestHead(this.method, this.path, headers, this.hasBody, h2.forwarding, h2.usualHeaders);
    if (headers.expect?.toLowerCase() === '100-continue' && this.hasBody) stream.additionalHeaders({ ':status': 100 });
    // emitted when they arrive, which may be before the body is sent on; a body framed by its length has no room for them
    if (this.chunked) stream.once('trailers', (trailers: IncomingHttpHeaders) => (this.trailerSection = requestTrailer(trailers)));
    stream.once('close', () => this.streamClosed());
  }

  /** Sends the request to the connection's server (again, after a failure). */
  send(): void {
    const server = this.h2.server;
    if (server === undefined) return this.refuse(this.h2.failure, 'no server could take the request');
    if (this.method === 'CONNECT') return this.refuse(501, 'CONNECT is not served');
    this.server = server;
    this.h2.pool(server).send(this);
  }

  get cancelled(): boolean {
    return this.abandoned;
  }

  /** The client reset the stream, or it ended with its answer. */
  private streamClosed(): void {
    if (this.stream.aborted && !this.resetHere) this.h2.aborted();
    if (this.status !== 0 && this.stream.writableFinished) return;
    this.abandoned = true;
    // an answer under way, or a body half sent, leaves the connection in no state for another request
    if (this.connection !== undefined && (this.status !== 0 || (this.hasBody && !this.stream.readableEnded))) {
      this.connection.abandon(Failure.Stale, 'the client reset the stream');
    }
  }

  headWritten(): void {
    this.h2.sent(this.server!, this.requestHead.length); // latin1: a byte a character
  }

  /** The request body, read from the client stream as the server's connection takes it. */
  sendBody(connection: ServerConnection): void {
    const stream = this.stream;
    const server = this.server!;
    if (this.abandoned) return connection.abandon(Failure.Stale, 'the client reset the stream');
    const onData = (chunk: Buffer) => {
      this.bodyTaken = true;
      this.h2.sent(server, chunk.length);
      // every part written whatever the buffer says: the last write tells whether to wait
      if (this.chunked) connection.write(`${chunk.length.toString(16)}\r\n`);
      let more = connection.write(chunk);
      if (this.chunked) more = connection.write('\r\n');
      if (!more) { // the server reads slowly: the client is not to blame meanwhile
        stream.pause();
        this.watchBody(false);
        connection.onceDrained(() => {
          this.watchBody(true);
          stream.resume();
        });
      }
    };
    const onEnd = () => {
      this.watchBody(false);
      if (this.chunked) connection.write(`0\r\n${this.trailerSection}\r\n`);
    };
    stream.on('data', onData).once('end', onEnd);
    this.watchBody(true);
    stream.resume(); // paused when an earlier server failed before taking the body
    this.detachBody = () => {
      this.watchBody(false);
      stream.off('data', onData).off('end', onEnd).pause();
    };
  }

  /**
   * Times the request body while the balancer reads it (not while the request waits for a
   * connection, nor while the server is slow to take it): one that stops coming gets 408.
   */
  private watchBody(on: boolean): void {
    if (on && !this.stream.readableEnded) this.stream.setTimeout(this.h2.bodyTimeoutMs, () => this.timedOut());
    else this.stream.setTimeout(0);
  }

  informational(headers: AnswerHeaders, headBytes: number): void {
    this.h2.received(this.server!, headBytes);
    if (!this.abandoned && !this.stream.destroyed) this.stream.additionalHeaders(headers); // 103 Early Hints…
  }

  head(status: number, headers: AnswerHeaders, headBytes: number): void {
    this.status = status;
    this.h2.received(this.server!, headBytes);
    if (this.abandoned || this.stream.destroyed) return;
    const waitForTrailers = headers.trailer !== undefined && !this.isHead && status !== 204 && status !== 304;
    try {
      this.stream.respond(headers, { waitForTrailers });
    } catch (err) { // a header HTTP/2 does not allow
      this.abandoned = true;
      return this.refuse(502, `server ${this.server!.index} answered with a header HTTP/2 cannot carry (${(err as Error).message})`);
    }
    if (waitForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers));
  }

  data(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    this.h2.received(this.server!, chunk.length);
    if (this.abandoned || this.stream.destroyed || this.stream.write(chunk)) return true;
    if (!this.awaitingDrain) {
      this.awaitingDrain = true;
      this.stream.once('drain', () => {
        this.awaitingDrain = false;
        this.connection?.resume(); // none once the answer ended: the connection may be another request's by then
      });
    }
    return false;
  }

  ended(trailers: AnswerHeaders | undefined): void {
    this.connection = undefined;
    if (this.abandoned || this.stream.destroyed) return this.logged(this.status, this.bytes);
    if (trailers !== undefined) this.trailers = trailers;
    if (!this.stream.writableEnded) this.stream.end(); // Node ends HEAD, 204 and 304 answers itself
    this.logged(this.status, this.bytes);
  }

  /** The request body stopped coming for http_head_timeout: 408, or a reset once the answer is under way. */
  timedOut(): void {
    this.abandoned = true;
    this.connection?.abandon(Failure.Stale, 'the request body stopped coming');
    if (this.status !== 0) this.reset(constants.NGHTTP2_CANCEL);
    else this.refuse(408, 'the request body stopped coming');
  }

  failed(failure: Failure, why: string): void {
    if (this.abandoned || this.stream.destroyed) return;
    const server = this.server!;
    this.connection = undefined;
    this.detachBody?.();
    this.detachBody = undefined;
    if (failure === Failure.Broken) { // the answer was under way: the client learns of it from the reset
      this.reset(constants.NGHTTP2_INTERNAL_ERROR);
      this.logged(this.status, this.bytes);
      return;
    }
    if (failure === Failure.Timeout) return this.refuse(504, `server ${server.index}: ${why}`);
    const safe = !this.bodyTaken && (failure === Failure.Connect || failure === Failure.ConnectTimeout || IDEMPOTENT.has(this.method));
    if (failure === Failure.Stale && ++this.staleRetries <= STALE_RETRIES) {
      if (safe) { // not the server's fault: again, on a connection of its own, with nothing queued behind it
        this.pipelinable = false;
        return this.send();
      }
      return this.refuse(502, `server ${server.index} closed the connection before answering`);
    }
    this.h2.failed(server, why, failure === Failure.ConnectTimeout ? 504 : 502);
    if (safe) return this.send();
    this.refuse(502, `server ${server.index} failed before answering (${why})`);
  }

  private reset(code: number): void {
    this.resetHere = true;
    this.stream.close(code);
  }

  /** Answers with the balancer's own error page. */
  refuse(status: number, reason: string): void {
    this.h2.refused(status, reason);
    const page = errorPage(status);
    if (!this.stream.headersSent) this.stream.respond({ ':status': status, 'content-type': 'text/html', 'content-length': page.length });
    if (!this.stream.writableEnded) this.stream.end(page);
    this.logged(status, page.length);
  }

  private logged(status: number, bytes: number): void {
    if (this.logDone) return;
    this.logDone = true;
    this.h2.onExchange?.({ method: this.method, path: this.path.slice(0, PATH_MAX), status, bytes, ms: Math.round(performance.now() - this.started) });
  }
}
