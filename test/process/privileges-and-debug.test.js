'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { namedBackend, startPen, exchange, stderrMatching, IS_ROOT } = require('../support/harness');

test('-u drops to the given user after binding', { skip: !IS_ROOT && 'needs root to change user' }, async (t) => {
  const be = await namedBackend('be', t);
  const pen = await startPen(t, ['-u', 'nobody', `127.0.0.1:${be.port}`], { worldWritable: true });
  const status = fs.readFileSync(`/proc/${pen.pid}/status`, 'utf8');
  const nobody = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:')).split(':')[2];
  assert.match(status, new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}`, 'm'));
  assert.equal((await exchange(pen.port)).trim(), 'be');
});

test('-ddd -a dumps client bytes as text; -ddd alone as hex', async (t) => {
  const be = await namedBackend('be', t);
  const text = await startPen(t, ['-ddd', '-a', `127.0.0.1:${be.port}`]);
  await exchange(text.port, { data: 'PING\n' });
  assert.match(await stderrMatching(text.child, /5: PING/), /^5: PING$/m);
  const hex = await startPen(t, ['-ddd', `127.0.0.1:${be.port}`]);
  await exchange(hex.port, { data: 'PING\n' });
  assert.match(await stderrMatching(hex.child, /5: 50 49/), /^5: 50 49 4e 47 0a $/m);
});

test('settings that would do nothing get one warning line each at start', async (t) => {
  const be = await namedBackend('a', t);
  const pen = await startPen(t, ['-G', '/etc/hosts', '-w', '/no/such/dir/status.html', '-o', 'ssl_sni_path /no/such/dir', `127.0.0.1:${be.port}`]);
  const warnings = pen.child.stderrText.split('\n').filter((l) => l.startsWith('pen: warning: '));
  assert.deepEqual(warnings, [
    'pen: warning: -G, -A and -R act on TLS clients: without -E (or ssl_auto) there are none, and no certificate is asked for',
    'pen: warning: ssl_sni_path /no/such/dir: no such directory; every name gets the default certificate',
    'pen: warning: -w /no/such/dir/status.html: its directory cannot be written (ENOENT); USR1 will not update the status page',
  ]);
});
