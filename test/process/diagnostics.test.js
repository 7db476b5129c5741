'use strict';
// Diagnostics under a flood: lines alike (the same but for numbers) are limited per window, and
// the rest are counted in one "N more like this" line; with -d every line is written.
const test = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const { namedBackend, startPen, exchange, stderrMatching } = require('../support/harness');

const refusals = (text) => (text.match(/^\S+ \S+: HTTP 400 to 127\.0\.0\.1: not an HTTP request line$/gm) ?? []).length;

test('a flood of bad requests writes ten lines alike and then counts the rest', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, ['-H', `127.0.0.1:${be.port}`]);
  await Promise.all(Array.from({ length: 40 }, () => exchange(pen.port, { data: 'NOT HTTP\r\n\r\n' })));
  const text = await stderrMatching(pen.child, /: 30 more like this: HTTP 400 to 127\.0\.0\.1: not an HTTP request line\n/);
  assert.equal(refusals(text), 10);
});

test('with -d every line is written', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, ['-d', '-H', `127.0.0.1:${be.port}`]);
  await Promise.all(Array.from({ length: 15 }, () => exchange(pen.port, { data: 'NOT HTTP\r\n\r\n' })));
  while (refusals(pen.child.stderrText) < 15) await once(pen.child.stderr, 'data');
  assert.equal(refusals(pen.child.stderrText), 15);
});
