'use strict';
// log_format json: one JSON object per connection, or per request with -H, in the -l file.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const { echoBackend, startPen, exchange, WORKERS_NODE, NO_WORKERS_NODE } = require('../support/harness');

/** A log file in a fresh directory, and a function resolving with its first n JSON lines once they are there. */
function logFile(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-json-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pen.log');
  const lines = async (n) => {
    const watcher = fs.watch(dir);
    try {
      for (;;) {
        const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
        const found = text.split('\n').filter(Boolean);
        if (found.length >= n && text.endsWith('\n')) return found.map((l) => JSON.parse(l));
        await once(watcher, 'change');
      }
    } finally {
      watcher.close();
    }
  };
  return { file, lines };
}

for (const [name, workers, node] of [['', 1, process.execPath], [' (workers 2)', 2, WORKERS_NODE]]) {
  test(`log_format json${name}: a line per connection with its bytes both ways`, { skip: workers > 1 && NO_WORKERS_NODE }, async (t) => {
    const be = await echoBackend(t);
    const log = logFile(t);
    const pen = await startPen(t, ['-o', `workers ${workers}`, '-l', log.file, '-o', 'log_format json', `127.0.0.1:${be.port}`], { node });
    assert.equal(await exchange(pen.port, { data: 'hello there\n', end: true, localAddress: '127.0.0.7' }), 'hello there\n');
    const [line] = await log.lines(1);
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof line.ms, 'number');
    delete line.time;
    delete line.ms;
    assert.deepEqual(line, { client: '127.0.0.7', country: null, server: `127.0.0.1:${be.port}`, bytes_in: 12, bytes_out: 12 });
  });
}

test('log_format json with -H: a line per request with method, path, status and the answer\'s size; the balancer\'s own answers too', async (t) => {
  const be = http.createServer((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end(`you asked for ${req.url}`);
  });
  await new Promise((r) => be.listen(0, '127.0.0.1', r));
  t.after(() => be.close());
  const log = logFile(t);
  const pen = await startPen(t, ['-H', '-l', log.file, '-o', 'log_format json', `127.0.0.1:${be.address().port}`]);
  const s = net.connect(pen.port, '127.0.0.1');
  t.after(() => s.destroy());
  let got = '';
  s.on('data', (d) => { got += d; });
  s.write('GET /first?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n');
  while ((got.match(/you asked for/g) ?? []).length < 2) await once(s, 'data');
  const answers = got.split(/(?=HTTP\/1\.1 )/);
  s.write('BAD REQUEST\r\n\r\n');
  await once(s, 'close');
  const lines = (await log.lines(3)).map(({ time, ms, ...rest }) => rest);
  const where = { client: '127.0.0.1', country: null, server: `127.0.0.1:${be.address().port}` };
  assert.deepEqual(lines, [
    { ...where, method: 'GET', path: '/first?x=1', status: 200, bytes: Buffer.byteLength(answers[0]) },
    { ...where, method: 'GET', path: '/missing', status: 404, bytes: Buffer.byteLength(answers[1]) },
    { ...where, method: '-', path: '-', status: 400, bytes: Buffer.byteLength(got) - Buffer.byteLength(answers[0]) - Buffer.byteLength(answers[1]) },
  ]);
});
