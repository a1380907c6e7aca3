// The container — user namespace keeping the host uid/gid, pid
// namespace with a reaping init, the built-in host image (read-only /usr,
// filtered /etc naming only root, nobody and the user), home at its host path,
// private /tmp, fresh /proc, read-only /sys, minimal /dev with its own devpts,
// /run with the user's runtime folder, /run/lock and /run/screen,
// own uts/ipc/cgroup namespaces, network none or host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { mustApply, skipReason, testInstall } from '../helpers/install.js';
import { createUser } from '../helpers/users.js';
import { run } from '../helpers/system.js';
import { cellshCommand } from '../helpers/session.js';

const inst = testInstall();
const skip = skipReason(inst);

/** Run a command inside and return its stdout, failing on a non-zero status. */
async function inside(user: Parameters<typeof cellshCommand>[1], command: string): Promise<string> {
  const r = await cellshCommand(inst!, user, command);
  assert.equal(r.status, 0, `${command}: ${r.err}`);
  return r.out;
}

test('the user keeps their uid and gid inside, and files made in ~ are theirs on the host', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p4-ids');
  mustApply(inst!);
  assert.equal(await inside(user, 'id -u; id -g; id -un'), `${user.uid}\n${user.gid}\n${user.name}\n`);
  const map = await inside(user, 'cat /proc/self/uid_map /proc/self/gid_map');
  assert.deepEqual(
    map
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)),
    [
      [`${user.uid}`, `${user.uid}`, '1'],
      [`${user.gid}`, `${user.gid}`, '1'],
    ],
  );
  await inside(user, 'echo hi > ~/made-inside');
  const st = statSync(`${user.home}/made-inside`);
  assert.deepEqual([st.uid, st.gid], [user.uid, user.gid]);
  assert.equal(
    await inside(user, 'pwd; stat -c %i .'),
    `${user.home}\n${statSync(user.home).ino}\n`,
    'the home is bound at its host path',
  );
});

test('pid 1 is the tiny init, and it reaps orphans', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p4-init');
  mustApply(inst!);
  assert.equal(
    (await inside(user, 'cat /proc/1/comm; tr -s "\\0" " " < /proc/1/cmdline')).trimEnd(),
    'cellsh-init\ncellsh-init',
  );
  // Orphans land on pid 1 when their parent exits; a non-reaping init leaves them as zombies.
  await inside(user, 'for i in 1 2 3 4 5; do (sleep 0.2 &) ; done');
  await new Promise((r) => setTimeout(r, 1000));
  const states = await inside(user, 'ps -e -o stat=,comm=');
  assert.doesNotMatch(states, /^Z/m, states);
});

test('the host image: /usr read-only, /etc filtered to root, nobody and the user', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p4-image');
  mustApply(inst!);
  const r = await cellshCommand(inst!, user, 'touch /usr/cellsh-t-x');
  assert.match(r.err, /Read-only file system/);
  const passwd = (await inside(user, 'cat /etc/passwd'))
    .trim()
    .split('\n')
    .map((l) => l.split(':')[0]);
  assert.deepEqual(passwd, ['root', 'nobody', user.name]);
  const group = (await inside(user, 'cat /etc/group'))
    .trim()
    .split('\n')
    .map((l) => l.split(':')[0]);
  assert.deepEqual(group, ['root', 'nogroup', user.name]);
  const hidden = await inside(
    user,
    'for f in shadow gshadow subuid subgid sudoers passwd- cellsh; do test -e /etc/$f && echo "$f visible"; done; true',
  );
  assert.equal(hidden, '');
  assert.equal(
    await inside(user, 'cat /etc/os-release | head -1'),
    readFileSync('/etc/os-release', 'utf8').split('\n')[0] + '\n',
    "the rest of /etc is the host's",
  );
  const etcWrite = await cellshCommand(inst!, user, 'echo x > /etc/motd');
  assert.notEqual(etcWrite.status, 0);
  assert.equal(
    await inside(user, 'readlink /bin; ls /usr/bin/bash'),
    `${run('readlink', ['/bin']).out.trim()}\n/usr/bin/bash\n`,
  );
});

