// Host memory: per idle container (against sleeping unshare containers) and per
// interactive session on the host side (against `script` sessions).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupHost, containerUsage } from '../../src/sys/cgroups.js';
import type { Bench } from '../context.js';
import { comm, descendants, inOtherPidNs, pss, rss, sampleHost, type HostMemory } from '../setup/memory.js';
import { fmtBytes, type Table } from '../report.js';
import { hold, timeRuns, type Command } from '../timer.js';

/** One measured kind of thing, per instance. */
export interface MemoryRow {
  readonly what: string;
  readonly count: number;
  /** Change of the host's used memory (no page cache) divided by count. */
  readonly usedDelta: number;
  readonly slabDelta: number;
  readonly pss: number;
  readonly rss: number;
  /** memory cgroup usage (containers only). */
  readonly memcg: number | undefined;
  readonly processes: string;
}

/** Let the host finish freeing what ended before (RCU, per-cpu caches). */
function settle(): void {
  spawnSync('/bin/sleep', ['2']);
}

/** What n instances add, against the mean of the host without them before and after. */
function perInstance(
  before: HostMemory,
  during: HostMemory,
  after: HostMemory,
  n: number,
): { usedDelta: number; slabDelta: number } {
  const base = (k: keyof HostMemory): number => (before[k] + after[k]) / 2;
  return {
    usedDelta: (during.used - base('used')) / n,
    slabDelta: (during.slabUnreclaimable - base('slabUnreclaimable')) / n,
  };
}

/** Every pid in a cgroup folder and below. */
function cgroupPids(dir: string): number[] {
  const out: number[] = [];
  try {
    out.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) out.push(...cgroupPids(join(dir, e.name)));
  } catch {
    // gone
  }
  return out;
}

function names(pids: readonly number[], per: number): string {
  const counts = new Map<string, number>();
  for (const p of pids) counts.set(comm(p), (counts.get(comm(p)) ?? 0) + 1);
  return [...counts].map(([n, c]) => `${n}${c / per === 1 ? '' : ` ×${+(c / per).toFixed(1)}`}`).join(', ');
}

function idleCellsh(bench: Bench): MemoryRow {
  const { inst } = bench;
  const users = bench.users.pool.slice(0, bench.sizes.idleContainers);
  for (const u of users) spawnSync(inst.helper, ['stop', String(u.uid)]);
  settle(); // what the questions before freed is given back first
  const before = sampleHost();
  const cmds: Command[] = users.map((u) => ({
    name: u.name,
    uid: u.uid,
    file: inst.launcher,
    argv: ['cellsh', '-c', 'true'],
  }));
  const started = timeRuns(bench.timer, cmds, { runs: 1, warmup: 0 });
  const failed = [...started.values()].find((r) => r.errors > 0);
  if (failed) throw new Error(`an idle container did not start: ${failed.error}`);
  settle();
  const during = sampleHost();
  const host = cgroupHost(inst.cgroupName);
  const pidsDir = (uid: number): string =>
    host.version === 'v2' ? join(host.base, `u${uid}`) : join(host.bases['pids']!, `u${uid}`);
  const pids = users.flatMap((u) => cgroupPids(pidsDir(u.uid)));
  const memcg = users.reduce((sum, u) => sum + (containerUsage(host, u.uid)?.memory.used ?? NaN), 0);
  const n = users.length;
  const measured = {
    pss: pids.reduce((s, p) => s + pss(p), 0) / n,
    rss: pids.reduce((s, p) => s + rss(p), 0) / n,
    memcg: memcg / n,
    processes: names(pids, n),
  };
  for (const u of users) spawnSync(inst.helper, ['stop', String(u.uid)]);
  settle();
  return {
    what: 'cellsh: idle container (after `cellsh -c true`)',
    count: n,
    ...perInstance(before, during, sampleHost(), n),
    ...measured,
  };
}

function idleUnshare(bench: Bench): MemoryRow | string {
  const idle = bench.baselines.idle;
  if (!idle) return 'no busybox root for unshare';
  const n = bench.sizes.idleContainers;
  settle();
  const before = sampleHost();
  const children = Array.from({ length: n }, () =>
    spawn(idle.argv[0]!, idle.argv.slice(1), {
      uid: idle.uid,
      gid: idle.uid,
      env: { PATH: '/usr/bin:/bin' },
      stdio: 'ignore',
    }),
  );
  settle();
  const during = sampleHost();
  const pids = children.flatMap((c) => (c.pid ? [c.pid, ...descendants(c.pid)] : []));
  const measured = {
    pss: pids.reduce((s, p) => s + pss(p), 0) / n,
    rss: pids.reduce((s, p) => s + rss(p), 0) / n,
    memcg: undefined,
    processes: names(pids, n),
  };
  for (const c of children)
    for (const p of c.pid ? descendants(c.pid) : [])
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
  settle();
  return {
    what: 'unshare + chroot, sleeping (no cgroup, no init)',
    count: n,
    ...perInstance(before, during, sampleHost(), n),
    ...measured,
  };
}

