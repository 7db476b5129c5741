'use strict';
// The response tracker: finds where each response ends (Content-Length, chunked, no body after
// HEAD/204/304/1xx, until close) so that the answer to an Upgrade or CONNECT request is known.
const test = require('node:test');
const assert = require('node:assert/strict');
const { ResponseTracker } = require('../../dist/pipelines/http-response');
const { Expecting } = require('../../dist/pipelines/http-request');

/** Feeds responses for the given requests, in the given pieces; returns the answers heard. */
function track(requests, pieces) {
  const answers = [];
  const tracker = new ResponseTracker(16384, (switched) => answers.push(switched));
  for (const r of requests) tracker.sent(r);
  for (const p of pieces) tracker.observe(Buffer.from(p, 'latin1'));
  return answers;
}

const ok = (body) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n';
const switching = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';

test('the switch is found after earlier responses of every framing, whole or split at any byte', () => {
  const requests = [Expecting.Response, Expecting.Response, Expecting.HeadResponse, Expecting.Response, Expecting.Response, Expecting.Upgrade];
  const stream = [
    ok('HTTP/1.1 101 inside a body'),
    chunked,
    'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', // HEAD: no body despite the length
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n',
    switching,
    '\x81\x05hello',
  ].join('');
  assert.deepEqual(track(requests, [stream]), [true]);
  for (let cut = 1; cut < stream.length; cut++) {
    assert.deepEqual(track(requests, [stream.slice(0, cut), stream.slice(cut)]), [true], `cut at ${cut}`);
  }
});

test('a declined upgrade and a refused CONNECT are answered false; a CONNECT 200 is a tunnel', () => {
  assert.deepEqual(track([Expecting.Upgrade], [ok('no')]), [false]);
  assert.deepEqual(track([Expecting.Tunnel], ['HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n']), [false]);
  assert.deepEqual(track([Expecting.Tunnel], ['HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01']), [true]);
});

test('a 101 that answers no upgrade request, or a response that cannot be framed, grants no switch after it', () => {
  assert.deepEqual(track([Expecting.Response, Expecting.Upgrade], [switching]), [false]);
  assert.deepEqual(track([Expecting.Upgrade], ['SSH-2.0-nonsense\r\n\r\n', switching]), [false]);
  // a body that runs to the close leaves no boundary to find: a later upgrade is declined at once
  assert.deepEqual(track([Expecting.Response, Expecting.Upgrade], ['HTTP/1.0 200 OK\r\n\r\nuntil close', switching]), [false]);
});

test('heads are read as clients read them: lines may end in a bare LF, only the framing headers count', () => {
  const lfOnly = 'HTTP/1.1 200 OK\nX-Odd: \x01 anything\nContent-Length: 2\n\nok';
  assert.deepEqual(track([Expecting.Response, Expecting.Upgrade], [lfOnly, switching]), [true]);
  const bareCr = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\rX\n\nok';
  assert.deepEqual(track([Expecting.Response, Expecting.Upgrade], [bareCr, switching]), [false]);
  const badLength = 'HTTP/1.1 200 OK\r\ncontent-LENGTH: 2x\r\n\r\nok';
  assert.deepEqual(track([Expecting.Response, Expecting.Upgrade], [badLength, switching]), [false]);
});

test('a deep pipeline costs the same per response as a shallow one', () => {
  const answers = [];
  const tracker = new ResponseTracker(16384, (switched) => answers.push(switched));
  const depth = 100_000;
  for (let n = 0; n < depth; n++) tracker.sent(Expecting.Response);
  tracker.sent(Expecting.Upgrade);
  const response = Buffer.from(ok('x'));
  for (let n = 0; n < depth; n++) tracker.observe(response); // quadratic work here would take minutes
  tracker.observe(Buffer.from(switching));
  assert.deepEqual(answers, [true]);
});

test('stopAfterAnswers: the watching stops where the last answer owed ends, whole or split at any byte', () => {
  const requests = [Expecting.Response, Expecting.HeadResponse, Expecting.Response, Expecting.Response];
  const owed = [
    'HTTP/1.1 100 Continue\r\n\r\n' + ok('one'),
    'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', // HEAD: no body
    chunked,
  ].join('');
  const stream = owed + ok('not owed: the refused request never reached the server whole');
  // the last request's body was refused: stops after the first three answers
  const told = (pieces) => {
    const tracker = new ResponseTracker(16384, () => {});
    for (const r of requests) tracker.sent(r);
    tracker.stopAfterAnswers(1);
    let passed = 0;
    for (const p of pieces) {
      passed += tracker.observe(Buffer.from(p, 'latin1'));
      if (tracker.settled) return { at: passed, boundary: tracker.atBoundary };
    }
    return undefined;
  };
  assert.deepEqual(told([stream]), { at: owed.length, boundary: true });
  for (let cut = 1; cut < stream.length; cut++) {
    assert.deepEqual(told([stream.slice(0, cut), stream.slice(cut)]), { at: owed.length, boundary: true }, `cut at ${cut}`);
  }
  const untold = new ResponseTracker(16384, () => {});
  for (const r of requests) untold.sent(r);
  assert.equal(untold.observe(Buffer.from(stream, 'latin1')), stream.length); // never told: everything passes
  assert.equal(untold.settled, false);
});

test('stopAfterAnswers: settled at once when nothing is owed; not at a boundary inside an answer or one that runs to the close', () => {
  const tracker = new ResponseTracker(16384, () => {});
  tracker.sent(Expecting.Response);
  assert.equal(tracker.observe(Buffer.from(ok('done'))), ok('done').length);
  tracker.stopAfterAnswers(0);
  assert.equal(tracker.settled, true);

  const midBody = new ResponseTracker(16384, () => {});
  midBody.sent(Expecting.Response);
  midBody.sent(Expecting.Response);
  midBody.observe(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'));
  midBody.stopAfterAnswers(1); // the second request's body was refused: only the answer under way is owed
  assert.equal(midBody.settled, false);
  assert.equal(midBody.atBoundary, false);
  assert.equal(midBody.observe(Buffer.from('the rest + more')), 6);
  assert.equal(midBody.settled, true);

  const untilClose = new ResponseTracker(16384, () => {});
  untilClose.sent(Expecting.Response);
  untilClose.stopAfterAnswers(0);
  const toTheClose = Buffer.from('HTTP/1.0 200 OK\r\n\r\nbody to the close');
  assert.equal(untilClose.observe(toTheClose), toTheClose.length);
  assert.equal(untilClose.settled, false);
  assert.equal(untilClose.atBoundary, false);
});
