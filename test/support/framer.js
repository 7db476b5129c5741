'use strict';
// Runs bytes through the request framer as the relay would, collecting what the server gets.
const { RequestFramer } = require('../../dist/pipelines/http-request');
const { headWriter } = require('../../dist/pipelines/http');

const OPTIONS = { forwarded: 'append', clientAddress: '192.0.2.1', rfc7239: false, tlsPort: undefined, identity: [], headMax: 16384, lineMax: 8192 };

/**
 * Pushes the pieces through one framer; returns what the server would get, any refusal, whether
 * the client was paused, and how often it was resumed. `answer` is the server's answer to a
 * request that asks to switch protocols (true: switched); `serverFull` makes every write report
 * a full server socket.
 */
function frame(pieces, { options = OPTIONS, answer = undefined, serverFull = false } = {}) {
  const out = [];
  let refused;
  let resumed = 0;
  const forward = (bytes, from, to) => { out.push(Buffer.from(bytes.subarray(from, to))); return !serverFull; };
  const framer = new RequestFramer({
    forward,
    forwardHead: headWriter(options, forward, () => false),
    sent: () => {},
    refuse: (status, reason) => { refused = { status, reason }; },
    resume: () => { resumed++; },
  }, options);
  const paused = pieces.map((p) => !framer.push(p)).includes(true);
  if (answer !== undefined) framer.answered(answer);
  return { bytes: Buffer.concat(out), refused, paused, resumed };
}

/** The bytes cut at the given places (in any order), as pieces. */
function cutAt(bytes, cuts) {
  const ends = [...cuts].sort((x, y) => x - y).concat(bytes.length);
  return ends.map((end, i) => bytes.subarray(i === 0 ? 0 : ends[i - 1], end));
}

module.exports = { OPTIONS, frame, cutAt };
