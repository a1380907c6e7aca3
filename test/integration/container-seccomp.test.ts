// The seccomp filter as a user's container gets it from the policy: the init
// and every session run under it; `strict`, `unconfined` and `nested_userns`
// change what the user's programs may call; and a policy asking for a stricter
// filter than some of a container's processes got restarts the container at
// the next login. (What each profile refuses, call by call, is
// test/unit/helper/seccomp.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { logRecords, mustApply, skipReason, testInstall } from '../helpers/install.js';
import { asUser, containerRecord, createUser, type TestUser } from '../helpers/users.js';
import { cellshCommand } from '../helpers/session.js';
import { packageRoot } from '../helpers/fixtures.js';

const inst = testInstall();

/** Lines of /proc/PID/status with the seccomp mode and how many filters. */
const SECCOMP_LINES = /^Seccomp(_filters)?:/;
/** What this host gives its own processes before cellsh adds anything: no filter
 * on a plain host; inside a container (systemd-nspawn, docker) that runtime's
 * filters, which every process below it inherits. */
const HOST_SECCOMP = readFileSync('/proc/self/status', 'utf8')
  .split('\n')
  .filter((l) => SECCOMP_LINES.test(l));
const HOST_FILTERED = !HOST_SECCOMP.includes('Seccomp:\t0');
const filterCount = (lines: readonly string[]): number =>
  Number(/Seccomp_filters:\s*(\d+)/.exec(lines.join('\n'))?.[1] ?? 0);

/** The probe, compiled once (static); each test copies it into its user's home, which the container sees. */
function compileProbe(): string | false {
  if (process.arch !== 'x64') return false;
  const dir = mkdtempSync('/tmp/cellsh-t-probe-');
  chmodSync(dir, 0o755);
  const probe = join(dir, 'syscall-probe');
  const cc = spawnSync(
    'gcc',
    ['-std=gnu11', '-O1', '-static', '-o', probe, join(packageRoot(), 'test', 'harness', 'syscall-probe.c')],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) throw new Error(`can't compile the probe:\n${cc.stderr}`);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return probe;
}

const probeBuilt = skipReason(inst) ? false : compileProbe();
const skip = skipReason(inst) || (!probeBuilt && 'the probe knows the x86-64 system-call ABIs only');

/** The probe's verdicts inside the user's container (copied into their home), or
 * with host, run as the user on the host, outside cellsh. */
async function verdicts(user: TestUser, args: readonly string[] = [], host = false): Promise<Map<string, string>> {
  spawnSync('install', [
    '-o',
    String(user.uid),
    '-g',
    String(user.gid),
    '-m',
    '0755',
    probeBuilt as string,
    `${user.home}/syscall-probe`,
  ]);
  const r = host
    ? await asUser(user, `${user.home}/syscall-probe`, args)
    : await cellshCommand(inst!, user, `~/syscall-probe ${args.join(' ')}`);
  assert.equal(r.status, 0, r.err);
  return new Map(
    r.out
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string])
      .map(([c, v]) => [c, v]),
  );
}

/** The cases of the given families. */
function family(v: Map<string, string>, ...names: string[]): Array<[string, string]> {
  return [...v.entries()].filter(([c]) => names.some((n) => c.startsWith(`${n}/`)));
}

const DEFAULT_FAMILIES = [
  'keyring',
  'bpf-perf',
  'userfaultfd',
  'kernel-load',
  'handles',
  'io_uring',
  'host-switches',
  'clock',
  'ioport',
  'host-wide',
  'tty',
  'personality',
  'userns',
  'setns',
  'mount',
  'sockets',
];

test("the init and every session run under the policy's filter: default refuses every family the runtimes refuse", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'sc-default');
  mustApply(inst!);
  const status = await cellshCommand(inst!, user, 'grep ^Seccomp: /proc/self/status /proc/1/status');
  assert.deepEqual(status.out.trim().split('\n'), ['/proc/self/status:Seccomp:\t2', '/proc/1/status:Seccomp:\t2']);
  // Mode 2 holds under a container runtime's filter alone: cellsh's is one more.
  const counts = await cellshCommand(inst!, user, 'grep -h ^Seccomp_filters: /proc/self/status /proc/1/status');
  for (const line of counts.out.trim().split('\n').filter(Boolean)) {
    assert.ok(
      filterCount([line]) > filterCount(HOST_SECCOMP),
      `${line}: more filters than the host's own ${filterCount(HOST_SECCOMP)}`,
    );
  }
  const v = await verdicts(user);
  for (const [name, verdict] of family(v, ...DEFAULT_FAMILIES)) assert.equal(verdict, 'refused', name);
  assert.equal(v.get('abi/x32-getpid'), 'killed');
  assert.equal(v.get('ptrace/ptrace'), 'allowed', 'default lets debuggers work');
});

