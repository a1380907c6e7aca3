// The compiled policy file around the records (its layout is the contract's,
// src/contract/index.ts; src/helper/policy.h describes it): a header,
// an index with one fixed-width line per record, comments, the records, and a
// checksum over everything. A login reads the header, the index lines of a
// binary search and its own record, so it costs the same at any number of
// users; cellsh-admin's readers check the whole file.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { POLICY_FILE } from '../contract/index.js';
import { CellshError, ExitCode } from '../errors.js';
import {
  CompiledPolicyError,
  fnv1a64,
  LINE_MAX,
  parseRecord,
  recordLines,
  recordProblem,
  type CompiledUser,
} from './compiled.js';

/** First line of every compiled policy. */
export const POLICY_MAGIC = POLICY_FILE.magic;
const { headLen: HEAD_LEN, indexEntryLen: ENTRY_LEN, recordMaxBytes: RECORD_MAX } = POLICY_FILE;
const U32_MAX = 0xffffffff;

/** One index line. */
interface IndexEntry {
  readonly uid: number;
  readonly offset: number;
  readonly length: number;
  readonly hash: string;
}

const ENTRY = /^(\d{10}) (\d{16}) (\d{8}) ([0-9a-f]{16})\n$/;

/** An index line's fields, or undefined if it is not one (policy.c's index_entry). */
function readEntry(line: string): IndexEntry | undefined {
  const m = ENTRY.exec(line);
  const uid = m ? Number(m[1]) : 0;
  if (!m || uid === 0 || uid >= U32_MAX) return undefined;
  return { uid, offset: Number(m[2]), length: Number(m[3]), hash: m[4]! };
}

/** The record count the header gives, or a CompiledPolicyError. */
function readHeader(head: string): number {
  if (!head.startsWith(`${POLICY_MAGIC}\n`)) throw new CompiledPolicyError(1, `expected "${POLICY_MAGIC}"`);
  const m = /^index (\d{10})\n$/.exec(head.slice(POLICY_MAGIC.length + 1, HEAD_LEN));
  if (!m) throw new CompiledPolicyError(2, 'expected "index <10 digits>"');
  return Number(m[1]);
}

/** The file around record texts ("user N\n" ... "end\n" each): header, index,
 * comment lines, records, checksum. A text whose first line is not "user <uid>"
 * gets no index line (so tests can build files the readers must refuse). */
export function assembleCompiled(records: readonly string[], comment: string): string {
  const comments = comment
    .split('\n')
    .map((l) => (l ? `# ${l}\n` : '#\n'))
    .join('');
  const uids = records.map((text) => {
    const m = /^user ([1-9][0-9]{0,9})\n/.exec(text);
    return m && Number(m[1]) < U32_MAX ? Number(m[1]) : undefined;
  });
  const indexed = uids.filter((u) => u !== undefined).length;
  let offset = HEAD_LEN + indexed * ENTRY_LEN + Buffer.byteLength(comments);
  let index = '';
  records.forEach((text, i) => {
    const bytes = Buffer.from(text, 'utf8');
    const uid = uids[i];
    if (uid !== undefined) {
      index +=
        `${String(uid).padStart(10, '0')} ${String(offset).padStart(16, '0')} ` +
        `${String(bytes.length).padStart(8, '0')} ${fnv1a64(bytes)}\n`;
    }
    offset += bytes.length;
  });
  const body = `${POLICY_MAGIC}\nindex ${String(indexed).padStart(10, '0')}\n${index}${comments}${records.join('')}`;
  return `${body}checksum ${fnv1a64(Buffer.from(body, 'utf8'))}\n`;
}

/** The text of a compiled policy for users (by increasing uid). Throws if a
 * record would not be accepted by the helper. */
