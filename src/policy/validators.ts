// The string rules the helper enforces on the compiled policy (valid_name,
// valid_abs_path and valid_hostname in src/helper/policy.c), as functions that
// say what is wrong. The schema, the compiler and the compiled-file reader all
// use these, so nothing the TypeScript side accepts is refused by the helper.
import { BOUNDS, RESERVED_ENV as CONTRACT_RESERVED_ENV } from '../contract/index.js';

/** Longest user or group name, home or shell path, and container hostname. */
export const { nameMaxLen: NAME_MAX_LEN, pathMaxLen: PATH_MAX_LEN, hostnameMaxLen: HOSTNAME_MAX_LEN } = BOUNDS;

const NAME_CHARS = /^[A-Za-z0-9_.-]*$/;
const PATH_CHARS = /^[A-Za-z0-9_./+@-]*$/;
const HOSTNAME_CHARS = /^[A-Za-z0-9.-]*$/;

/** Why s is not a user or group name the helper accepts (a short reason), or undefined if it is. */
export function nameProblem(s: string): string | undefined {
  if (s.length === 0) return 'empty';
  if (s.length > NAME_MAX_LEN) return `longer than ${NAME_MAX_LEN} characters`;
  if (s.startsWith('-') || s.startsWith('.')) return 'starts with "-" or "."';
  if (!NAME_CHARS.test(s)) return 'has characters other than letters, digits, _ . -';
  return undefined;
}

/** Why s is not a canonical absolute path the helper accepts, or undefined if it is. */
export function pathProblem(s: string): string | undefined {
  if (!s.startsWith('/')) return 'not absolute';
  if (s.length < 2) return 'the root folder';
  if (s.length > PATH_MAX_LEN) return `longer than ${PATH_MAX_LEN} characters`;
  if (!PATH_CHARS.test(s)) return 'has characters other than letters, digits, _ . / + @ -';
  const parts = s.slice(1).split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    return 'not canonical: no "//", "." or ".." parts, no trailing "/"';
  }
  return undefined;
}

/** Why s is not a hostname the helper accepts, or undefined if it is. */
export function hostnameProblem(s: string): string | undefined {
  if (s.length === 0) return 'empty';
  if (s.length > HOSTNAME_MAX_LEN) return `longer than ${HOSTNAME_MAX_LEN} characters`;
  if (s.startsWith('-') || s.startsWith('.')) return 'starts with "-" or "."';
  if (!HOSTNAME_CHARS.test(s)) return 'has characters other than letters, digits, . -';
  return undefined;
}

/** Variables the policy may set, at most; the longest name and value, in bytes. */
export const { envMax: ENV_MAX_VARS, envNameMax: ENV_NAME_MAX, envValueMax: ENV_VALUE_MAX } = BOUNDS;
/** Variables cellsh sets itself or takes from the login. */
export const RESERVED_ENV: readonly string[] = CONTRACT_RESERVED_ENV;

/** Why name is not a variable the policy may set (valid_env_name), or undefined. */
export function envNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return 'a name is letters, digits and _, not starting with a digit';
  if (name.length > ENV_NAME_MAX) return `longer than ${ENV_NAME_MAX} characters`;
  if (RESERVED_ENV.includes(name)) return 'cellsh sets this one itself';
  return undefined;
}

/** Why value is not one the helper accepts for a variable, or undefined. */
export function envValueProblem(value: string): string | undefined {
  if (Buffer.byteLength(value) > ENV_VALUE_MAX) return `longer than ${ENV_VALUE_MAX} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) return 'has a control character (a newline or tab, say)';
  return undefined;
}

/** Edit distance between two short strings (Levenshtein), for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known word closest to an unknown one (edit distance <= 2, or a prefix either way). */
export function closestWord(word: string, known: readonly string[]): string | undefined {
  const MAX_DISTANCE = 2;
  let best: { word: string; score: number } | undefined;
  const lower = word.toLowerCase();
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    const prefix = lower.length > 0 && (k.startsWith(lower) || lower.startsWith(k));
    // A known key the word begins ("host": "hostname") beats all but a one-letter slip.
    const score = Math.min(d <= MAX_DISTANCE ? d : Infinity, prefix ? 1.5 : Infinity);
    if (score !== Infinity && (!best || score < best.score)) best = { word: k, score };
  }
  return best?.word;
}
