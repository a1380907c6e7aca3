// `cellsh-admin enroll USER` / `unenroll USER`: make a user one of cellsh's, or
// undo it. Enrolling adds them to the cellsh group (whose members may run the
// helper), makes cellsh their login shell (remembering the old one) and
// applies the policy; unenrolling stops their container and reverses each step.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CellshError, ExitCode } from '../errors.js';
import { helperArgs } from '../helper-client/protocol.js';
import type { Layout } from '../layout.js';
import { logEvent, type EventLogger } from '../log.js';
import type { PasswdEntry, UserDirectory } from '../sys/users.js';
import { writeFileAtomic } from './write-atomic.js';
import type { TextOut } from './check.js';

/** Where the shells users had before enrolment are kept (beside the compiled policy). */
export function savedShellsFile(layout: Layout): string {
  return join(dirname(layout.compiledPolicy), 'enrolled-shells.json');
}

/** What enroll and unenroll need. */
export interface EnrollOptions {
  readonly layout: Layout;
  readonly dir: UserDirectory;
  readonly log: EventLogger;
  readonly out: TextOut;
  readonly byUid: number;
  /** Compile and install the policy afterwards (cellsh-admin apply); returns its exit code. */
  readonly apply: () => number;
}

/** Run an account tool (usermod, gpasswd) and fail with its own words if it refuses. */
function accountTool(file: string, args: string[], user: string): void {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
    throw new CellshError('account-change', `can't change the account of ${user}: ${why}`, {
      hint: 'for directory users (LDAP, sssd) set the group and login shell in the directory instead',
      exitCode: ExitCode.failure,
    });
  }
}

function readSaved(layout: Layout): Record<string, string> {
  try {
    return JSON.parse(readFileSync(savedShellsFile(layout), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function writeSaved(layout: Layout, saved: Record<string, string>): void {
  writeFileAtomic(savedShellsFile(layout), `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600, dirMode: 0o755 });
}

function lookup(dir: UserDirectory, name: string): PasswdEntry {
  const user = dir.user(name);
  if (!user) throw new CellshError('no-such-user', `no user "${name}" on this host`, { exitCode: ExitCode.usage });
  if (user.uid === 0) throw new CellshError('root', 'root is never served by cellsh', { exitCode: ExitCode.usage });
  return user;
}

/** Shells that read nothing of the user's for "-c": safe as the passwd shell
 * under sshd's ForceCommand (bash reads ~/.bashrc there, zsh ~/.zshenv: SA-36). */
export const SAFE_FORCED_SHELLS = ['/bin/sh', '/usr/bin/sh', '/bin/dash', '/usr/bin/dash'];

/** Enroll a user; returns the exit code of the policy apply. With keepShell
 * (sshd ForceCommand deployments) the login shell stays, if it is a safe one. */
export function runEnroll(name: string, opts: EnrollOptions & { keepShell?: boolean }): number {
  const user = lookup(opts.dir, name);
  const { layout } = opts;
  if (opts.keepShell && user.shell !== layout.launcher && !SAFE_FORCED_SHELLS.includes(user.shell)) {
    throw new CellshError(
      'unsafe-shell',
      `${user.name}'s login shell ${user.shell} reads files from the home before sshd's ForceCommand runs`,
      {
        hint: `give ${user.name} cellsh or /bin/sh as login shell, or enroll without --keep-shell`,
        exitCode: ExitCode.refused,
      },
    );
  }
  if (!opts.keepShell && user.shell !== layout.launcher) {
    const saved = readSaved(layout);
    saved[user.name] = user.shell;
    writeSaved(layout, saved);
    accountTool('usermod', ['--shell', layout.launcher, user.name], user.name);
  }
  accountTool('usermod', ['--append', '--groups', layout.group, user.name], user.name);
  logEvent(opts.log, 'enroll', { user: user.name, uid: user.uid, by_uid: opts.byUid });
  opts.out.write(
    `enrolled ${user.name}: login shell ${opts.keepShell ? user.shell : layout.launcher}, group ${layout.group}\n`,
  );
  return opts.apply();
}

/** Unenroll a user: stop their container, restore their shell, take them out of the group. */
export function runUnenroll(name: string, opts: EnrollOptions & { stop: (uid: number) => void }): number {
  const user = lookup(opts.dir, name);
  const { layout } = opts;
  opts.stop(user.uid);
  const saved = readSaved(layout);
  const shell = saved[user.name] ?? '/bin/sh';
  if (user.shell === layout.launcher) accountTool('usermod', ['--shell', shell, user.name], user.name);
  delete saved[user.name];
  writeSaved(layout, saved);
  if (opts.dir.group(layout.group)?.members.includes(user.name)) {
    accountTool('gpasswd', ['--delete', user.name, layout.group], user.name);
  }
  logEvent(opts.log, 'unenroll', { user: user.name, uid: user.uid, by_uid: opts.byUid });
  opts.out.write(`unenrolled ${user.name}: container stopped, login shell ${shell}, left group ${layout.group}\n`);
  return opts.apply();
}

/** Stop a user's container through the helper (as root it may name any uid). */
export function stopContainer(layout: Layout, uid: number, notice?: string): void {
  const r = spawnSync(layout.helper, helperArgs({ verb: 'stop', uid, notice }), { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new CellshError(
      'stop-failed',
      `can't stop the container of uid ${uid}: ${(r.stderr || r.error?.message || '').trim()}`,
      {
        exitCode: r.status ?? ExitCode.internal,
      },
    );
  }
}
