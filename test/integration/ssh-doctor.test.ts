// Cellsh-admin doctor checks the live sshd settings of
// each enrolled user (sshd -T -C user=...) and the PAM stack, reports each way
// around the container that is open with the line to change, and exits
// non-zero when something is open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser } from '../helpers/users.js';
import { must, run } from '../helpers/system.js';
import { markerPayloads } from '../helpers/payloads.js';
import { sshSkipReason, TestSshd } from '../helpers/sshd.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();
const readsPamEnv =
  existsSync('/etc/pam.d/sshd') &&
  /^[^#]*pam_env\.so.*\buser_readenv=1\b/m.test(readFileSync('/etc/pam.d/sshd', 'utf8'));

function doctor(config: string, json = false, pamFile?: string): { status: number; out: string } {
  const r = run(inst!.admin, [
    'doctor',
    '--sshd-config',
    config,
    ...(pamFile ? ['--pam-file', pamFile] : []),
    ...(json ? ['--json'] : []),
  ]);
  return { status: r.status, out: r.out + r.err };
}

test('ssh: doctor: with the drop-in and cellsh as login shell nothing is open', { skip }, async (t) => {
  createUser(t, inst!, 's7ok');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!);
  const r = doctor(sshd.config);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /ok +sshd +cellsh-t-s7ok: every ssh session goes through cellsh \(ForceCommand/);
  assert.doesNotMatch(r.out, /^open/m);
  if (readsPamEnv) assert.match(r.out, /^warn +pam +\/etc\/pam\.d\/sshd:\d+ reads each user's ~\/\.pam_environment/m);
  const json = JSON.parse(doctor(sshd.config, true).out) as { ok: boolean; findings: Array<{ status: string }> };
  assert.equal(json.ok, true);
});

test("ssh: doctor: TCP forwarding is fine with pam_cellsh in sshd's PAM stack, and open without it", {
  skip:
    skip || (!existsSync(join(inst?.root ?? '/', 'etc/pam.d/sshd')) && 'the private install has no PAM stack for sshd'),
}, async (t) => {
  createUser(t, inst!, 's7pam');
  mustApply(inst!);
  // As install.sh leaves it: the forwarding drop-in beside cellsh.conf, pam_cellsh in the stack.
  const sshd = await TestSshd.start(t, inst!, { pam: true });
  const stack = join(inst!.root, 'etc/pam.d/sshd');
  const r = doctor(sshd.config, false, stack);
  assert.equal(r.status, 0, r.out);
  assert.match(
    r.out,
    /^ok +sshd +cellsh-t-s7pam: TCP forwarding \(yes\) happens in their container's network \(pam_cellsh\)$/m,
  );
  assert.match(
    r.out,
    new RegExp(`^ok +pam +${stack}:\\d+: sshd's sessions of cellsh users join their container's network$`, 'm'),
  );
  // The same sshd with a stack that lacks the module: forwarding would be the host's.
  const bare = join(sshd.dir, 'pam-without-cellsh');
  writeFileSync(bare, readFileSync(stack, 'utf8').replace(/^.*pam_cellsh\.so.*$/m, ''));
  const open = doctor(sshd.config, false, bare);
  assert.equal(open.status, 1, open.out);
  assert.match(
    open.out,
    /^open +sshd +cellsh-t-s7pam: AllowTcpForwarding is yes: port forwarding reaches the host's network/m,
  );
  assert.match(open.out, /^warn +pam +pam_cellsh is not in /m);
});

test('ssh: doctor: without the drop-in, open forwarding is reported with the line to change, exit 1', {
  skip,
}, async (t) => {
  createUser(t, inst!, 's7open');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!, {
    dropIn: false,
    extra: ['AllowTcpForwarding yes', 'X11Forwarding yes'],
  });
  const r = doctor(sshd.config);
  assert.equal(r.status, 1, r.out);
  assert.match(
    r.out,
    /^open +sshd +cellsh-t-s7open: AllowTcpForwarding is yes: port forwarding reaches the host's network/m,
  );
  assert.match(r.out, /fix: "AllowTcpForwarding no" under "Match Group cellsh-t-g\d+"/);
  assert.match(r.out, /^open +sshd +cellsh-t-s7open: AllowStreamLocalForwarding is yes/m);
  assert.match(r.out, /^open +sshd +cellsh-t-s7open: X11Forwarding is yes/m);
  // Without ForceCommand, sftp served by sshd itself is open too.
  const sftp = await TestSshd.start(t, inst!, { dropIn: false, subsystem: 'internal-sftp' });
  assert.match(doctor(sftp.config).out, /^open +sshd +cellsh-t-s7open: sftp is served by sshd itself on the host/m);
});

