'use strict';
// Shared by the property-based tests: run budget, replayed counterexamples, and the checks every
// parser's errors must pass. FUZZ_RUNS=n sets the runs per property (npm test: a short budget;
// npm run fuzz: a long one); FUZZ_SEED=n repeats a run that fast-check reported.
const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const { ConfigError } = require('../../dist/errors');

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** one call of a parser taking longer than this counts as a hang (inputs are small) */
const SLOW_MS = 2000;

/**
 * Inputs that once failed, from fixtures/fuzz/NAME.json: { "property title": [arguments, …] },
 * each the argument list that fast-check prints as the counterexample.
 */
function fixtures(name) {
  const file = path.join(__dirname, '../../fixtures/fuzz', `${name}.json`);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
}

/**
 * fast-check options for one property: the run budget, and the stored counterexamples for it
 * (argument lists decoded from JSON by `decode`) replayed first.
 */
function options(stored, title, decode = (args) => args, runs = RUNS) {
  const examples = (stored[title] ?? []).map(decode);
  return { numRuns: runs, examples, ...(SEED === undefined ? {} : { seed: SEED }) };
}

/** Runs a synchronous property over generated inputs and fails if it takes too long. */
function bounded(fn) {
  return (...inputs) => {
    const start = performance.now();
    const result = fn(...inputs);
    const ms = performance.now() - start;
    assert.ok(ms < SLOW_MS, `took ${Math.round(ms)} ms`);
    return result;
  };
}

/** A user-facing error: a ConfigError (or the given class) with a one-line, non-empty message. */
function assertOneLineError(err, kind = ConfigError) {
  if (!(err instanceof kind)) throw err; // anything else is a crash: show it as it is
  assert.match(err.message, /^[^\n]+$/, `a one-line message, not ${JSON.stringify(err.message)}`);
}

/** Calls fn; returns its result, or undefined after checking that it threw a one-line error. */
function resultOrError(fn, kind = ConfigError) {
  try {
    return { value: fn() };
  } catch (err) {
    assertOneLineError(err, kind);
    return { error: err };
  }
}

// ---- addresses, shared by several parsers ----

const byte = fc.integer({ min: 0, max: 255 });
const ipv4Bytes = fc.array(byte, { minLength: 4, maxLength: 4 });
const ipv6Bytes = fc.uint8Array({ minLength: 16, maxLength: 16 });
const ipv4Text = (bytes) => bytes.join('.');

/** 16 bytes → eight hex groups, as numbers. */
const groupsOf = (bytes) => Array.from({ length: 8 }, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1]);

/** The ways one IPv6 address can be written: full, shortest, upper case, leading zeros, IPv4 tail. */
function ipv6Text(bytes, style) {
  const groups = groupsOf(bytes);
  switch (style) {
    case 'full': return groups.map((g) => g.toString(16)).join(':');
    case 'padded': return groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':');
    case 'v4tail': return `${groups.slice(0, 6).map((g) => g.toString(16)).join(':')}:${ipv4Text(bytes.slice(12))}`;
    default: { // the longest run of two or more zero groups as ::
      let best = -1;
      let bestLen = 1;
      for (let i = 0; i < 8; i++) {
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLen) { best = i; bestLen = j - i; }
      }
      const hex = groups.map((g) => g.toString(16));
      return best < 0 ? hex.join(':') : `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
    }
  }
}
const ipv6Style = fc.constantFrom('full', 'padded', 'v4tail', 'short');

/** IPv6 text → 16 bytes (the test's own reading, independent of src/). */
function ipv6Bytes16(text) {
  let t = text;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number);
    t = `${t.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = t.split('::');
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill('0'), ...r];
  return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255]));
}

/** Do the first len bits of a and b agree? */
function samePrefix(a, b, len) {
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a[bit >> 3] & m) !== (b[bit >> 3] & m)) return false;
  }
  return true;
}

module.exports = {
  fc, RUNS, fixtures, options, bounded, assertOneLineError, resultOrError,
  byte, ipv4Bytes, ipv6Bytes, ipv4Text, ipv6Text, ipv6Style, ipv6Bytes16, samePrefix,
};
