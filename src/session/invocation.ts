// How cellsh was invoked, read the way a POSIX login shell reads it: a leading
// '-' in argv[0], -l/--login, or no arguments give a login shell; -c COMMAND
// runs one command (what sshd, su -c and scp do).
import { CellshError, ExitCode } from '../errors.js';

/** What the caller asked cellsh to do. */
export type Invocation = { readonly kind: 'login' } | { readonly kind: 'command'; readonly command: string };

const USAGE = 'usage: cellsh [-l] [-c COMMAND]';

// argv[0] ("-cellsh" from login, su - and sshd) needs no special case: a
// command still runs through "shell -c", and everything else is a login.

/** Parse the arguments after argv[0]. */
export function parseInvocation(args: readonly string[]): Invocation {
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-l' || a === '--login') continue;
    if ((a === '-c' || a === '-lc' || a === '-cl') && command === undefined && i + 1 < args.length) {
      command = args[++i]!;
    } else {
      throw new CellshError('usage', `unexpected argument ${JSON.stringify(a.slice(0, 64))}`, { hint: USAGE, exitCode: ExitCode.usage });
    }
  }
  return command === undefined ? { kind: 'login' } : { kind: 'command', command };
}
