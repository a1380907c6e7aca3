import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNat, type NatHost } from '../../../src/admin/doctor-nat.js';

const users = [
  { name: 'alice', network: 'private' as const, udp_ports: [0, 0] as const },
  { name: 'bob', network: 'none' as const, udp_ports: [0, 0] as const },
];
/** A host with everything network: private needs (process.execPath stands in for a program that exists). */
const ready: NatHost = {
  slirp4netns: process.execPath,
  nft: process.execPath,
  account: () => true,
  table: () => true,
  reservedPorts: () => '8080,61000-61003',
  cgroup2: () => true,
};

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

test('doctor warns while the ports of publish.udp are not kept for the NAT, and fails where no cgroup v2 can keep them', () => {
  const mosh = [{ name: 'carol', network: 'private' as const, udp_ports: [61002, 61004] as const }];
  const ports = (host: NatHost) => checkNat(mosh, host).slice(1);
  assert.deepEqual(
    ports({ ...ready, reservedPorts: () => '8080,61000-61004' }).map((f) => f.status),
    ['ok'],
  );
  const [loose] = ports(ready); // 61004 is not in the list
  assert.equal(loose?.status, 'warn');
  assert.match(loose!.message, /not kept for the NAT \(carol\)/);
  assert.equal(loose!.fix, 'cellsh-admin apply (at boot, the cellsh unit does it)');
  const [none] = ports({ ...ready, cgroup2: () => false });
  assert.equal(none?.status, 'fail');
  assert.match(none!.message, /no cgroup v2 hierarchy/);
  assert.deepEqual(ports({ ...ready, cgroup2: () => false, reservedPorts: () => '' }).length, 1);
  assert.deepEqual(checkNat(users, ready).length, 1, 'no port finding when no one publishes ports');
});
