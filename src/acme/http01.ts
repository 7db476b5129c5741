// HTTP-01 validations (RFC 8555 8.3) answered by a plain HTTP pen-edge (`acme_http01_dir`): a
// request for /.well-known/acme-challenge/TOKEN gets the key authorization that the pen-edge
// obtaining the certificate left in its ssl_acme_dir/http-01, and never reaches a server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A validation's request line; tokens are base64url (RFC 8555 8.1), so no path can be formed. */
const VALIDATION = /^(GET|HEAD) \/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+) HTTP\/1\.[01]$/;

/** The token the request head asks for, or undefined when the request is not a validation. */
export function http01Token(head: string): string | undefined {
  const end = head.indexOf('\r\n');
  return VALIDATION.exec(end < 0 ? head : head.slice(0, end))?.[2];
}

/** The whole response to a validation: the answer kept for token, or 404 when there is none. */
export function http01Response(dir: string, token: string): Buffer {
  let answer: string | undefined;
  try {
    answer = readFileSync(join(dir, token), 'utf8');
  } catch {
    answer = undefined;
  }
  const status = answer === undefined ? '404 Not Found' : '200 OK';
  const body = answer ?? 'no such ACME challenge\n';
  return Buffer.from(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
