// The benchmark's users: real accounts enrolled in the private installation
// (named cellsh-t-b*, so the test suite's safety net knows them), each with a
// prompt the terminal questions wait for; removed with their containers.
import { appendFileSync, chownSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createUser, removeUser, type TestUser } from '../../test/helpers/users.js';
import type { TestInstall } from '../../test/helpers/install.js';

export type BenchUser = TestUser;

/** Creates cellsh-t-b01..bNN; their shells print `prompt` as the prompt. */
export function createUsers(inst: TestInstall, count: number, prompt: string): BenchUser[] {
  const users: BenchUser[] = [];
  for (let i = 1; i <= count; i++) {
    const u = createUser(undefined, inst, `b${String(i).padStart(2, '0')}`);
    appendFileSync(`${u.home}/.bashrc`, `\n# cellsh benchmark\nPS1='${prompt.replace(/\$/g, '\\$')}'\n`);
    users.push(u);
  }
  return users;
}

/** Removes the users, their containers and homes. */
export function removeUsers(inst: TestInstall, users: readonly BenchUser[]): void {
  for (const u of users) removeUser(inst, u.name);
}

/** Writes `mib` MiB of base64 text (76 columns) to the user's home; returns its path
 * and how many bytes a terminal delivers for it (each newline becomes CR LF). */
export function writePayload(user: BenchUser, mib: number): { path: string; terminalBytes: number } {
  const text =
    randomBytes(Math.floor((mib << 20) * 0.75))
      .toString('base64')
      .replace(/.{76}/g, '$&\n') + '\n';
  const path = `${user.home}/cellsh-bench-payload.txt`;
  writeFileSync(path, text, { mode: 0o644 });
  chownSync(path, user.uid, user.gid);
  const lines = text.split('\n').length - 1;
  return { path, terminalBytes: Buffer.byteLength(text) + lines };
}