test('ssh: doctor: a ForceCommand user whose login shell reads startup files, or sees ~/.pam_environment first, is open', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 's7shell');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!);
  must('usermod', ['--shell', '/bin/bash', user.name]);
  let r = doctor(sshd.config);
  assert.equal(r.status, 1);
  assert.match(r.out, /^open +shell +cellsh-t-s7shell's login shell \/bin\/bash runs first, on the host/m);
  assert.match(r.out, /fix: cellsh-admin enroll cellsh-t-s7shell/);
  must('usermod', ['--shell', '/bin/sh', user.name]);
  r = doctor(sshd.config);
  assert.doesNotMatch(r.out, /^open +shell/m);
  assert.match(
    r.out,
    /^warn +shell +cellsh-t-s7shell's login shell is \/bin\/sh: su, the console and other PAM services give a shell on the host/m,
  );
  if (!readsPamEnv) return t.skip("this host's /etc/pam.d/sshd does not read ~/.pam_environment");
  // /bin/sh is dynamically linked and runs before cellsh: PAM's variables reach its loader.
  assert.equal(r.status, 1, r.out);
  assert.match(
    r.out,
    /^open +pam +\/etc\/pam\.d\/sshd:\d+ reads each user's ~\/\.pam_environment \(user_readenv=1\), so e\.g\. LD_PRELOAD set there acts in the login shell of cellsh-t-s7shell/m,
  );
  // ...and that is real: shown through the same sshd.
  const p = markerPayloads(t);
  sshd.authorize(user);
  writeFileSync(join(user.home, '.pam_environment'), `LD_PRELOAD DEFAULT=${p.so}\n`);
  chownSync(join(user.home, '.pam_environment'), user.uid, user.gid);
  await sshd.ssh(user, ['true']);
  assert.ok(existsSync(p.soMarker), 'LD_PRELOAD from ~/.pam_environment ran in /bin/sh on the host');
  rmSync(p.soMarker);
  // With cellsh as the login shell, the same file does nothing and doctor only warns.
  must('usermod', ['--shell', inst!.launcher, user.name]);
  await sshd.ssh(user, ['true']);
  assert.ok(!existsSync(p.soMarker));
  r = doctor(sshd.config);
  assert.equal(r.status, 0, r.out);
});

test('ssh: doctor: AcceptEnv that lets the client send LD_PRELOAD to a kept host shell is open, and that is real', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 's7env');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!, { extra: ['AcceptEnv LD_*'] });
  sshd.authorize(user);
  const p = markerPayloads(t);
  // SetEnv sends the variable without setting it in the client (which would load it itself).
  const send = { options: ['-o', `SetEnv=LD_PRELOAD=${p.so}`] };
  // With cellsh as the login shell the variable reaches nothing on the host.
  await sshd.ssh(user, ['true'], send);
  assert.ok(!existsSync(p.soMarker), 'LD_PRELOAD sent by the client acted on the host with cellsh as login shell');
  assert.doesNotMatch(doctor(sshd.config).out, /AcceptEnv/);
  // With a kept /bin/sh (enroll --keep-shell) the shell sshd runs first loads it.
  must('usermod', ['--shell', '/bin/sh', user.name]);
  await sshd.ssh(user, ['true'], send);
  assert.ok(existsSync(p.soMarker), 'control: LD_PRELOAD sent by the client ran in /bin/sh on the host');
  const r = doctor(sshd.config);
  assert.equal(r.status, 1, r.out);
  assert.match(
    r.out,
    /^open +sshd +cellsh-t-s7env: AcceptEnv LD_\* lets the client set variables such as LD_PRELOAD for \/bin\/sh/m,
  );
  assert.match(r.out, /fix: "AcceptEnv LANG LC_\*" for cellsh-t-s7env/);
});

test('ssh: doctor: an unreadable compiled policy is broken; Match blocks on addresses are flagged for a manual check', {
  skip,
}, async (t) => {
  createUser(t, inst!, 's7misc');
  mustApply(inst!);
  const sshd = await TestSshd.start(t, inst!, { after: ['Match Address 10.0.0.0/8', '  AllowTcpForwarding yes'] });
  let r = doctor(sshd.config);
  assert.match(
    r.out,
    new RegExp(
      `^warn +sshd +${sshd.config.replace(/[/.]/g, '\\$&')}:\\d+ "Match Address 10\\.0\\.0\\.0/8" is checked here for a client at 127\\.0\\.0\\.1 only`,
      'm',
    ),
  );
  const compiled = inst!.compiledPolicy;
  const good = readFileSync(compiled);
  t.after(() => writeFileSync(compiled, good));
  writeFileSync(compiled, Buffer.concat([good.subarray(0, good.length - 3), Buffer.from('00\n')]));
  r = doctor(sshd.config);
  assert.equal(r.status, 1, r.out);
  assert.match(
    r.out,
    /^fail +install +\S+policy\.compiled can't be read \(.*checksum mismatch.*\): no one can log in/m,
  );
  // The group's members are still checked.
  assert.match(r.out, /cellsh-t-s7misc: every ssh session goes through cellsh/);
});
