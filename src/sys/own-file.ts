// Reading a file below a user's home on the host, on that user's behalf, when
// the user shapes the file from inside their container and the host side must
// not be the one to reveal what the container hides. Every folder below the
// home is opened without following links, each relative to the one before
// (Node has no openat(2): /proc/self/fd/N/NAME looks NAME up in the folder fd N
// holds, not by path again); the file itself is first opened O_PATH, which
// opens nothing for reading (a FIFO can't block, a device is never touched),
// and checked through that fd: a regular file of the caller's, one link, not
// too big. Only then is that same inode reopened for reading (through its own
// /proc/self/fd link) and at most the bound plus one byte read. Whatever is
// wrong is said without a byte of the file's content.
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';

/** open(2)'s O_PATH (not in fs.constants): an fd naming an inode, opened for nothing. */
export const O_PATH = 0o10000000;

/** The largest file read by default: settings fit in a few hundred bytes. */
export const OWN_FILE_MAX_BYTES = 64 * 1024;

/** The path that reaches the inode an fd holds (a magic link: never resolved by name again). */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/** No file there: the file, or a folder on its way, does not exist. */
export interface NoFile {
  readonly kind: 'none';
}

/** The file (or a folder on its way) is not one to read; `path` is relative to
 * the home ("" for the home itself), `why` says what is wrong ("is a symbolic
 * link") without quoting its content. */
export interface Refused {
  readonly kind: 'refused';
  readonly path: string;
  readonly why: string;
}

/** A file that passed the checks, held by an O_PATH fd until close(). */
export interface CheckedFile {
  readonly kind: 'checked';
  /** Relative to the home. */
  readonly path: string;
  readonly fd: number;
  readonly stat: BigIntStats;
  close(): void;
}

/** What reading gives: the text, or why not. */
export type OwnFileText = { readonly kind: 'text'; readonly text: string } | NoFile | Refused;

const NONE: NoFile = { kind: 'none' };
const refused = (path: string, why: string): Refused => ({ kind: 'refused', path, why });

/** What is at `rel` below `home`, opened O_PATH and checked: a regular file
 * owned by `uid` with one link and at most `maxBytes`. No link is followed
 * below the home (the home itself is the admin's path and is followed). */
export function checkOwnFile(
  home: string,
  rel: string,
  uid: number,
  maxBytes: number = OWN_FILE_MAX_BYTES,
): CheckedFile | NoFile | Refused {
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new Error(`not a plain relative path: ${rel}`);
  let dir: number;
  try {
    dir = openSync(home, O_PATH | constants.O_DIRECTORY);
  } catch (err) {
    return openFailed(err, '');
  }
  try {
    // The folders on the way: each opened relative to the last, never through a link.
    for (let i = 0; i < parts.length - 1; i++) {
      const opened = openBelow(dir, parts, i);
      if (typeof opened !== 'number') return opened;
      closeSync(dir);
      dir = opened;
      const stat = fstatSync(dir);
      if (stat.isSymbolicLink()) return refused(partPath(parts, i), 'is a symbolic link');
      if (!stat.isDirectory()) return NONE; // a file where a folder would be: nothing below it
    }
    const last = parts.length - 1;
    const fd = openBelow(dir, parts, last);
    if (typeof fd !== 'number') return fd;
    const stat = fstatSync(fd, { bigint: true });
    const why = leafProblem(stat, uid, maxBytes);
    if (why === undefined) return { kind: 'checked', path: rel, fd, stat, close: () => closeSync(fd) };
    closeSync(fd);
    return refused(rel, why);
  } finally {
    closeSync(dir);
  }
}

/** parts[i], opened O_PATH|O_NOFOLLOW in the folder dir holds: an fd, or no file, or why not. */
function openBelow(dir: number, parts: readonly string[], i: number): number | NoFile | Refused {
  try {
    return openSync(`${fdPath(dir)}/${parts[i]!}`, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    return openFailed(err, partPath(parts, i));
  }
}

function partPath(parts: readonly string[], i: number): string {
  return parts.slice(0, i + 1).join('/');
}

/** Read a checked file: the same inode, reopened for reading (O_NONBLOCK,
 * O_NOCTTY: belt and braces, it is a regular file), at most maxBytes + 1 bytes
 * into one fixed buffer. A file that grew past the bound since the check is
 * refused. Closes nothing: the caller closes `file`. */
export function readChecked(file: CheckedFile, maxBytes: number = OWN_FILE_MAX_BYTES): OwnFileText {
  let fd: number;
  try {
    fd = openSync(fdPath(file.fd), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return openFailed(err, file.path);
  }
  try {
    const now = fstatSync(fd, { bigint: true });
    if (now.dev !== file.stat.dev || now.ino !== file.stat.ino) return refused(file.path, 'changed while being read');
    const buf = Buffer.allocUnsafe(maxBytes + 1); // only the bytes read are used
    let got = 0;
    for (;;) {
      const n = got < buf.length ? readSync(fd, buf, got, buf.length - got, null) : 0;
      if (n === 0) break;
      got += n;
    }
    if (got > maxBytes) return refused(file.path, `is larger than ${sizeText(maxBytes)}`);
    return { kind: 'text', text: buf.subarray(0, got).toString('utf8') };
  } catch (err) {
    return refused(file.path, `can't be read (${codeOf(err)})`);
  } finally {
    closeSync(fd);
  }
}

/** Check, then read: the text of a file of the user's below their home, or why not. */
export function readOwnFile(
  home: string,
  rel: string,
  uid: number,
  maxBytes: number = OWN_FILE_MAX_BYTES,
): OwnFileText {
  const file = checkOwnFile(home, rel, uid, maxBytes);
  if (file.kind !== 'checked') return file;
  try {
    return readChecked(file, maxBytes);
  } finally {
    file.close();
  }
}

/** Why a leaf is not a file to read, or undefined. */
function leafProblem(st: BigIntStats, uid: number, maxBytes: number): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isFile()) return `is not a regular file (${kindOf(st)})`;
  if (st.uid !== BigInt(uid)) return `belongs to uid ${st.uid}, not you`;
  // A hard link could name a file the container does not show the user.
  if (st.nlink !== 1n) return `has ${st.nlink} hard links`;
  if (st.size > BigInt(maxBytes)) return `is larger than ${sizeText(maxBytes)}`;
  return undefined;
}

function kindOf(st: BigIntStats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'an unknown kind of file';
}

/** A failed open: a missing name is no file; anything else is said by its errno code. */
function openFailed(err: unknown, path: string): NoFile | Refused {
  const code = codeOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR' ? NONE : refused(path, `can't be read (${code})`);
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'an unexpected error';
}

function sizeText(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
