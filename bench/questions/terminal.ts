// The terminal relay: throughput of a large output through the interactive path
// (with a check that every byte arrived), and keystroke echo latency, both
// against `script` (a C relay) and a bare terminal, measured in the same run.
import type { Bench } from '../context.js';
import { writePayload } from '../setup/users.js';
import { fmtMs, fmtRatio, sampleStats, whyNot, type Table } from '../report.js';
import { stats } from '../stats.js';
import { timeEchoes, timeRuns, type Command, type Echoes, type Runs } from '../timer.js';

export interface TerminalResults {
  readonly tables: Table[];
  readonly runs: ReadonlyMap<string, Runs>;
  readonly echoes: ReadonlyMap<string, Echoes>;
}

const ECHO_PROGRAM = 'stty raw -echo; echo READY; exec cat';

/** The same program three ways: on a bare terminal, through script, through cellsh. */
function threeWays(bench: Bench, prefix: string, program: string, extra: Partial<Command>): Command[] {
  const uid = bench.users.warm.uid;
  return [
    { name: `${prefix}-direct`, uid, pty: true, argv: ['/bin/sh', '-c', program], ...extra },
    {
      name: `${prefix}-script`,
      uid,
      pty: true,
      argv: ['/usr/bin/script', '-qc', program, '/dev/null'],
      env: { SHELL: '/bin/sh' },
      ...extra,
    },
    { name: `${prefix}-cellsh`, uid, pty: true, file: bench.inst.launcher, argv: ['cellsh', '-c', program], ...extra },
  ];
}

/** MB/s of each run, first byte to last: the relay's own speed, start-up and exit aside. */
function rates(r: Runs): number[] {
  return r.bytes.map((b, i) => b / Math.max(0.001, r.last_ms[i]! - r.first_ms[i]!) / 1000);
}

function throughputTable(bench: Bench, runs: ReadonlyMap<string, Runs>, expected: number): Table {
  const scriptRuns = runs.get('thru-script');
  const script = scriptRuns && scriptRuns.errors === 0 ? stats(rates(scriptRuns)) : undefined;
  const row = (label: string, key: string): string[] => {
    const r = runs.get(key);
    const total = sampleStats(r);
    if (!r || !total) return [label, whyNot(r, 'not run'), '', '', '', ''];
    const s = stats(rates(r))!;
    const complete = r.bytes.filter((b) => b === expected).length;
    return [
      label,
      s.median.toFixed(1),
      `${s.min.toFixed(1)}–${s.max.toFixed(1)}`,
      fmtMs(total.median),
      `${complete}/${r.bytes.length}`,
      script ? `${fmtRatio(s.median, script.median)} script` : '',
    ];
  };
  return {
    title: `Terminal throughput: ${bench.sizes.thruMiB} MiB of base64 text through a terminal`,
    head: [
      'what',
      'MB/s, first to last byte (median)',
      'min–max MB/s',
      'fork to exit, median ms',
      'runs with every byte',
      'throughput ratio',
    ],
    rows: [
      row('cellsh (`cellsh -c "cat FILE"` on a terminal: the interactive relay)', 'thru-cellsh'),
      row('`script -qc "cat FILE"` (C relay)', 'thru-script'),
      row('bare terminal: `cat FILE` read by the stopwatch', 'thru-direct'),
    ],
    notes: [
      `${expected} bytes expected on the terminal (LF becomes CR LF); the stopwatch reads the outer terminal in 64 KiB reads until every writer has closed it and the program has exited.`,
      'MB/s counts from the first byte read to the last, so start-up (see the interactive table) and the wait at exit are left out; "fork to exit" has both.',
    ],
  };
}

function echoTable(echoes: ReadonlyMap<string, Echoes>): Table {
  const script = echoes.get('echo-script');
  const scriptMedian = script && script.errors === 0 ? stats(script.us)?.median : undefined;
  const row = (label: string, key: string): string[] => {
    const e = echoes.get(key);
    const s = e && e.errors === 0 ? stats(e.us) : undefined;
    if (!e || !s) return [label, whyNot(e, 'not run'), '', '', '', '', ''];
    return [
      label,
      s.min.toFixed(0),
      s.median.toFixed(0),
      s.p90.toFixed(0),
      s.p99.toFixed(0),
      String(s.n),
      scriptMedian ? `${fmtRatio(s.median, scriptMedian)} script` : '',
    ];
  };
  return {
    title: 'Keystroke echo: one byte in, echoed by `cat` in raw mode, microseconds',
    head: ['what', 'min µs', 'median µs', 'p90 µs', 'p99 µs', 'keystrokes', 'median ratio'],
    rows: [
      row('cellsh (`cellsh -c` on a terminal)', 'echo-cellsh'),
      row('`script` (C relay)', 'echo-script'),
      row('bare terminal', 'echo-direct'),
    ],
    notes: [`All paths run at once; each keystroke goes to every path in a new order, ${2} ms apart.`],
  };
}

export function measureTerminal(bench: Bench): TerminalResults {
  const payload = writePayload(bench.users.warm, bench.sizes.thruMiB);
  const thru = threeWays(bench, 'thru', `cat ${payload.path}`, {});
  bench.progress(`terminal throughput: 3 paths x ${bench.sizes.thruRuns} runs of ${bench.sizes.thruMiB} MiB`);
  const runs = timeRuns(bench.timer, thru, { runs: bench.sizes.thruRuns, warmup: 1, timeoutS: 120 });
  bench.progress(`keystroke echo: 3 paths x ${bench.sizes.pings} keystrokes`);
  const echoes = timeEchoes(bench.timer, threeWays(bench, 'echo', ECHO_PROGRAM, { until: 'READY' }), {
    pings: bench.sizes.pings,
    gapUs: 2000,
  });
  return { tables: [throughputTable(bench, runs, payload.terminalBytes), echoTable(echoes)], runs, echoes };
}
