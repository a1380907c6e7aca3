// Install.sh — builds, installs under a prefix with the right
// owners and modes, registers /etc/shells, installs the default policy without
// overwriting an admin's and compiles it; idempotent; --uninstall removes
// exactly what it installed; --demo ends in the demo user's container shell.
// Runs against its own prefix and root, beside the suite's private install.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason, testInstall } from '../helpers/install.js';
import { packageRoot } from '../helpers/fixtures.js';
import { must, run } from '../helpers/system.js';
import { Terminal } from '../helpers/terminal.js';
import { removeUser } from '../helpers/users.js';
import { cgroupDirs } from '../helpers/cgroups.js';
import { POLICY_MAGIC } from '../../src/policy/index.js';

const inst = testInstall();
const skip = skipReason(inst);
const INSTALL_TIMEOUT_MS = 300_000;

/** A second, throw-away installation's options. */
function layout(tag: string): { root: string; prefix: string; group: string; cgroup: string; args: string[] } {
  const id = `${process.pid}${tag}`;
  const root = `/var/lib/cellsh-test-${id}`;
  const prefix = `${root}/prefix`;
  const group = `cellsh-t-g${id}`;
  const cgroup = `cellsh_test_${id}`;
  return {
    root,
    prefix,
    group,
    cgroup,
    args: ['--skip-packages', '--prefix', prefix, '--root', root, '--group', group, '--cgroup-name', cgroup],
  };
}

function installSh(args: string[]): ReturnType<typeof run> {
  return run(join(packageRoot(), 'install.sh'), args, { timeoutMs: INSTALL_TIMEOUT_MS });
}

const shells = (): string => readFileSync('/etc/shells', 'utf8');

