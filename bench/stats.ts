// Order statistics of a sample: what every table row shows.

/** A sample summarized; undefined fields never appear (empty samples have no Stats). */
export interface Stats {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p90: number;
  readonly p99: number;
}

/** The p-th percentile (0-100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The median (mean of the middle two for an even count). */
function median(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Stats of the values, or undefined when there are none. */
export function stats(values: readonly number[]): Stats | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    median: median(s),
    min: s[0]!,
    max: s[s.length - 1]!,
    p90: percentile(s, 90),
    p99: percentile(s, 99),
  };
}
