// What apply says of published UDP ports: the ports it keeps, and the users
// whose new ports a running container of another still holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundPortNotes, describePorts, heldPortNotes } from '../../../src/admin/udp-ports.js';

const alice = { uid: 1001, name: 'alice', udp_ports: [0, 0] as const };
const bob = { uid: 1002, name: 'bob', udp_ports: [61000, 61003] as const };
const carol = { uid: 1003, name: 'carol', udp_ports: [62000, 62000] as const };

test('apply names each published range with its user, and nothing when no one has ports', () => {
  assert.equal(describePorts([alice, bob, carol]), '61000-61003 (bob), 62000 (carol)');
  assert.equal(describePorts([alice]), '');
});

test("a user's new ports that another user's running container still holds get a note naming both and the way out", () => {
  // alice's container started when she had 61002-61005; the policy now gives 61000-61003 to bob.
  const notes = heldPortNotes([alice, bob, carol], [{ uid: 1001, udpPorts: [61002, 61005] }]);
  assert.deepEqual(notes, [
    'note: bob\'s UDP ports 61002-61003 are still held by the running container of alice, which keeps them until it restarts; bob\'s logins fail until then ("cellsh-admin stop alice" ends it)\n',
  ]);
  // A holder no longer in the policy is named by uid.
  assert.match(
    heldPortNotes([carol], [{ uid: 1009, udpPorts: [62000, 62001] }])[0]!,
    /container of uid 1009, .*stopping it/,
  );
});

test('no note for ports a container holds for its own user, for ranges that do not meet, or for containers without ports', () => {
  assert.deepEqual(heldPortNotes([bob], [{ uid: 1002, udpPorts: [61000, 61003] }]), []);
  assert.deepEqual(heldPortNotes([bob], [{ uid: 1001, udpPorts: [61004, 61010] }]), []);
  assert.deepEqual(heldPortNotes([bob], [{ uid: 1001, udpPorts: [0, 0] }]), []);
});

test('a published port that a socket of another account already holds gets a note naming the port, the user and the uid', () => {
  const udp = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  101: 00000000:EE49 00000000:0000 07 00000000:00000000 00:00000000 00000000  1234        0 35925 2 0000000000000000 0', // 61001, uid 1234
    '  102: 00000000:EE48 00000000:0000 07 00000000:00000000 00:00000000 00000000   999        0 35926 2 0000000000000000 0', // 61000, the NAT
    '  103: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 35927 2 0000000000000000 0', // 53
  ].join('\n');
  const udp6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  7: 00000000000000000000000000000000:EE4B 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1235        0 3 2 0 0', // 61003
  ].join('\n');
  assert.deepEqual(boundPortNotes([alice, bob, carol], 999, [udp, udp6]), [
    "note: UDP port 61001 of bob is already bound by a socket of uid 1234, so bob's logins fail until it is closed\n",
    "note: UDP port 61003 of bob is already bound by a socket of uid 1235, so bob's logins fail until it is closed\n",
  ]);
  assert.deepEqual(boundPortNotes([alice], 999, [udp, udp6]), [], 'no ports, no notes');
});
