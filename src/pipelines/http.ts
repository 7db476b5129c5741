// The HTTP-aware client→server direction (-H): every request head gets X-Forwarded-For and
// X-Forwarded-Proto (and X-Forwarded-Port behind TLS); bad requests get an HTTP error, not the server.
import type { Endpoint } from './endpoint';
import { errorResponse } from './http-errors';
import { FORWARDING, IDENTITY } from './http-syntax';
import { RequestFramer, type HttpLimits, type RequestHead } from './http-request';
import type { HttpPipeline, ToServer } from './raw';
import { ResponseTracker } from './http-response';
import { Exchanges, type Exchange } from './http-exchanges';
import type { ForwardedMode } from '../config/settings';

export interface HttpOptions extends HttpLimits {
  forwarded: ForwardedMode;
  /** the address we saw the request come from, added to X-Forwarded-For */
  clientAddress: string;
  /** also add an RFC 7239 Forwarded header */
  rfc7239: boolean;
  /** set when the client came in over TLS: the port it connected to */
  tlsPort: number | undefined;
  /** headers about the client certificate (TLS), added to every request */
  identity: Array<[string, string]>;
  /** how long a started request head may take to arrive in full */
  headTimeoutMs: number;
  /** after a refusal, how long the server may go without a byte while it still owes answers to earlier requests */
  answerTimeoutMs: number;
  /** each request with its answer, for the JSON log; undefined (nothing kept) when that log is off */
  onExchange?: (exchange: Exchange) => void;
  /** called for every request passed on to the server (counted for the metrics) */
  onRequest: () => void;
  /** called for every error of the balancer's own the client is sent (counted for the metrics) */
  onErrorAnswer: (status: number) => void;
}

/**
 * The longest response head found where it ends (a longer one is answered 502): servers send
 * longer heads than clients (policies, cookies), and the watch needs only their framing.
 */
const RESPONSE_HEAD_MAX = 64 * 1024;

/** What decides the headers the balancer adds to a request. */
export type Forwarding = Pick<HttpOptions, 'forwarded' | 'clientAddress' | 'rfc7239' | 'tlsPort' | 'identity'>;

/**
 * The headers the balancer adds, as [name, value], given the X-Forwarded-For entries the request
 * keeps (forwarded append) and which of our headers it already had.
 */
function addedHeaders(o: Forwarding, forwardedFor: string[], present: Set<string>): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  const add = (name: string, value: string) => {
    if (o.forwarded !== 'pen' || !present.has(name.toLowerCase())) headers.push([name, value]);
  };
  add('X-Forwarded-For', [...forwardedFor, o.clientAddress].join(', '));
  add('X-Forwarded-Proto', o.tlsPort === undefined ? 'http' : 'https');
  if (o.tlsPort !== undefined) add('X-Forwarded-Port', String(o.tlsPort));
  if (o.rfc7239) {
    const node = o.clientAddress.includes(':') ? `"[${o.clientAddress}]"` : o.clientAddress;
    headers.push(['Forwarded', `for=${node};proto=${o.tlsPort === undefined ? 'http' : 'https'}`]);
  }
  return headers.concat(o.identity);
}

/**
 * Sorts a request's headers for the balancer's forwarding: the client's own forwarding headers are
 * kept, dropped or (X-Forwarded-For with `append`) carried into ours, as the forwarded mode says;
 * the client certificate headers are always dropped.
 */
export class ForwardingHeaders {
  private readonly forwardedFor: string[] = [];
  private readonly present = new Set<string>();

  constructor(private readonly o: Forwarding) {}

  /** Whether the client's header `name` (lower case) goes to the server as it is. */
  keeps(name: string, value: string): boolean {
    if (IDENTITY.has(name)) return false;
    if (!FORWARDING.has(name)) return true;
    this.present.add(name);
    if (this.o.forwarded === 'pen' || (name === 'forwarded' && this.o.forwarded === 'append')) return true;
    if (name === 'x-forwarded-for' && this.o.forwarded === 'append') this.forwardedFor.push(value.trim());
    return false;
  }

  /** The headers the balancer adds, after every client header went through keeps(). */
  added(): Array<[string, string]> {
    return addedHeaders(this.o, this.forwardedFor, this.present);
  }
}

const asLine = ([name, value]: [string, string]) => `${name}: ${value}`;

/** Writes request heads with our headers in. The usual head is written as it lies in the read
 *  buffer followed by one suffix prepared per connection; a head in which the client sent some of
 *  our headers itself is taken apart line by line, and so is one sent while `closing` (draining):
 *  it asks the server to close after its answer (`Connection: close`), which the client then reads
 *  in that answer, so it sends no request on a connection about to close. */
export function headWriter(o: HttpOptions, forward: ToServer, closing: () => boolean): (head: RequestHead) => boolean {
  const usual = Buffer.from(`${addedHeaders(o, [], new Set()).map(asLine).join('\r\n')}\r\n\r\n`, 'latin1');
  return (head) => {
    const close = closing() && !head.switches;
    if (!head.forwarding && !close) {
      const headWritten = forward(head.bytes, head.start, head.end);
      return forward(usual, 0, usual.length) && headWritten;
    }
    const [requestLine, ...lines] = head.bytes.toString('latin1', head.start, head.end - 2).split('\r\n');
    const kept: string[] = [requestLine!];
    const forwarding = new ForwardingHeaders(o);
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (close && name === 'connection') continue;
      if (forwarding.keeps(name, line.slice(colon + 1))) kept.push(line);
    }
    kept.push(...forwarding.added().map(asLine));
    if (close) kept.push('Connection: close');
    const rewritten = Buffer.from(`${kept.join('\r\n')}\r\n\r\n`, 'latin1');
    return forward(rewritten, 0, rewritten.length);
  };
}

