// Checkers for the kinds of value a policy setting can hold. Each takes the
// YAML node as written and returns the checked value in the helper's unit, or
// a message in the shape `expected <what>, got <what was written>`. A user's
// own file is checked with quoting 'withhold': then no message repeats what the
// file says, only what kind of thing it is (`got a string`), since the host
// side may have been pointed at a file the user must not read.
import { BOUNDS, POLICY_FILE } from '../contract/index.js';
import { isMap, isScalar, isSeq } from 'yaml';
import { formatCpu, formatSize, parseCpuText, parseSizeText, UNLIMITED, type Limit } from './sizes.js';
import { encodeEnv } from './compiled.js';
import {
  closestWord,
  ENV_MAX_VARS,
  envNameProblem,
  envValueProblem,
  HOSTNAME_MAX_LEN,
  pathProblem,
  RESERVED_ENV,
} from './validators.js';
import { hostnameTemplateProblem } from './hostname.js';

/** The outcome of checking one value. */
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

/** How messages show what a file says: `quote` it (the admin's policy), or
 * `withhold` it and say only what kind of value it is (a user's own file). */
export type Quoting = 'quote' | 'withhold';

/** A checker: a YAML node (or null for an empty value) to a checked value. A
 * checker must pass `quoting` on to describeValue and quote names through quoted(). */
export type Checker<T> = (node: unknown, quoting?: Quoting) => Checked<T>;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(message: string): Checked<T> => ({ ok: false, message });

/** What a node holds, for "got ..." in messages: "lots" quoted, 12 bare, "a
 * list"; withheld, only the kind: "a string", "a number". */
export function describeValue(node: unknown, quoting: Quoting = 'quote'): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'nothing';
    if (quoting === 'withhold') return kindOf(node.value);
    if (typeof node.value === 'string') return JSON.stringify(node.value);
    return node.source ?? String(node.value);
  }
  return 'an unsupported value';
}

function kindOf(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return 'a value';
  }
}

/** A name the file wrote, "quoted" in messages; withheld, the words given instead. */
export function quoted(name: string, quoting: Quoting, instead: string): string {
  return quoting === 'quote' ? `"${name}"` : instead;
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
  return (node, quoting) => {
    const v = scalarValue(node);
    return typeof v === 'string' && (words as readonly string[]).includes(v)
      ? ok(v as T)
      : bad(`expected ${expected}, got ${describeValue(node, quoting)}`);
  };
}

/** "host", or an image name as the store has them (lower-case letters, digits, ".", "_", "-"). */
export function imageName(): Checker<string> {
  return (node, quoting) => {
    const v = scalarValue(node);
    return typeof v === 'string' &&
      (v === 'host' || (/^[a-z0-9][a-z0-9._-]*$/.test(v) && v.length <= BOUNDS.imageNameMax))
      ? ok(v)
      : bad(`expected "host" or an image name like "debian-12", got ${describeValue(node, quoting)}`);
  };
}

/** true or false (YAML's booleans; "yes", "on" and the like are words, not booleans). */
export function flag(): Checker<boolean> {
  return (node, quoting) => {
    const v = scalarValue(node);
    return typeof v === 'boolean' ? ok(v) : bad(`expected true or false, got ${describeValue(node, quoting)}`);
  };
}

/** A canonical absolute path (the helper's valid_abs_path). */
export function absolutePath(example: string): Checker<string> {
  return (node, quoting) => {
    const v = scalarValue(node);
    const problem = typeof v === 'string' ? pathProblem(v) : 'not a string';
    return problem === undefined
      ? ok(v as string)
      : bad(`expected an absolute path like "${example}", got ${describeValue(node, quoting)} (${problem})`);
  };
}

/** A hostname template with {user}, {uid} and {host} tokens. */
export function hostnameTemplate(): Checker<string> {
  return (node, quoting) => {
    const v = scalarValue(node);
    const text = typeof v === 'string' ? v : typeof v === 'number' ? numberText(node)! : undefined;
    if (text === undefined)
      return bad(`expected a hostname template like "{user}", got ${describeValue(node, quoting)}`);
    const problem = hostnameTemplateProblem(text);
    if (problem === undefined) return ok(text);
    // hostnameTemplateProblem quotes the template; withheld, the rules instead.
    return bad(
      quoting === 'withhold'
        ? `expected a hostname template like "{user}-dev", got ${describeValue(node, quoting)} that is not one ` +
            `(letters, digits, "." and "-", at most ${HOSTNAME_MAX_LEN} characters, and the tokens {user}, {uid}, {host})`
        : problem,
    );
  };
}

