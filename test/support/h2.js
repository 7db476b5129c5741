'use strict';
// HTTP/2 from a test's side: pen-edge with -H on TLS, a client session on it, requests on it, and
// an HTTP/1.1 backend that says what it was asked.
const http = require('node:http');
const http2 = require('node:http2');
const net = require('node:net');
const { once } = require('node:events');
const { onLoopback, startPen } = require('./harness');
const { certificateSet } = require('./certs');

/** pen-edge with -H on TLS in front of servers (ports, or PORT:MAX… specs), with more options; resolves with the pen. */
async function h2Pen(t, servers, options = [], extra = {}) {
  const certs = await certificateSet(t);
  return startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, ...options, ...servers.map((p) => `127.0.0.1:${p}`)], extra);
}

/** An HTTP/2 session to 127.0.0.1:port (ALPN h2), closed after the test. */
async function h2Session(t, port, options = {}) {
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername: 'localhost', rejectUnauthorized: false, ...options });
  session.on('error', () => {});
  t.after(() => session.destroy());
  await once(session, 'connect');
  return session;
}

/**
 * A request on session, with a body and after it trailers when given: resolves with { status,
 * headers, body (a Buffer), trailers, informational (the 1xx headers) } once the stream ends, or
 * with { reset: code } when the server resets it.
 */
function h2Request(session, headers, body, trailers) {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    const chunks = [];
    const informational = [];
    const answer = { status: 0, headers: {}, trailers: {}, informational };
    stream.on('headers', (h) => informational.push(h));
    stream.on('response', (h) => {
      answer.status = h[':status'];
      answer.headers = h;
    });
    stream.on('trailers', (h) => { answer.trailers = h; });
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => resolve(stream.rstCode && answer.status === 0 ? { reset: stream.rstCode } : { ...answer, body: Buffer.concat(chunks) }));
    if (body !== undefined) stream.end(body);
  });
}

/**
 * An HTTP/1.1 backend that answers with JSON saying who it is and what it was asked (method, url,
 * headers, body length, trailers), or as the path asks: /trailers (a trailer), /hints (103 first),
 * /status/N (N, no body), /bytes/N (N bytes), /stream/N (N bytes written as the client takes them).
 */
async function echoingBackend(t, name) {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c) => { bytes += c.length; });
    req.on('end', () => {
      const status = /^\/status\/(\d+)/.exec(req.url);
      const size = /^\/bytes\/(\d+)/.exec(req.url);
      const streamed = /^\/stream\/(\d+)/.exec(req.url);
      if (req.url === '/trailers') {
        res.writeHead(200, { Trailer: 'x-checksum' });
        res.write('body then trailer');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end();
      } else if (status) {
        res.writeHead(Number(status[1]), { 'x-from': name, 'content-length': '0' }).end();
      } else if (streamed) {
        let left = Number(streamed[1]);
        const chunk = Buffer.alloc(64 * 1024, 's');
        res.writeHead(200, { 'content-length': String(left) });
        const more = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      } else if (size) {
        res.writeHead(200, { 'content-length': size[1] }).end(Buffer.alloc(Number(size[1]), 'x'));
      } else {
        if (req.url === '/hints') res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, bytes, trailers: req.trailers }));
      }
    });
  });
  return onLoopback(t, server);
}

/**
 * A raw HTTP/1.1 backend that shows how requests without a body were spread over its connections.
 * It answers each request `delay` ms after it came (at once by default) until hold(n) is called;
 * from then on it holds every answer until n requests have come, then answers them all, and
 * `held` resolves with how many of those requests each connection carried.
 */
async function holdingBackend(t, { delay = 0 } = {}) {
  const answer = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  let holding;
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      const requests = chunk.toString('latin1').split('\r\n\r\n').length - 1;
      if (holding === undefined) {
        setTimeout(() => socket.write(answer.repeat(requests)), delay);
        return;
      }
      holding.perSocket.set(socket, (holding.perSocket.get(socket) ?? 0) + requests);
      if ((holding.count += requests) < holding.n) return;
      for (const [held, n] of holding.perSocket) held.write(answer.repeat(n));
      holding.done([...holding.perSocket.values()]);
      holding = undefined;
    });
  });
  server.hold = (n) => {
    let done;
    server.held = new Promise((resolve) => { done = resolve; });
    holding = { n, count: 0, perSocket: new Map(), done };
  };
  return onLoopback(t, server);
}

module.exports = { h2Pen, h2Session, h2Request, echoingBackend, holdingBackend };
