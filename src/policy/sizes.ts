// Sizes ("512M", "1.5GiB", 2147483648) and CPU amounts (1.5) as the policy
// writes them, converted exactly (no floating point rounding) to the units the
// helper uses: bytes and thousandths of a CPU.

/** A limit value: a number in the helper's unit, or no limit. */
export type Limit = number | 'unlimited';

/** The word that turns a limit off. */
export const UNLIMITED = 'unlimited';

/** Binary multiples by suffix letter (K = 1024). */
const UNIT_SHIFT: Readonly<Record<string, bigint>> = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n };
const SIZE_RE = /^(\d+)(?:\.(\d+))?\s*(?:([kmgt])(i)?)?(b)?$/i;
const CPU_RE = /^(\d+)(?:\.(\d+))?$/;
/** Thousandths per CPU: the helper's cpu unit. */
export const MILLIS_PER_CPU = 1000;

/** Bytes a size string stands for (rounded down to a whole byte), or undefined
 * if it is not a size. Binary multiples: "1K" = 1024, "1.5G" = 1610612736. */
export function parseSizeText(text: string): bigint | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const [, whole, frac = '', unit = ''] = m;
  const shift = UNIT_SHIFT[unit.toLowerCase()]!;
  const scaled = BigInt(whole! + frac) << shift;
  return scaled / 10n ** BigInt(frac.length);
}

/** The shortest exact size string for a byte count: 2147483648 -> "2G", 1610612736 -> "1536M". */
export function formatSize(bytes: number): string {
  const n = BigInt(bytes);
  for (const [suffix, shift] of [
    ['T', 40n],
    ['G', 30n],
    ['M', 20n],
    ['K', 10n],
  ] as const) {
    if (n >= 1n << shift && n % (1n << shift) === 0n) return `${n >> shift}${suffix}`;
  }
  return String(bytes);
}

/** Thousandths of a CPU for a decimal CPU count written as text ("1.5" -> 1500),
 * or undefined if it is not a plain decimal with at most 3 decimals. */
export function parseCpuText(text: string): number | undefined {
  const m = CPU_RE.exec(text);
  if (!m) return undefined;
  const [, whole, frac = ''] = m;
  const trimmed = frac.replace(/0+$/, '');
  if (trimmed.length > 3) return undefined;
  const millis = BigInt(whole!) * 1000n + BigInt(trimmed.padEnd(3, '0') || '0');
  return millis > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(millis);
}

/** A CPU amount in thousandths as the policy writes it: 1500 -> "1.5". */
export function formatCpu(millis: number): string {
  const whole = Math.floor(millis / MILLIS_PER_CPU);
  const frac = String(millis % MILLIS_PER_CPU)
    .padStart(3, '0')
    .replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

/** A limit for people: "unlimited" or the value in the field's own notation. */
export function formatLimit(v: Limit, format: (n: number) => string): string {
  return v === UNLIMITED ? UNLIMITED : format(v);
}
