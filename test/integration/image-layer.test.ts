// The writable layer of a container from an image: kept across restarts in an
// ext4 file of its own (persist: true) or thrown away (a tmpfs), capped by
// limits.disk with ENOSPC inside; resized when the limit changes; never
// mounted twice; shown by ps; discarded by `cellsh-admin reset`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { busyboxRoot, tarOf, writeLayout } from '../helpers/images.js';
import { cellshCommand } from '../helpers/session.js';
import { must, run } from '../helpers/system.js';
import { createUser, type TestUser } from '../helpers/users.js';

const inst = testInstall();
const skip = skipReason(inst);

function admin(...args: string[]): ReturnType<typeof run> {
  return run(inst!.admin, args, { timeoutMs: 300_000 });
}

let imported = false;
/** busybox with /data, a folder anyone may write (1777), as the image t-layer. */
function layerImage(t: { after(fn: () => void): void }): void {
  if (imported) return;
  const dir = mkdtempSync(join(inst!.root, 'image-layer-'));
  const root = busyboxRoot(join(dir, 'root'));
  mkdirSync(join(root, 'data'));
  chmodSync(join(root, 'data'), 0o1777);
  writeLayout(join(dir, 'layout'), [{ tag: 'l', layers: [tarOf(root)], env: ['PATH=/bin'] }]);
  const r = admin('image', 'import', join(dir, 'layout'), '--name', 't-layer');
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 0, r.err);
  imported = true;
  t.after(() => {
    mustApply(inst!);
    admin('image', 'rm', 't-layer');
    imported = false;
  });
}

function policy(user: TestUser, extra: string): string {
  return `users:\n  ${user.name}:\n    image: t-layer\n    shell: /bin/sh\n    restart: manual\n${extra
    .split('\n')
    .filter((l) => l)
    .map((l) => `    ${l}\n`)
    .join('')}`;
}

async function inside(user: TestUser, command: string): Promise<string> {
  const r = await cellshCommand(inst!, user, command);
  assert.equal(r.status, 0, `${command}: ${r.err}`);
  return r.out;
}

/** The user's layer file, deleted with the user (whose uid a later test may get). */
function layerFile(t: { after(fn: () => void): void }, user: TestUser): string {
  const file = join(inst!.layerDir, `${user.uid}.ext4`);
  t.after(() => {
    run(inst!.helper, ['stop', String(user.uid)]);
    rmSync(file, { force: true });
  });
  return file;
}

test('a persistent writable layer keeps what the user wrote across restarts, in a root-only ext4 file', {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-p');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 64M'));
  await inside(user, 'echo kept > /data/note');
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  assert.equal(await inside(user, 'cat /data/note'), 'kept\n', 'the layer outlived the container');
  const st = statSync(file);
  assert.equal(st.uid, 0);
  assert.equal(st.mode & 0o777, 0o600, "the layer's file is root's alone");
  assert.equal(statSync(inst!.layerDir).mode & 0o777, 0o700);
  assert.equal(st.size, 64 * 2 ** 20);
  assert.ok(st.blocks * 512 >= st.size, 'the whole size is taken on the host when the layer is made');
  const df = (await inside(user, 'df -k / | tail -1')).trim().split(/\s+/);
  assert.ok(Number(df[1]) > 40 * 1024 && Number(df[1]) <= 64 * 1024, `/ is the 64M layer: ${df.join(' ')}`);
  const mine = await cellshCommand(inst!, user, `cat ${file}`);
  assert.notEqual(mine.status, 0, "the user can't read the raw file system inside");
  assert.match(
    must(inst!.admin, ['ps']).out,
    new RegExp(`^${user.name}\\s.*\\s\\d+(\\.\\d)?[KM] / 64M\\s`, 'm'),
    'ps shows the layer against its size',
  );
});

test('a temporary writable layer is gone after a restart, and no file is kept for it', {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-t');
  mustApply(inst!, policy(user, 'persist: false'));
  await inside(user, 'echo brief > /data/note');
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  const r = await cellshCommand(inst!, user, 'cat /data/note');
  assert.notEqual(r.status, 0, 'nothing survives a restart without persist');
  assert.equal(existsSync(join(inst!.layerDir, `${user.uid}.ext4`)), false, 'no file is made for a temporary layer');
});

