// Counts of what happens to clients, in whichever thread serves them: connections (by country),
// TLS handshakes, HTTP requests and the balancer's own HTTP errors. One row per thread, summed
// when /metrics or /status.json is read, so a scrape of the main thread sees every worker and no
// thread sends a message per connection. Counting is an array increment at a fixed index.
import { CounterRows } from './shared-memory';

/** The HTTP errors the balancer answers with itself, each with a counter of its own. */
export const HTTP_ERROR_STATUSES = [400, 408, 413, 414, 431, 502, 503, 504, 505] as const;

/** A country code (two letters A–Z) has 26 × 26 places. */
const COUNTRIES = 26 * 26;
const A = 65;

// float64 fields of a row
const CONNECTIONS = 0;
const TLS_OK = 1;
const TLS_FAILED = 2;
const HTTP_REQUESTS = 3;
const HTTP_ERRORS = 4;
const COUNTRY = HTTP_ERRORS + HTTP_ERROR_STATUSES.length;
const FIELDS = COUNTRY + COUNTRIES;

/** status - 400 → its place among HTTP_ERROR_STATUSES (-1: none), made once */
const STATUS_PLACE = new Int8Array(106).fill(-1);
HTTP_ERROR_STATUSES.forEach((status, i) => (STATUS_PLACE[status - 400] = i));

/** The place of a country code among the country counters, or -1 for anything but two capitals. */
function countryPlace(code: string): number {
  if (code.length !== 2) return -1;
  const first = code.charCodeAt(0) - A;
  const second = code.charCodeAt(1) - A;
  return first >= 0 && first < 26 && second >= 0 && second < 26 ? first * 26 + second : -1;
}

export class TrafficCounters {
  private readonly rows: CounterRows;

  /** Rows for threads 0 … threads-1 (made before the threads start). */
  static addRows(rows: SharedArrayBuffer[], threads: number): void {
    CounterRows.add(rows, threads, FIELDS * 8);
  }

  constructor(rows: SharedArrayBuffer[], thread: number) {
    TrafficCounters.addRows(rows, thread + 1);
    this.rows = new CounterRows(rows, thread);
  }

  /** A client got a connection (or a UDP session); `country` where geo knows it. */
  connection(country: string | undefined): void {
    const own = this.rows.own;
    own[CONNECTIONS]++;
    if (country === undefined) return;
    const place = countryPlace(country);
    if (place >= 0) own[COUNTRY + place]++;
  }

  handshake(ok: boolean): void {
    this.rows.own[ok ? TLS_OK : TLS_FAILED]++;
  }

  /** A request went to a server (-H). */
  request(): void {
    this.rows.own[HTTP_REQUESTS]++;
  }

  /** The balancer answered with an HTTP error of its own. */
  httpError(status: number): void {
    const place = status >= 400 && status < 506 ? STATUS_PLACE[status - 400]! : -1;
    if (place >= 0) this.rows.own[HTTP_ERRORS + place]++;
  }

  /** The sums over every thread. */
  get connections(): number {
    return this.rows.sum(CONNECTIONS);
  }

  handshakes(ok: boolean): number {
    return this.rows.sum(ok ? TLS_OK : TLS_FAILED);
  }

  get requests(): number {
    return this.rows.sum(HTTP_REQUESTS);
  }

  /** [status, count] for every status of HTTP_ERROR_STATUSES, zeros included. */
  httpErrors(): Array<[number, number]> {
    return HTTP_ERROR_STATUSES.map((status, i) => [status, this.rows.sum(HTTP_ERRORS + i)]);
  }

  /** [country, connections] for the countries that had any, in code order. */
  countries(): Array<[string, number]> {
    const found: Array<[string, number]> = [];
    for (let place = 0; place < COUNTRIES; place++) {
      const n = this.rows.sum(COUNTRY + place);
      if (n > 0) found.push([String.fromCharCode(A + Math.floor(place / 26), A + (place % 26)), n]);
    }
    return found;
  }
}
