// Sftp (the subsystem), scp (sftp-based and -O),
// rsync -a both ways and git clone/push over ssh all run inside the container
// and see only what it sees, in both deployments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipReason, testInstall } from '../helpers/install.js';
import { runAsync } from '../helpers/system.js';
import { deploy, rsyncAndGit, sshSkipReason } from '../helpers/sshd.js';

const inst = testInstall();
const skip = skipReason(inst) || sshSkipReason();
const HOST_ONLY = `/var/lib/cellsh-host-only-${process.pid}`; // exists on the host, not in any container

for (const mode of ['login-shell', 'force-command'] as const) {
  test(`ssh: (${mode}) sftp, scp (sftp and -O), rsync -a both ways and git over ssh run inside the container`, {
    skip,
  }, async (t) => {
    const { user, sshd } = await deploy(t, inst!, mode, `s3${mode[0]}`);
    const local = mkdtempSync('/tmp/cellsh-t-xfer-');
    writeFileSync(HOST_ONLY, 'host only\n');
    t.after(() => {
      rmSync(local, { recursive: true, force: true });
      rmSync(HOST_ONLY, { force: true });
    });
    const o = sshd.clientOptions();
    const port = String(sshd.port);
    const at = (path: string): string => `${sshd.target(user)}:${path}`;
    const env = { PATH: '/usr/bin:/bin', HOME: '/root', GIT_SSH_COMMAND: sshd.sshCommand() };
    const ok = async (what: string, p: Promise<{ status: number; out: string; err: string }>): Promise<string> => {
      const r = await p;
      assert.equal(r.status, 0, `${what}: ${r.out}${r.err}`);
      return r.out;
    };
    writeFileSync(join(local, 'up.txt'), 'from the client\n');

    // sftp: the subsystem lands in the container: its root, its home, its files.
    writeFileSync(
      join(local, 'batch'),
      `ls -1 /\npwd\nput ${join(local, 'up.txt')} sftp.txt\nget /etc/passwd ${join(local, 'passwd')}\n`,
    );
    const sftp = await ok(
      'sftp',
      runAsync('sftp', [...o, '-P', port, '-b', join(local, 'batch'), sshd.target(user)], { env }),
    );
    assert.match(sftp, new RegExp(`Remote working directory: ${user.home}`));
    assert.doesNotMatch(sftp, /\/work\b|\/boot\b|\/srv\b/, "the container root, not the host's");
    assert.equal(
      readFileSync(join(local, 'passwd'), 'utf8').trim().split('\n').length,
      3,
      "the container's /etc/passwd",
    );

    // scp, both protocols, both directions; a host-only file is out of reach.
    await ok('scp', runAsync('scp', [...o, '-P', port, join(local, 'up.txt'), at('scp.txt')], { env }));
    await ok('scp -O', runAsync('scp', [...o, '-O', '-P', port, join(local, 'up.txt'), at('scp-o.txt')], { env }));
    await ok('scp -O down', runAsync('scp', [...o, '-O', '-P', port, at('scp.txt'), join(local, 'back.txt')], { env }));
    assert.equal(readFileSync(join(local, 'back.txt'), 'utf8'), 'from the client\n');
    for (const proto of [[], ['-O']]) {
      const r = await runAsync('scp', [...o, ...proto, '-P', port, at(HOST_ONLY), join(local, 'leak')], { env });
      assert.notEqual(r.status, 0, `scp ${proto.join(' ')} must not reach ${HOST_ONLY}`);
    }

    // rsync -a both ways, and git over ssh.
    await rsyncAndGit(sshd, user, local);

    // Everything landed in the user's home, as the user.
    const listing = await ok(
      'ls',
      sshd.ssh(user, ['stat -c "%U %n" sftp.txt scp.txt scp-o.txt rtree/tree/sub/f repo.git/HEAD']),
    );
    assert.deepEqual(
      listing
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      Array(5).fill(user.name),
    );
  });
}
