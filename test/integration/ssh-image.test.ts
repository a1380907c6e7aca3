// A container from an image, reached as users reach it: through sshd with
// cellsh as the login shell. A command, a terminal, root inside (`ssh host
// root`), sftp, scp (both protocols),
// rsync both ways and git over ssh run in the image (Debian 12 with the far
// sides of those tools), and what scp writes outside the home stays in the
// user's kept writable layer across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { debianRoot, tarOf, writeLayout } from '../helpers/images.js';
import { must, run, runAsync } from '../helpers/system.js';
import { deploy, rsyncAndGit, sshSkipReason } from '../helpers/sshd.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();

test('ssh into a container from a Debian image with a kept layer and root inside: a command, a terminal, root, sftp, scp, rsync and git', {
  skip,
}, async (t) => {
  const base = debianRoot('tools');
  if (typeof base !== 'string') return t.skip(base.skip);
  // Two layers: Debian, then /data, a folder anyone may write, as an image's own would be.
  const dir = mkdtempSync(join(inst!.root, 'ssh-image-'));
  const local = mkdtempSync('/tmp/cellsh-t-ssh-image-');
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(local, { recursive: true, force: true });
  });
  mkdirSync(join(dir, 'top/data'), { recursive: true });
  chmodSync(join(dir, 'top/data'), 0o1777);
  writeLayout(join(dir, 'layout'), [
    {
      tag: 'tools',
      layers: [tarOf(base), tarOf(join(dir, 'top'))],
      gzip: false,
      env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
    },
  ]);
  const imported = run(inst!.admin, ['image', 'import', join(dir, 'layout'), '--name', 't-tools'], {
    timeoutMs: 600_000,
  });
  assert.equal(imported.status, 0, imported.err);
  t.after(() => {
    mustApply(inst!);
    run(inst!.admin, ['image', 'rm', 't-tools']);
  });
  const { user, sshd } = await deploy(t, inst!, 'login-shell', 'ssh-img');
  t.after(() => {
    run(inst!.helper, ['stop', String(user.uid)]);
    rmSync(join(inst!.layerDir, `${user.uid}.ext4`), { force: true });
  });
  mustApply(
    inst!,
    `users:\n  ${user.name}:\n    image: t-tools\n    shell: /bin/bash\n    persist: true\n    root: true\n    limits: {disk: 128M}\n`,
  );
  const o = sshd.clientOptions();
  const port = String(sshd.port);
  const at = (path: string): string => `${sshd.target(user)}:${path}`;
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', GIT_SSH_COMMAND: sshd.sshCommand() };
  const ok = async (what: string, p: Promise<{ status: number; out: string; err: string }>): Promise<string> => {
    const r = await p;
    assert.equal(r.status, 0, `${what}: ${r.out}${r.err}`);
    return r.out;
  };

  // ssh host command
  const facts = await ok(
    'ssh cmd',
    sshd.ssh(user, ['cat /etc/debian_version; id -un; echo $SHELL; df -k / | tail -1']),
  );
  const [version, name, shell, df] = facts.trim().split('\n');
  assert.match(version!, /^12\./, "the image's system");
  assert.equal(name, user.name);
  assert.equal(shell, '/bin/bash');
  assert.ok(Number(df!.split(/\s+/)[1]) <= 128 * 1024, `/ is the 128M layer: ${df}`);

  // ssh -tt: a person's terminal
  const term = sshd.terminal(user);
  t.after(() => term.kill());
  await term.expect(new RegExp(`${user.name}@[^:]*:[^$]*\\$ `));
  await term.type('grep -c . /etc/passwd; tty\n');
  const [, entries] = await term.expect(/(\d+)\r?\n\/dev\/pts\/\d+/);
  assert.ok(Number(entries) > 10, "Debian's accounts and the user's, on the container's own terminal");
  term.kill();

  // root inside: `ssh host root CMD`, and `ssh -t host root` for a root shell
  assert.equal(await ok('ssh root', sshd.ssh(user, ['root', 'id', '-u'])), '0\n');
  const rootTerm = sshd.terminal(user, ['root']);
  t.after(() => rootTerm.kill());
  await rootTerm.expect(/root@[^:]*:[^#]*# /);
  await rootTerm.type('id -un; tty\n');
  await rootTerm.expect(/root\r?\n\/dev\/pts\/\d+/);
  rootTerm.kill();

  // sftp: the subsystem runs the image's sftp-server
  writeFileSync(join(local, 'up.txt'), 'from the client\n');
  writeFileSync(
    join(local, 'batch'),
    `ls -1 /\nput ${join(local, 'up.txt')} sftp.txt\nget /etc/os-release ${join(local, 'os')}\n`,
  );
  const sftp = await ok(
    'sftp',
    runAsync('sftp', [...o, '-P', port, '-b', join(local, 'batch'), sshd.target(user)], { env }),
  );
  assert.match(sftp, /\/data\b/, "the image's root");
  assert.doesNotMatch(sftp, /\/work\b/, "not the host's");
  assert.match(readFileSync(join(local, 'os'), 'utf8'), /bookworm/);

  // scp, both protocols, into the home and into the kept layer
  await ok('scp', runAsync('scp', [...o, '-P', port, join(local, 'up.txt'), at('scp.txt')], { env }));
  await ok('scp -O', runAsync('scp', [...o, '-O', '-P', port, join(local, 'up.txt'), at('/data/kept.txt')], { env }));

  // rsync -a both ways; git runs the image's git-upload-pack and git-receive-pack.
  await rsyncAndGit(sshd, user, local);

  // What scp put outside the home outlives the container.
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  await ok('scp back', runAsync('scp', [...o, '-P', port, at('/data/kept.txt'), join(local, 'kept.txt')], { env }));
  assert.equal(readFileSync(join(local, 'kept.txt'), 'utf8'), 'from the client\n');
  assert.equal(readFileSync(join(user.home, 'scp.txt'), 'utf8'), 'from the client\n', "the home is the host's");
});
