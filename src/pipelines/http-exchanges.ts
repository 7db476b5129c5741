// For the JSON log (`log_format json` with -H): which request each response answers, its status,
// size and time. Only built when that log is on: the pipeline otherwise keeps no request text.
import type { RequestHead } from './http-request';
import { SP } from './http-syntax';

/** One request and its answer, as a JSON log line tells them. */
export interface Exchange {
  method: string;
  path: string;
  status: number;
  /** bytes of the answer sent to the client, head included */
  bytes: number;
  /** from the request head going to the server to the answer's end */
  ms: number;
}

/** Longest request target kept in the log. */
const PATH_MAX = 2048;

export class Exchanges {
  /** requests sent and not answered yet, oldest first */
  private readonly waiting: Array<{ method: string; path: string; started: number }> = [];

  constructor(private readonly report: (exchange: Exchange) => void) {}

  /** A request head went to the server. */
  sent(head: RequestHead): void {
    const { bytes, start, end } = head;
    const methodEnd = bytes.indexOf(SP, start);
    const pathEnd = bytes.indexOf(SP, methodEnd + 1);
    this.waiting.push({
      method: bytes.toString('latin1', start, methodEnd),
      path: bytes.toString('latin1', methodEnd + 1, Math.min(pathEnd < 0 || pathEnd > end ? end : pathEnd, methodEnd + 1 + PATH_MAX)),
      started: performance.now(),
    });
  }

  /**
   * An answer ended: the server's to the oldest request, or the balancer's own error (then to the
   * oldest request still unanswered, or to one the server never saw: `-`).
   */
  answered(status: number, bytes: number): void {
    const request = this.waiting.shift();
    const ms = request === undefined ? 0 : Math.round(performance.now() - request.started);
    this.report({ method: request?.method ?? '-', path: request?.path ?? '-', status, bytes, ms });
  }
}
