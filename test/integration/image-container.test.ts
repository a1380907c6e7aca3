// A container made from an image of the store (policy `image: NAME`): the
// image's files read-only and nobody's, a writable layer of the container's
// own, /etc/passwd and /etc/group from the image plus the user, the image's
// Env and shell; a hostile image's links in the mount points lead nowhere;
// a change of image waits for a restart; rm is refused while a policy names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyPolicy, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { busyboxRoot, debianRoot, tarOf, writeLayout } from '../helpers/images.js';
import { cellshCommand } from '../helpers/session.js';
import { must, run } from '../helpers/system.js';
import { asUser, createUser, type TestUser } from '../helpers/users.js';

const inst = testInstall();
const skip = skipReason(inst);

function admin(...args: string[]): ReturnType<typeof run> {
  return run(inst!.admin, args, { timeoutMs: 300_000 });
}

/** Import a layout as name for the test; removed (with its layers) afterwards. */
function importImage(t: { after(fn: () => void): void }, layout: string, name: string): void {
  const r = admin('image', 'import', layout, '--name', name);
  assert.equal(r.status, 0, r.err);
  t.after(() => {
    mustApply(inst!);
    admin('image', 'rm', name);
  });
}

/** busybox with /etc/passwd and /etc/group of its own, Env and Cmd ["/bin/sh"]. */
function busyboxLayout(dir: string): string {
  const root = busyboxRoot(join(dir, 'root'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nimgsvc:x:100:100::/srv:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nimgsvc:x:100:\n');
  mkdirSync(join(root, 'srv'), { mode: 0o755 });
  const layout = join(dir, 'layout');
  writeLayout(layout, [{ tag: 'bb', layers: [tarOf(root)], env: ['PATH=/bin', 'FROM_IMAGE=yes'] }]);
  return layout;
}

async function inside(user: TestUser, command: string): Promise<string> {
  const r = await cellshCommand(inst!, user, command);
  assert.equal(r.status, 0, `${command}: ${r.err}`);
  return r.out;
}

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(inst!.root, 'image-container-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a container from an image: the image's files, nobody's and read-only, the user in its passwd, its Env and shell", {
  skip,
}, async (t) => {
  const dir = scratch(t);
  importImage(t, busyboxLayout(dir), 't-bb');
  const user = createUser(t, inst!, 'img-a');
  mustApply(inst!, `users:\n  ${user.name}:\n    image: t-bb\n`);
  assert.equal(await inside(user, 'cat /etc/hello.txt'), 'hello from a cellsh test image\n');
  assert.equal(await inside(user, 'echo $FROM_IMAGE $PATH $SHELL'), 'yes /bin /bin/sh\n', "the image's Env and shell");
  assert.equal(await inside(user, 'id -u; id -g'), `${user.uid}\n${user.gid}\n`);
  assert.equal(
    await inside(user, 'stat -c %u:%g /bin/busybox'),
    '65534:65534\n',
    "the image's files are nobody's inside",
  );
  const passwd = await inside(user, 'cat /etc/passwd');
  assert.match(passwd, /^root:x:0:0:root:\/root:\/bin\/sh$/m, "the image's own entries stay");
  assert.match(passwd, /^imgsvc:x:100:100:/m);
  assert.ok(passwd.endsWith(`${user.name}:x:${user.uid}:${user.gid}:${user.name}:${user.home}:/bin/sh\n`), passwd);
  assert.match(await inside(user, 'cat /etc/group'), new RegExp(`:x:${user.gid}:$`, 'm'));
  const denied = await cellshCommand(inst!, user, 'touch /srv/x');
  assert.notEqual(denied.status, 0, "the image is not the user's to write");
  assert.equal(await inside(user, 'echo hi > /tmp/x && cat /tmp/x; pwd'), `hi\n${user.home}\n`);
  assert.equal(await inside(user, 'echo mine > ~/from-image && cat ~/from-image'), 'mine\n');
  assert.equal(readFileSync(join(user.home, 'from-image'), 'utf8'), 'mine\n', 'the home is bound as always');
  const host = await cellshCommand(inst!, user, 'ls /usr/lib/openssh');
  assert.notEqual(host.status, 0, "the host's /usr is not in the container");
});

test('a Debian 12 image (debootstrap minbase), as an OCI layout and as docker save: a login gets its bash, apt and /etc', {
  skip,
}, async (t) => {
  const base = debianRoot('base');
  if (typeof base !== 'string') return t.skip(base.skip);
  const dir = scratch(t);
  const layout = join(dir, 'layout');
  writeLayout(layout, [
    {
      tag: 'debian',
      layers: [tarOf(base)],
      gzip: false,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    },
  ]);
  importImage(t, layout, 't-debian');
  const saved = must(
    '/usr/bin/skopeo',
    ['copy', '--quiet', `oci:${layout}:debian`, `docker-archive:${join(dir, 'debian.tar')}:t/debian:12`],
    { timeoutMs: 300_000 },
  );
  assert.equal(saved.status, 0);
  const r = admin('image', 'import', join(dir, 'debian.tar'), '--name', 't-debian-saved');
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /layer 1 of 1: already in the store/);
  t.after(() => admin('image', 'rm', 't-debian-saved'));
  const user = createUser(t, inst!, 'img-d');
  mustApply(inst!, `users:\n  ${user.name}:\n    image: t-debian-saved\n    shell: /bin/bash\n`);
  const out = await inside(
    user,
    'cat /etc/debian_version; echo $BASH_VERSION; id -un; apt-get --version | head -1; grep -c . /etc/passwd',
  );
  const [version, bash, name, apt, entries] = out.trim().split('\n');
  assert.match(version!, /^12\./);
  assert.match(bash!, /^5\./);
  assert.equal(name, user.name, "the user's name from the image's passwd plus theirs");
  assert.match(apt!, /^apt \d/);
  assert.ok(Number(entries) > 10, "Debian's own accounts stay in passwd");
});

