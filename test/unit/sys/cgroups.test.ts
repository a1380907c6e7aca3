// The containers' cgroups from the admin's side: which hierarchy this host runs
// (checked against the mount table), what a container uses against its limits,
// read from folders laid out as the kernel lays them out (v1 and v2, with the
// kernel's words for "no limit"), and, as root, from real cgroups made for the
// test with limits set and a process inside.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  availableControllers,
  cgroupHost,
  containerUsage,
  V1_CONTROLLERS,
  type CgroupHost,
} from '../../../src/sys/cgroups.js';
import { waitFor } from '../../helpers/system.js';

const UID = 4244;
const ROOT = '/sys/fs/cgroup';

/** One line of /proc/self/mountinfo: where, which file system, its super options. */
interface Mount {
  readonly point: string;
  readonly type: string;
  readonly options: readonly string[];
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [before, after] = line.split(' - ');
      const [type, , options] = after!.split(' ');
      return { point: before!.split(' ')[4]!, type: type!, options: options!.split(',') };
    });
}

/** Files with the given contents in dir (made with its parents). */
function files(dir: string, contents: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text);
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-cg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A v1 host whose hierarchies are folders under dir. */
function v1Under(dir: string): CgroupHost {
  return { version: 'v1', bases: Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(dir, c, 'cellsh')])) };
}

test("the hierarchy is the one mounted on /sys/fs/cgroup, with the helper's folders for the containers", () => {
  const mounted = mounts()
    .filter((m) => m.point === ROOT)
    .at(-1);
  const host = cgroupHost('cellsh-x');
  if (mounted?.type === 'cgroup2') {
    assert.equal(host.version, 'v2');
    if (host.version !== 'v2') return;
    assert.equal(host.systemd, existsSync('/run/systemd/system'));
    assert.equal(
      host.base,
      host.systemd ? '/sys/fs/cgroup/cellsh-x.slice/cellsh-x.service' : '/sys/fs/cgroup/cellsh-x',
    );
  } else {
    assert.deepEqual(host, {
      version: 'v1',
      bases: {
        memory: '/sys/fs/cgroup/memory/cellsh-x',
        pids: '/sys/fs/cgroup/pids/cellsh-x',
        cpu: '/sys/fs/cgroup/cpu/cellsh-x',
        blkio: '/sys/fs/cgroup/blkio/cellsh-x',
      },
    });
  }
});

test('the controllers offered are the ones this host has: mounted v1 hierarchies, or those the v2 base may enable', (t) => {
  const host = cgroupHost('cellsh-t-none');
  if (host.version === 'v1') {
    const v1 = mounts().filter((m) => m.type === 'cgroup');
    const mounted = V1_CONTROLLERS.filter(
      (c) =>
        existsSync(join(ROOT, c)) && v1.some((m) => m.options.includes(c) && m.point === realpathSync(join(ROOT, c))),
    );
    assert.deepEqual(availableControllers(host), mounted);
    t.diagnostic(`v1: ${mounted.join(' ') || 'none'}`);
    return;
  }
  // A base not made yet: under systemd its unit is missing, so nothing; else what the root offers.
  const rootOffers = readFileSync(join(ROOT, 'cgroup.controllers'), 'utf8')
    .split(/\s+/)
    .filter((c) => c !== '');
  assert.deepEqual(availableControllers(host), host.systemd ? [] : rootOffers);
});