/** A size in bytes: an integer, "512M", "1.5GiB", ..., or "unlimited". */
export function size(opts: { min: number; max: number }): Checker<Limit> {
  return (node, quoting) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const v = scalarValue(node);
    const bytes =
      typeof v === 'number'
        ? Number.isInteger(v) && v >= 0
          ? BigInt(v)
          : undefined
        : typeof v === 'string'
          ? parseSizeText(v)
          : undefined;
    if (bytes === undefined) return bad(`expected a size like "512M", got ${describeValue(node, quoting)}`);
    if (bytes < BigInt(opts.min))
      return bad(`expected at least ${formatSize(opts.min)}, got ${describeValue(node, quoting)}`);
    if (bytes > BigInt(opts.max))
      return bad(`expected at most ${formatSize(opts.max)}, got ${describeValue(node, quoting)}`);
    return ok(Number(bytes));
  };
}

/** A whole number in a range (quoted or not), or "unlimited". */
export function count(opts: { min: number; max: number }): Checker<Limit> {
  return (node, quoting) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const text = numberText(node);
    const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
    return n >= opts.min && n <= opts.max
      ? ok(n)
      : bad(
          `expected a whole number from ${opts.min} to ${opts.max} or "unlimited", got ${describeValue(node, quoting)}`,
        );
  };
}

/** Host ports, lo to hi (both included). */
export interface PortRange {
  readonly lo: number;
  readonly hi: number;
}

/** "none", a port, or "LO-HI": at most opts.count ports, none below opts.min. */
export function portRange(opts: { min: number; count: number }): Checker<PortRange | 'none'> {
  return (node, quoting) => {
    const text = numberText(node) ?? scalarValue(node);
    if (text === 'none') return ok('none');
    const m = typeof text === 'string' ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text) : null;
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    return lo >= opts.min && hi >= lo && hi <= 65535 && hi - lo < opts.count
      ? ok({ lo, hi })
      : bad(
          `expected "none", a port or a range LO-HI of at most ${opts.count} ports from ${opts.min} to 65535, got ${describeValue(node, quoting)}`,
        );
  };
}

/** The smallest CPU share the kernel can enforce: a 1 ms quota per 100 ms period. */
export const CPUS_MIN = 0.01;

/** A number of CPUs (at least 0.01, at most 3 decimals) in thousandths, or "unlimited". */
export function cpus(opts: { max: number }): Checker<Limit> {
  return (node, quoting) => {
    if (isUnlimited(node)) return ok(UNLIMITED);
    const text = numberText(node);
    const n = text === undefined ? NaN : Number(text);
    if (text === undefined || text === '' || !Number.isFinite(n)) {
      return bad(`expected a number of CPUs like 1.5 or "unlimited", got ${describeValue(node, quoting)}`);
    }
    if (n < CPUS_MIN)
      return bad(
        `expected at least ${CPUS_MIN} CPUs (the smallest share the kernel enforces), got ${describeValue(node, quoting)}`,
      );
    if (n > opts.max) return bad(`expected at most ${opts.max} CPUs, got ${describeValue(node, quoting)}`);
    const millis = parseCpuText(text) ?? parseCpuText(String(n));
    return millis === undefined ? bad(`expected at most 3 decimals, got ${describeValue(node, quoting)}`) : ok(millis);
  };
}

/** A limit in the policy's own notation, for tables and `show`. */
export const limitText = {
  size: (v: Limit): string => (v === UNLIMITED ? v : formatSize(v)),
  count: (v: Limit): string => (v === UNLIMITED ? v : String(v)),
  cpus: (v: Limit): string => (v === UNLIMITED ? v : formatCpu(v)),
};

/** The I/O weight's range (cgroup v2's io.weight). */
export const { ioWeightMin: IO_WEIGHT_MIN, ioWeightMax: IO_WEIGHT_MAX } = BOUNDS;
/** The word for "the kernel's default weight". */
export const DEFAULT_WORD = 'default';

