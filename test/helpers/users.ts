// Real Unix users for tests, named cellsh-t-*, removed (with their container,
// processes and home) after the test even when it fails.
import type { TestContext } from 'node:test';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { must, run, runAsync, type Result } from './system.js';
import type { TestInstall } from './install.js';

/** A test user. */
export interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** Create cellsh-t-<suffix>, enrolled (cellsh as shell, in the group); removed after t. */
export function createUser(
  t: TestContext | undefined,
  inst: TestInstall,
  suffix: string,
  opts: { enrolled?: boolean } = {},
): TestUser {
  const name = `cellsh-t-${suffix}`;
  if (name.length > 32) throw new Error(`user name ${name} is too long`);
  removeUser(inst, name);
  rmSync(`/home/${name}`, { recursive: true, force: true }); // left by a run that crashed
  const enrolled = opts.enrolled ?? true;
  must('useradd', [
    '--create-home',
    '--shell',
    enrolled ? inst.launcher : '/bin/bash',
    ...(enrolled ? ['--groups', inst.group] : []),
    name,
  ]);
  const id = (flag: string): number => Number(must('id', [flag, name]).out.trim());
  const user = { name, uid: id('-u'), gid: id('-g'), home: `/home/${name}` };
  t?.after(() => removeUser(inst, name));
  return user;
}

/** Stop the user's container, end their remaining processes, delete them. */
export function removeUser(inst: TestInstall, name: string): void {
  const uid = run('id', ['-u', name]);
  if (uid.status !== 0) return;
  const n = uid.out.trim();
  run(inst.helper, ['stop', n]);
  // Whatever runs as this uid was started by this test (sessions, monitors).
  run('pkill', ['-KILL', '-U', n]);
  for (let i = 0; i < 50 && run('pgrep', ['-U', n]).status === 0; i++) run('sleep', ['0.1']);
  run('userdel', ['--remove', name]);
  // What the helper keeps per uid besides the container (a later user may get the same uid).
  for (const file of [`${n}.budget`, `${n}.slots`, `${n}.limits`]) rmSync(`${inst.stateDir}/${file}`, { force: true });
  if (existsSync(`/home/${name}`)) run('rm', ['-rf', `/home/${name}`]);
}

/** Run a command as the user the way su does: `su - user -c command`, pipes only. */
export function su(
  user: TestUser,
  command: string,
  opts: { input?: string | Buffer; timeoutMs?: number } = {},
): Promise<Result> {
  return runAsync('su', ['-', user.name, '-c', command], {
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 60_000,
  });
}

/** Run a program directly with the user's ids (no PAM), as a local attacker would.
 * setpriv keeps its capabilities until its own execve (so it could exec what the
 * user may not); going through env(1) makes the last exec a capability-free one. */
export function asUser(
  user: TestUser,
  file: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Result> {
  return runAsync(
    '/usr/bin/setpriv',
    ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', '/usr/bin/env', file, ...args],
    {
      env: opts.env ?? { PATH: '/usr/bin:/bin', TERM: 'xterm' },
      input: opts.input ?? '',
    },
  );
}

/** The user's container record, if one is running. */
export function containerRecord(inst: TestInstall, user: TestUser): Record<string, string> | undefined {
  try {
    const text = readFileSync(`${inst.stateDir}/${user.uid}.state`, 'utf8');
    return Object.fromEntries(
      text
        .trim()
        .split('\n')
        .map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1)]),
    );
  } catch {
    return undefined;
  }
}
