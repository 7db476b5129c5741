'use strict';
// bin/pen-geo build: the database lands where -o says, its directory made if need be.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { ROOT } = require('../support/harness');

const PEN_GEO = path.join(ROOT, 'bin', 'pen-geo');
const CSV = path.join(ROOT, 'geo', 'demo-regions.csv');

function penGeo(args) {
  return new Promise((resolve) => {
    execFile(PEN_GEO, args, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-geo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('pen-geo build -o into a directory that does not exist yet creates it', async (t) => {
  const out = path.join(scratch(t), 'var', 'lib', 'pen', 'regions.mmdb');
  const run = await penGeo(['build', CSV, '-o', out]);
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  assert.match(run.stdout, /regions\.mmdb: \d+ networks\n$/);
  assert.ok(fs.statSync(out).size > 0);
});

test('pen-geo build -o below a plain file fails with one line, exit 1', async (t) => {
  const file = path.join(scratch(t), 'file');
  fs.writeFileSync(file, '');
  const run = await penGeo(['build', CSV, '-o', path.join(file, 'regions.mmdb')]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^pen-geo: mkdir E[A-Z]+ \S*\/file\n$/);
});