/** The rightmost X-Forwarded-For entry of a request head: the client as the trusted proxy saw it. */
export function lastForwardedFor(head: string): string | undefined {
  let last: string | undefined;
  for (const line of head.split('\r\n')) {
    if (/^x-forwarded-for:/i.test(line)) last = line.slice(line.indexOf(':') + 1).split(',').pop()?.trim();
  }
  return last;
}

/** The HTTP pipeline of one connection: client chunks go through the request framer, server
 *  chunks past the response tracker on their way to the client. */
export interface HttpPipe {
  fromClient: (chunk: Buffer) => boolean;
  /** writes what of a server chunk goes to the client; false when the client socket is full */
  fromServer: (chunk: Buffer) => boolean;
  /** both sides are closed */
  closed: () => void;
  /**
   * QUIT: the connection is to end. Closing it while idle would race a request the client may be
   * sending, so each request from now on asks the server to close after its answer, and the
   * client reads that in the answer (`Connection: close`); the server's close ends it.
   */
  finish: () => void;
}

/**
 * Returns what builds the HTTP pipeline between client (down) and server (up) around plain writes to the server.
 *
 * A refused request is answered after the answers the server still owes to the requests before
 * it, as nginx and HAProxy do: the client reads responses in order, so the error goes after the
 * last of them, and anything the server sends after that is dropped. The server gets
 * answerTimeoutMs without a byte before the wait ends in a 504, and its closing before it has
 * answered ends it in a 502, each in place of the answer missing. When the answer under way runs
 * to the close, or cannot be framed, nothing of ours can follow it: the connection just closes.
 * `onRefuse` hears of each refusal as it is decided, with its reason; `onErrorAnswer` of each
 * error the client is sent (a refusal behind an answer that never comes is not: a 502 or 504 is).
 */
export function httpPipeline(down: Endpoint, up: Endpoint, options: HttpOptions, onRefuse: (status: number, reason: string) => void): HttpPipeline {
  return (toServer) => {
    const exchanges = options.onExchange && new Exchanges(options.onExchange);
    const tracker = new ResponseTracker(Math.max(options.headMax, RESPONSE_HEAD_MAX), (switched) => framer.answered(switched), exchanges && ((status, bytes) => exchanges.answered(status, bytes)));
    /** the status of a refused request, sent once the answers owed before it are */
    let refusal: number | undefined;
    /** runs while the answers owed are awaited: time since the server's last byte */
    let answerTimer: NodeJS.Timeout | undefined;
    /** the client has been sent all it will get */
    let done = false;
    let serverEnded = false;
    /** draining: every request from now on asks the server to close after its answer */
    let finishing = false;
    const close = () => {
      done = true;
      clearTimeout(answerTimer);
      down.end(() => up.destroy()); // the server never sees the refused bytes
    };
    const answer = (status: number) => {
      const response = errorResponse(status);
      options.onErrorAnswer(status);
      exchanges?.answered(status, response.length);
      down.write(response, 0, response.length);
      close();
    };
    /** The answers owed will not all come: the error in place of the missing one, where it can be read as one. */
    const giveUp = (status: number, reason: string) => {
      if (!tracker.atBoundary) return close();
      onRefuse(status, reason);
      answer(status);
    };
    const writeHead = headWriter(options, toServer, () => finishing);
    const framer: RequestFramer = new RequestFramer({
      forward: toServer,
      forwardHead: exchanges ? (head) => { exchanges.sent(head); return writeHead(head); } : writeHead,
      sent: (expecting) => {
        options.onRequest();
        tracker.sent(expecting);
      },
      refuse: (status, reason, headSent) => {
        onRefuse(status, reason);
        refusal = status;
        if (serverEnded) { // the relay has passed the server's end on to the client: nothing more can go
          done = true;
          return;
        }
        tracker.stopAfterAnswers(headSent ? 1 : 0);
        if (tracker.settled) return answer(status);
        answerTimer = setTimeout(() => giveUp(504, 'no answer from the server in time'), options.answerTimeoutMs);
      },
      resume: () => down.resume(),
    }, options);
    const relayEnd = up.onend; // set by the relay before it builds the pipeline
    up.onend = () => {
      serverEnded = true;
      if (refusal === undefined) relayEnd();
      else if (!done) giveUp(502, 'the server closed before answering'); // or, in a body that runs to the close, its end
    };
    /** A head late: 408 for one begun; a client that sent nothing at all is closed without a word. */
    const headLate = () => (framer.midHead ? framer.timeOut() : close());
    // runs while a request head is incomplete, and from the start until the first one (as nginx's client_header_timeout)
    let headTimer: NodeJS.Timeout | undefined = setTimeout(headLate, options.headTimeoutMs);
    return {
      fromClient(chunk) {
        const ok = framer.push(chunk);
        if (framer.midHead) {
          headTimer ??= setTimeout(headLate, options.headTimeoutMs);
        } else if (headTimer !== undefined) {
          clearTimeout(headTimer);
          headTimer = undefined;
        }
        return ok;
      },
      fromServer(chunk) {
        if (refusal === undefined) {
          tracker.observe(chunk);
          return down.write(chunk, 0, chunk.length);
        }
        if (done) return true;
        const end = tracker.observe(chunk);
        const ok = end === 0 || down.write(chunk, 0, end);
        if (tracker.settled) answer(refusal);
        else answerTimer?.refresh();
        return ok;
      },
      closed: () => {
        clearTimeout(headTimer);
        clearTimeout(answerTimer);
        tracker.closed();
      },
      finish: () => {
        finishing = true;
      },
    };
  };
}