test("an image whose mount points and /etc files are links leads the helper nowhere: the host's files are untouched", {
  skip,
}, async (t) => {
  const dir = scratch(t);
  const root = busyboxRoot(join(dir, 'root'));
  // Every path the helper mounts on or writes is a link out, or not a folder.
  symlinkSync('/etc', join(root, 'proc'));
  symlinkSync('/', join(root, 'run'));
  symlinkSync('/etc', join(root, 'dev'));
  rmSync(join(root, 'tmp'), { recursive: true });
  symlinkSync('/var/lib', join(root, 'tmp'));
  symlinkSync('/etc/shadow', join(root, 'etc/passwd'));
  symlinkSync('/etc/gshadow', join(root, 'etc/group'));
  symlinkSync('/etc/cellsh-t-written', join(root, 'etc/hostname'));
  symlinkSync('/root', join(root, 'home'));
  writeFileSync(join(root, 'sys'), 'not a folder\n');
  mkdirSync(join(root, 'var'));
  symlinkSync('/etc', join(root, 'var/tmp'));
  const layout = join(dir, 'layout');
  writeLayout(layout, [{ tag: 'x', layers: [tarOf(root)] }]);
  importImage(t, layout, 't-links');
  const user = createUser(t, inst!, 'img-l');
  mustApply(inst!, `users:\n  ${user.name}:\n    image: t-links\n    shell: /bin/sh\n`);
  const before = ['/etc/shadow', '/etc/gshadow', '/etc/passwd', '/etc/hostname'].map((f) =>
    createHash('sha256').update(readFileSync(f)).digest('hex'),
  );
  const out = await inside(
    user,
    'cat /etc/passwd; cat /proc/self/comm; ls -d /tmp /var/tmp /sys /dev/null; cat /etc/hostname',
  );
  assert.match(out, new RegExp(`^${user.name}:x:${user.uid}:`, 'm'));
  assert.ok(!out.includes('root:$') && !/^root:[^x]/m.test(out), 'no hash from the host');
  assert.match(out, /^cat$/m, 'a real /proc');
  const after = ['/etc/shadow', '/etc/gshadow', '/etc/passwd', '/etc/hostname'].map((f) =>
    createHash('sha256').update(readFileSync(f)).digest('hex'),
  );
  assert.deepEqual(after, before, "the host's files are unchanged");
  assert.equal(run('test', ['-e', '/etc/cellsh-t-written']).status, 1, 'nothing was written through a link');
  assert.equal(must('stat', ['-c', '%a', '/etc']).out.trim(), '755', "the host's /etc kept its mode");
  assert.equal(must('stat', ['-c', '%a', '/var/lib']).out.trim(), '755', "the host's /var/lib kept its mode");
});

