// Before starting the helper, the login shell reads its own record in the
// applied policy, so a user who is not enrolled hears it by name, with the
// command the admin needs (the helper, which does no NSS look-ups, only knows
// the uid). Anything else wrong with the policy is the helper's to report.
import { userInfo } from 'node:os';
import { CellshError, ExitCode } from '../errors.js';
import type { CompiledUser } from '../policy/compiled.js';
import { lookupCompiled } from '../policy/compiled-file.js';

/** The caller's record, or undefined when the policy can't be read (the helper will say why). */
export function ownRecord(compiledPolicy: string, uid: number): CompiledUser | undefined | 'absent' {
  try {
    // Root's file in root's folders (the helper checks their owners and modes
    // before it trusts them); nothing on its path is the user's to change.
    // Only the index lines a binary search meets and the caller's own record
    // are read, so this costs the same at any number of users.
    return lookupCompiled(compiledPolicy, uid) ?? 'absent';
  } catch {
    return undefined;
  }
}

/** Refuse, in plain words, a user the applied policy does not list; returns
 * their record when it could be read. */
export function assertEnrolled(compiledPolicy: string, uid: number): CompiledUser | undefined {
  const record = ownRecord(compiledPolicy, uid);
  if (record !== 'absent') return record;
  const name = userInfo().username;
  throw new CellshError('not-enrolled', `${name} is not enrolled in cellsh, so there is no container to log in to`, {
    hint: `ask your administrator to run "cellsh-admin enroll ${name}"`,
    exitCode: ExitCode.refused,
  });
}
