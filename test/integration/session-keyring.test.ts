// Kernel keyrings are not namespaced: a process possesses the keys of the
// session keyring it inherited. Plain `su user` (no "-") runs no pam_keyinit
// on Debian, so the user's program would inherit root's session keyring; every
// process in the container starts a new, empty one instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser } from '../helpers/users.js';
import { run } from '../helpers/system.js';

const inst = testInstall();

/** Why this host gives root no session keyring of its own, or false. Container
 * runtimes (systemd-nspawn, docker) refuse the keyring calls with their own
 * seccomp filter, since keyrings are not namespaced. */
function keyringReason(): string | false {
  const r = run('/usr/bin/keyctl', ['session', '-', '/bin/true']);
  return r.status === 0
    ? false
    : `this host refuses the keyring calls even without cellsh (keyctl session: ${r.err.trim()})`;
}

const skip =
  skipReason(inst) ||
  (!existsSync('/usr/bin/keyctl') && "keyctl (Debian's keyutils) is not installed") ||
  keyringReason();

test('plain su (no "-") from a root shell hands none of root\'s session keys into the container', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'kr-su');
  // The filter would refuse keyctl inside anyway; without it, the keyring itself must hold.
  mustApply(inst!, 'defaults:\n  seccomp: unconfined\n');
  const secret = `hunter2-${process.pid}`;
  // Root's shell, with a session keyring of its own holding a secret.
  const inRootSession = (command: string): ReturnType<typeof run> =>
    run('/usr/bin/keyctl', [
      'session',
      '-',
      '/bin/sh',
      '-c',
      `keyctl add user cellsh-t-secret ${secret} @s >/dev/null && ${command}`,
    ]);
  // Control: a plain process of the user's, started from that shell, reads it.
  const control = inRootSession(
    `setpriv --reuid ${user.uid} --regid ${user.gid} --init-groups keyctl print %user:cellsh-t-secret`,
  );
  assert.equal(control.out.trim(), secret, `the attack works outside cellsh: ${control.err}`);
  const inside = inRootSession(`su ${user.name} -c 'keyctl print %user:cellsh-t-secret; keyctl rdescribe @s'`);
  assert.doesNotMatch(inside.out + inside.err, new RegExp(secret), "root's key is not reachable inside");
  assert.match(
    inside.out,
    /^keyring;\d+;\d+;[0-9a-f]+;_ses$/m,
    `the program has an anonymous session keyring of its own: ${inside.out}${inside.err}`,
  );
});
