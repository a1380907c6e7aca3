// Reading what an admin imports, which a user may own and change meanwhile:
// the source is opened once, one part of its path at a time, following no
// link on the way (a link at /home/mallory/x could lead root anywhere), and
// everything after reads from that fd. Inside a source folder (an OCI layout,
// docker save unpacked, or an archive cellsh-unpack has unpacked), files are
// opened without following links, and must be regular files.
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { CellshError, ExitCode } from '../errors.js';
import { DOCUMENT_MAX } from './oci.js';
import type { Compression } from './unpack.js';

function bad(what: string, why: string): CellshError {
  return new CellshError('bad-image', `${what}: ${why}`, { exitCode: ExitCode.config });
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** A source opened for import: its fd, and the path that names exactly it. */
export interface Source {
  readonly fd: number;
  readonly dir: boolean;
  /** /proc/self/fd/N: this process's way back to the very file or folder opened. */
  readonly at: string;
}

/** Why walk could not open a part: it is not there, it is a link, a folder was
 * wanted and it is not one, or another errno. */
type WalkFailure = 'missing' | 'link' | 'not-a-folder' | 'other';

/** Open parts below the folder start one at a time through /proc/self/fd,
 * following no link (the last part need not be a folder, and is opened
 * non-blocking); fail says what to throw when a part can't be opened. */
function walk(
  start: string,
  parts: readonly string[],
  fail: (why: WalkFailure, i: number, code: string | undefined) => never,
): number {
  let fd = openSync(start, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      let next: number;
      try {
        next = openSync(
          `/proc/self/fd/${fd}/${part}`,
          constants.O_RDONLY | constants.O_NOFOLLOW | (last ? constants.O_NONBLOCK : constants.O_DIRECTORY),
        );
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') fail('missing', i, code);
        // O_NOFOLLOW says ELOOP for a link, but ENOTDIR where a folder was asked for.
        const link = lstatSync(`/proc/self/fd/${fd}/${part}`, { throwIfNoEntry: false })?.isSymbolicLink();
        if (code === 'ELOOP' || link) fail('link', i, code);
        fail(code === 'ENOTDIR' ? 'not-a-folder' : 'other', i, code);
      }
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
}

/** Open path (absolute, or from the cwd) part by part, following no link. */
export function openSource(path: string): Source {
  const parts = resolve(path).split('/').filter(Boolean);
  const fd = walk('/', parts, (why, i, code) => {
    if (why === 'link')
      throw new CellshError(
        'source-link',
        `/${parts.slice(0, i + 1).join('/')} is a symbolic link: cellsh follows none on the way to what it imports`,
        { hint: 'name the real path', exitCode: ExitCode.usage },
      );
    if (why === 'missing')
      throw new CellshError('no-such-file', `${path} does not exist`, { exitCode: ExitCode.usage });
    throw Object.assign(new Error(`${path}: ${code}`), { code });
  });
  const st = fstatSync(fd);
  if (!st.isFile() && !st.isDirectory()) {
    closeQuietly(fd);
    throw new CellshError('not-a-file', `${path} is neither a file nor a folder`, { exitCode: ExitCode.usage });
  }
  return { fd, dir: st.isDirectory(), at: `/proc/self/fd/${fd}` };
}

/** An fd of the regular file rel inside root, reached one part at a time
 * without following any link (a folder swapped for a link meanwhile is refused). */
export function openInside(root: string, rel: string): number {
  const parts = rel.split('/');
  const fd = walk(root, parts, (why, i, code) => {
    const last = i === parts.length - 1;
    if (why === 'missing') throw bad(rel, 'missing');
    if (why === 'link') throw bad(rel, last ? 'a symbolic link' : 'a part of its path is a symbolic link');
    if (why === 'not-a-folder') throw bad(rel, 'a part of its path is not a folder');
    throw bad(rel, `can't be opened (${code})`);
  });
  if (!fstatSync(fd).isFile()) {
    closeQuietly(fd);
    throw bad(rel, 'not a regular file');
  }
  return fd;
}

export function readInside(root: string, rel: string): Buffer {
  const fd = openInside(root, rel);
  try {
    if (fstatSync(fd).size > DOCUMENT_MAX) throw bad(rel, `larger than ${DOCUMENT_MAX} bytes`);
    return readFileSync(fd);
  } finally {
    closeQuietly(fd);
  }
}

export function streamInside(root: string, rel: string): () => Readable {
  return () => createReadStream('', { fd: openInside(root, rel) });
}

/** The compression of the file at fd, from its first bytes (the media type may not say). */
export function sniffFd(fd: number): Compression {
  const head = Buffer.alloc(4);
  const n = readSync(fd, head, 0, 4, 0);
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n === 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export function sniffInside(root: string, rel: string): Compression {
  const fd = openInside(root, rel);
  try {
    return sniffFd(fd);
  } finally {
    closeQuietly(fd);
  }
}
