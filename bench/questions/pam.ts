// What pam_cellsh adds to the opening of an ssh session: pam_open_session for
// a cellsh user whose container runs, through a PAM service holding only the
// installed pam_cellsh.so (as install.sh puts it in sshd's stack), against one
// holding only pam_permit.so. Each is timed inside the process that opens the
// session, the way sshd calls it (bench/pam-open.py), in rounds that alternate
// the two services. The whole-connection rows of the ssh table measure the same
// cost inside a connection of ~280 ms, where it drowns in the spread.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../test/helpers/fixtures.js';
import type { Bench } from '../context.js';
import { fmtMs, type Table } from '../report.js';
import { stats, type Stats } from '../stats.js';

const SERVICES = ['cellsh', 'permit'] as const;
type Service = (typeof SERVICES)[number];

export interface PamResults {
  readonly table: Table;
  readonly samples: Record<Service, number[]>;
  /** The median with pam_cellsh less the median with pam_permit, if both ran. */
  readonly addedMs: number | undefined;
}

/** Open `n` sessions of user through service: the times, in ms. */
function openSessions(service: string, user: string, n: number): number[] {
  const r = spawnSync('python3', [join(packageRoot(), 'bench/pam-open.py'), service, user, String(n)], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin' },
  });
  if (r.status !== 0) throw new Error(`pam_open_session through ${service}: ${r.stderr.trim() || r.status}`);
  return JSON.parse(r.stdout) as number[];
}

export function measurePam(bench: Bench): PamResults {
  const { inst } = bench;
  const user = bench.users.warm.name;
  const names: Record<Service, string> = {
    cellsh: `cellsh-bench-pam-${process.pid}`,
    permit: `cellsh-bench-permit-${process.pid}`,
  };
  const lines: Record<Service, string> = {
    cellsh: `session required ${inst.libDir}/pam_cellsh.so group=${inst.group}\n`,
    permit: 'session required pam_permit.so\n',
  };
  const samples: Record<Service, number[]> = { cellsh: [], permit: [] };
  const rounds = bench.sizes.pamRounds;
  try {
    for (const s of SERVICES) writeFileSync(join('/etc/pam.d', names[s]), lines[s]);
    bench.progress(`pam: ${rounds} rounds of 5 pam_open_session calls through pam_cellsh and through pam_permit`);
    openSessions(names.cellsh, user, 1); // the container started, if it was not running
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? SERVICES : [...SERVICES].reverse();
      for (const s of order) samples[s].push(...openSessions(names[s], user, 5));
    }
  } finally {
    for (const s of SERVICES) rmSync(join('/etc/pam.d', names[s]), { force: true });
  }
  const st: Record<Service, Stats | undefined> = { cellsh: stats(samples.cellsh), permit: stats(samples.permit) };
  const addedMs = st.cellsh && st.permit ? st.cellsh.median - st.permit.median : undefined;
  const row = (label: string, s: Service, against: string, target: string): string[] => {
    const x = st[s];
    return x
      ? [label, fmtMs(x.median), fmtMs(x.min), fmtMs(x.max), String(x.n), against, target]
      : [label, '–', '', '', '0', '', target];
  };
  return {
    samples,
    addedMs,
    table: {
      title: "What pam_cellsh adds to an ssh session's opening (`pam_open_session`, the user's container running)",
      head: ['PAM service', 'median ms', 'min ms', 'max ms', 'runs', 'added', 'target'],
      rows: [
        row(
          'only `pam_cellsh.so`, as install.sh adds it to sshd',
          'cellsh',
          addedMs === undefined ? '' : `+${fmtMs(addedMs)} ms over pam_permit`,
          'at most +5 ms',
        ),
        row('only `pam_permit.so`', 'permit', '', ''),
      ],
      notes: [
        "Each session is opened in a fresh child of one process, which looked the user up first, as sshd's authentication and `Match Group` have; the time is pam_open_session alone.",
        "pam_cellsh's share: the user's groups from NSS, one child that execs `cellsh-helper netns` (the login path: policy, lock, audit log, pinning), and setns.",
      ],
    },
  };
}