test('install.sh sets owners and modes, registers the shell, compiles the policy; again changes nothing; --uninstall removes exactly it', {
  skip,
}, (t) => {
  const l = layout('i');
  t.after(() => {
    installSh([...l.args, '--uninstall']);
    rmSync(l.root, { recursive: true, force: true });
  });
  const shellsBefore = shells();
  const first = installSh(l.args);
  assert.equal(first.status, 0, first.err);
  const helper = statSync(`${l.prefix}/lib/cellsh/cellsh-helper`);
  assert.deepEqual([helper.uid, helper.mode & 0o7777], [0, 0o4750]);
  assert.equal(helper.gid, Number(must('getent', ['group', l.group]).out.split(':')[2]));
  for (const [path, mode] of [
    [`${l.prefix}/bin/cellsh`, 0o755],
    [`${l.prefix}/lib/cellsh/cellsh-inside`, 0o711],
    [`${l.prefix}/lib/cellsh/pam_cellsh.so`, 0o644],
    [`${l.prefix}/sbin/cellsh-admin`, 0o755],
    [`${l.root}/var/lib/cellsh/policy.compiled`, 0o644],
    [`${l.root}/etc/cellsh/policy.yaml`, 0o644],
    [`${l.root}/run/cellsh`, 0o700],
    [`${l.root}/var/log/cellsh`, 0o750],
  ] as const) {
    const st = statSync(path);
    assert.deepEqual([st.uid, st.mode & 0o7777], [0, mode], path);
  }
  assert.ok(shells().split('\n').includes(`${l.prefix}/bin/cellsh`), '/etc/shells lists the launcher');
  assert.equal(
    readFileSync(`${l.root}/etc/cellsh/policy.yaml`, 'utf8'),
    readFileSync(join(packageRoot(), 'config/policy.yaml'), 'utf8'),
  );
  assert.ok(readFileSync(`${l.root}/var/lib/cellsh/policy.compiled`, 'utf8').startsWith(`${POLICY_MAGIC}\n`));
  const dropIn = readFileSync(`${l.root}/etc/ssh/sshd_config.d/cellsh.conf`, 'utf8');
  assert.match(
    dropIn,
    new RegExp(`^Match Group ${l.group}\n    ForceCommand ${l.prefix}/bin/cellsh\n`, 'm'),
    'the sshd drop-in for this group',
  );
  assert.match(dropIn, /^ {4}AllowTcpForwarding no$/m);
  // sshd's PAM stack: Debian's, with pam_cellsh for the group before common-session,
  // and TCP forwarding opened for the group only with it.
  if (existsSync('/etc/pam.d/sshd')) {
    const stack = readFileSync(`${l.root}/etc/pam.d/sshd`, 'utf8').split('\n');
    const at = stack.findIndex((line) => line.startsWith('# cellsh: '));
    assert.deepEqual(stack.slice(at + 1, at + 3), [
      `session required ${l.prefix}/lib/cellsh/pam_cellsh.so group=${l.group}`,
      '@include common-session',
    ]);
    stack.splice(at, 2);
    assert.equal(stack.join('\n'), readFileSync('/etc/pam.d/sshd', 'utf8'), 'nothing else of the stack changed');
    assert.match(
      readFileSync(`${l.root}/etc/ssh/sshd_config.d/cellsh-forwarding.conf`, 'utf8'),
      new RegExp(`^Match Group ${l.group}\n {4}AllowTcpForwarding yes\n`, 'm'),
    );
  }

  // The admin edits the policy; a second install keeps it and changes nothing else.
  const adminPolicy = '# mine\ndefaults:\n  limits: {pids: 100}\n';
  writeFileSync(`${l.root}/etc/cellsh/policy.yaml`, adminPolicy);
  const manifest = readFileSync(`${l.prefix}/lib/cellsh/install-manifest`, 'utf8');
  const second = installSh(l.args);
  assert.equal(second.status, 0, second.err);
  assert.match(second.out, /keeping the existing/);
  assert.equal(readFileSync(`${l.root}/etc/cellsh/policy.yaml`, 'utf8'), adminPolicy);
  assert.equal(readFileSync(`${l.prefix}/lib/cellsh/install-manifest`, 'utf8'), manifest);
  assert.equal(
    shells()
      .split('\n')
      .filter((s) => s === `${l.prefix}/bin/cellsh`).length,
    1,
  );

  const gone = installSh([...l.args, '--uninstall']);
  assert.equal(gone.status, 0, gone.err);
  assert.match(gone.out, /keeping .*policy\.yaml: it was changed after install/);
  assert.equal(shells(), shellsBefore);
  assert.equal(run('getent', ['group', l.group]).status, 2, 'the group is gone');
  assert.deepEqual(
    must('find', [l.root]).out.trim().split('\n'),
    [l.root, `${l.root}/etc`, `${l.root}/etc/cellsh`, `${l.root}/etc/cellsh/policy.yaml`],
    "only the admin's own file is left",
  );
  for (const dir of cgroupDirs(l.cgroup)) assert.ok(!existsSync(dir), `the cgroup ${dir} is gone`);
});

test("install.sh --demo ends in a prompt inside the demo user's container", { skip }, async (t) => {
  const l = layout('d');
  const demo = `cellsh-t-demo${process.pid % 100000}`;
  t.after(() => {
    installSh([...l.args, '--uninstall']);
    removeUser({ ...inst!, helper: `${l.prefix}/lib/cellsh/cellsh-helper` }, demo);
    rmSync(l.root, { recursive: true, force: true });
  });
  const term = Terminal.spawn(join(packageRoot(), 'install.sh'), [...l.args, '--demo', '--demo-user', demo], {
    cols: 120,
  });
  t.after(() => term.kill());
  await term.expect(`entering ${demo}'s container`, INSTALL_TIMEOUT_MS);
  await term.expect(new RegExp(`${demo}@[^:]*:[^$]*\\$ `)); // colours from .bashrc sit between the parts
  await term.type('echo "pid1=$(cat /proc/1/comm) user=$(id -un)"; exit\r');
  await term.expect(`pid1=cellsh-init user=${demo}`);
  assert.equal((await term.exited).exitCode, 0);
  assert.match(readFileSync(`${l.prefix}/lib/cellsh/install-manifest`, 'utf8'), new RegExp(`^user ${demo}$`, 'm'));
  const gone = installSh([...l.args, '--uninstall']);
  assert.equal(gone.status, 0, gone.err);
  assert.equal(run('id', [demo]).status, 1, 'the demo user goes with the uninstall');
});
