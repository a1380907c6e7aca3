// The image store's own 65536 ids. Every file of every unpacked layer is owned
// by an id in this range, which is nobody's uid and in nobody else's
// /etc/subuid: a setuid bit or a 1777 folder in a layer then means nothing on
// the host. The range is recorded as the subordinate ids of a system account,
// cellsh-store, so that useradd never hands it to anyone.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CellshError, ExitCode } from '../errors.js';

export const STORE_USER = 'cellsh-store';
/** Ids an image may use: 0..65535, as in a user namespace of one range. */
export const RANGE_SIZE = 65536;
/** Where shadow's tools start subordinate ids (login.defs' SUB_UID_MIN). */
const SUB_ID_MIN = 100000;

/** The store's first uid and gid on the host. */
export interface IdRange {
  readonly uid: number;
  readonly gid: number;
}

/** One line of /etc/subuid or /etc/subgid. */
export interface SubIdEntry {
  readonly owner: string;
  readonly start: number;
  readonly count: number;
}

export function parseSubIds(text: string): SubIdEntry[] {
  const out: SubIdEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([^:#\s]+):(\d+):(\d+)$/.exec(line.trim());
    if (m) out.push({ owner: m[1]!, start: Number(m[2]), count: Number(m[3]) });
  }
  return out;
}

export function readSubIds(file: string): SubIdEntry[] {
  try {
    return parseSubIds(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The first block of RANGE_SIZE ids, aligned to RANGE_SIZE, above every id in use:
 * every subordinate range and every account's uid and gid. */
export function freeRangeStart(entries: readonly SubIdEntry[], idsInUse: readonly number[]): number {
  let end = SUB_ID_MIN;
  for (const e of entries) end = Math.max(end, e.start + e.count);
  for (const id of idsInUse) if (id < 0xfffffffe) end = Math.max(end, id + 1);
  const start = Math.ceil(end / RANGE_SIZE) * RANGE_SIZE;
  if (start + RANGE_SIZE > 0xfffffffe)
    throw new CellshError('no-free-ids', 'no free block of 65536 ids is left in /etc/subuid and /etc/subgid', {
      hint: 'free a range in /etc/subuid and /etc/subgid',
    });
  return start;
}

/** The account's range of exactly RANGE_SIZE ids in one file, if it has one. */
function rangeOf(entries: readonly SubIdEntry[], names: readonly string[]): number | undefined {
  return entries.find((e) => names.includes(e.owner) && e.count >= RANGE_SIZE)?.start;
}

/** An account's ranges of RANGE_SIZE ids as /etc/subuid and /etc/subgid record
 * them (by name or uid), or undefined unless it has both. */
export function accountRange(name: string, uid: number): IdRange | undefined {
  const names = [name, String(uid)];
  const u = rangeOf(readSubIds('/etc/subuid'), names);
  const g = rangeOf(readSubIds('/etc/subgid'), names);
  return u !== undefined && g !== undefined ? { uid: u, gid: g } : undefined;
}

/** The store's range as /etc/subuid and /etc/subgid record it, or undefined. */
export function storeRange(storeUid: number | undefined): IdRange | undefined {
  return storeUid === undefined ? undefined : accountRange(STORE_USER, storeUid);
}

function tool(file: string, args: string[]): void {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
    throw new CellshError('store-account', `can't set up the ${STORE_USER} account: ${why}`, {
      exitCode: ExitCode.failure,
    });
  }
}

/** The store's range, made on first use: the system account, then one block
 * of ids above all others in both files (usermod takes shadow's locks). */
export function ensureStoreRange(
  lookupUid: () => number | undefined,
  idsInUse: () => number[],
  out: (line: string) => void,
): IdRange {
  if (lookupUid() === undefined) {
    tool('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      '--comment',
      'cellsh image store',
      STORE_USER,
    ]);
  }
  const uid = lookupUid();
  if (uid === undefined) throw new CellshError('store-account', `the ${STORE_USER} account could not be made`);
  const have = storeRange(uid);
  if (have) return have;
  const start = freeRangeStart([...readSubIds('/etc/subuid'), ...readSubIds('/etc/subgid')], idsInUse());
  const span = `${start}-${start + RANGE_SIZE - 1}`;
  tool('usermod', ['--add-subuids', span, '--add-subgids', span, STORE_USER]);
  out(`the image store's files are owned by ids ${span}, recorded in /etc/subuid and /etc/subgid for ${STORE_USER}`);
  const made = storeRange(uid);
  if (!made) throw new CellshError('store-account', `the ids of ${STORE_USER} did not reach /etc/subuid`);
  return made;
}
