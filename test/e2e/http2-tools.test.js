'use strict';
// HTTP/2 clients operators use, through pen-edge to HTTP/1.1 servers: curl, nghttp and h2load.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { startPen } = require('../support/harness');
const { certificateSet } = require('../support/certs');
const { echoingBackend } = require('../support/h2');

const run = promisify(execFile);
const NGHTTP2 = fs.existsSync('/usr/bin/nghttp') && fs.existsSync('/usr/bin/h2load') ? false : 'nghttp and h2load not found: apt-get install -y nghttp2-client';

async function h2Pen(t) {
  const certs = await certificateSet(t);
  const [a, b] = [await echoingBackend(t, 'a'), await echoingBackend(t, 'b')];
  const pen = await startPen(t, ['-H', '-E', certs.serverCert, '-K', certs.serverKey, `127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
  return { pen, url: `https://127.0.0.1:${pen.port}`, ca: certs.caFile };
}

test('curl --http2: GET and POST over h2, the server sees them as HTTP/1.1 with X-Forwarded-For', async (t) => {
  const { url, ca } = await h2Pen(t);
  const got = await run('curl', ['-sS', '--http2', '--cacert', ca, '--resolve', `localhost:${new URL(url).port}:127.0.0.1`,
    '-w', '\n%{http_version} %{http_code}', `https://localhost:${new URL(url).port}/curl?x=1`, '-d', 'form=1'], { timeout: 20000 });
  const [body, outcome] = got.stdout.split('\n');
  assert.equal(outcome, '2 200');
  const seen = JSON.parse(body);
  assert.deepEqual([seen.method, seen.url, seen.bytes, seen.headers['x-forwarded-for'], seen.headers.host], ['POST', '/curl?x=1', 6, '127.0.0.1', `localhost:${new URL(url).port}`]);
});

test('nghttp: a request with its 103 Early Hints, and trailers', { skip: NGHTTP2 }, async (t) => {
  const { url } = await h2Pen(t);
  const hints = await run('nghttp', ['-nv', `${url}/hints`], { timeout: 20000 });
  assert.match(hints.stdout, /recv \(stream_id=\d+\) :status: 103/);
  assert.match(hints.stdout, /recv \(stream_id=\d+\) :status: 200/);
  const trailed = await run('nghttp', ['-v', `${url}/trailers`], { timeout: 20000 });
  assert.match(trailed.stdout, /recv \(stream_id=\d+\) x-checksum: abc123/);
  assert.match(trailed.stdout, /body then trailer/);
});

test('h2load: 4,000 requests on 8 connections, 10 streams each at once: every one answered 2xx', { skip: NGHTTP2 }, async (t) => {
  const { url } = await h2Pen(t);
  const { stdout } = await run('h2load', ['-n', '4000', '-c', '8', '-m', '10', `${url}/bytes/2000`], { timeout: 60000 });
  assert.match(stdout, /requests: 4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored, 0 timeout/);
  assert.match(stdout, /status codes: 4000 2xx, 0 3xx, 0 4xx, 0 5xx/);
  assert.match(stdout, /Application protocol: h2/);
});
