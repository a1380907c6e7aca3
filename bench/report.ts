// The tables the benchmark prints: plain Markdown, so a result pastes into the
// README as it is, and the same rows as data for --json.
import type { Runs } from './timer.js';
import { stats, type Stats } from './stats.js';

/** One printed table. */
export interface Table {
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  readonly notes: readonly string[];
}

/** A table as Markdown, notes under it. */
export function renderTable(t: Table): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const out = [`### ${t.title}`, '', line(t.head), line(t.head.map(() => '---')), ...t.rows.map(line)];
  if (t.notes.length) out.push('', ...t.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

/** Milliseconds with the precision a reader needs. */
export function fmtMs(v: number): string {
  return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0);
}

/** a / b as "1.23×". */
export function fmtRatio(a: number, b: number): string {
  return Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–';
}

/** Bytes in KiB or MiB. */
export function fmtBytes(v: number): string {
  return Math.abs(v) >= 1 << 20 ? `${(v / (1 << 20)).toFixed(2)} MiB` : `${Math.round(v / 1024)} KiB`;
}

/** Why a row has no numbers, cut to fit a table cell. */
export function whyNot(runs: { readonly error: string } | undefined, fallback: string): string {
  const text = runs?.error || fallback;
  return `could not run: ${text.replace(/\s+/g, ' ').replace(/\|/g, '/').trim().slice(0, 160)}`;
}

/** A measured row: what, then the stats of one field of its runs. */
export interface Row {
  readonly label: string;
  readonly key: string;
  /** Why this row can't be measured here (the command was never run). */
  readonly unavailable?: string;
  /** The key of the row this one is compared to, and how it is named in the cell. */
  readonly vs?: { readonly key: string; readonly label: string };
}

/** The stats of a field of a command's runs, when it ran without error. */
export function sampleStats(runs: Runs | undefined, field: 'ms' | 'first_ms' = 'ms'): Stats | undefined {
  return runs && runs.errors === 0 ? stats(runs[field]) : undefined;
}

/** Rows of median/min/max/runs and a ratio to the row each names. */
export function timingRows(
  rows: readonly Row[],
  results: ReadonlyMap<string, Runs>,
  field: 'ms' | 'first_ms' = 'ms',
): string[][] {
  return rows.map((r) => {
    const runs = results.get(r.key);
    const s = r.unavailable ? undefined : sampleStats(runs, field);
    if (!s) return [r.label, r.unavailable ? `not here: ${r.unavailable}` : whyNot(runs, 'not run'), '', '', '', ''];
    const base = r.vs ? sampleStats(results.get(r.vs.key), field) : undefined;
    const ratio = r.vs && base ? `${fmtRatio(s.median, base.median)} ${r.vs.label}` : '';
    return [r.label, fmtMs(s.median), fmtMs(s.min), fmtMs(s.max), String(s.n), ratio];
  });
}

export const TIMING_HEAD = ['what', 'median ms', 'min ms', 'max ms', 'runs', 'ratio (medians)'] as const;
