'use strict';
// Property-based tests of pen's command line (GNU getopt rules): any argv gives settings or a
// one-line ConfigError; clustered flags and attached arguments mean what separate words mean.
const test = require('node:test');
const assert = require('node:assert/strict');
const { parseCommandLine } = require('../../dist/cli/options');
const { CLIENTS_LIMIT } = require('../../dist/balancer/client-table');
const { CONNECTIONS_LIMIT } = require('../../dist/balancer/connection-table');
const { fc, fixtures, options, bounded, resultOrError } = require('./fuzz');

const stored = fixtures('command-line');
const FLAGS = 'DHNPQWXUadfhnrsZR'.split('');
const WITH_ARGUMENT = 'BCFOSTbceijlmopqtuwxEKGAL'.split('');

/** Words that look like what people type: options, numbers, addresses, and some junk. */
const word = fc.oneof(
  fc.constantFrom('--', '-', '-x', '-c', '-L', 'tls1.2', 'ssl3', '127.0.0.1:80', '8080', '/tmp/ctl'),
  fc.string({ unit: fc.constantFrom(...'-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:/ '), maxLength: 8 }),
  fc.integer({ min: -10, max: 2 ** 32 }).map(String),
  fc.string({ maxLength: 6 }),
);
const argv = fc.array(word, { maxLength: 10 });

const title = 'any argv gives settings or a one-line ConfigError';
test(title, () => {
  fc.assert(fc.property(argv, bounded((words) => {
    resultOrError(() => parseCommandLine(words));
  })), options(stored, title));
});

const newlineTitle = 'an argument with a newline in it gives a one-line ConfigError too';
test(newlineTitle, () => {
  const multiline = fc.tuple(fc.constantFrom('-c', '-x', '-L', '-T'), fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }))
    .map(([option, a, b]) => [option, `${a}\n${b}`]);
  fc.assert(fc.property(multiline, bounded((words) => { resultOrError(() => parseCommandLine(words)); })), options(stored, newlineTitle));
});

/** The parse as data to compare, or the error message. */
function outcome(words) {
  try {
    return parseCommandLine(words);
  } catch (err) {
    return { error: err.message };
  }
}

const clusterTitle = 'clustered flags and an attached argument mean the same as separate words';
test(clusterTitle, () => {
  const cluster = fc.tuple(
    fc.array(fc.constantFrom(...FLAGS), { minLength: 1, maxLength: 5 }),
    fc.option(fc.tuple(fc.constantFrom(...WITH_ARGUMENT), fc.oneof(fc.integer({ min: -5, max: 100000 }).map(String), fc.constantFrom('tls1.3', 'x', '')))),
    fc.array(word, { maxLength: 3 }),
  );
  fc.assert(fc.property(cluster, bounded(([flags, withArgument, rest]) => {
    const attached = withArgument && withArgument[1] !== '' ? [`-${flags.join('')}${withArgument[0]}${withArgument[1]}`] : [`-${flags.join('')}`];
    const separate = [...flags.map((f) => `-${f}`), ...(withArgument && withArgument[1] !== '' ? [`-${withArgument[0]}`, withArgument[1]] : [])];
    assert.deepEqual(outcome([...attached, ...rest]), outcome([...separate, ...rest]));
  })), options(stored, clusterTitle));
});

const numberTitle = 'a number option takes exactly the numbers in its range';
test(numberTitle, () => {
  const ranges = {
    c: ['clientsMax', 1, CLIENTS_LIMIT], x: ['connMax', 1, CONNECTIONS_LIMIT],
    t: ['timeout', 1, Infinity], T: ['trackingTime', 0, Infinity], b: ['blacklistTime', 0, Infinity],
  };
  const input = fc.tuple(fc.constantFrom(...Object.keys(ranges)), fc.integer({ min: -3, max: 2 * CLIENTS_LIMIT }));
  fc.assert(fc.property(input, bounded(([option, n]) => {
    const [key, min, max] = ranges[option];
    const got = outcome([`-${option}`, String(n)]);
    if (n < min) assert.match(got.error ?? '', /too small/);
    else if (n > max) assert.match(got.error ?? '', /too large/);
    else assert.equal(got.settings[key], n);
  })), options(stored, numberTitle));
});
