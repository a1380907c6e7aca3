// Logins as the tests make them: a command the way sshd runs one (the launcher
// with -c and pipes), and interactive logins through su on a real pty.
import { Terminal } from './terminal.js';
import { asUser, type TestUser } from './users.js';
import type { TestInstall } from './install.js';
import type { Result } from './system.js';

/** The shell prompt of a test user inside the container (bash's default PS1 on Debian). */
export function promptOf(user: TestUser): RegExp {
  return new RegExp(`${user.name}@[^:]*:[^$]*\\$ `);
}

/** `cellsh -c command` as the user, stdio as pipes: what `ssh host command` does. */
export function cellshCommand(
  inst: TestInstall,
  user: TestUser,
  command: string,
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return asUser(user, inst.launcher, ['-c', command], opts);
}

/** An interactive login through `su - user` on a pty, once the prompt shows. */
export async function interactiveLogin(user: TestUser, opts: { cols?: number; rows?: number } = {}): Promise<Terminal> {
  const term = Terminal.spawn('su', ['-', user.name], opts);
  try {
    await term.expect(promptOf(user));
  } catch (err) {
    term.kill();
    throw err;
  }
  return term;
}

/** Type a command and wait for the marker it prints when done; returns what it printed. */
export async function runTyped(term: Terminal, user: TestUser, command: string): Promise<string> {
  // The shell prints "..._2__" for the typed "..._$((1+1))__", so the echo of
  // the typed line never matches.
  const tag = `__done_${Math.random().toString(36).slice(2, 8)}`;
  await term.type(`${command}; echo ${tag}_$((1+1))__\r`);
  const m = await term.expect(new RegExp(`([\\s\\S]*?)${tag}_2__\\r*\\n`));
  await term.expect(promptOf(user));
  // Drop the echoed command line itself, and the terminal's control sequences.
  return stripControls(m[1]!.slice(m[1]!.indexOf('\n') + 1));
}

/** Text without ANSI escape sequences (CSI and OSC), as a person would read it. */
export function stripControls(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r/g, '');
}
