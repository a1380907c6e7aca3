// Root inside a container from an image (policy root: true): uid 0 there is
// the user's subordinate ids on the host, the image's files are root's through
// an idmapped mount, and `root` (as the login's command) starts a session as
// root, which can install a package with apt into the user's writable layer.
// What root inside can't do: mount, load a module, change the hostname or the
// cgroup, reach another container, or gain anything from a setuid binary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPolicy, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { debianRoot, tarOf, writeLayout } from '../helpers/images.js';
import { cellshCommand } from '../helpers/session.js';
import { must, run } from '../helpers/system.js';
import { createUser, type TestUser } from '../helpers/users.js';

const inst = testInstall();
const skip = skipReason(inst);

async function inside(user: TestUser, command: string): Promise<string> {
  const r = await cellshCommand(inst!, user, command);
  assert.equal(r.status, 0, `${command}: ${r.out}${r.err}`);
  return r.out;
}

let imported = false;
/** Debian 12 minbase as the image t-root, once per file; or why not. */
function rootImage(t: { after(fn: () => void): void; skip(why: string): void }): boolean {
  if (imported) return true;
  const base = debianRoot('base');
  if (typeof base !== 'string') {
    t.skip(base.skip);
    return false;
  }
  const dir = mkdtempSync(join(inst!.root, 'image-root-'));
  writeLayout(join(dir, 'layout'), [
    {
      tag: 'r',
      layers: [tarOf(base)],
      gzip: false,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    },
  ]);
  const r = run(inst!.admin, ['image', 'import', join(dir, 'layout'), '--name', 't-root'], { timeoutMs: 600_000 });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.err);
  imported = true;
  t.after(() => {
    mustApply(inst!);
    run(inst!.admin, ['image', 'rm', 't-root']);
    imported = false;
  });
  return true;
}

function rootPolicy(user: TestUser, extra = ''): string {
  return `users:\n  ${user.name}:\n    image: t-root\n    shell: /bin/bash\n    root: true\n    persist: true\n    limits: {disk: 256M}\n${extra}`;
}

function keptLayer(t: { after(fn: () => void): void }, user: TestUser): void {
  t.after(() => {
    run(inst!.helper, ['stop', String(user.uid)]);
    rmSync(join(inst!.layerDir, `${user.uid}.ext4`), { force: true });
  });
}

/** A package of one script, built here with dpkg-deb (no network), in the user's home. */
function helloDeb(user: TestUser): string {
  const dir = mkdtempSync(join(inst!.root, 'deb-'));
  try {
    mkdirSync(join(dir, 'DEBIAN'));
    mkdirSync(join(dir, 'usr/bin'), { recursive: true });
    writeFileSync(
      join(dir, 'DEBIAN/control'),
      'Package: cellsh-t-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n',
    );
    writeFileSync(join(dir, 'usr/bin/cellsh-t-hello'), '#!/bin/sh\necho hello from a package\n', { mode: 0o755 });
    const deb = join(user.home, 'hello.deb');
    must('dpkg-deb', ['--root-owner-group', '--build', dir, deb]);
    chownSync(deb, user.uid, user.gid);
    return deb;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("root inside: `root` gives a root session in the container, the image is root's, apt installs into the kept layer, and the home stays the user's", {
  skip,
}, async (t) => {
  if (!rootImage(t)) return;
  const user = createUser(t, inst!, 'root-a');
  keptLayer(t, user);
  mustApply(inst!, rootPolicy(user));
  assert.equal(await inside(user, 'id -u; stat -c %U /etc/passwd /usr/bin/apt'), `${user.uid}\nroot\nroot\n`);
  assert.equal(await inside(user, 'root id -u; echo $HOME $USER'), '0\n/root root\n');
  const deb = helloDeb(user);
  const installed = await cellshCommand(inst!, user, `root apt-get install -y -q ${deb}`);
  assert.equal(installed.status, 0, installed.out + installed.err);
  assert.equal(
    await inside(user, 'cellsh-t-hello; stat -c %U /usr/bin/cellsh-t-hello'),
    'hello from a package\nroot\n',
  );
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  assert.equal(await inside(user, 'cellsh-t-hello'), 'hello from a package\n', 'the package is in the kept layer');
  // The home is seen with the user's own ids alone: root may change what is there, never
  // make a file in it or give one away (a setuid binary of a subordinate id, left on the host).
  await inside(user, 'echo mine > ~/mine');
  assert.equal(
    await inside(user, `root sh -c 'echo more >> ${user.home}/mine && cat ${user.home}/mine'`),
    'mine\nmore\n',
  );
  const made = await cellshCommand(inst!, user, `root touch ${user.home}/by-root`);
  assert.notEqual(made.status, 0, 'root makes no file in the home');
  const given = await cellshCommand(inst!, user, `root chown 0:0 ${user.home}/mine`);
  assert.notEqual(given.status, 0, 'root gives no file in the home away');
  assert.equal(statSync(join(user.home, 'mine')).uid, user.uid);
  assert.equal(existsSync(join(user.home, 'by-root')), false);
  // What root plants where the helper writes at the next start moves aside, and the start goes on.
  await inside(user, "root sh -c 'rm /etc/group && mkdir -p /etc/group/x'");
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  assert.match(await inside(user, 'test -f /etc/group && grep -c . /etc/group'), /^\d+\n$/);
});

test('root inside reaches nothing of the host: no mount, module, hostname or cgroup, no other container, no gain from setuid', {
  skip,
}, async (t) => {
  if (!rootImage(t)) return;
  const user = createUser(t, inst!, 'root-b');
  const other = createUser(t, inst!, 'root-c');
  keptLayer(t, user);
  mustApply(inst!, `${rootPolicy(user)}  ${other.name}:\n    shell: /bin/sh\n`);
  const refused = async (what: string, command: string): Promise<void> => {
    const r = await cellshCommand(inst!, user, `root ${command}`);
    assert.notEqual(r.status, 0, `${what}: ${r.out}`);
  };
  await refused('a bind mount of a host path', 'mount --bind /usr /mnt');
  await refused('a new file system', 'mount -t tmpfs none /mnt');
  await refused('the cgroup file system', 'mount -t cgroup2 none /sys/fs/cgroup');
  await refused("the container's hostname", 'hostname changed');
  await refused('a cgroup file', "sh -c 'echo max > /sys/fs/cgroup/pids.max'");
  assert.equal(
    await inside(user, `root perl -e 'my $s = q(); syscall(313, 0, $s, 0); print $!+0'`),
    '1',
    'finit_module: EPERM',
  );
  // Another user's container: its init is not in this pid namespace, its home not in this root.
  await inside(other, 'true');
  const otherInit = must('sh', [
    '-c',
    `grep '^init_pid ' ${inst!.stateDir}/${other.uid}.state | cut -d' ' -f2`,
  ]).out.trim();
  await refused("another container's init", `kill -0 ${otherInit}`);
  await refused("another user's home", `ls ${other.home}`);
  // A setuid-root binary root made in the image gives the user nothing.
  await inside(user, `root sh -c 'cp /usr/bin/id /usr/local/bin/suid-id && chmod 4755 /usr/local/bin/suid-id'`);
  assert.equal(
    await inside(user, 'stat -c %a:%U /usr/local/bin/suid-id; /usr/local/bin/suid-id -u'),
    `4755:root\n${user.uid}\n`,
  );
  // Root's capabilities are the container's set, nothing of the host's.
  const caps = await inside(user, "root grep -E '^Cap(Eff|Bnd)' /proc/self/status");
  for (const line of caps.trim().split('\n')) assert.match(line, /\t00000000800405fb$/, line);
});

test('root is refused to a user the policy does not give it, and apply refuses it with the host image', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'root-d');
  mustApply(inst!, `users:\n  ${user.name}:\n    shell: /bin/sh\n`);
  const r = await cellshCommand(inst!, user, 'root id -u');
  assert.equal(r.status, 77, r.out + r.err);
  assert.match(r.err, /your administrator has not given you root in your container/);
  assert.equal(r.out, '');
  const applied = applyPolicy(inst!, `users:\n  ${user.name}:\n    root: true\n`);
  assert.equal(applied.status, 78);
  assert.match(applied.err, new RegExp(`${user.name} has root: true, but the host's own system can't be theirs`));
});

