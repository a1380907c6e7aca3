// Whether a policy file may be trusted: only root could have written it. The
// rule is the one the helper's trust.c applies to the compiled policy: the file
// and every folder from "/" down to it belong to root and are writable by root
// alone. A symlink counts only if it resolves inside the policy folder
// (/etc/cellsh), and only regular files are read. The file is read through
// the descriptor whose owner and mode were checked, so it can't be swapped
// between the check and the read.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import { dirname, relative, sep } from 'node:path';

/** One reason not to trust a file: what is wrong (with which path) and the command that fixes it. */
export interface TrustProblem {
  readonly file: string;
  readonly reason: string;
  readonly fix: string;
}

/** A policy file's text, or why it was not read (`missing`: there is no such file). */
export type TrustedText =
  | { readonly text: string }
  | { readonly problems: readonly TrustProblem[]; readonly missing?: boolean };

/** Why root alone must own what it reads, said after each fix. */
const WHY = '(only root may change what users get)';
/** Write bits for group and others. */
const GROUP_OR_OTHERS_WRITE = 0o022;
/** O_NONBLOCK: a FIFO swapped in after the type check opens without waiting for a writer. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The diagnostic text of a problem: "refusing to trust it: REASON; FIX". */
export function trustMessage(p: TrustProblem): string {
  return `refusing to trust it: ${p.reason}; ${p.fix}`;
}

/** Owner and mode problems of a file or folder already stat'ed; `what` prefixes the reason. */
function ownerAndMode(path: string, st: Stats, file: string, what = ''): TrustProblem[] {
  const problems: TrustProblem[] = [];
  if (st.uid !== 0) {
    problems.push({
      file,
      reason: `${what}owned by uid ${st.uid}, not root`,
      fix: `check it, then run "chown root:root ${path}" ${WHY}`,
    });
  }
  const w = st.mode & GROUP_OR_OTHERS_WRITE;
  if (w !== 0) {
    const who = w === GROUP_OR_OTHERS_WRITE ? 'group and others' : w === 0o020 ? 'group' : 'others';
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    problems.push({ file, reason: `${what}writable by ${who} (mode ${mode})`, fix: `run "chmod go-w ${path}" ${WHY}` });
  }
  return problems;
}

/** "/a/b/c" -> ["/", "/a", "/a/b", "/a/b/c"]. */
function prefixes(path: string): string[] {
  const out = ['/'];
  let at = '';
  for (const part of path.split('/').filter((p) => p !== '')) {
    at += `/${part}`;
    out.push(at);
  }
  return out;
}

/** The folders from "/" down to `dir`, both as named and as resolved (a symlinked
 * folder is checked at both ends); folders that don't exist yet are left out. */
function foldersDownTo(dir: string): string[] {
  return [...new Set([...prefixes(dir), ...prefixes(realOr(dir))])];
}

/** Problems with the folders from "/" down to each of `dirs`, for `file`. */
function folderProblems(dirs: readonly string[], file: string): TrustProblem[] {
  const problems: TrustProblem[] = [];
  const seen = new Set<string>();
  for (const folder of dirs.flatMap(foldersDownTo)) {
    if (seen.has(folder)) continue;
    seen.add(folder);
    let st: Stats;
    try {
      st = statSync(folder);
    } catch {
      continue; // not there (yet): nothing in it can be read
    }
    const what = folder === file ? '' : `the folder ${folder} above it is `;
    if (!st.isDirectory())
      problems.push({
        file,
        reason: `${what}not a folder`,
        fix: `remove ${folder} or make it a folder owned by root ${WHY}`,
      });
    else problems.push(...ownerAndMode(folder, st, file, what));
  }
  return problems;
}

/** Problems with a folder that policy files are read from or written to, and the folders above it. */
export function untrustedFolder(dir: string): TrustProblem[] {
  return folderProblems([dir], dir);
}

/** A file type in words, for "a FIFO, not a regular file". */
function typeName(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Whether `path` is `folder` or below it (both resolved). */
function inside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/** Read a policy file only if root alone could have written it (see the top of
 * this file); `policyFolder` is the folder symlinks must stay in (/etc/cellsh). */
export function readTrusted(file: string, policyFolder: string): TrustedText {
  try {
    return readChecked(file, policyFolder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problems: [], missing: true };
    return {
      problems: [
        { file, reason: `can't read it: ${(err as Error).message}`, fix: 'check it and run the command again' },
      ],
    };
  }
}

function readChecked(file: string, policyFolder: string): TrustedText {
  const failed = (reason: string, fix: string): TrustedText => ({ problems: [{ file, reason, fix }] });
  const link = lstatSync(file);
  let real: string;
  try {
    real = realpathSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return failed('a symlink to a file that does not exist', `remove it or point it at a file in ${policyFolder}`);
  }
  if (!inside(real, realOr(policyFolder))) {
    const how = link.isSymbolicLink() ? `a symlink to ${real}` : `reached through a symlinked folder: it is ${real}`;
    return failed(
      `${how}, outside ${policyFolder}`,
      `put the file itself in ${policyFolder} (links may only point inside it)`,
    );
  }
  const notRegular = (st: Stats): TrustedText =>
    failed(`${typeName(st)}, not a regular file`, `remove it or put a regular file in its place ${WHY}`);
  const target = lstatSync(real);
  if (!target.isFile()) return notRegular(target);
  const fd = openSync(real, OPEN_FLAGS);
  try {
    // Check what was opened, then the folders: a folder found trusted now was
    // root's when the file was opened too, as no one else could have changed it.
    const st = fstatSync(fd);
    if (!st.isFile()) return notRegular(st);
    const problems = [...folderProblems([dirname(file), dirname(real)], file), ...ownerAndMode(file, st, file)];
    if (problems.length > 0) return { problems };
    const now = lstatSync(real);
    if (now.dev !== st.dev || now.ino !== st.ino)
      return failed('it changed while being checked', 'run the command again');
    return { text: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** A path resolved, or as given when it can't be (it does not exist). */
function realOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
