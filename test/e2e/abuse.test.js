'use strict';
// Abuse of the control port while clients are relayed (issue #14): garbage, a line that never
// ends and connections that never send. Every client of the balancer is still served, memory
// and descriptors stay bounded, and penctl keeps answering.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const { echoBackend, startPen, penctl } = require('../support/harness');
const { rssKiB, openDescriptors, steadyClients, silentFlood, collected } = require('../support/abuse');

/** control connections pen-edge holds at once (README, "Limits and guarantees") */
const CONTROL_CONNECTIONS = 32;
/** how long a control connection has to send its line, unless newer ones push it out first */
const CONTROL_LINE_MS = 10_000;
const SERVERS_REPLY = /^0 addr 127\.0\.0\.1 port \d+ conn \d+ max 0 hard 0 weight 0 prio 0 sx \d+ rx \d+\n$/;

/** What one junk connection sends and the reply it must get. */
function junk(i) {
  const letters = (n) => Array.from(crypto.randomBytes(n), (b) => String.fromCharCode(97 + (b % 26))).join('');
  switch (i % 3) {
    case 0: return { data: Buffer.concat([crypto.randomBytes(i % 1024), Buffer.from([i % 9]), crypto.randomBytes((i % 16) * 1024)]), reply: /^error: binary data is not a command\n$/ };
    case 1: return { data: `zz${letters(1 + (i % 200))} ${letters(8)}\n`, reply: /^do_cmd: ignoring command starting with 'zz[a-z]+'\n$/ };
    default: return { data: letters(4097 + i * 37), reply: /^error: command longer than 4096 bytes\n$/ };
  }
}

/**
 * penctl `servers`, again and again until done() says stop (at most 50 times). Resolves with how
 * many were answered; each reply is right or none: a penctl whose line comes after 32 newer
 * connections may be closed for them (README, "Limits and guarantees").
 */
async function askWhile(ctl, done) {
  let asked = 0;
  let answered = 0;
  do {
    const { stdout } = await penctl(ctl, 'servers');
    asked++;
    if (stdout !== '') {
      assert.match(stdout, SERVERS_REPLY);
      answered++;
    }
  } while (!done() && asked < 50);
  return `${answered} of ${asked}`;
}

test('the control port flooded (junk, a 1 MiB line, 500 silent connections): every client is served, memory and descriptors stay bounded, penctl answers', { timeout: 60_000 }, async (t) => {
  const be = await echoBackend(t);
  const pen = await startPen(t, [`127.0.0.1:${be.port}`], { control: true });
  const ctl = `127.0.0.1:${pen.ctl}`;
  const flow = steadyClients(pen.port, { lanes: 4, ms: 60_000 });
  t.after(() => flow.stop());
  assert.ok(await flow.served(100), 'clients are served before the flood');
  const rssBefore = rssKiB(pen.pid);
  const descriptorsBefore = openDescriptors(pen.pid);

  // junk: binary, unknown commands, long lines without a newline; 600 connections, 30 at once.
  // Beyond the connections held at once, the oldest without a command is closed for a newer one.
  let junkDone = false;
  const during = askWhile(ctl, () => junkDone);
  const wrong = [];
  let errors = 0;
  for (let i = 0; i < 600; i += 30) {
    await Promise.all(Array.from({ length: 30 }, async (_, k) => {
      const { data, reply } = junk(i + k);
      const s = net.connect(pen.ctl, '127.0.0.1').on('error', () => {});
      s.write(data);
      const got = await collected(s);
      if (reply.test(got)) errors++;
      else if (got !== '' && wrong.length < 5) wrong.push(`${i + k}: ${JSON.stringify(got)}`);
    }));
  }
  junkDone = true;
  assert.deepEqual(wrong, [], 'a junk connection gets its error or is closed');
  assert.ok(errors > 0);
  const answeredDuringJunk = await during;

  // one line of 1 MiB that never ends: refused after 4 KiB, and the rest read away
  const long = net.connect(pen.ctl, '127.0.0.1').on('error', () => {});
  long.write(Buffer.alloc(1 << 20, 'a'));
  assert.equal(await collected(long), 'error: command longer than 4096 bytes\n');

  // 500 connections that never send: all but the newest CONTROL_CONNECTIONS are closed as newer come
  let silentDone = false;
  const duringSilent = askWhile(ctl, () => silentDone);
  const silent = await silentFlood(pen.ctl, { held: CONTROL_CONNECTIONS, more: (opened) => opened < 500 });
  t.after(() => silent.sockets.forEach((s) => s.destroy()));
  silentDone = true;
  const answeredDuringSilent = await duringSilent;
  assert.ok(silent.ms < CONTROL_LINE_MS, `silent connections were closed as newer ones came, not after the idle time (${silent.ms} ms)`);
  const descriptors = openDescriptors(pen.pid);
  assert.ok(descriptors <= descriptorsBefore + CONTROL_CONNECTIONS + 2 * 4 + 2, `${descriptors} descriptors open, ${descriptorsBefore} before the flood`);
  assert.match((await penctl(ctl, 'servers')).stdout, SERVERS_REPLY, 'penctl answers while silent connections are held');

  const rssAfter = rssKiB(pen.pid);
  const counts = await flow.stop();
  assert.deepEqual(counts.failures, []);
  assert.equal(counts.served, counts.sent, 'no client lost');
  assert.ok(rssAfter - rssBefore < 64 * 1024, `VmRSS grew by ${rssAfter - rssBefore} KiB (${rssBefore} → ${rssAfter})`);
  assert.match((await penctl(ctl, 'servers')).stdout, SERVERS_REPLY);
  t.diagnostic(`${counts.served} clients served during the flood; ${errors} of 600 junk connections answered with an error, the rest closed for newer ones; ` +
    `penctl answered ${answeredDuringJunk} times during the junk and ${answeredDuringSilent} during the silent connections; ` +
    `${500 - CONTROL_CONNECTIONS} silent connections dropped in ${silent.ms} ms; ${descriptors} descriptors (${descriptorsBefore} before); VmRSS ${rssBefore} → ${rssAfter} KiB`);
});
