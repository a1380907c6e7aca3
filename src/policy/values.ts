// Checkers for the kinds of value a policy setting can hold. Each takes the
// YAML node as written and returns the checked value in the helper's unit, or
// a message in the shape `expected <what>, got <what was written>`.
import { isMap, isScalar, isSeq } from 'yaml';
import { formatCpu, formatSize, parseCpuText, parseSizeText, UNLIMITED, type Limit } from './sizes.js';
import { pathProblem } from './validators.js';
import { hostnameTemplateProblem } from './hostname.js';

/** The outcome of checking one value. */
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

/** A checker: a YAML node (or null for an empty value) to a checked value. */
export type Checker<T> = (node: unknown) => Checked<T>;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(message: string): Checked<T> => ({ ok: false, message });

/** What a node holds, for "got ..." in messages: "lots" quoted, 12 bare, "a list". */
export function describeValue(node: unknown): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (typeof node.value === 'string') return JSON.stringify(node.value);
    if (node.value === null) return 'nothing';
    return node.source ?? String(node.value);
  }
  return 'an unsupported value';
}

/** The JavaScript value of a scalar node, or undefined for anything else. */
function scalarValue(node: unknown): unknown {
  return isScalar(node) ? node.value : undefined;
}

/** The text of a plain number as written ("1.50"), falling back to its value. */
function numberText(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  if (typeof node.value === 'string') return node.value.trim();
  if (typeof node.value === 'number') return node.source ?? String(node.value);
  return undefined;
}

function isUnlimited(node: unknown): boolean {
  const v = scalarValue(node);
  return typeof v === 'string' && v.trim().toLowerCase() === UNLIMITED;
}

/** One of a fixed set of words. */
export function oneOf<T extends string>(words: readonly T[]): Checker<T> {
  const list = words.map((w) => `"${w}"`);
  const expected = list.length === 1 ? list[0]! : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  return (node) => {
    const v = scalarValue(node);
    return typeof v === 'string' && (words as readonly string[]).includes(v)
      ? ok(v as T) : bad(`expected ${expected}, got ${describeValue(node)}`);
  };
}

/** A canonical absolute path (the helper's valid_abs_path). */
export function absolutePath(example: string): Checker<string> {
  return (node) => {
    const v = scalarValue(node);
    const problem = typeof v === 'string' ? pathProblem(v) : 'not a string';
    return problem === undefined ? ok(v as string)
      : bad(`expected an absolute path like "${example}", got ${describeValue(node)} (${problem})`);
  };
}

/** A hostname template with {user}, {uid} and {host} tokens. */
export function hostnameTemplate(): Checker<string> {
  return (node) => {
    const v = scalarValue(node);
    const text = typeof v === 'string' ? v : typeof v === 'number' ? numberText(node)! : undefined;
    if (text === undefined) return bad(`expected a hostname template like "{user}", got ${describeValue(node)}`);
    const problem = hostnameTemplateProblem(text);
    return problem === undefined ? ok(text) : bad(problem);
  };
}

/** A size in bytes: an integer, "512M", "1.5GiB", ..., or "unlimited". */
export function size(opts: { min: number; max: number }): Checker<Limit> {
  return (node) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const v = scalarValue(node);
    const bytes = typeof v === 'number' ? (Number.isInteger(v) && v >= 0 ? BigInt(v) : undefined)
      : typeof v === 'string' ? parseSizeText(v) : undefined;
    if (bytes === undefined) return bad(`expected a size like "512M", got ${describeValue(node)}`);
    if (bytes < BigInt(opts.min)) return bad(`expected at least ${formatSize(opts.min)}, got ${describeValue(node)}`);
    if (bytes > BigInt(opts.max)) return bad(`expected at most ${formatSize(opts.max)}, got ${describeValue(node)}`);
    return ok(Number(bytes));
  };
}

/** A whole number in a range (quoted or not), or "unlimited". */
export function count(opts: { min: number; max: number }): Checker<Limit> {
  return (node) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const text = numberText(node);
    const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
    return n >= opts.min && n <= opts.max ? ok(n)
      : bad(`expected a whole number from ${opts.min} to ${opts.max} or "unlimited", got ${describeValue(node)}`);
  };
}

/** The smallest CPU share the kernel can enforce: a 1 ms quota per 100 ms period. */
export const CPUS_MIN = 0.01;

/** A number of CPUs (at least 0.01, at most 3 decimals) in thousandths, or "unlimited". */
export function cpus(opts: { max: number }): Checker<Limit> {
  return (node) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const text = numberText(node);
    const n = text === undefined ? NaN : Number(text);
    if (text === undefined || text === '' || !Number.isFinite(n)) {
      return bad(`expected a number of CPUs like 1.5 or "unlimited", got ${describeValue(node)}`);
    }
    if (n < CPUS_MIN) return bad(`expected at least ${CPUS_MIN} CPUs (the smallest share the kernel enforces), got ${describeValue(node)}`);
    if (n > opts.max) return bad(`expected at most ${opts.max} CPUs, got ${describeValue(node)}`);
    const millis = parseCpuText(text) ?? parseCpuText(String(n));
    return millis === undefined ? bad(`expected at most 3 decimals, got ${describeValue(node)}`) : ok(millis);
  };
}

/** A limit in the policy's own notation, for tables and `show`. */
export const limitText = {
  size: (v: Limit): string => (v === UNLIMITED ? v : formatSize(v)),
  count: (v: Limit): string => (v === UNLIMITED ? v : String(v)),
  cpus: (v: Limit): string => (v === UNLIMITED ? v : formatCpu(v)),
};