test('enroll gives a user without subordinate ids 65536 above every other range and account, and unenroll takes back only those', {
  skip,
}, async (t) => {
  mustApply(inst!); // the installed policy, naming no one gone
  const user = createUser(t, inst!, 'root-e', { enrolled: false });
  const ranges = (file: string): Array<[string, number, number]> =>
    must('cat', [file])
      .out.trim()
      .split('\n')
      .filter((l) => l)
      .map((l) => l.split(':'))
      .map(([o, a, b]) => [o!, Number(a), Number(b)]);
  run('usermod', ['--del-subuids', '1-4294967294', '--del-subgids', '1-4294967294', user.name]);
  assert.equal(ranges('/etc/subuid').filter(([o]) => o === user.name).length, 0);
  const enrolled = run(inst!.admin, ['enroll', user.name]);
  assert.equal(enrolled.status, 0, enrolled.err);
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const all = ranges(file);
    const mine = all.filter(([o]) => o === user.name);
    assert.equal(mine.length, 1, file);
    const [, start, count] = mine[0]!;
    assert.equal(count, 65536);
    for (const [o, a, n] of all)
      if (o !== user.name) assert.ok(start >= a + n || start + count <= a, `${o}'s range in ${file}`);
    assert.ok(
      start >
        Math.max(
          ...must('getent', ['passwd'])
            .out.trim()
            .split('\n')
            .map((l) => Number(l.split(':')[2]))
            .filter((n) => n < 4294967294),
        ),
    );
  }
  assert.match(enrolled.out, /subordinate ids \d+-\d+/);
  const unenrolled = run(inst!.admin, ['unenroll', user.name]);
  assert.equal(unenrolled.status, 0, unenrolled.err);
  assert.equal(ranges('/etc/subuid').filter(([o]) => o === user.name).length, 0, 'what enroll gave is taken back');
  // A range the user had before enroll stays theirs.
  must('usermod', ['--add-subuids', '4000000000-4000065535', '--add-subgids', '4000000000-4000065535', user.name]);
  assert.equal(run(inst!.admin, ['enroll', user.name]).status, 0);
  assert.equal(run(inst!.admin, ['unenroll', user.name]).status, 0);
  assert.deepEqual(
    ranges('/etc/subuid').filter(([o]) => o === user.name),
    [[user.name, 4000000000, 65536]],
  );
});