test('v2: what a base offers is its cgroup.controllers; a systemd base not made yet offers nothing', (t) => {
  const dir = tempDir(t);
  files(join(dir, 'cellsh'), { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n' });
  assert.deepEqual(availableControllers({ version: 'v2', systemd: true, base: join(dir, 'cellsh') }), [
    'cpuset',
    'cpu',
    'io',
    'memory',
    'hugetlb',
    'pids',
    'rdma',
    'misc',
  ]);
  files(join(dir, 'empty'), { 'cgroup.controllers': '\n' });
  assert.deepEqual(availableControllers({ version: 'v2', systemd: true, base: join(dir, 'empty') }), []);
  assert.deepEqual(availableControllers({ version: 'v2', systemd: true, base: join(dir, 'not-made') }), []);
});

test("v2: a container's usage, limits and counts, as the kernel writes them", (t) => {
  const base = join(tempDir(t), 'cellsh');
  const host: CgroupHost = { version: 'v2', systemd: false, base };
  assert.equal(containerUsage(host, UID), undefined, 'no cgroup yet: no usage');
  files(join(base, `u${UID}`), {
    'memory.current': '52428800\n',
    'memory.max': '536870912\n',
    'memory.events': 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n',
    'pids.current': '7\n',
    'pids.max': '100\n',
    'pids.events': 'max 5\n',
    'cpu.stat':
      'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 10\nnr_throttled 1\nthrottled_usec 99\n',
    'cpu.max': '75000 50000\n',
  });
  assert.deepEqual(containerUsage(host, UID), {
    memory: { used: 52_428_800, limit: 536_870_912 },
    pids: { used: 7, limit: 100 },
    cpu: { usec: 1_234_567, limit: 1500 },
    oomKills: 2,
    pidsMax: 5,
  });
  // The kernel's word for no limit.
  files(join(base, `u${UID}`), { 'memory.max': 'max\n', 'pids.max': 'max\n', 'cpu.max': 'max 100000\n' });
  const unlimited = containerUsage(host, UID)!;
  assert.deepEqual(
    [unlimited.memory.limit, unlimited.pids.limit, unlimited.cpu.limit],
    [undefined, undefined, undefined],
  );
});

test('v2: a container whose controllers are not enabled has its usage unknown and no counts', (t) => {
  const base = join(tempDir(t), 'cellsh');
  files(join(base, `u${UID}`), { 'cgroup.procs': '' });
  assert.deepEqual(containerUsage({ version: 'v2', systemd: false, base }, UID), {
    memory: { used: undefined, limit: undefined },
    pids: { used: undefined, limit: undefined },
    cpu: { usec: undefined, limit: undefined },
    oomKills: 0,
    pidsMax: 0,
  });
});

test("v1: a container's usage, limits and counts, each from its own hierarchy", (t) => {
  const dir = tempDir(t);
  const host = v1Under(dir);
  files(join(dir, 'memory', 'cellsh', `u${UID}`), {
    'memory.usage_in_bytes': '52428800\n',
    'memory.limit_in_bytes': '536870912\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  });
  assert.equal(containerUsage(host, UID), undefined, 'no pids cgroup (every v1 container has one): no usage');
  files(join(dir, 'pids', 'cellsh', `u${UID}`), {
    'pids.current': '7\n',
    'pids.max': '100\n',
    'pids.events': 'max 5\n',
  });
  files(join(dir, 'cpu', 'cellsh', `u${UID}`), {
    'cpu.cfs_quota_us': '50000\n',
    'cpu.cfs_period_us': '100000\n',
    'cpuacct.usage': '1234567890\n',
  });
  assert.deepEqual(containerUsage(host, UID), {
    memory: { used: 52_428_800, limit: 536_870_912 },
    pids: { used: 7, limit: 100 },
    cpu: { usec: 1_234_568, limit: 500 },
    oomKills: 2,
    pidsMax: 5,
  });
  // v1's words for no limit: the largest page-rounded size, "max", and a quota of -1.
  files(join(dir, 'memory', 'cellsh', `u${UID}`), { 'memory.limit_in_bytes': '9223372036854771712\n' });
  files(join(dir, 'pids', 'cellsh', `u${UID}`), { 'pids.max': 'max\n' });
  files(join(dir, 'cpu', 'cellsh', `u${UID}`), { 'cpu.cfs_quota_us': '-1\n' });
  const unlimited = containerUsage(host, UID)!;
  assert.deepEqual(
    [unlimited.memory.limit, unlimited.pids.limit, unlimited.cpu.limit],
    [undefined, undefined, undefined],
  );
});

test('v1: "no memory limit" is no limit whatever the page size (4, 16 and 64 KiB pages)', (t) => {
  const dir = tempDir(t);
  const host = v1Under(dir);
  files(join(dir, 'pids', 'cellsh', `u${UID}`), { 'pids.current': '1\n' });
  // The kernel writes PAGE_COUNTER_MAX pages: LONG_MAX rounded down to a page.
  for (const [page, text] of [
    [4, '9223372036854771712'],
    [16, '9223372036854759424'],
    [64, '9223372036854710272'],
  ] as const) {
    files(join(dir, 'memory', 'cellsh', `u${UID}`), { 'memory.limit_in_bytes': `${text}\n` });
    assert.equal(containerUsage(host, UID)!.memory.limit, undefined, `${page} KiB pages`);
  }
  files(join(dir, 'memory', 'cellsh', `u${UID}`), { 'memory.limit_in_bytes': `${2 ** 50}\n` });
  assert.equal(containerUsage(host, UID)!.memory.limit, 2 ** 50, 'a limit of 1 PiB is a limit');
});

/** Real cgroup folders made for the test, and a process in them that waits for a
 * line on stdin, then tries to start one more process and sleeps. After the
 * test the process is ended and reaped, then the folders removed. */
function realCgroups(t: TestContext): { mk(base: string, leaf: string): string; pid: number; cue(): void } {
  const made: string[] = [];
  const child = spawn('/bin/sh', ['-c', 'read x; /bin/true; exec sleep 30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    for (const d of made.reverse()) rmdirSync(d);
  });
  return {
    mk(base, leaf) {
      for (const d of [base, join(base, leaf)]) {
        mkdirSync(d);
        made.push(d);
      }
      return join(base, leaf);
    },
    pid: child.pid!,
    cue: () => child.stdin!.write('\n'),
  };
}

const V1_REAL =
  process.getuid?.() !== 0
    ? 'needs root: it makes cgroups'
    : cgroupHost('x').version !== 'v1'
      ? 'this host runs cgroup v2: the v1 hierarchies are not mounted'
      : !existsSync(join(ROOT, 'pids', 'cgroup.procs'))
        ? 'the v1 pids hierarchy is not mounted'
        : false;

test('v1, real cgroups: the limits set, the process inside and a fork the pids limit refused are what is read', {
  skip: V1_REAL,
  timeout: 20_000,
}, async (t) => {
  const name = `cellsh-t-cg-${process.pid}`;
  const host = cgroupHost(name);
  if (host.version !== 'v1') return;
  const have = availableControllers(host);
  const leaf = (c: string): string => join(host.bases[c]!, `u${UID}`);
  const proc = realCgroups(t);
  for (const c of have) {
    proc.mk(host.bases[c]!, `u${UID}`);
    writeFileSync(join(leaf(c), 'cgroup.procs'), String(proc.pid));
  }
  writeFileSync(join(leaf('pids'), 'pids.max'), '1');
  if (have.includes('memory')) writeFileSync(join(leaf('memory'), 'memory.limit_in_bytes'), String(64 << 20));
  if (have.includes('cpu')) writeFileSync(join(leaf('cpu'), 'cpu.cfs_quota_us'), '50000');
  const before = containerUsage(host, UID);
  assert.ok(before, 'the container has a pids cgroup');
  assert.deepEqual(before.pids, { used: 1, limit: 1 });
  assert.equal(before.pidsMax, 0);
  assert.equal(before.oomKills, 0);
  if (have.includes('memory')) {
    assert.equal(before.memory.limit, 64 << 20);
    assert.equal(typeof before.memory.used, 'number');
  }
  if (have.includes('cpu')) {
    const period = Number(readFileSync(join(leaf('cpu'), 'cpu.cfs_period_us'), 'utf8'));
    assert.equal(before.cpu.limit, Math.round((50_000 * 1000) / period));
    // cpuacct is read from the cpu hierarchy: known where the two are mounted together.
    assert.equal(before.cpu.usec === undefined, !existsSync(join(leaf('cpu'), 'cpuacct.usage')));
  }
  proc.cue();
  const after = await waitFor(
    'the refused fork to be counted',
    () => {
      const u = containerUsage(host, UID);
      return u && u.pidsMax > 0 ? u : undefined;
    },
    5_000,
  );
  assert.equal(after.pidsMax, 1);
});

/** A cgroup2 hierarchy to make cgroups in: /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified on a hybrid one. */
function cgroup2Root(): string | undefined {
  return mounts().find((m) => m.type === 'cgroup2' && (m.point === ROOT || m.point === join(ROOT, 'unified')))?.point;
}

const V2_REAL =
  process.getuid?.() !== 0
    ? 'needs root: it makes cgroups'
    : cgroup2Root() === undefined
      ? 'no cgroup2 hierarchy is mounted here'
      : false;

test('v2, real cgroups: the limits set, the process inside and a fork the pids limit refused are what is read', {
  skip: V2_REAL,
  timeout: 20_000,
}, async (t) => {
  const root = cgroup2Root()!;
  const host = { version: 'v2' as const, systemd: false, base: join(root, `cellsh-t-cg-${process.pid}`) };
  const proc = realCgroups(t);
  const dir = proc.mk(host.base, `u${UID}`);
  // Enable in the base what the hierarchy offers of cellsh's controllers, as the helper does.
  const offered = availableControllers(host).filter((c) => ['memory', 'pids', 'cpu'].includes(c));
  if (offered.length > 0)
    writeFileSync(join(host.base, 'cgroup.subtree_control'), offered.map((c) => `+${c}`).join(' '));
  writeFileSync(join(dir, 'cgroup.procs'), String(proc.pid));
  if (offered.includes('pids')) writeFileSync(join(dir, 'pids.max'), '1');
  if (offered.includes('memory')) writeFileSync(join(dir, 'memory.max'), String(64 << 20));
  if (offered.includes('cpu')) writeFileSync(join(dir, 'cpu.max'), '50000 100000');
  t.diagnostic(`controllers in ${root}: ${offered.join(' ') || 'none of memory, pids, cpu'}`);
  const usage = containerUsage(host, UID);
  assert.ok(usage, 'the container has a cgroup');
  assert.equal(typeof usage.cpu.usec, 'number', 'cpu.stat is in every cgroup2 folder');
  assert.deepEqual(
    usage.pids,
    offered.includes('pids') ? { used: 1, limit: 1 } : { used: undefined, limit: undefined },
  );
  assert.equal(usage.memory.limit, offered.includes('memory') ? 64 << 20 : undefined);
  assert.equal(usage.cpu.limit, offered.includes('cpu') ? 500 : undefined);
  assert.equal(usage.oomKills, 0);
  if (!offered.includes('pids')) return;
  proc.cue();
  const after = await waitFor(
    'the refused fork to be counted',
    () => {
      const u = containerUsage(host, UID);
      return u && u.pidsMax > 0 ? u : undefined;
    },
    5_000,
  );
  assert.equal(after.pidsMax, 1);
});
