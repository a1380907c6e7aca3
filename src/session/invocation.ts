// How cellsh was invoked, read the way a POSIX login shell reads it: -c
// COMMAND runs one command (what sshd, su -c and scp do); anything else is a
// login shell. As sshd's ForceCommand, cellsh is run as "<passwd shell> -c
// <cellsh>" (or, through /bin/sh, as plain "cellsh"), and the client's own
// request is in SSH_ORIGINAL_COMMAND.
import { existsSync } from 'node:fs';
import { CellshError, ExitCode } from '../errors.js';

/** What the caller asked cellsh to do. */
export type Invocation = { readonly kind: 'login' } | { readonly kind: 'command'; readonly command: string };

const USAGE = 'usage: cellsh [-l] [-c COMMAND]';

/** Where sftp servers live on Debian, Ubuntu, Fedora and RHEL (the container sees the host's /usr). */
const SFTP_SERVERS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server'];

/** The invocation's surroundings: cellsh's own path and SSH_ORIGINAL_COMMAND, if set. */
export interface InvocationContext {
  readonly self: string;
  readonly originalCommand: string | undefined;
}

// argv[0] ("-cellsh" from login, su - and sshd) needs no special case: a
// command still runs through "shell -c", and everything else is a login.

/** Parse the arguments after argv[0]. */
export function parseInvocation(args: readonly string[], ctx: InvocationContext): Invocation {
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-l' || a === '--login') continue;
    if ((a === '-c' || a === '-lc' || a === '-cl') && command === undefined && i + 1 < args.length) {
      command = args[++i]!;
    } else {
      throw new CellshError('usage', `unexpected argument ${JSON.stringify(a.slice(0, 64))}`, {
        hint: USAGE,
        exitCode: ExitCode.usage,
      });
    }
  }
  // Run as sshd's ForceCommand ("shell -c cellsh", or plain "cellsh" through
  // /bin/sh): the client's request, or a login when it asked for none.
  if (command === undefined || command === ctx.self) {
    const original = ctx.originalCommand;
    return original ? { kind: 'command', command: forcedCommand(original) } : { kind: 'login' };
  }
  return { kind: 'command', command };
}

/** The command a forced session runs; sshd's in-process sftp becomes the sftp
 * server inside the container (it must never run in sshd, on the host). */
function forcedCommand(original: string): string {
  const [first, ...options] = original.trim().split(/\s+/);
  if (first !== 'internal-sftp') return original;
  // Fixed paths under /usr, root's: nothing the user shapes is looked at.
  const server = SFTP_SERVERS.find((p) => existsSync(p));
  if (!server)
    throw new CellshError('no-sftp-server', 'sftp needs an sftp-server program, and none is installed', {
      hint: 'ask your administrator to install openssh-sftp-server',
      exitCode: ExitCode.failure,
    });
  return [server, ...options].join(' ');
}