/** Holds `count` sessions of the command, measures the host side of each. */
async function heldSessions(
  bench: Bench,
  what: string,
  cmd: Omit<Command, 'name'>,
  relayOnly = false,
): Promise<MemoryRow | string> {
  const n = bench.sizes.sessions;
  const cmds: Command[] = Array.from({ length: n }, (_, i) => ({ ...cmd, name: `${what} ${i}` }));
  const before = sampleHost();
  const { value, runs } = await hold(bench.timer, join(bench.work, 'hold.spec'), cmds, async (pids) => {
    if (pids.some((p) => p < 0)) return undefined;
    settle();
    const during = sampleHost();
    const hostSide = relayOnly ? pids : pids.flatMap((p) => [p, ...descendants(p)]).filter((p) => !inOtherPidNs(p));
    return {
      during,
      hostSide,
      pss: hostSide.reduce((s, p) => s + pss(p), 0),
      rss: hostSide.reduce((s, p) => s + rss(p), 0),
      processes: names(hostSide, n),
    };
  });
  const failed = [...runs.values()].find((r) => r.errors > 0);
  if (!value || failed) return `could not run: ${failed?.error ?? 'a session never showed its prompt'}`;
  settle();
  return {
    what,
    count: n,
    ...perInstance(before, value.during, sampleHost(), n),
    pss: value.pss / n,
    rss: value.rss / n,
    memcg: undefined,
    processes: value.processes,
  };
}

function memoryTable(title: string, rows: ReadonlyArray<MemoryRow | [string, string]>, notes: string[]): Table {
  return {
    title,
    head: [
      'what',
      'n',
      'host memory used, per one',
      'unreclaimable slab, per one',
      'PSS of its processes',
      'RSS of its processes',
      'memory cgroup',
      'processes (per one)',
    ],
    rows: rows.map((r) =>
      Array.isArray(r)
        ? [r[0], r[1], '', '', '', '', '', '']
        : [
            r.what,
            String(r.count),
            fmtBytes(r.usedDelta),
            fmtBytes(r.slabDelta),
            fmtBytes(r.pss),
            fmtBytes(r.rss),
            r.memcg === undefined ? '–' : fmtBytes(r.memcg),
            r.processes,
          ],
    ),
    notes,
  };
}

export interface MemoryResults {
  readonly tables: Table[];
  readonly idle: MemoryRow;
  readonly sessions: MemoryRow | string;
}

export async function measureMemory(bench: Bench): Promise<MemoryResults> {
  bench.progress(
    `memory: ${bench.sizes.idleContainers} idle containers, then ${bench.sizes.sessions} interactive sessions`,
  );
  const idle = idleCellsh(bench);
  const base = idleUnshare(bench);
  const { inst, users } = bench;
  const sessions = await heldSessions(bench, 'cellsh: interactive login (host side)', {
    uid: users.warm.uid,
    file: inst.launcher,
    argv: ['-cellsh'],
    pty: true,
    until: bench.prompt,
  });
  const script = await heldSessions(
    bench,
    '`script` running bash (the relay process)',
    {
      uid: users.warm.uid,
      argv: ['/usr/bin/script', '-q', '-c', 'bash -l', '/dev/null'],
      env: { SHELL: '/bin/sh' },
      pty: true,
      until: bench.prompt,
    },
    true,
  );
  const row = (r: MemoryRow | string, what: string): MemoryRow | [string, string] =>
    typeof r === 'string' ? [what, r] : r;
  return {
    idle,
    sessions,
    tables: [
      memoryTable(
        'Host memory per idle container',
        [idle, row(base, 'unshare + chroot, sleeping')],
        [
          '"Host memory used" is the change of MemTotal − MemFree − Buffers − Cached − SReclaimable (medians of 7 samples) while they run, against the mean of the host before and after them, divided by the count: everything the containers cost the host, kernel included.',
          existsSync('/sys/fs/cgroup/cgroup.procs')
            ? 'cgroup v2: memory.current of each container.'
            : 'cgroup v1: memory.usage_in_bytes of each container.',
        ],
      ),
      memoryTable(
        'Host memory per interactive session, host side',
        [row(sessions, 'cellsh: interactive login'), row(script, '`script` running bash')],
        [
          'Sessions held at their prompt; "host side" is the process started on the terminal and every process below it that is not inside a container (cellsh: the Node login shell with its relay and the helper\'s session monitor; the user\'s shell runs in the container and is counted there); for `script`, the script process alone (its bash is on the host).',
        ],
      ),
    ],
  };
}
