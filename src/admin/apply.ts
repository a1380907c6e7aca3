// `cellsh-admin apply`: validate the policy and, only if it has no errors,
// install the compiled form the helper reads. The old compiled file stays in
// place until the new one is complete on disk (write a temp file, fsync,
// rename over, fsync the folder), so a crash or a bad edit never leaves the
// helper without a valid policy.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  chmodSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { logEvent, type EventLogger } from '../log.js';
import { errorsOf, formatCompiled, parseCompiled, plural, type PolicyEnv, type PolicySource } from '../policy/index.js';
import { buildInstalled } from './installed.js';
import { printDiagnostics, type TextOut } from './check.js';

/** The compiled policy is readable by all (the login path reads it), writable by root. */
export const COMPILED_MODE = 0o644;
/** Folders created for it. */
export const COMPILED_DIR_MODE = 0o755;

/** What apply needs. */
export interface ApplyOptions {
  readonly layout: Layout;
  readonly env: PolicyEnv;
  readonly log: EventLogger;
  readonly out: TextOut;
  readonly err: TextOut;
  /** The effective uid (must be 0) and the real uid recorded as by_uid. */
  readonly euid: number;
  readonly byUid: number;
  /** A file of the policy whose text is given here instead of read (edit's checked copy). */
  readonly replace?: PolicySource;
  /** Test seam: called after the temp file is complete, before the rename. */
  readonly beforeRename?: () => void;
}

/** Refuse unless running as root. */
export function assertRoot(euid: number, layout: Layout): void {
  if (euid !== 0) {
    throw new CellshError('not-root', `apply must run as root: it writes ${layout.compiledPolicy}`, {
      hint: 'run it with sudo',
      exitCode: ExitCode.refused,
    });
  }
}

/** Validate and install the policy; returns the exit code (0, or 78 if the policy was rejected). */
export function runApply(opts: ApplyOptions): number {
  assertRoot(opts.euid, opts.layout);
  const { layout } = opts;
  const built = buildInstalled(layout, opts.env, opts.replace);
  const files = [...built.policy.files];
  printDiagnostics(built.diagnostics, opts.err);
  const errors = errorsOf(built.diagnostics);
  if (errors.length > 0) {
    logEvent(opts.log, 'policy-rejected', { files, problems: errors.length, by_uid: opts.byUid });
    opts.err.write(
      `${layout.policyFile}: ${plural(errors.length, 'error')}; nothing applied, ${layout.compiledPolicy} is unchanged\n`,
    );
    return ExitCode.config;
  }
  const comment = `written by cellsh-admin apply from ${files.join(', ')}\ndo not edit: change the policy and run "cellsh-admin apply"`;
  const text = formatCompiled(built.users, comment);
  if (!isDeepStrictEqual(parseCompiled(text), built.users)) {
    throw new CellshError('policy-roundtrip', 'the compiled policy does not read back as written', {
      exitCode: ExitCode.internal,
    });
  }
  writeFileAtomic(layout.compiledPolicy, text, {
    mode: COMPILED_MODE,
    dirMode: COMPILED_DIR_MODE,
    beforeRename: opts.beforeRename,
  });
  logEvent(opts.log, 'policy-apply', { files, users: built.users.length, by_uid: opts.byUid });
  opts.out.write(`applied: ${plural(built.users.length, 'user')} -> ${layout.compiledPolicy}\n`);
  return ExitCode.ok;
}

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
