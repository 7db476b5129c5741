// Headers between an HTTP/2 client and an HTTP/1.1 server (RFC 9113 8.2.2, 8.3.1): pseudo-headers
// become the request line and Host, connection-specific headers stay on their own hop, and the
// balancer's forwarding headers are added as on HTTP/1.1 connections.
import type { IncomingHttpHeaders } from 'node:http2';
import { ForwardingHeaders, type Forwarding } from './http';
import { FORWARDING, IDENTITY } from './http-syntax';

/** Headers that describe one connection, never passed from one to another (Node refuses them in HTTP/2). */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

/** The header lines the balancer adds to a request that has none of the forwarding headers: made once per connection. */
export function usualAdditions(forwarding: Forwarding): string {
  return lines(new ForwardingHeaders(forwarding).added());
}

const lines = (headers: Array<[string, string]>): string => headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');

/** A field's lines, one per value. */
function fieldLines(name: string, value: string | string[]): string {
  if (typeof value === 'string') return `${name}: ${value}\r\n`;
  let text = '';
  for (const one of value) text += `${name}: ${one}\r\n`;
  return text;
}

/**
 * The HTTP/1.1 head of the request, for the server: Host from :authority, Expect left out (the
 * balancer answers 100-continue itself), the forwarding headers as the settings say (`usual` when
 * the client sent none of them), and chunked framing for a body of unknown length.
 */
export function requestHead(method: string, path: string, headers: IncomingHttpHeaders, hasBody: boolean,
  forwarding: Forwarding, usual: string): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  const host = headers[':authority'] ?? headers.host;
  if (host !== undefined) head += `host: ${host}\r\n`;
  let ours: ForwardingHeaders | undefined; // made only for a client that sent forwarding headers of its own
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 0x3a || name === 'host' || name === 'expect' || CONNECTION_SPECIFIC.has(name)) continue;
    if (FORWARDING.has(name) || IDENTITY.has(name)) {
      ours ??= new ForwardingHeaders(forwarding);
      if (!ours.keeps(name, String(value))) continue;
    }
    head += fieldLines(name, value);
  }
  if (hasBody && headers['content-length'] === undefined) head += 'transfer-encoding: chunked\r\n';
  return `${head}${ours === undefined ? usual : lines(ours.added())}\r\n`;
}

/**
 * Fields a request trailer may not carry (RFC 9110 6.5.1: framing, routing, request modifiers,
 * authentication, content description), and whatever the balancer vouches for (forwarding and
 * client certificate headers): a server that merges trailers into the header section must not
 * learn them from the client there.
 */
const NOT_IN_TRAILERS = new Set(['content-length', 'host', 'trailer', 'expect', 'max-forwards', 'range', 'if-match', 'if-none-match',
  'if-modified-since', 'if-unmodified-since', 'if-range', 'cache-control', 'pragma', 'authorization', 'proxy-authorization', 'cookie',
  'content-encoding', 'content-type', 'content-range']);

/** The trailer section of a chunked request body for the server: the client's trailer fields that may go there. */
export function requestTrailer(trailers: IncomingHttpHeaders): string {
  let section = '';
  for (const name in trailers) {
    const value = trailers[name];
    if (value === undefined || name.charCodeAt(0) === 0x3a || NOT_IN_TRAILERS.has(name) || CONNECTION_SPECIFIC.has(name) ||
      FORWARDING.has(name) || IDENTITY.has(name)) continue;
    section += fieldLines(name, value);
  }
  return section;
}