export function formatCompiled(users: readonly CompiledUser[], comment: string): string {
  let prevUid = 0;
  const records: string[] = [];
  for (const u of users) {
    const problem = recordProblem(u);
    if (problem)
      throw new CellshError('policy-compile', `can't write the record of uid ${u.uid} (${u.name}): ${problem}`, {
        exitCode: ExitCode.internal,
      });
    if (u.uid <= prevUid)
      throw new CellshError('policy-compile', `records must be in increasing uid order (${u.uid} after ${prevUid})`, {
        exitCode: ExitCode.internal,
      });
    prevUid = u.uid;
    records.push(`${recordLines(u).join('\n')}\n`);
  }
  const long = [...records.join('').split('\n'), ...comment.split('\n').map((l) => `# ${l}`)].find(
    (l) => Buffer.byteLength(l) > LINE_MAX,
  );
  if (long !== undefined)
    throw new CellshError('policy-compile', `a line is longer than ${LINE_MAX} bytes: ${long.slice(0, 40)}...`, {
      exitCode: ExitCode.internal,
    });
  return assembleCompiled(records, comment);
}

/** Read a whole compiled policy, refusing anything policy.c would refuse on any
 * look-up, and an index that does not list exactly the records that follow it.
 * Throws CompiledPolicyError naming the line. */
export function parseCompiled(input: string | Uint8Array): CompiledUser[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
  if (bytes.includes(0)) throw new CompiledPolicyError(0, 'the file contains a NUL byte');
  const text = bytes.toString('latin1'); // one char per byte, like the C reader
  const count = readHeader(text.slice(0, HEAD_LEN));
  if (!text.endsWith('\n')) throw new CompiledPolicyError(0, 'the file does not end with a newline');
  const bodyEnd = text.lastIndexOf('\n', text.length - 2) + 1;
  const recordsFrom = HEAD_LEN + count * ENTRY_LEN;
  if (recordsFrom > bodyEnd)
    throw new CompiledPolicyError(2, `the index lists ${count} records but the file ends inside it`);
  const lastLine = text.slice(bodyEnd, -1);
  const lineCount = (upTo: number): number => text.slice(0, upTo).split('\n').length;
  const m = /^checksum ([0-9a-f]{16})$/.exec(lastLine);
  if (!m) throw new CompiledPolicyError(lineCount(bodyEnd), 'the last line is not "checksum <16 hex digits>"');
  if (fnv1a64(bytes.subarray(0, bodyEnd)) !== m[1]) {
    throw new CompiledPolicyError(
      lineCount(bodyEnd),
      'checksum mismatch: the file was changed after cellsh-admin wrote it',
    );
  }
  const entries: IndexEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = readEntry(text.slice(HEAD_LEN + i * ENTRY_LEN, HEAD_LEN + (i + 1) * ENTRY_LEN));
    if (!e) throw new CompiledPolicyError(i + 3, 'not an index line "<uid> <offset> <length> <hash>"');
    const prev = entries.at(-1)?.uid ?? 0;
    if (e.uid <= prev) throw new CompiledPolicyError(i + 3, `uid ${e.uid} is not above the previous record's ${prev}`);
    entries.push(e);
  }
  // Comment lines, then records up to the checksum line.
  const lines = text.slice(recordsFrom, bodyEnd).split('\n').slice(0, -1);
  const users: CompiledUser[] = [];
  let lineno = count + 3;
  let at = recordsFrom;
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith('#')) {
    if (lines[i]!.length > LINE_MAX) throw new CompiledPolicyError(lineno, 'too long');
    at += lines[i]!.length + 1;
    i++;
    lineno++;
  }
  while (i < lines.length) {
    let j = i;
    while (j < lines.length && lines[j] !== 'end') j++;
    const chunk = lines.slice(i, j + 1);
    const user = parseRecord(chunk, lineno);
    const length = chunk.reduce((n, l) => n + l.length + 1, 0);
    const e = entries[users.length];
    if (!e) throw new CompiledPolicyError(lineno, `the record for uid ${user.uid} has no index line`);
    if (
      e.uid !== user.uid ||
      e.offset !== at ||
      e.length !== length ||
      e.hash !== fnv1a64(bytes.subarray(at, at + length))
    ) {
      throw new CompiledPolicyError(
        users.length + 3,
        `the index line for uid ${e.uid} does not match the record at line ${lineno}`,
      );
    }
    users.push(user);
    at += length;
    lineno += chunk.length;
    i = j + 1;
  }
  if (users.length !== count)
    throw new CompiledPolicyError(2, `the index lists ${count} records but the file has ${users.length}`);
  return users;
}