/** A relative I/O weight from 1 to 10000, or "default" (the kernel's, 100). */
export function weight(): Checker<number | 'default'> {
  return (node, quoting) => {
    const v = scalarValue(node);
    if (typeof v === 'string' && v.trim().toLowerCase() === DEFAULT_WORD) return ok(DEFAULT_WORD);
    const text = numberText(node);
    const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
    return n >= IO_WEIGHT_MIN && n <= IO_WEIGHT_MAX
      ? ok(n)
      : bad(
          `expected a weight from ${IO_WEIGHT_MIN} to ${IO_WEIGHT_MAX} or "default", got ${describeValue(node, quoting)}`,
        );
  };
}

/** A per-process limit: soft and hard, each in the field's unit or "unlimited". */
export interface RlimitValue {
  readonly soft: Limit;
  readonly hard: Limit;
}

/** An rlimit: one value for both soft and hard, or {soft, hard} with soft <= hard. */
export function rlimit(each: Checker<Limit>): Checker<RlimitValue> {
  const above = (a: Limit, b: Limit): boolean => (a === UNLIMITED ? b !== UNLIMITED : b !== UNLIMITED && a > b);
  return (node, quoting = 'quote') => {
    if (!isMap(node)) {
      const one = each(node, quoting);
      return one.ok ? ok({ soft: one.value, hard: one.value }) : bad(`${one.message} (or {soft: N, hard: N})`);
    }
    const fields = new Map(node.items.map((p) => [isScalar(p.key) ? String(p.key.value) : '', p.value]));
    const unknown = [...fields.keys()].filter((k) => k !== 'soft' && k !== 'hard');
    if (unknown.length > 0 || !fields.has('soft') || !fields.has('hard')) {
      const keys =
        quoting === 'quote'
          ? [...fields.keys()].map((k) => `"${k}"`)
          : [
              ...[...fields.keys()].filter((k) => !unknown.includes(k)).map((k) => `"${k}"`),
              ...(unknown.length > 0 ? [`${unknown.length} other`] : []),
            ];
      return bad(`expected {soft: N, hard: N}, got a mapping with ${keys.join(', ') || 'no keys'}`);
    }
    const soft = each(fields.get('soft'), quoting);
    if (!soft.ok) return bad(`soft: ${soft.message}`);
    const hard = each(fields.get('hard'), quoting);
    if (!hard.ok) return bad(`hard: ${hard.message}`);
    if (above(soft.value, hard.value)) return bad('the soft limit is above the hard limit');
    return ok({ soft: soft.value, hard: hard.value });
  };
}

/** Bandwidth limits on one block device, as the policy states them. */
export interface IoDevice {
  /** The device's path on the host (/dev/sda); a partition stands for its disk. */
  readonly device: string;
  /** Bytes per second, or unlimited. */
  readonly read_bps: Limit;
  readonly write_bps: Limit;
  /** Operations per second, or unlimited. */
  readonly read_iops: Limit;
  readonly write_iops: Limit;
}

/** How many devices one container may have limits on (MAX_IO_DEVICES in policy.h). */
export const MAX_IO_DEVICES = 8;
const IO_KEYS = ['read_bps', 'write_bps', 'read_iops', 'write_iops'] as const;

/** A list of {device, read_bps, write_bps, read_iops, write_iops}; each names a
 * device under /dev and sets at least one limit. */
