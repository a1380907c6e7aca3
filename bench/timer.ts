// Talks to the stopwatch (bench/timer.c): writes its spec, runs it, reads the
// JSON line it prints per command. The measured commands run with the
// environment a login has, built by the timer, never this process's.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** One command to time. */
export interface Command {
  readonly name: string;
  readonly argv: readonly string[];
  /** The program, when argv[0] is not its path (a login shell's "-cellsh"). */
  readonly file?: string;
  /** Run with this user's ids, groups, HOME and cwd (else as root, in /). */
  readonly uid?: number;
  /** An untimed command run as root before each run (e.g. stop a container). */
  readonly pre?: readonly string[];
  /** In a private mount namespace with the cgroup2 mount of a hybrid host detached. */
  readonly legacy?: boolean;
  /** On a new terminal; timed to `until` when given, else to the end. */
  readonly pty?: boolean;
  readonly until?: string;
  readonly send?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** Each run of one command: wall ms fork to exit, fork to `until` (or the first
 * byte on a terminal), fork to the last byte, bytes read. */
export interface Runs {
  readonly name: string;
  readonly ms: number[];
  readonly first_ms: number[];
  readonly last_ms: number[];
  readonly bytes: number[];
  readonly errors: number;
  readonly error: string;
}

/** Each keystroke round trip of one command, in microseconds. */
export interface Echoes {
  readonly name: string;
  readonly us: number[];
  readonly errors: number;
  readonly error: string;
}

/** Spec values take C escapes; everything below 0x20, DEL and the backslash is escaped. */
function cEscape(s: string): string {
  return s.replace(/[\\\x00-\x1f\x7f]/g, (c) =>
    c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** The timer's input for these commands. */
export function specText(cmds: readonly Command[]): string {
  const lines: string[] = [];
  for (const c of cmds) {
    lines.push(`cmd ${cEscape(c.name)}`);
    if (c.file) lines.push(`file ${cEscape(c.file)}`);
    if (c.uid !== undefined) lines.push(`uid ${c.uid}`);
    if (c.legacy) lines.push('legacy');
    if (c.pty) lines.push('pty');
    if (c.until !== undefined) lines.push(`until ${cEscape(c.until)}`);
    if (c.send !== undefined) lines.push(`send ${cEscape(c.send)}`);
    for (const [k, v] of Object.entries(c.env ?? {})) lines.push(`env ${cEscape(`${k}=${v}`)}`);
    for (const a of c.pre ?? []) lines.push(`pre ${cEscape(a)}`);
    for (const a of c.argv) lines.push(`arg ${cEscape(a)}`);
  }
  return lines.join('\n') + '\n';
}

function parseLines<T>(out: string): T[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

function invoke(timer: string, args: readonly string[], cmds: readonly Command[], timeoutMs: number): string {
  const r = spawnSync(timer, args, {
    input: specText(cmds),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`the timer exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function byName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  return new Map(items.map((i) => [i.name, i]));
}

/** Runs every command `runs` times (after `warmup`), interleaved in a new order each round. */
export function timeRuns(
  timer: string,
  cmds: readonly Command[],
  o: { runs: number; warmup: number; timeoutS?: number },
): Map<string, Runs> {
  const timeoutS = o.timeoutS ?? 60;
  const out = invoke(
    timer,
    ['run', '--runs', String(o.runs), '--warmup', String(o.warmup), '--timeout', String(timeoutS)],
    cmds,
    (o.runs + o.warmup) * cmds.length * (timeoutS + 5) * 1000,
  );
  return byName(parseLines<Runs>(out));
}

/** Starts every command on a terminal and times single-byte echoes, interleaved. */
export function timeEchoes(
  timer: string,
  cmds: readonly Command[],
  o: { pings: number; gapUs: number },
): Map<string, Echoes> {
  const out = invoke(
    timer,
    ['echo', '--pings', String(o.pings), '--gap-us', String(o.gapUs), '--timeout', '60'],
    cmds,
    (cmds.length * 80 + o.pings * cmds.length * 3) * 1000,
  );
  return byName(parseLines<Echoes>(out));
}

/** Starts every command at the same moment; each one's time and the wall time to the last. */
export function burst(
  timer: string,
  cmds: readonly Command[],
  timeoutS: number,
): { runs: Map<string, Runs>; wallMs: number } {
  const lines = parseLines<Runs & { wall_ms?: number }>(
    invoke(timer, ['burst', '--timeout', String(timeoutS)], cmds, (timeoutS + 30) * 1000),
  );
  const wall = lines.find((l) => l.wall_ms !== undefined)?.wall_ms ?? NaN;
  return { runs: byName(lines.filter((l) => l.wall_ms === undefined)), wallMs: wall };
}

/** Keeps every command on a terminal (each past its `until`) while `during` runs with
 * their pids (-1: never got ready), then hangs them up. */
export async function hold<T>(
  timer: string,
  specFile: string,
  cmds: readonly Command[],
  during: (pids: number[]) => Promise<T>,
): Promise<{ value: T; runs: Map<string, Runs> }> {
  writeFileSync(specFile, specText(cmds));
  const child = spawn(timer, ['hold', '--spec', specFile, '--timeout', '60'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const ready = new Promise<number[]>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      const m = /\{"ready":\[([-\d,]*)\]\}\n/.exec(out);
      if (m) resolve(m[1] ? m[1].split(',').map(Number) : []);
    });
    child.on('exit', (code) => reject(new Error(`the timer ended (${code}) before its commands were ready`)));
  });
  const ended = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let value: T;
  try {
    value = await during(await ready);
  } finally {
    child.stdin.end();
    await ended;
  }
  const runs = byName(parseLines<Runs & { ready?: number[] }>(out).filter((l) => l.ready === undefined));
  return { value, runs };
}
