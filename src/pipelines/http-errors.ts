// The small HTTP error responses the balancer itself sends (bad request, no server…).
const REASONS: Record<number, string> = {
  400: 'Bad Request', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

const cache = new Map<number, Buffer>();

/** The page that says what went wrong (an HTML body). */
export function errorPage(status: number): string {
  const reason = REASONS[status] ?? 'Error';
  return `<html><head><title>${status} ${reason}</title></head><body><h1>${status} ${reason}</h1></body></html>\n`;
}

/** A complete response that closes the connection, made once per status. */
export function errorResponse(status: number): Buffer {
  let response = cache.get(status);
  if (!response) {
    const body = errorPage(status);
    response = Buffer.from(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    cache.set(status, response);
  }
  return response;
}
