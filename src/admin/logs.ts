// `cellsh-admin logs`: the audit log (JSON lines in pino's format, written by
// the helper and by cellsh-admin) as lines a person reads, or the raw lines
// filtered. --follow keeps printing what is appended, across rotation. What
// users wrote can't reach the admin's terminal raw: see log-text.ts.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CellshError, ExitCode } from '../errors.js';
import type { TextOut } from './check.js';
import { decodeLine, displayValue, escapeUnsafe, safeJson } from './log-text.js';

/** What logs needs. */
export interface LogsOptions {
  readonly file: string;
  /** Only events of this user (a name or a uid). */
  readonly user?: string;
  /** Only the last N matching lines of what is there (then follow, if asked). */
  readonly lines?: number;
  readonly follow: boolean;
  /** Print the matching records as JSON lines (escaped, see log-text.ts). */
  readonly json: boolean;
  readonly out: TextOut;
  /** Stops --follow (Ctrl-C in the CLI, the end of a test). */
  readonly signal?: AbortSignal;
  /** How often --follow looks for more (ms). */
  readonly pollMs?: number;
}

/** Fields every line has, left out of the human form. */
const FRAME = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'event', 'user', 'uid']);
const LEVELS: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
/** How much of a line that is not a record the human form shows (characters). */
const NOT_A_RECORD_MAX = 200;

/** A local time as "2026-11-22 10:31:02". */
function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** One log line for a person: time, event, user, then the other fields as
 * key=value (bare when a plain word, quoted otherwise). Users wrote some of
 * these strings: every part is escaped (log-text.ts). */
export function humanLine(rec: Record<string, unknown>): string {
  const who =
    typeof rec['user'] === 'string'
      ? displayValue(rec['user'])
      : rec['uid'] !== undefined
        ? `uid ${displayValue(rec['uid'])}`
        : '-';
  const level = LEVELS[rec['level'] as number];
  const rest = Object.entries(rec)
    .filter(([k]) => !FRAME.has(k))
    .map(([k, v]) => `${displayValue(k)}=${displayValue(v)}`);
  const time = typeof rec['time'] === 'number' ? localTime(rec['time']) : '????-??-?? ??:??:??';
  const event = displayValue(rec['event'] ?? rec['msg'] ?? '?');
  return [time, event.padEnd(16), who.padEnd(12), ...(level ? [level] : []), ...rest].join('  ').trimEnd();
}

/** Whether a record concerns the user (by name or uid). */
function matches(rec: Record<string, unknown>, user: string | undefined): boolean {
  if (user === undefined) return true;
  return rec['user'] === user || (/^\d+$/.test(user) && rec['uid'] === Number(user));
}

/** A line's record, or undefined when it is not a JSON object. */
function parseRecord(line: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Format the matching lines of a chunk of complete lines. */
function render(lines: readonly string[], opts: LogsOptions): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    const rec = parseRecord(line);
    if (rec === undefined) {
      if (opts.user === undefined)
        out.push(
          opts.json ? escapeUnsafe(line) : `(not a log record) ${escapeUnsafe(line.slice(0, NOT_A_RECORD_MAX))}`,
        );
      continue;
    }
    if (matches(rec, opts.user)) out.push(opts.json ? safeJson(rec) : humanLine(rec));
  }
  return out;
}

/** Reads a file from an offset, noticing when it was replaced or cut (rotation). */
class Tail {
  private fd: number;
  private ino: number;
  private offset = 0;
  /** The bytes of a line not complete yet (kept as bytes: a character may be cut). */
  private partial: Buffer = Buffer.alloc(0);

  constructor(private readonly file: string) {
    this.fd = openSync(file, 'r');
    this.ino = fstatSync(this.fd).ino;
  }

  /** The complete lines appended since the last call. */
  read(): string[] {
    this.reopenIfRotated();
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, this.offset);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      this.offset += n;
    }
    const bytes = Buffer.concat([this.partial, ...chunks]);
    const lines: string[] = [];
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
      lines.push(decodeLine(bytes.subarray(start, nl)));
      start = nl + 1;
    }
    this.partial = Buffer.from(bytes.subarray(start));
    return lines;
  }

  private reopenIfRotated(): void {
    let now: { ino: number; size: number };
    try {
      now = statSync(this.file);
    } catch {
      return;
    }
    if (now.ino !== this.ino) {
      closeSync(this.fd);
      this.fd = openSync(this.file, 'r');
      this.ino = fstatSync(this.fd).ino;
      this.offset = 0;
      this.partial = Buffer.alloc(0);
    } else if (now.size < this.offset) {
      this.offset = 0;
      this.partial = Buffer.alloc(0);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Print the log; with follow, keep printing until the signal aborts. */
export async function runLogs(opts: LogsOptions): Promise<number> {
  let tail: Tail;
  try {
    tail = new Tail(opts.file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !opts.follow) return ExitCode.ok;
    throw new CellshError('read-failed', `can't read the log ${opts.file}: ${(err as Error).message}`, {
      exitCode: code === 'EACCES' ? ExitCode.refused : ExitCode.failure,
    });
  }
  try {
    let lines = render(tail.read(), opts);
    if (opts.lines !== undefined) lines = lines.slice(Math.max(0, lines.length - opts.lines));
    if (lines.length > 0) opts.out.write(lines.join('\n') + '\n');
    while (opts.follow && !opts.signal?.aborted) {
      try {
        await sleep(opts.pollMs ?? 250, undefined, { signal: opts.signal });
      } catch {
        break;
      }
      const more = render(tail.read(), opts);
      if (more.length > 0) opts.out.write(more.join('\n') + '\n');
    }
  } finally {
    tail.close();
  }
  return ExitCode.ok;
}
