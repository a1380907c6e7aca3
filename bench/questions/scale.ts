// Scale: many users logging in at the same moment, each into their own
// container; wall time, errors (must be none), and that stopping them leaves
// no cgroup, mount, state file or process behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupHost, V1_CONTROLLERS } from '../../src/sys/cgroups.js';
import type { Bench } from '../context.js';
import { fmtMs, type Table } from '../report.js';
import { stats } from '../stats.js';
import { burst, type Command } from '../timer.js';

export interface ScaleRound {
  readonly what: string;
  readonly users: number;
  readonly wallMs: number;
  readonly medianMs: number | undefined;
  readonly maxMs: number | undefined;
  readonly errors: number;
  readonly firstError: string;
}

export interface ScaleResults {
  readonly table: Table;
  readonly rounds: ScaleRound[];
  /** What was left after every container was stopped ("" nothing). */
  readonly leftovers: string;
}

function round(bench: Bench, what: string, cmds: readonly Command[]): ScaleRound {
  const { runs, wallMs } = burst(bench.timer, cmds, 300);
  const all = [...runs.values()];
  const ms = stats(all.flatMap((r) => r.ms));
  const errors = all.reduce((n, r) => n + r.errors, 0);
  return {
    what,
    users: cmds.length,
    wallMs,
    medianMs: ms?.median,
    maxMs: ms?.max,
    errors,
    firstError: all.find((r) => r.error)?.error ?? '',
  };
}

/** Everything of these users' containers still on the host, as one line ("" none). */
function leftovers(bench: Bench, uids: readonly number[]): string {
  const { inst } = bench;
  const left: string[] = [];
  const host = cgroupHost(inst.cgroupName);
  const dirs = host.version === 'v2' ? [host.base] : V1_CONTROLLERS.map((c) => host.bases[c]!);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const uid of uids) {
    if (existsSync(join(inst.stateDir, `${uid}.state`))) left.push(`state file of ${uid}`);
    for (const d of dirs) if (existsSync(join(d, `u${uid}`))) left.push(`cgroup ${join(d, `u${uid}`)}`);
    if (spawnSync('/usr/bin/pgrep', ['-U', String(uid)]).status === 0) left.push(`processes of ${uid}`);
  }
  if (mounts.includes(inst.stateDir + '/')) left.push('mounts under the state folder');
  return left.join(', ');
}

export function measureScale(bench: Bench): ScaleResults {
  const { inst } = bench;
  const users = bench.users.pool.slice(0, bench.sizes.scaleUsers);
  const cmds = users.map(
    (u): Command => ({ name: u.name, uid: u.uid, file: inst.launcher, argv: ['cellsh', '-c', 'echo ok'] }),
  );
  for (const u of users) spawnSync(inst.helper, ['stop', String(u.uid)]);
  bench.progress(`scale: ${users.length} users logging in at once, twice`);
  const rounds = [
    round(bench, 'first login (every container created)', cmds),
    round(bench, 'again (every container running)', cmds),
  ];
  const running = users.filter((u) => existsSync(join(inst.stateDir, `${u.uid}.state`))).length;
  for (const u of users) spawnSync(inst.helper, ['stop', String(u.uid)]);
  // A stopped container's last processes may take a moment to be reaped.
  let left = leftovers(
    bench,
    users.map((u) => u.uid),
  );
  for (let i = 0; i < 50 && left; i++) {
    spawnSync('/bin/sleep', ['0.1']);
    left = leftovers(
      bench,
      users.map((u) => u.uid),
    );
  }
  const rows = rounds.map((r) => [
    r.what,
    String(r.users),
    fmtMs(r.wallMs),
    r.medianMs === undefined ? '–' : fmtMs(r.medianMs),
    r.maxMs === undefined ? '–' : fmtMs(r.maxMs),
    r.errors ? `${r.errors}: ${r.firstError.replace(/\s+/g, ' ').slice(0, 120)}` : '0',
  ]);
  return {
    rounds,
    leftovers: left,
    table: {
      title: `Scale: ${users.length} users logging in at the same moment (\`cellsh -c "echo ok"\`)`,
      head: ['round', 'users', 'wall ms (all done)', 'median ms per login', 'max ms', 'errors'],
      rows,
      notes: [
        `Containers running after the rounds: ${running} of ${users.length}.`,
        `After \`cellsh-helper stop\` of each: ${left || 'no state file, cgroup, mount or process of these users left'}.`,
      ],
    },
  };
}
