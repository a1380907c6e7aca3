// Replace a root-owned file so that readers see the old one or the new one,
// never a part: the compiled policy, sshd's forwarding drop-in, enrol's files.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CellshError } from '../errors.js';

/** Create a folder and any missing parents with exactly `mode` (not narrowed by the umask). */
function makeDirs(dir: string, mode: number): void {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      if (!statSync(d).isDirectory()) throw new CellshError('not-a-folder', `"${d}" is not a folder`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw err;
      missing.unshift(d);
    }
  }
  for (const d of missing) {
    mkdirSync(d, { mode });
    chmodSync(d, mode);
  }
}

/** Replace path with data so that readers see the old file or the new one, never a part:
 * a new temp file (O_EXCL, no symlink follow) in the same folder, fsync, rename, fsync the folder. */
export function writeFileAtomic(
  path: string,
  data: string,
  opts: { mode: number; dirMode: number; beforeRename?: (() => void) | undefined },
): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    makeDirs(dir, opts.dirMode);
    const fd = openSync(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      opts.mode,
    );
    try {
      fchmodSync(fd, opts.mode);
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    opts.beforeRename?.();
    renameSync(tmp, path);
    renamed = true;
    const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    if (err instanceof CellshError) throw err;
    throw new CellshError('write-failed', `can't write "${path}": ${(err as Error).message}`, { cause: err });
  } finally {
    if (!renamed) rmSync(tmp, { force: true });
  }
}