test('private /tmp, fresh /proc, read-only /sys, minimal /dev with its own devpts', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p4-fs');
  mustApply(inst!);
  const marker = `/tmp/cellsh-t-host-marker-${process.pid}`;
  writeFileSync(marker, 'host');
  t.after(() => rmSync(marker, { force: true }));
  assert.equal(
    await inside(user, `test -e ${marker} && echo visible; echo inside > /tmp/cellsh-t-inside; ls /tmp`),
    'cellsh-t-inside\n',
  );
  assert.throws(() => statSync('/tmp/cellsh-t-inside'), "a file in the container's /tmp is not on the host");
  const pids = (await inside(user, 'ls /proc | grep -E "^[0-9]+$"')).trim().split('\n').map(Number);
  assert.ok(pids.includes(1) && pids.length < 10, `only the container's processes: ${pids}`);
  assert.match((await cellshCommand(inst!, user, 'touch /sys/kernel/x; mkdir /sys/x')).err, /Read-only file system/);
  assert.equal(
    await inside(user, 'ls /dev | tr "\\n" " "'),
    'fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ',
  );
  const mounts = await inside(user, 'cat /proc/self/mountinfo');
  assert.match(mounts, / \/dev\/pts .* - devpts devpts rw,.*ptmxmode=666/);
  assert.match(mounts, / \/proc .* - proc /);
  assert.match(mounts, / \/sys ro,/);
  assert.doesNotMatch(mounts, new RegExp(` ${inst!.stateDir} `), "no host path of cellsh's own is visible");
});

test("/run as on a Debian host: the user's own runtime folder as XDG_RUNTIME_DIR, /run/lock, and /run/screen where screen keeps its sessions", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'p4-run');
  mustApply(inst!);
  const runtime = `/run/user/${user.uid}`;
  const out = await inside(
    user,
    'echo "$XDG_RUNTIME_DIR"; stat -c "%a %u %n" "$XDG_RUNTIME_DIR" /run/lock /run/screen; ' +
      'findmnt -no FSTYPE,OPTIONS --target "$XDG_RUNTIME_DIR"; touch /run/lock/mine "$XDG_RUNTIME_DIR/mine" && echo written',
  );
  const [dir, own, lock, screenDir, mount, written] = out.trim().split('\n');
  assert.equal(dir, runtime);
  assert.equal(own, `700 ${user.uid} ${runtime}`, "the runtime folder is the user's alone");
  assert.match(lock!, /^1777 \d+ \/run\/lock$/);
  assert.match(screenDir!, /^1777 \d+ \/run\/screen$/);
  assert.match(mount!, /^tmpfs .*nosuid,nodev/, 'the runtime folder is a tmpfs of its own');
  assert.equal(written, 'written');
  const screen = await inside(
    user,
    'screen -dmS cellsh-t sleep 30 && sleep 0.5 && screen -ls; screen -S cellsh-t -X quit',
  );
  assert.match(screen, /\.cellsh-t\s.*\(Detached\)/, `screen runs a detached session: ${screen}`);
  assert.match(screen, new RegExp(`/run/screen/S-${user.name}`));
});

test('own uts (hostname from policy), ipc and cgroup namespaces', { skip }, async (t) => {
  const user = createUser(t, inst!, 'p4-uts');
  mustApply(inst!, `defaults:\n  hostname: "{user}-box"\n`);
  assert.equal(await inside(user, 'hostname; cat /etc/hostname'), `${user.name}-box\n${user.name}-box\n`);
  for (const ns of ['uts', 'ipc', 'cgroup', 'mnt', 'pid', 'user']) {
    const host = run('readlink', [`/proc/self/ns/${ns}`]).out.trim();
    assert.notEqual(
      (await inside(user, `readlink /proc/self/ns/${ns}`)).trim(),
      host,
      `${ns} namespace is the container's own`,
    );
  }
  assert.equal(
    await inside(user, 'cat /proc/self/cgroup | cut -d: -f3 | sort -u'),
    '/\n',
    "the cgroup namespace hides the host's cgroup paths",
  );
});

test("network none gives only loopback; network host shares the host's", { skip }, async (t) => {
  const none = createUser(t, inst!, 'p4-netnone');
  const host = createUser(t, inst!, 'p4-nethost');
  mustApply(inst!, `defaults:\n  network: none\nusers:\n  ${host.name}:\n    network: host\n`);
  const ifaces = (text: string): string[] =>
    text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter(Boolean)
      .sort();
  assert.deepEqual(ifaces(await inside(none, 'cat /proc/net/dev')), ['lo']);
  // Loopback is up: a closed port refuses the connection (it would be "unreachable" if down).
  assert.match((await cellshCommand(inst!, none, 'exec 3<>/dev/tcp/127.0.0.1/9')).err, /Connection refused/);
  const hostIfaces = ifaces(readFileSync('/proc/net/dev', 'utf8'));
  assert.deepEqual(ifaces(await inside(host, 'cat /proc/net/dev')), hostIfaces);
  assert.equal(
    (await inside(host, 'readlink /proc/self/ns/net')).trim(),
    run('readlink', ['/proc/self/ns/net']).out.trim(),
  );
});
