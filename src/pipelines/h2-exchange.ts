// One HTTP/2 request as an HTTP/1.1 exchange with a server: the request goes out on a kept-alive
// connection of the server's pool (undici), the answer streams back, each way at the pace the
// receiving side reads. A server that fails before answering is replaced by the next one when the
// request can safely be sent again.
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Server } from '../balancer/server-table';
import { errorPage } from './http-errors';
import type { Exchange } from './http-exchanges';
import { requestHeaders, responseHeaders } from './h2-headers';
import type { Forwarding } from './http';

/** What the requests of one HTTP/2 connection share: its server, and what happens to it. */
export interface H2Connection {
  /** where requests go now; undefined when no server is left */
  readonly server: Server | undefined;
  /** the status a request gets when no server is left: 503, or 504 after a connect timeout */
  readonly failure: number;
  readonly forwarding: Forwarding;
  /** the headers added to a request that has none of the forwarding headers (made once) */
  readonly usualHeaders: Array<[string, string]>;
  pool(server: Server): Dispatcher;
  /** server failed before answering (status: what that failure alone would answer); the connection moves on */
  failed(server: Server, why: string, status: number): void;
  /** bytes of request bodies to the server, and of answers from it */
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

/** Failures in making the connection: the server never saw the request. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', 'EACCES', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's refusals of a request it cannot write (OPTIONS *, a header it does not take). */
const UNSENDABLE = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

const PATH_MAX = 2048;

export class H2Exchange implements Dispatcher.DispatchHandler {
  private readonly method: string;
  private readonly path: string;
  private readonly headers: Record<string, string | string[]>;
  private readonly started = performance.now();
  private controller: Dispatcher.DispatchController | undefined;
  /** the server the request is with */
  private server: Server | undefined;
  private status = 0;
  private bytes = 0;
  private trailers: OutgoingHttpHeaders = {};
  /** some of the request body has gone to a server: it cannot be sent again */
  private bodyTaken = false;
  /** the balancer gave up on the request (its body stopped coming): what the server does no longer matters */
  private abandoned = false;
  private readonly hasBody: boolean;

  constructor(private readonly connection: H2Connection, private readonly stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ended: boolean) {
    this.method = headers[':method'] ?? 'GET';
    this.path = headers[':path'] ?? '/';
    this.headers = requestHeaders(headers, connection.forwarding, connection.usualHeaders);
    this.hasBody = !ended;
    if (headers.expect?.toLowerCase() === '100-continue' && this.hasBody) stream.additionalHeaders({ ':status': 100 });
    stream.once('close', () => {
      if (stream.aborted) connection.aborted();
      if (this.status === 0 || !stream.writableFinished) this.controller?.abort(new Error('the client reset the stream'));
    });
  }

  /** Sends the request to the connection's server (again, after a failure). */
  send(): void {
    const server = this.connection.server;
    if (server === undefined) return this.refuse(this.connection.failure, 'no server could take the request');
    if (this.method === 'CONNECT') return this.refuse(501, 'CONNECT is not served');
    this.server = server;
    this.connection.pool(server).dispatch({
      method: this.method, path: this.path, headers: this.headers, body: this.hasBody ? this.body(server) : null,
      idempotent: IDEMPOTENT.has(this.method),
    }, this);
  }

  /** The request body, read from the client stream as the server takes it (undici destroys what it is given on failure, so not the stream itself). */
  private body(server: Server): Readable {
    const stream = this.stream;
    const onData = (chunk: Buffer) => {
      this.bodyTaken = true;
      this.connection.sent(server, chunk.length);
      if (!body.push(chunk)) stream.pause();
    };
    const onEnd = () => body.push(null);
    let reading = false;
    const body = new Readable({
      // the client's bytes are read only once the server's connection asks for them: until then a failed connect may try another server
      read: () => {
        if (!reading) stream.on('data', onData).on('end', onEnd);
        reading = true;
        stream.resume();
      },
      destroy: (err, done) => {
        stream.off('data', onData).off('end', onEnd).pause();
        done(err);
      },
    });
    return body;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stream.destroyed) controller.abort(new Error('the client reset the stream'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.stream.destroyed) return;
    if (status < 200) { // informational (103 Early Hints…): passed on; 100 is the balancer's to send
      if (status !== 100 && status !== 101) this.stream.additionalHeaders(responseHeaders(headers, status));
      return;
    }
    this.status = status;
    const waitForTrailers = headers.trailer !== undefined && this.method !== 'HEAD' && status !== 204 && status !== 304;
    this.stream.respond(responseHeaders(headers, status), { waitForTrailers });
    if (waitForTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytes += chunk.length;
    this.connection.received(this.server!, chunk.length);
    if (this.stream.destroyed || this.stream.write(chunk)) return;
    controller.pause();
    this.stream.once('drain', () => controller.resume());
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.trailers = responseHeaders(trailers);
    if (!this.stream.writableEnded) this.stream.end(); // Node ends HEAD, 204 and 304 answers itself
    this.logged(this.status, this.bytes);
  }

  /** The request body stopped coming for http_head_timeout: 408, or a reset once the answer is under way. */
  timedOut(): void {
    this.abandoned = true;
    this.controller?.abort(new Error('the request body stopped coming'));
    if (this.status !== 0) this.stream.close(constants.NGHTTP2_CANCEL);
    else this.refuse(408, 'the request body stopped coming');
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (this.abandoned || this.stream.destroyed) return;
    if (this.status !== 0) { // the answer was under way: the client learns of it from the reset
      this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      this.logged(this.status, this.bytes);
      return;
    }
    const server = this.server!;
    const code = err.code ?? err.message;
    if (UNSENDABLE.has(code)) return this.refuse(400, `the request cannot go to a server as HTTP/1.1 (${err.message})`); // not the server's fault
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return this.refuse(504, `server ${server.index} sent no answer in time`);
    const connecting = CONNECT_FAILURES.has(code);
    this.connection.failed(server, connecting ? `connect error ${code}` : `${code} before answering`, code === 'UND_ERR_CONNECT_TIMEOUT' ? 504 : 502);
    if ((connecting || IDEMPOTENT.has(this.method)) && !this.bodyTaken) return this.send();
    this.refuse(502, `server ${server.index} failed before answering (${code})`);
  }

  /** Answers with the balancer's own error page. */
  refuse(status: number, reason: string): void {
    this.connection.refused(status, reason);
    const page = errorPage(status);
    if (!this.stream.headersSent) this.stream.respond({ ':status': status, 'content-type': 'text/html', 'content-length': page.length });
    if (!this.stream.writableEnded) this.stream.end(page);
    this.logged(status, page.length);
  }

  private logged(status: number, bytes: number): void {
    this.connection.onExchange?.({ method: this.method, path: this.path.slice(0, PATH_MAX), status, bytes, ms: Math.round(performance.now() - this.started) });
  }
}