test('a change of image waits for a restart, and an image a policy names cannot be removed', { skip }, async (t) => {
  const dir = scratch(t);
  importImage(t, busyboxLayout(dir), 't-bb2');
  const user = createUser(t, inst!, 'img-r');
  mustApply(inst!, `users:\n  ${user.name}:\n    image: t-bb2\n    restart: manual\n    shell: /bin/sh\n`);
  assert.equal(await inside(user, 'cat /etc/hello.txt'), 'hello from a cellsh test image\n');
  assert.match(
    must(inst!.admin, ['image', 'ls']).out,
    new RegExp(`^t-bb2\\s.*\\s${user.name}\\s`, 'm'),
    'ls names its users',
  );
  const rm = admin('image', 'rm', 't-bb2');
  assert.equal(rm.status, 77, rm.err);
  assert.match(rm.err, new RegExp(`the policy gives t-bb2 to ${user.name}`));
  const applied = applyPolicy(inst!, `users:\n  ${user.name}:\n    restart: manual\n    shell: /bin/sh\n`);
  assert.equal(applied.status, 0, applied.err);
  const r = await cellshCommand(inst!, user, 'cat /etc/hello.txt');
  assert.equal(r.status, 0, 'the running container keeps its image until it restarts');
  // No policy names it now: it may go, but not the layers the running container stands on.
  const gone = admin('image', 'rm', 't-bb2');
  assert.equal(gone.status, 0, gone.err);
  assert.equal(await inside(user, 'cat /etc/hello.txt'), 'hello from a cellsh test image\n');
  assert.match(must(inst!.admin, ['diff']).out + must(inst!.admin, ['ps']).out, /image|restart/);
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  const fresh = await cellshCommand(inst!, user, 'test -e /etc/hello.txt || echo host');
  assert.equal(fresh.out, 'host\n', 'after the restart, the host image');
});

test('apply refuses a policy naming an image the store does not have, and changes nothing', { skip }, (t) => {
  const user = createUser(t, inst!, 'img-m');
  mustApply(inst!);
  const before = readFileSync(inst!.compiledPolicy);
  const r = applyPolicy(inst!, `users:\n  ${user.name}:\n    image: t-not-there\n`);
  assert.equal(r.status, 78);
  assert.match(r.err, /image "t-not-there" is not in the image store; see "cellsh-admin image ls"/);
  assert.ok(readFileSync(inst!.compiledPolicy).equals(before), 'the applied policy is unchanged');
  const bad = applyPolicy(inst!, `users:\n  ${user.name}:\n    image: Not/A-Name\n`);
  assert.equal(bad.status, 78);
  assert.match(bad.err, /expected "host" or an image name/);
});

test("a login shell starts in the image's WorkingDir; a command starts in the home", {
  skip,
}, async (t) => {
  const dir = scratch(t);
  const root = busyboxRoot(join(dir, 'root'));
  mkdirSync(join(root, 'srv/app'), { recursive: true, mode: 0o755 });
  const layout = join(dir, 'layout');
  writeLayout(layout, [{ tag: 'w', layers: [tarOf(root)], env: ['PATH=/bin'], workingDir: '/srv/app/' }]);
  importImage(t, layout, 't-workdir');
  const user = createUser(t, inst!, 'img-w');
  mustApply(inst!, `users:\n  ${user.name}:\n    image: t-workdir\n    shell: /bin/sh\n`);
  const login = await asUser(user, inst!.launcher, ['-l'], { input: 'pwd\n' });
  assert.equal(login.status, 0, login.err);
  assert.equal(login.out, '/srv/app\n', 'a login shell starts in WorkingDir');
  assert.equal(await inside(user, 'pwd'), `${user.home}\n`, 'a command starts in the home');
});