test('writing past limits.disk fails with ENOSPC inside, with persist and without', { skip }, async (t) => {
  layerImage(t);
  for (const [suffix, extra] of [
    ['p', 'persist: true\nlimits:\n  disk: 32M'],
    ['t', 'persist: false\nlimits:\n  disk: 16M'],
  ] as const) {
    const user = createUser(t, inst!, `lay-q${suffix}`);
    if (suffix === 'p') layerFile(t, user);
    mustApply(inst!, policy(user, extra));
    const r = await cellshCommand(inst!, user, 'dd if=/dev/zero of=/data/big bs=1M count=64 2>&1; echo rc=$?');
    assert.match(r.out, /No space left on device/, r.out);
    assert.match(r.out, /rc=1/);
    const used = Number((await inside(user, 'du -k /data/big | cut -f1')).trim());
    assert.ok(used < (suffix === 'p' ? 32 : 16) * 1024, `the file stopped at the limit (${used} KiB)`);
  }
});

test('a changed limits.disk resizes a kept layer at the next start, and a size below what it holds is refused', {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-r');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 32M'));
  await inside(user, 'dd if=/dev/urandom of=/data/fill bs=1M count=20 2>/dev/null; echo kept > /data/note');
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 96M'));
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  const size = Number((await inside(user, 'cat /data/note >/dev/null && df -k / | tail -1')).trim().split(/\s+/)[1]);
  assert.ok(size > 64 * 1024, `grown to 96M (${size} KiB)`);
  assert.equal(statSync(file).size, 96 * 2 ** 20);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 16M'));
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  const refused = await cellshCommand(inst!, user, 'true');
  assert.notEqual(refused.status, 0);
  assert.match(refused.err, /your writable layer holds more than its new size of 16 MiB/);
  assert.ok(!refused.err.includes(' at '), 'one line, no stack');
  assert.equal(statSync(file).size, 96 * 2 ** 20, 'the layer was left as it was');
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 96M'));
  assert.equal(await inside(user, 'cat /data/note'), 'kept\n', 'and still holds what it held');
});

test('a kept layer made for an account the uid no longer names is refused, not handed to the new one', {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-o');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 32M'));
  await inside(user, 'echo secret > /data/note');
  must(inst!.admin, ['stop', user.name]);
  // The same uid under a new name: what a host that reuses uids does after userdel and useradd.
  const renamed = { ...user, name: `${user.name}n` };
  must('usermod', ['-l', renamed.name, user.name]);
  try {
    mustApply(inst!, policy(renamed, 'persist: true\nlimits:\n  disk: 32M'));
    const r = await cellshCommand(inst!, renamed, 'cat /data/note');
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.out, /secret/);
    assert.match(r.err, new RegExp(`was made for another account \\(${user.uid} ${user.name}\\)`));
  } finally {
    must('usermod', ['-l', user.name, renamed.name]);
  }
  assert.ok(existsSync(file), 'the old layer is left for the administrator');
});

test('a kept layer a loop device still holds is not mounted a second time', { skip }, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-b');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 32M'));
  await inside(user, 'echo one > /data/note');
  must(inst!.admin, ['stop', user.name]);
  // What a process of the old container that kept a file open would leave: the file bound.
  const loop = must('losetup', ['--find', '--show', file]).out.trim();
  t.after(() => run('losetup', ['-d', loop]));
  const r = await cellshCommand(inst!, user, 'cat /data/note');
  assert.notEqual(r.status, 0);
  assert.match(r.err, /your writable layer is still held by a process of your last container/);
  must('losetup', ['-d', loop]);
  assert.equal(await inside(user, 'cat /data/note'), 'one\n');
});

test("reset discards a user's kept layer only when confirmed, and never their home", { skip }, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-x');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 32M'));
  await inside(user, 'echo layer > /data/note; echo home > ~/note');
  const unconfirmed = admin('reset', user.name);
  assert.equal(unconfirmed.status, 64, unconfirmed.err);
  assert.match(
    unconfirmed.err,
    /reset would stop the container of .* and delete their writable layer .*nothing was changed/,
  );
  assert.match(unconfirmed.err, /--yes/);
  assert.equal(await inside(user, 'cat /data/note'), 'layer\n', 'no terminal, no --yes: nothing changed');
  const r = admin('reset', user.name, '--yes');
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /stopped the container of .* and deleted their writable layer/);
  assert.equal(existsSync(file), false);
  const fresh = await cellshCommand(inst!, user, 'cat /data/note; cat ~/note');
  assert.equal(fresh.out, 'home\n', 'a fresh layer, the same home');
  assert.match(must('tail', ['-5', inst!.logFile]).out, /"event":"layer-reset"/);
});

