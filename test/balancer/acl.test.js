'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { AclLists } = require('../../dist/balancer/acl');

test('first match decides; no match gets the opposite of the last verdict; empty permits', () => {
  const acls = new AclLists();
  assert.equal(acls.permits(1, '10.1.2.3'), true);
  acls.add(1, 'deny', ['10.0.0.0', '255.0.0.0']);
  assert.equal(acls.permits(1, '10.1.2.3'), false);
  assert.equal(acls.permits(1, '192.168.1.1'), true);
  acls.add(1, 'permit', ['10.1.0.0', '255.255.0.0']); // never reached for 10.1.x: the deny matches first
  assert.equal(acls.permits(1, '10.1.2.3'), false);
  assert.equal(acls.permits(1, '192.168.1.1'), false);
});

test('IPv6 prefixes match by length', () => {
  const acls = new AclLists();
  acls.add(2, 'permit', ['2001:db8::/32']);
  assert.equal(acls.permits(2, '2001:db8:1::5'), true);
  assert.equal(acls.permits(2, '2001:db9::5'), false);
  acls.add(3, 'deny', ['::1']);
  assert.equal(acls.permits(3, '::1'), false);
  assert.equal(acls.permits(3, '::2'), true);
});

test('bad entries are refused with a message naming them', () => {
  const acls = new AclLists();
  assert.throws(() => acls.add(1, 'allow', ['1.2.3.4']), /expected permit\|deny/);
  assert.throws(() => acls.add(1, 'permit', ['1.2.3.999']), /bogus address '1.2.3.999'/);
  assert.throws(() => acls.add(1, 'permit', ['::1/129']), /bad prefix length/);
  assert.throws(() => acls.add(10, 'permit', ['1.2.3.4']), /out of range/);
});

test('write form round-trips', () => {
  const acls = new AclLists();
  acls.add(0, 'permit', ['10.0.0.0', '255.0.0.0']);
  acls.add(0, 'deny', ['2001:db8::/32']);
  const lines = acls.commands();
  assert.ok(lines.includes('acl 0 permit 10.0.0.0 255.0.0.0'));
  assert.ok(lines.includes('acl 0 deny 2001:db8::/32'));
});
