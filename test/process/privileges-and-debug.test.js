'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
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

test('-u with -l in a directory only root may write: logrotate by create or copytruncate keeps every line', { skip: !IS_ROOT && 'needs root to change user' }, async (t) => {
  const be = await namedBackend('be', t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-rotate-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755); // like /var/log: the user may enter, not create
  const log = path.join(dir, 'pen.log');
  const pen = await startPen(t, ['-u', 'nobody', '-l', log, `127.0.0.1:${be.port}`], { worldWritable: true });
  const watcher = fs.watch(dir);
  t.after(() => watcher.close());
  const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').pop()) : []);
  const logged = async (file, word) => {
    await exchange(pen.port, { data: `${word}\n` });
    while (!lines(file).includes(word)) await once(watcher, 'change');
  };
  await logged(log, 'one');
  // logrotate's create: the old file moved away, a new one made with its owner, then HUP
  const owner = fs.statSync(log);
  fs.renameSync(log, `${log}.1`);
  fs.writeFileSync(log, '');
  fs.chownSync(log, owner.uid, owner.gid);
  pen.child.kill('SIGHUP');
  await logged(log, 'two');
  assert.deepEqual([lines(`${log}.1`), lines(log)], [['one'], ['two']]);
  // copytruncate: the same file cut to nothing; lines go on at its new end
  fs.truncateSync(log, 0);
  await logged(log, 'three');
  assert.deepEqual(lines(log), ['three']);
  // no new file (nocreate): pen-edge cannot create one here, says so, and keeps the file it has
  fs.renameSync(log, `${log}.2`);
  pen.child.kill('SIGHUP');
  await stderrMatching(pen.child, new RegExp(`reload: Can't open logfile ${log}: EACCES`));
  await logged(`${log}.2`, 'four');
  assert.deepEqual(lines(`${log}.2`), ['three', 'four']);
});
