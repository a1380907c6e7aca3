// What `cellsh-admin logs` prints must not drive or fool the admin's terminal:
// users write some of the log's strings (the command they ran). Every
// character that can is escaped: C0 controls and DEL, C1 controls (U+0080-
// U+009F: 0xC2 0x9B is a CSI to many terminals), the bidi controls that
// reorder what is shown (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069),
// the line and paragraph separators, and bytes that are not UTF-8.

/** Characters escaped in every form: see the top of this file. Lone surrogates
 * stand for bytes that were not UTF-8 (see decodeLine). */
const UNSAFE =
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** A lone surrogate in a string that came from JSON or decodeLine. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** decodeLine keeps byte B that is not UTF-8 as U+DC00+B (B >= 0x80), as Python's surrogateescape does. */
const RAW_BYTE_BASE = 0xdc00;
/** A value shown bare (unquoted) in the human form. */
const PLAIN_WORD = /^[\w./:@+-]+$/;

/** The \uXXXX escape of one UTF-16 unit. */
function unicodeEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** An unsafe character as readable text: \n \r \t, \xNN for a byte that was not UTF-8, else \uXXXX. */
function readableEscape(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  const code = ch.charCodeAt(0);
  if (code >= RAW_BYTE_BASE + 0x80 && code <= RAW_BYTE_BASE + 0xff)
    return `\\x${(code - RAW_BYTE_BASE).toString(16).padStart(2, '0')}`;
  return unicodeEscape(ch);
}

/** Text with every unsafe character escaped, the rest as it is (for lines that are not records). */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE, readableEscape);
}

/** A string in double quotes for a person: `"` and `\` escaped, unsafe characters as escapes. */
export function quoteForPerson(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&').replace(UNSAFE, readableEscape)}"`;
}

/** A value in the human form: bare when a plain word, quoted when another string, JSON otherwise. */
export function displayValue(v: unknown): string {
  if (typeof v === 'string') return PLAIN_WORD.test(v) ? v : quoteForPerson(v);
  return safeJson(v);
}

/** The value with every string (keys too) well-formed: bytes that were not
 * UTF-8 become U+FFFD, as any JSON reader decoding the log would have them. */
function wellFormed(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(LONE_SURROGATE, '\ufffd');
  if (Array.isArray(v)) return v.map(wellFormed);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [wellFormed(k) as string, wellFormed(x)]),
    );
  }
  return v;
}

/** JSON text of a value, on one line, with no character that a terminal acts on:
 * JSON.stringify escapes C0; the other unsafe characters, which it leaves raw,
 * can only stand inside strings and become \uXXXX there. Parses to the same value. */
export function safeJson(v: unknown): string {
  return (JSON.stringify(wellFormed(v)) ?? 'null').replace(UNSAFE, unicodeEscape);
}

/** JSON text of a value, indented, with no character a terminal acts on: the
 * unsafe characters JSON.stringify leaves raw stand only inside strings, where
 * they become \uXXXX (the structure's own newlines stay). */
export function prettySafeJson(v: unknown): string {
  return (JSON.stringify(wellFormed(v), null, 2) ?? 'null').replace(UNSAFE_IN_JSON, unicodeEscape);
}
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/** The length of the valid UTF-8 sequence at `i`, or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF are not UTF-8). */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** A line's bytes as text, keeping each byte that is not UTF-8 as U+DC00+byte so
 * it is shown as \xNN (the usual decoders turn it into U+FFFD, and it is lost). */
export function decodeLine(bytes: Buffer): string {
  let out = '';
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += bytes.toString('utf8', start, i) + String.fromCharCode(RAW_BYTE_BASE + bytes[i]!);
    i += 1;
    start = i;
  }
  return out + bytes.toString('utf8', start, i);
}
