'use strict';
// GeoIP: databases made by the project's own writer, country ACLs, region-aware routing, reloads.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { ROOT, namedBackend, startPen, exchange, controlOf, runPen, freePort, stderrMatching } = require('../support/harness');
const { GeoDatabase } = require('../../dist/geo/database');

function demoDatabase(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-geo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'demo.mmdb');
  const out = execFileSync(path.join(ROOT, 'bin', 'pen-geo'), ['build', path.join(ROOT, 'geo', 'demo-regions.csv'), '-o', file], { encoding: 'utf8' });
  assert.match(out, /9 networks/);
  return { dir, file };
}

const hasMmdblookup = (() => { try { execFileSync('mmdblookup', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();

test('pen-geo builds a database that @maxmind/geoip2-node reads', (t) => {
  const { file } = demoDatabase(t);
  const db = GeoDatabase.open(file);
  assert.equal(db.type, 'GeoIP2-Country');
  assert.deepEqual(db.find('127.0.1.7'), { country: 'DE', continent: 'EU' });
  assert.deepEqual(db.find('127.0.0.7'), { country: 'US', continent: 'NA' });
  assert.deepEqual(db.find('fd00::1'), { country: 'DE', continent: 'EU' });
  assert.equal(db.find('8.8.8.8'), undefined);
});

test('libmaxminddb reads it too (mmdblookup)', { skip: !hasMmdblookup && 'install mmdb-bin (apt-get install mmdb-bin) for this check' }, (t) => {
  const { file } = demoDatabase(t);
  const out = execFileSync('mmdblookup', ['--file', file, '--ip', '127.0.2.1', 'country', 'iso_code'], { encoding: 'utf8' });
  assert.match(out, /"FR"/);
});

test('pen-geo refuses a bad CSV line with its line number', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pen-geo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'bad.csv'), '127.0.0.0/8,US\nnot-a-network,DE\n');
  let err;
  try { execFileSync(path.join(ROOT, 'bin', 'pen-geo'), ['build', path.join(dir, 'bad.csv'), '-o', path.join(dir, 'x.mmdb')], { stdio: 'pipe' }); } catch (e) { err = e; }
  assert.equal(err.status, 1);
  assert.match(err.stderr.toString(), /bad\.csv:2: /);
});

async function regions(t, extra = []) {
  const { file } = demoDatabase(t);
  const [us, de, eu, any] = await Promise.all(['us', 'de', 'eu', 'any'].map((n) => namedBackend(n, t)));
  const pen = await startPen(t, ['-o', `geo_db ${file}`, '-o', 'geo_routing on',
    '-o', `server 0 address 127.0.0.1 port ${any.port}`,
    '-o', `server 1 address 127.0.0.1 port ${us.port} geo US`,
    '-o', `server 2 address 127.0.0.1 port ${de.port} geo DE`,
    '-o', `server 3 address 127.0.0.1 port ${eu.port} geo @EU`, ...extra, 'LISTEN'], { control: true });
  const from = async (ip) => (await exchange(pen.port, { localAddress: ip })).trim();
  const ctl = controlOf(pen);
  return { pen, from, ctl, file };
}

test('geo routing: country first, then continent, then any server', async (t) => {
  const { from, ctl } = await regions(t);
  assert.equal(await from('127.0.0.2'), 'us');
  assert.equal(await from('127.0.1.2'), 'de');
  assert.equal(await from('127.0.2.2'), 'eu'); // FR: no French server, a European one
  assert.notEqual(await from('127.0.3.2'), undefined); // JP: anything
  await ctl('server', '2', 'blacklist', '60');
  assert.equal(await from('127.0.1.3'), 'eu'); // the German server is down: same continent
  assert.match(await ctl('clients'), /^127\.0\.1\.2 country DE continent EU server 2 connects 1 /m);
  const geo = await ctl('geo');
  assert.match(geo, /^database .*demo\.mmdb type GeoIP2-Country built \S+ nodes \d+\n/);
  assert.match(geo, /^DE connects 2$/m);
});

test('a returning client keeps its server while it is up', async (t) => {
  const { from } = await regions(t, ['-o', 'geo_map 127.0.0.9/32 DE EU']);
  assert.equal(await from('127.0.0.9'), 'de');
  assert.equal(await from('127.0.0.9'), 'de');
});

test('geo_map entries win over the database', async (t) => {
  const { from } = await regions(t, ['-o', 'geo_map 127.0.0.0/24 DE EU', '-o', 'geo_map 127.0.0.4/32 US NA']);
  assert.equal(await from('127.0.0.2'), 'de');
  assert.equal(await from('127.0.0.4'), 'us'); // the more specific entry
});

test('acl country / continent: clients from a denied country are closed', async (t) => {
  const { from } = await regions(t, ['-o', 'acl 1 deny country DE', '-o', 'acl 1 deny continent AS', '-o', 'client_acl 1']);
  assert.equal(await from('127.0.1.2'), '');
  assert.equal(await from('127.0.3.2'), '');
  assert.equal(await from('127.0.0.2'), 'us');
});

test('a corrupt or truncated database: one-line error at start; at reload the old one stays', async (t) => {
  const { dir, file } = demoDatabase(t);
  const truncated = path.join(dir, 'truncated.mmdb');
  fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 100));
  const r = await runPen(['-f', '-o', `geo_db ${truncated}`, `127.0.0.1:${await freePort()}`, '127.0.0.1:80']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /geo_db .*truncated\.mmdb: not a MaxMind database/);
  const { pen, from, ctl, file: live } = await regions(t);
  fs.writeFileSync(live, 'garbage');
  pen.child.kill('SIGHUP');
  await stderrMatching(pen.child, /previous database stays in use/);
  assert.equal(await from('127.0.1.2'), 'de');
  assert.match(await ctl('geo'), /type GeoIP2-Country/);
});

test('replacing the database file reloads it', async (t) => {
  const { pen, from, file } = await regions(t);
  const dir = path.dirname(file);
  fs.writeFileSync(path.join(dir, 'new.csv'), '127.0.0.0/8,DE,EU\n');
  execFileSync(path.join(ROOT, 'bin', 'pen-geo'), ['build', path.join(dir, 'new.csv'), '-o', path.join(dir, 'new.mmdb')]);
  fs.renameSync(path.join(dir, 'new.mmdb'), file); // an atomic swap, as a download script does
  await stderrMatching(pen.child, /reloaded/);
  assert.equal(await from('127.0.0.20'), 'de');
});

const SHARED = path.join(ROOT, '..', 'shared', 'geo-testdata');
test('MaxMind\'s own test databases (GeoIP2 Country and City)', { skip: !fs.existsSync(SHARED) && 'MaxMind test databases not present (../shared/geo-testdata)' }, () => {
  for (const name of ['GeoIP2-Country-Test.mmdb', 'GeoIP2-City-Test.mmdb', 'GeoLite2-Country-Test.mmdb']) {
    const db = GeoDatabase.open(path.join(SHARED, name));
    assert.deepEqual(db.find('81.2.69.160'), { country: 'GB', continent: 'EU' }, name);
  }
  assert.throws(() => GeoDatabase.open(path.join(SHARED, 'GeoLite2-ASN-Test.mmdb')), /has no country data/);
  assert.throws(() => GeoDatabase.open(path.join(SHARED, 'GeoIP2-City-Test-Invalid-Node-Count.mmdb')), /corrupt database/);
});
