// The targets of DESIGN.md ("How fast") checked against ratios from this run.
import type { CommandResults } from './questions/commands.js';
import type { EnrolledResults } from './questions/enrolled.js';
import type { PamResults } from './questions/pam.js';
import type { SshResults } from './questions/ssh.js';
import type { InteractiveResults } from './questions/interactive.js';
import type { MemoryResults } from './questions/memory.js';
import type { ScaleResults } from './questions/scale.js';
import type { TerminalResults } from './questions/terminal.js';
import { fmtBytes, sampleStats, type Table } from './report.js';
import { stats } from './stats.js';
import type { Runs } from './timer.js';

export interface Verdict {
  readonly path: string;
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

export interface AllResults {
  readonly commands: CommandResults;
  readonly interactive: InteractiveResults;
  readonly terminal: TerminalResults;
  readonly memory: MemoryResults;
  readonly scale: ScaleResults;
  readonly enrolled: EnrolledResults;
  readonly ssh: SshResults;
  readonly pam: PamResults;
  readonly throughputBytes: number;
}

/** The median of a field of a command's runs, if it ran cleanly. */
function med(runs: ReadonlyMap<string, Runs>, key: string, field: 'ms' | 'first_ms' = 'ms'): number | undefined {
  return sampleStats(runs.get(key), field)?.median;
}

/** The median MB/s, first byte to last, of a throughput command. */
function rate(runs: ReadonlyMap<string, Runs>, key: string): number | undefined {
  const r = runs.get(key);
  return r && r.errors === 0
    ? stats(r.bytes.map((b, i) => b / Math.max(0.001, r.last_ms[i]! - r.first_ms[i]!)))?.median
    : undefined;
}

/** a/b against a limit: "0.41× (≤ 1×)" and whether it holds. */
function ratio(
  path: string,
  target: string,
  a: number | undefined,
  b: number | undefined,
  limit: number,
  atLeast = false,
): Verdict {
  if (a === undefined || b === undefined)
    return { path, target, measured: 'not measured (see the tables)', met: undefined };
  const r = a / b;
  return { path, target, measured: `${r.toFixed(2)}×`, met: atLeast ? r >= limit : r <= limit };
}

export function verdicts(all: AllResults): Verdict[] {
  const c = all.commands.runs;
  const i = all.interactive.runs;
  const t = all.terminal.runs;
  const echo = (k: string): ReturnType<typeof stats> => {
    const e = all.terminal.echoes.get(k);
    return e && e.errors === 0 ? stats(e.us) : undefined;
  };
  const cellshEcho = echo('echo-cellsh');
  const thru = t.get('thru-cellsh');
  const everyByte =
    thru && thru.errors === 0 && thru.bytes.length > 0 ? thru.bytes.every((b) => b === all.throughputBytes) : undefined;
  const idle = all.memory.idle.usedDelta;
  const scaleErrors = all.scale.rounds.reduce((n, r) => n + r.errors, 0);
  return [
    ratio(
      'launcher alone: `cellsh -c true`, container running',
      '≤ crun exec',
      med(c, 'cellsh-warm'),
      med(c, 'crun-exec'),
      1,
    ),
    ratio('the same (stretch)', '≤ 2× nsenter', med(c, 'cellsh-warm'), med(c, 'nsenter'), 2),
    ratio('launcher alone: `cellsh -c true`, first login', '≤ crun run', med(c, 'cellsh-cold'), med(c, 'crun-run'), 1),
    ratio(
      'interactive login, container running, to the prompt',
      '≤ 1.1× node-pty spawn /bin/true',
      med(i, 'login-warm', 'first_ms'),
      med(i, 'nodepty', 'first_ms'),
      1.1,
    ),
    ratio('helper alone, create', '≤ 1.5× unshare', med(c, 'helper-create'), med(c, 'unshare'), 1.5),
    ratio('helper alone, join', '≤ 1.5× nsenter', med(c, 'helper-join'), med(c, 'nsenter'), 1.5),
    ratio(
      'terminal throughput (first to last byte)',
      '≥ 0.9× script',
      rate(t, 'thru-cellsh'),
      rate(t, 'thru-script'),
      0.9,
      true,
    ),
    {
      path: 'every byte of the output arrives',
      target: 'all runs',
      measured: everyByte === undefined ? 'not measured' : everyByte ? 'all runs' : 'bytes missing',
      met: everyByte,
    },
    ratio('echo latency, median', '≤ 1.3× script', cellshEcho?.median, echo('echo-script')?.median, 1.3),
    cellshEcho
      ? {
          path: 'echo latency, p99',
          target: '< 5 ms',
          measured: `${(cellshEcho.p99 / 1000).toFixed(2)} ms`,
          met: cellshEcho.p99 < 5000,
        }
      : { path: 'echo latency, p99', target: '< 5 ms', measured: 'not measured', met: undefined },
    { path: 'idle container, host memory', target: '< 1 MiB', measured: fmtBytes(idle), met: idle < 1 << 20 },
    ...sshVerdicts(all.ssh),
    all.pam.addedMs === undefined
      ? {
          path: "pam_cellsh, added to an ssh session's opening",
          target: '≤ +5 ms',
          measured: 'not measured',
          met: undefined,
        }
      : {
          path: "pam_cellsh, added to an ssh session's opening",
          target: '≤ +5 ms',
          measured: `+${all.pam.addedMs.toFixed(2)} ms`,
          met: all.pam.addedMs <= 5,
        },
    ...enrolledVerdicts(all.enrolled),
    {
      path: `${all.scale.rounds[0]?.users ?? 0} users at once`,
      target: '0 errors, nothing left after stop',
      measured: `${scaleErrors} errors; ${all.scale.leftovers || 'nothing left'}`,
      met: scaleErrors === 0 && !all.scale.leftovers,
    },
  ];
}

/** Through sshd, a cellsh user against a plain account (issue: what an ssh user pays). */
function sshVerdicts(s: SshResults): Verdict[] {
  const r = s.runs;
  const m = (k: string, field: 'ms' | 'first_ms' = 'ms'): number | undefined => med(r, k, field);
  const node = m('node0');
  const plus = (k: string, field: 'ms' | 'first_ms' = 'ms'): number | undefined => {
    const base = m(k, field);
    return base === undefined || node === undefined ? undefined : base + node;
  };
  const pair = (label: string, key: string, limit: number): Verdict =>
    ratio(label, `≤ ${limit}× plain account`, m(`${key}-cellsh`), m(`${key}-plain`), limit);
  const terminal = (label: string, key: string, field: 'ms' | 'first_ms'): Verdict =>
    ratio(label, '≤ 1.1× (plain account + `node -e 0`)', m(`${key}-cellsh`, field), plus(`${key}-plain`, field), 1.1);
  const echo = (w: string): number | undefined => {
    const e = s.echoes.get(`echo-${w}`);
    return e && e.errors === 0 ? stats(e.us)?.median : undefined;
  };
  const thru = (w: string): number | undefined => {
    const t = r.get(`thru-${w}`);
    return t && t.errors === 0
      ? stats(t.bytes.map((b, i) => b / Math.max(0.001, t.last_ms[i]! - t.first_ms[i]!)))?.median
      : undefined;
  };
  const crowdErrors = s.crowd.cellsh.errors + s.crowd.plain.errors;
  return [
    pair('`ssh host true` (new session, no terminal)', 'true', 1.15),
    pair('`ssh -A host true` (agent forwarded)', 'agent', 1.15),
    pair('sftp session', 'sftp', 1.15),
    pair('rsync of 5,000 small files', 'rsync', 1.1),
    pair('rsync re-run, nothing to copy', 'rsync-same', 1.1),
    pair('git clone over ssh', 'git', 1.1),
    pair('Ansible playbook, pipelining off', 'ansible', 1.1),
    terminal('`ssh -tt host true`', 'tt', 'ms'),
    terminal('`ssh host`, to the prompt', 'login', 'first_ms'),
    terminal('`ssh -A host`, to the prompt', 'login-agent', 'first_ms'),
    ratio('terminal throughput through sshd', '≥ 0.9× plain account', thru('cellsh'), thru('plain'), 0.9, true),
    ratio('keystroke echo through sshd, median', '≤ 1.1× plain account', echo('cellsh'), echo('plain'), 1.1),
    {
      ...ratio(
        `${s.crowd.logins} ssh logins at once over ${s.crowd.users} users, per login`,
        '≤ 1.2× plain accounts, 0 errors',
        s.crowd.cellsh.medianMs,
        s.crowd.plain.medianMs,
        1.2,
      ),
      ...(crowdErrors ? { measured: `${crowdErrors} errors`, met: false } : {}),
    },
  ];
}

/** A login at any number of enrolled users; apply linear and within 30 s at 100,000. */
function enrolledVerdicts(e: EnrolledResults): Verdict[] {
  const n = e.large.toLocaleString('en');
  const perUser = (ms: number | undefined, users: number): number | undefined =>
    ms === undefined ? undefined : ms / users;
  return [
    ratio(
      `launcher alone: \`cellsh -c true\`, ${n} users enrolled`,
      `≤ 1.05× at ${e.small}`,
      med(e.runs, 'launcher-large'),
      med(e.runs, 'launcher-small'),
      1.05,
    ),
    ratio(
      `Node path: \`cellsh -c true\`, ${n} users enrolled`,
      `≤ 1.05× at ${e.small}`,
      med(e.runs, 'node-large'),
      med(e.runs, 'node-small'),
      1.05,
    ),
    e.applyMs === undefined
      ? { path: `\`cellsh-admin apply\`, ${n} users`, target: '≤ 30 s', measured: 'failed', met: false }
      : {
          path: `\`cellsh-admin apply\`, ${n} users`,
          target: '≤ 30 s',
          measured: `${(e.applyMs / 1000).toFixed(1)} s`,
          met: e.applyMs <= 30_000,
        },
    ratio(
      `apply's time per user, ${n} against ${(e.large / 10).toLocaleString('en')}`,
      '≤ 1.3× (linear)',
      perUser(e.applyMs, e.large),
      perUser(e.applyTenthMs, e.large / 10),
      1.3,
    ),
    { path: 'extra users removed afterwards', target: 'all', measured: e.leftovers || 'all', met: !e.leftovers },
  ];
}

export function targetsTable(v: readonly Verdict[]): Table {
  return {
    title: 'Targets (ratios of medians from this run)',
    head: ['path', 'target', 'measured', 'met?'],
    rows: v.map((x) => [x.path, x.target, x.measured, x.met === undefined ? '–' : x.met ? 'yes' : '**no**']),
    notes: [],
  };
}