test("unconfined runs the container's processes without a filter (the control for the test above)", {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'sc-unconf');
  mustApply(inst!, 'defaults:\n  seccomp: unconfined\n');
  const status = await cellshCommand(inst!, user, 'grep -E "^Seccomp(_filters)?:" /proc/self/status /proc/1/status');
  assert.deepEqual(
    status.out.trim().split('\n'),
    ['/proc/self/status', '/proc/1/status'].flatMap((f) => HOST_SECCOMP.map((l) => `${f}:${l}`)),
    'no filter beyond the ones this host puts on every process',
  );
  const v = await verdicts(user);
  // Where the host filters system calls itself, the container meets that filter
  // and no other: each call fares as it does for the user outside cellsh.
  const host = HOST_FILTERED ? await verdicts(user, [], true) : undefined;
  for (const [name, verdict] of family(v, 'keyring', 'userns', 'mount', 'tty'))
    assert.equal(verdict, host?.get(name) ?? 'allowed', name);
  const hostRefused = [...(host ?? [])].filter(([, verdict]) => verdict !== 'allowed').map(([name]) => name);
  if (hostRefused.length > 0)
    t.diagnostic(`this host's own filter refuses, outside cellsh too: ${hostRefused.join(', ')}`);
});

test('strict also refuses ptrace and reaching into other processes', { skip }, async (t) => {
  const user = createUser(t, inst!, 'sc-strict');
  mustApply(inst!, 'defaults:\n  seccomp: strict\n');
  const v = await verdicts(user);
  for (const [name, verdict] of family(v, 'ptrace', ...DEFAULT_FAMILIES)) assert.equal(verdict, 'refused', name);
});

test('nested_userns lets the user mount in a user namespace of their own, and only there', { skip }, async (t) => {
  const user = createUser(t, inst!, 'sc-nested');
  const nested =
    'unshare -Urm sh -c "mount -t tmpfs scratch /tmp && echo mounted-inside"; grep -c scratch /proc/self/mountinfo';
  // The control, on the host: some hosts refuse unprivileged user namespaces to
  // everyone (user.max_user_namespaces=0, AppArmor's restriction on Ubuntu 24.04).
  const host = await asUser(user, 'unshare', ['-Urm', 'true']);
  if (host.status !== 0)
    return t.skip(`this host refuses its users a user namespace even without cellsh (${host.err.trim()})`);
  mustApply(inst!);
  const refused = await cellshCommand(inst!, user, nested);
  assert.doesNotMatch(refused.out, /mounted-inside/, 'no nested user namespace under default');
  mustApply(inst!, 'defaults:\n  nested_userns: true\n');
  const allowed = await cellshCommand(inst!, user, nested);
  assert.deepEqual(
    allowed.out.trim().split('\n'),
    ['mounted-inside', '0'],
    `a rootless mount, invisible outside its namespace: ${allowed.err}`,
  );
  const mount = await cellshCommand(inst!, user, 'mount -t tmpfs x /tmp 2>&1; echo $?');
  assert.notEqual(mount.out.trim().split('\n').at(-1), '0', "and no mount in the container's own namespace");
});

test('a stricter filter restarts, at the next login, a container whose processes got a weaker one; a looser one needs no restart', {
  skip,
}, async (t) => {
  const user = createUser(t, inst!, 'sc-restart');
  mustApply(inst!, 'defaults:\n  seccomp: unconfined\n  restart: manual\n');
  assert.equal((await cellshCommand(inst!, user, 'nohup sleep 300 >/dev/null 2>&1 &')).status, 0);
  const first = containerRecord(inst!, user)!['id'];
  mustApply(inst!, 'defaults:\n  restart: manual\n');
  const r = await cellshCommand(inst!, user, 'grep ^Seccomp: /proc/self/status; pgrep -c sleep');
  assert.deepEqual(
    r.out.trim().split('\n'),
    ['Seccomp:\t2', '0'],
    'restarted (the unconfined sleep is gone) even with restart: manual',
  );
  assert.notEqual(containerRecord(inst!, user)!['id'], first);
  const restart = logRecords(inst!)
    .filter((l) => l['uid'] === user.uid && l['msg'] === 'container-restart')
    .at(-1);
  assert.match(String(restart?.['reason']), /seccomp filter/);
  // Looser: the running container serves the next login, whose session is unconfined.
  assert.equal((await cellshCommand(inst!, user, 'nohup sleep 300 >/dev/null 2>&1 &')).status, 0);
  const second = containerRecord(inst!, user)!['id'];
  mustApply(inst!, 'defaults:\n  seccomp: unconfined\n  restart: manual\n');
  const looser = await cellshCommand(inst!, user, 'grep -E "^Seccomp(_filters)?:" /proc/self/status; pgrep -c sleep');
  assert.deepEqual(looser.out.trim().split('\n'), [...HOST_SECCOMP, '1'], 'unconfined, in the same container');
  assert.equal(containerRecord(inst!, user)!['id'], second);
  // And back to default: that container now holds an unconfined process, so it restarts again.
  mustApply(inst!, 'defaults:\n  restart: manual\n');
  assert.equal((await cellshCommand(inst!, user, 'pgrep -c sleep')).out.trim(), '0');
});