/** The record for uid in the compiled policy at path, reading only the header,
 * the index lines a binary search meets and the record (policy_lookup in
 * policy.c, with the same checks); undefined if the file lists no such user.
 * Throws CompiledPolicyError if what it reads is invalid, or a system error. */
export function lookupCompiled(path: string, uid: number): CompiledUser | undefined {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const size = fstatSync(fd).size;
    const read = (at: number, length: number): string => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, at);
      if (n !== length) throw new CompiledPolicyError(0, 'the file ends where the index says there is more');
      if (buf.includes(0)) throw new CompiledPolicyError(0, 'the file contains a NUL byte');
      return buf.toString('latin1');
    };
    if (size < HEAD_LEN) throw new CompiledPolicyError(1, `expected "${POLICY_MAGIC}"`);
    const count = readHeader(read(0, HEAD_LEN));
    const recordsFrom = HEAD_LEN + count * ENTRY_LEN;
    if (recordsFrom > size)
      throw new CompiledPolicyError(2, `the index lists ${count} records but the file ends inside it`);
    if (!Number.isInteger(uid) || uid <= 0 || uid >= U32_MAX) return undefined;
    let [lo, hi, loUid, hiUid] = [0, count, 0, U32_MAX];
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const e = readEntry(read(HEAD_LEN + mid * ENTRY_LEN, ENTRY_LEN));
      if (!e) throw new CompiledPolicyError(mid + 3, 'not an index line');
      if (e.uid <= loUid || e.uid >= hiUid)
        throw new CompiledPolicyError(mid + 3, `uid ${e.uid} is out of order in the index`);
      if (e.uid < uid) [lo, loUid] = [mid + 1, e.uid];
      else if (e.uid > uid) [hi, hiUid] = [mid, e.uid];
      else {
        if (e.offset < recordsFrom || e.length === 0 || e.length > RECORD_MAX || e.offset + e.length > size) {
          throw new CompiledPolicyError(mid + 3, `the record of uid ${uid} lies outside the file`);
        }
        const record = read(e.offset, e.length);
        if (fnv1a64(Buffer.from(record, 'latin1')) !== e.hash) {
          throw new CompiledPolicyError(
            0,
            `the record of uid ${uid} does not match its hash: the file was changed after cellsh-admin wrote it`,
          );
        }
        if (!record.endsWith('\n'))
          throw new CompiledPolicyError(0, `the record of uid ${uid} does not end with a newline`);
        const user = parseRecord(record.slice(0, -1).split('\n'), 1);
        if (user.uid !== uid)
          throw new CompiledPolicyError(mid + 3, `the index points uid ${uid} at the record of uid ${user.uid}`);
        return user;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Each record's FNV-1a 64 by uid, from the index lines (record_hash in policy.c,
 * which a container's state remembers); lines that are not index lines are skipped. */
export function recordHashes(bytes: Buffer): Map<number, string> {
  const out = new Map<number, string>();
  const head = bytes.subarray(0, HEAD_LEN).toString('latin1');
  let count: number;
  try {
    count = readHeader(head);
  } catch {
    return out;
  }
  for (let i = 0; i < count && HEAD_LEN + (i + 1) * ENTRY_LEN <= bytes.length; i++) {
    const e = readEntry(bytes.subarray(HEAD_LEN + i * ENTRY_LEN, HEAD_LEN + (i + 1) * ENTRY_LEN).toString('latin1'));
    if (e) out.set(e.uid, e.hash);
  }
  return out;
}
