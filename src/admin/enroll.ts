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
import { accountRange, freeRangeStart, RANGE_SIZE, readSubIds } from '../images/store-range.js';
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

/** The subordinate id ranges enroll gave (name -> first id), which unenroll takes back. */
export function savedIdsFile(layout: Layout): string {
  return join(dirname(layout.compiledPolicy), 'enrolled-ids.json');
}

function readSaved(file: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function writeSaved(file: string, saved: Record<string, string>): void {
  writeFileAtomic(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600, dirMode: 0o755 });
}

/** Give the user 65536 subordinate uids and gids (for root inside an image
 * container) unless they have some: a block above every range and account id
 * (usermod takes shadow's locks). Returns what it said, or "". */
function giveRange(user: PasswdEntry, opts: EnrollOptions): string {
  if (accountRange(user.name, user.uid)) return '';
  const ids = opts.dir.allUsers().flatMap((u) => [u.uid, u.gid]);
  const start = freeRangeStart([...readSubIds('/etc/subuid'), ...readSubIds('/etc/subgid')], ids);
  const span = `${start}-${start + RANGE_SIZE - 1}`;
  accountTool('usermod', ['--add-subuids', span, '--add-subgids', span, user.name], user.name);
  const saved = readSaved(savedIdsFile(opts.layout));
  saved[user.name] = String(start);
  writeSaved(savedIdsFile(opts.layout), saved);
  return `, subordinate ids ${span}`;
}

/** Take back the range giveRange gave (one the user had before stays). */
function takeRange(user: PasswdEntry, opts: EnrollOptions): string {
  const saved = readSaved(savedIdsFile(opts.layout));
  const start = saved[user.name];
  if (start === undefined) return '';
  const span = `${start}-${Number(start) + RANGE_SIZE - 1}`;
  accountTool('usermod', ['--del-subuids', span, '--del-subgids', span, user.name], user.name);
  delete saved[user.name];
  writeSaved(savedIdsFile(opts.layout), saved);
  return `, subordinate ids ${span} freed`;
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
    const saved = readSaved(savedShellsFile(layout));
    saved[user.name] = user.shell;
    writeSaved(savedShellsFile(layout), saved);
    accountTool('usermod', ['--shell', layout.launcher, user.name], user.name);
  }
  accountTool('usermod', ['--append', '--groups', layout.group, user.name], user.name);
  const ids = giveRange(user, opts);
  logEvent(opts.log, 'enroll', { user: user.name, uid: user.uid, by_uid: opts.byUid });
  opts.out.write(
    `enrolled ${user.name}: login shell ${opts.keepShell ? user.shell : layout.launcher}, group ${layout.group}${ids}\n`,
  );
  return opts.apply();
}

/** Unenroll a user: stop their container, restore their shell, take them out of the group. */
export function runUnenroll(name: string, opts: EnrollOptions & { stop: (uid: number) => void }): number {
  const user = lookup(opts.dir, name);
  const { layout } = opts;
  opts.stop(user.uid);
  const saved = readSaved(savedShellsFile(layout));
  const shell = saved[user.name] ?? '/bin/sh';
  if (user.shell === layout.launcher) accountTool('usermod', ['--shell', shell, user.name], user.name);
  delete saved[user.name];
  writeSaved(savedShellsFile(layout), saved);
  const ids = takeRange(user, opts);
  if (opts.dir.group(layout.group)?.members.includes(user.name)) {
    accountTool('gpasswd', ['--delete', user.name, layout.group], user.name);
  }
  logEvent(opts.log, 'unenroll', { user: user.name, uid: user.uid, by_uid: opts.byUid });
  opts.out.write(
    `unenrolled ${user.name}: container stopped, login shell ${shell}, left group ${layout.group}${ids}\n`,
  );
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
