// The targets of DESIGN.md ("How fast") checked against ratios from this run.
import type { CommandResults } from './questions/commands.js';
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
  readonly throughputBytes: number;
}

/** The median of a field of a command's runs, if it ran cleanly. */
function med(runs: ReadonlyMap<string, Runs>, key: string, field: 'ms' | 'first_ms' = 'ms'): number | undefined {
  return sampleStats(runs.get(key), field)?.median;
}

/** The median MB/s, first byte to last, of a throughput command. */
function rate(runs: ReadonlyMap<string, Runs>, key: string): number | undefined {
  const r = runs.get(key);
  return r && r.errors === 0 ? stats(r.bytes.map((b, i) => b / Math.max(0.001, r.last_ms[i]! - r.first_ms[i]!)))?.median : undefined;
}

/** a/b against a limit: "0.41× (≤ 1×)" and whether it holds. */
function ratio(path: string, target: string, a: number | undefined, b: number | undefined, limit: number, atLeast = false): Verdict {
  if (a === undefined || b === undefined) return { path, target, measured: 'not measured (see the tables)', met: undefined };
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
  const everyByte = thru && thru.errors === 0 && thru.bytes.length > 0 ? thru.bytes.every((b) => b === all.throughputBytes) : undefined;
  const idle = all.memory.idle.usedDelta;
  const scaleErrors = all.scale.rounds.reduce((n, r) => n + r.errors, 0);
  return [
    ratio('`cellsh -c true`, container running', '≤ crun exec', med(c, 'cellsh-warm'), med(c, 'crun-exec'), 1),
    ratio('the same (stretch)', '≤ 2× nsenter', med(c, 'cellsh-warm'), med(c, 'nsenter'), 2),
    ratio('`cellsh -c true`, first login', '≤ crun run', med(c, 'cellsh-cold'), med(c, 'crun-run'), 1),
    ratio('interactive login, container running, to the prompt', '≤ 1.1× node-pty spawn /bin/true', med(i, 'login-warm', 'first_ms'), med(i, 'nodepty', 'first_ms'), 1.1),
    ratio('helper alone, create', '≤ 1.5× unshare', med(c, 'helper-create'), med(c, 'unshare'), 1.5),
    ratio('helper alone, join', '≤ 1.5× nsenter', med(c, 'helper-join'), med(c, 'nsenter'), 1.5),
    ratio('terminal throughput (first to last byte)', '≥ 0.9× script', rate(t, 'thru-cellsh'), rate(t, 'thru-script'), 0.9, true),
    { path: 'every byte of the output arrives', target: 'all runs', measured: everyByte === undefined ? 'not measured' : everyByte ? 'all runs' : 'bytes missing', met: everyByte },
    ratio('echo latency, median', '≤ 1.3× script', cellshEcho?.median, echo('echo-script')?.median, 1.3),
    cellshEcho
      ? { path: 'echo latency, p99', target: '< 5 ms', measured: `${(cellshEcho.p99 / 1000).toFixed(2)} ms`, met: cellshEcho.p99 < 5000 }
      : { path: 'echo latency, p99', target: '< 5 ms', measured: 'not measured', met: undefined },
    { path: 'idle container, host memory', target: '< 1 MiB', measured: fmtBytes(idle), met: idle < 1 << 20 },
    { path: `${all.scale.rounds[0]?.users ?? 0} users at once`, target: '0 errors, nothing left after stop', measured: `${scaleErrors} errors; ${all.scale.leftovers || 'nothing left'}`, met: scaleErrors === 0 && !all.scale.leftovers },
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