test("a layer file that is not root's own regular file is refused, and nothing it points at is touched", {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-s');
  const file = layerFile(t, user);
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 32M'));
  mkdirSync(inst!.layerDir, { recursive: true, mode: 0o700 });
  const target = join(inst!.root, 'not-a-layer');
  must('truncate', ['-s', '32M', target]);
  t.after(() => rmSync(target, { force: true }));
  symlinkSync(target, file);
  const r = await cellshCommand(inst!, user, 'true');
  assert.notEqual(r.status, 0);
  assert.match(r.err, /can't open your writable layer|is not root's own file/);
  assert.equal(run('blkid', ['-p', target]).out.trim(), '', 'no file system was made through the link');
  rmSync(file);
  assert.equal(await inside(user, 'echo ok'), 'ok\n', 'with the link gone, a layer of its own');
});

test('a host disk without room for a kept layer refuses the start, and no half-made layer stays', {
  skip,
}, async (t) => {
  layerImage(t);
  const user = createUser(t, inst!, 'lay-f');
  layerFile(t, user);
  mkdirSync(inst!.layerDir, { recursive: true, mode: 0o700 });
  // A small file system in place of the host's disk, and a limit past its room.
  must('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', inst!.layerDir]);
  t.after(() => {
    run(inst!.helper, ['stop', String(user.uid)]);
    run('umount', [inst!.layerDir]);
  });
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 64M'));
  const r = await cellshCommand(inst!, user, 'true');
  assert.notEqual(r.status, 0);
  assert.match(r.err, /the host has no room for your writable layer of 64 MiB/);
  assert.deepEqual(
    must('ls', ['-A', inst!.layerDir])
      .out.trim()
      .split('\n')
      .filter((n) => n.startsWith(String(user.uid)) && !n.endsWith('.new')),
    [],
    'no layer was kept',
  );
  mustApply(inst!, policy(user, 'persist: true\nlimits:\n  disk: 16M'));
  assert.equal(await inside(user, 'echo fits'), 'fits\n', 'a layer the disk has room for is made');
});

test("a kept layer shows the image's /etc/passwd and /etc/group as the image has them now", { skip }, async (t) => {
  const dir = mkdtempSync(join(inst!.root, 'image-layer-etc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const importWith = (account: string): void => {
    const root = busyboxRoot(join(dir, account));
    writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\n${account}:x:101:101::/:/bin/false\n`);
    writeFileSync(join(root, 'etc/group'), `root:x:0:\n${account}:x:101:\n`);
    writeLayout(join(dir, `${account}-layout`), [{ tag: 'e', layers: [tarOf(root)], env: ['PATH=/bin'] }]);
    const r = admin('image', 'import', join(dir, `${account}-layout`), '--name', 't-layer-etc');
    assert.equal(r.status, 0, r.err);
  };
  importWith('svcone');
  t.after(() => {
    mustApply(inst!);
    admin('image', 'rm', 't-layer-etc');
  });
  const user = createUser(t, inst!, 'lay-e');
  layerFile(t, user);
  const yaml = `users:\n  ${user.name}:\n    image: t-layer-etc\n    shell: /bin/sh\n    persist: true\n    limits: {disk: 32M}\n`;
  mustApply(inst!, yaml);
  assert.match(await inside(user, 'cat /etc/passwd /etc/group'), /^svcone:x:101:/m);
  importWith('svctwo');
  mustApply(inst!, yaml);
  must(inst!.admin, ['restart', user.name, '--reason', 'test']);
  const etc = await inside(user, 'cat /etc/passwd /etc/group');
  assert.match(etc, /^svctwo:x:101:101:/m, "the updated image's account");
  assert.match(etc, /^svctwo:x:101:$/m);
  assert.doesNotMatch(etc, /svcone/, "the old image's accounts are gone");
  assert.match(etc, new RegExp(`^${user.name}:x:${user.uid}:`, 'm'), 'and the user is in it');
});