export function ioDevices(opts: { bps: Checker<Limit>; iops: Checker<Limit> }): Checker<readonly IoDevice[]> {
  return (node, quoting = 'quote') => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return ok([]);
    if (!isSeq(node))
      return bad(
        `expected a list of {device, read_bps, write_bps, read_iops, write_iops}, got ${describeValue(node, quoting)}`,
      );
    if (node.items.length > MAX_IO_DEVICES)
      return bad(`expected at most ${MAX_IO_DEVICES} devices, got ${node.items.length}`);
    const out: IoDevice[] = [];
    for (const [i, item] of node.items.entries()) {
      const at = `item ${i + 1}`;
      if (!isMap(item)) return bad(`${at}: expected {device: /dev/NAME, ...}, got ${describeValue(item, quoting)}`);
      const fields = new Map(item.items.map((p) => [isScalar(p.key) ? String(p.key.value) : '', p.value]));
      const unknown = [...fields.keys()].find((k) => k !== 'device' && !(IO_KEYS as readonly string[]).includes(k));
      if (unknown !== undefined)
        return bad(
          `${at}: unknown key${quoting === 'quote' ? ` "${unknown}"` : ''}; expected device, ${IO_KEYS.join(', ')}`,
        );
      const device = scalarValue(fields.get('device'));
      if (typeof device !== 'string' || !/^\/dev\/[A-Za-z0-9._/-]+$/.test(device) || device.includes('..')) {
        return bad(`${at}: expected device: /dev/NAME, got ${describeValue(fields.get('device'), quoting)}`);
      }
      const limits: Record<string, Limit> = {};
      for (const key of IO_KEYS) {
        if (!fields.has(key)) {
          limits[key] = UNLIMITED;
          continue;
        }
        const r = (key.endsWith('bps') ? opts.bps : opts.iops)(fields.get(key), quoting);
        if (!r.ok) return bad(`${at}: ${key}: ${r.message}`);
        limits[key] = r.value;
      }
      if (IO_KEYS.every((k) => limits[k] === UNLIMITED)) return bad(`${at}: set at least one of ${IO_KEYS.join(', ')}`);
      out.push({ device, ...limits } as unknown as IoDevice);
    }
    return ok(out);
  };
}

/** The longest "env" value of a compiled record (its line, "env " and the value, fits POLICY_FILE.lineMax). */
export const ENV_ENCODED_MAX = POLICY_FILE.lineMax - 23;

/** Variables set in every session: NAME: value, at most ENV_MAX_VARS. */
export function envMap(): Checker<Readonly<Record<string, string>>> {
  return (node, quoting = 'quote') => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return ok({});
    if (!isMap(node))
      return bad(
        `expected a mapping of variable names to values, like {EDITOR: vim}, got ${describeValue(node, quoting)}`,
      );
    if (node.items.length > ENV_MAX_VARS)
      return bad(`expected at most ${ENV_MAX_VARS} variables, got ${node.items.length}`);
    const out: Record<string, string> = {};
    for (const [i, pair] of node.items.entries()) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      // Withheld, a variable is named by its place, or by name if cellsh reserves it.
      const shown = RESERVED_ENV.includes(name) ? `"${name}"` : quoted(name, quoting, `variable ${i + 1}`);
      const nameBad = envNameProblem(name);
      if (nameBad) return bad(`${shown}: ${nameBad}`);
      if (Object.hasOwn(out, name)) return bad(`${shown} is set twice`);
      const v = pair.value;
      const text =
        v === null || (isScalar(v) && v.value === null)
          ? ''
          : isScalar(v) && typeof v.value === 'string'
            ? v.value
            : isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean')
              ? (v.source ?? String(v.value))
              : undefined;
      const label = quoting === 'quote' ? name : shown;
      if (text === undefined) return bad(`${label}: expected a string, got ${describeValue(v, quoting)}`);
      const valueBad = envValueProblem(text);
      if (valueBad) return bad(`${label}: ${valueBad}`);
      out[name] = text;
    }
    const encoded = Buffer.byteLength(encodeEnv(Object.entries(out)));
    if (encoded > ENV_ENCODED_MAX)
      return bad(
        `the variables take ${encoded} bytes in the compiled policy, at most ${ENV_ENCODED_MAX}; set fewer or shorter ones`,
      );
    return ok(out);
  };
}

/** A list of words from a fixed set, each at most once ([] allowed). */
export function wordList(
  known: () => readonly string[],
  refuse: (w: string) => string | undefined,
): Checker<readonly string[]> {
  return (node, quoting = 'quote') => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return ok([]);
    if (!isSeq(node)) return bad(`expected a list like [shell, limits.memory], got ${describeValue(node, quoting)}`);
    const out: string[] = [];
    for (const item of node.items) {
      const w = scalarValue(item);
      if (typeof w !== 'string') return bad(`expected a key name, got ${describeValue(item, quoting)}`);
      const words = known();
      if (!words.includes(w)) {
        const why = refuse(w); // about a known setting key, so quoting it reveals nothing
        if (why) return bad(why);
        const near = closestWord(w, words);
        return bad(
          `unknown key${quoting === 'quote' ? ` "${w}"` : ''}; ${near ? `did you mean "${near}"?` : `expected one of: ${words.join(', ')}`}`,
        );
      }
      if (out.includes(w)) return bad(`"${w}" is listed twice`);
      out.push(w);
    }
    return ok(out);
  };
}
