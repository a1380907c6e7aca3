import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNat, type NatHost } from '../../../src/admin/doctor-nat.js';

const users = [
  { name: 'alice', network: 'private' as const },
  { name: 'bob', network: 'none' as const },
];
/** A host with everything network: private needs (process.execPath stands in for a program that exists). */
const ready: NatHost = { slirp4netns: process.execPath, nft: process.execPath, account: () => true, table: () => true };

test('doctor is quiet about the NAT when no user has network: private', () => {
  assert.deepEqual(checkNat([users[1]!], { ...ready, slirp4netns: '/nonexistent' }), []);
});

test('doctor fails for each missing piece of network: private, naming the package or step that brings it', () => {
  const f = checkNat(users, {
    ...ready,
    slirp4netns: '/nonexistent/slirp4netns',
    nft: '/nonexistent/nft',
    account: () => false,
  });
  assert.deepEqual(
    f.map((x) => [x.status, x.fix]),
    [
      ['fail', 'apt-get install slirp4netns'],
      ['fail', 'apt-get install nftables'],
      ['fail', 'run install.sh again (it creates the account)'],
    ],
  );
  assert.match(f[0]!.message, /\(alice\)$/);
});

test("doctor fails when the firewall table is gone while private users' NATs may run, and says how to put it back", () => {
  const [f] = checkNat(users, { ...ready, table: () => false });
  assert.equal(f?.status, 'fail');
  assert.match(f!.message, /no table inet cellsh/);
  assert.match(f!.fix!, /restart/);
  assert.equal(checkNat(users, ready)[0]?.status, 'ok');
  assert.equal(checkNat(users, { ...ready, table: () => undefined })[0]?.status, 'warn');
});
