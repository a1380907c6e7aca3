// `cellsh-admin edit [FILE]`, as visudo does it: copy the policy file to a
// private temp folder, run the admin's editor on the copy, check the whole
// policy with the copy in the file's place, and on errors offer to edit again.
// Only a copy without errors replaces the file (atomically), and then the
// policy is applied. One edit at a time: a lock file next to the policy. A
// policy file apply would not trust (policy/trust.ts) stops the edit first.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { isatty } from 'node:tty';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { errorsOf, plural, type PolicyEnv } from '../policy/index.js';
import { writeFileAtomic } from './write-atomic.js';
import { printDiagnostics, type TextOut } from './check.js';
import { buildInstalled, policyFolder, untrustedPolicyFiles } from './installed.js';
import { readTrusted, trustMessage, untrustedFolder } from '../policy/trust.js';

/** Policy files are root's and readable by all (the login path reads nothing from them, but admins do). */
const POLICY_MODE = 0o644;

/** What edit needs. */
export interface EditOptions {
  readonly layout: Layout;
  readonly env: PolicyEnv;
  /** The file to edit: the main policy or a file in the drop-in folder. */
  readonly file: string;
  /** Run the editor on a path; returns its exit status. */
  readonly editor: (path: string) => number;
  /** Ask what to do after errors; undefined when there is nobody to ask (no terminal). */
  readonly ask: ((question: string) => string) | undefined;
  /** Apply the saved policy; returns apply's exit code. */
  readonly apply: () => number;
  readonly out: TextOut;
  readonly err: TextOut;
}

/** The editor command line: $VISUAL, $EDITOR, Debian's `editor`, or vi (run through /bin/sh, so it may carry arguments). */
export function systemEditor(env: NodeJS.ProcessEnv = process.env): (path: string) => number {
  const command = env['VISUAL'] || env['EDITOR'] || (existsSync('/usr/bin/editor') ? 'editor' : 'vi');
  return (path) => {
    const r = spawnSync('/bin/sh', ['-c', `${command} "$1"`, 'sh', path], { stdio: 'inherit' });
    return r.status ?? 1;
  };
}

/** A question asked on the controlling terminal, or undefined when stdin is not one. */
export function terminalQuestion(): ((question: string) => string) | undefined {
  if (!isatty(0)) return undefined;
  return (question) => {
    const fd = openSync('/dev/tty', 'r+');
    try {
      writeSync(fd, question);
      const buf = Buffer.alloc(1);
      let line = '';
      while (readSync(fd, buf, 0, 1, null) === 1 && buf[0] !== 0x0a) line += String.fromCharCode(buf[0]!);
      return line;
    } finally {
      closeSync(fd);
    }
  };
}

/** Refuse a file that is not part of the installed policy. */
function checkTarget(layout: Layout, file: string): string {
  const path = resolve(file);
  const inDropins =
    dirname(path) === resolve(layout.policyDir) && basename(path).endsWith('.yaml') && !basename(path).startsWith('.');
  if (path !== resolve(layout.policyFile) && !inDropins) {
    throw new CellshError('not-policy-file', `"${file}" is not part of the installed policy`, {
      hint: `edit ${layout.policyFile} or a NAME.yaml in ${layout.policyDir}`,
      exitCode: ExitCode.usage,
    });
  }
  return path;
}

/** Take the edit lock (a file created exclusively); a lock whose owner is gone is taken over. */
function takeLock(path: string): () => void {
  const lock = `${path}.edit-lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(
        lock,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new CellshError('busy', `${path} is being edited by process ${owner}`, {
          hint: 'wait for that edit to end',
          exitCode: ExitCode.refused,
        });
      }
      rmSync(lock, { force: true });
    }
  }
  throw new CellshError('busy', `can't take the edit lock ${lock}`, { exitCode: ExitCode.refused });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Edit, check, loop on errors, save and apply; returns the exit code. */
export function runEdit(opts: EditOptions): number {
  const path = checkTarget(opts.layout, opts.file);
  const release = takeLock(path);
  const scratch = mkdtempSync(join(tmpdir(), 'cellsh-edit-'));
  try {
    // The file and the others are checked as apply will read them: an edit
    // can't fix who may write a file, so an untrusted one stops it here.
    const untrusted = [...untrustedPolicyFiles(opts.layout, path), ...untrustedFolder(dirname(path))];
    if (untrusted.length > 0) {
      printDiagnostics(
        untrusted.map((p) => ({ severity: 'error', file: p.file, at: undefined, path: '', message: trustMessage(p) })),
        opts.err,
      );
      opts.err.write(`cellsh-admin: nothing edited; ${path} is unchanged\n`);
      return ExitCode.config;
    }
    const read = readTrusted(path, policyFolder(opts.layout));
    const original = 'text' in read ? read.text : '';
    const copy = join(scratch, basename(path));
    writeFileSync(copy, original, { mode: 0o600 });
    for (;;) {
      const status = opts.editor(copy);
      if (status !== 0) {
        opts.err.write(`cellsh-admin: the editor exited with status ${status}; ${path} is unchanged\n`);
        return ExitCode.failure;
      }
      const text = readFileSync(copy, 'utf8');
      if (text === original) {
        opts.out.write(`no changes: ${path} is unchanged\n`);
        return ExitCode.ok;
      }
      const built = buildInstalled(opts.layout, opts.env, { file: path, text });
      printDiagnostics(built.diagnostics, opts.err);
      const errors = errorsOf(built.diagnostics).length;
      if (errors === 0) break;
      if (!opts.ask) {
        opts.err.write(`cellsh-admin: ${plural(errors, 'error')}; ${path} is unchanged\n`);
        return ExitCode.config;
      }
      let answer = '';
      while (answer !== 'e' && answer !== 'x') {
        answer = opts
          .ask(`${plural(errors, 'error')}. What now? (e)dit again, e(x)it without saving: `)
          .trim()
          .toLowerCase();
      }
      if (answer === 'x') {
        opts.err.write(`cellsh-admin: ${path} is unchanged\n`);
        return ExitCode.config;
      }
    }
    writeFileAtomic(path, readFileSync(copy, 'utf8'), { mode: POLICY_MODE, dirMode: 0o755 });
    opts.out.write(`saved ${path}\n`);
    return opts.apply();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    release();
  }
}
