// ssh -X and -Y into a container. sshd (joined to the container's network by
// pam_cellsh) listens for the display on the container's loopback and sets
// DISPLAY=localhost:N.0, and it files the display's cookie in ~/.Xauthority
// under the host's name ("xauth add unix:N", which xauth keys by gethostname()).
// An X client in the container looks the cookie up under the container's
// hostname, finds nothing, and sshd refuses it. So the same cookie is added
// again as a wildcard entry of display N, which matches any hostname. This runs
// xauth as the user on the user's own file, as sshd has just done; anything
// odd there (a link, a FIFO) only ever costs the user their display.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const XAUTH = '/usr/bin/xauth';
/** What sshd sets with X11UseLocalhost yes, its default: localhost:N.S */
const SSH_DISPLAY = /^localhost:(\d{1,5})(?:\.\d{1,5})?$/;
/** An entry of `xauth nlist`: family, then address, display number, name and data, each as length and hex. */
const NLIST_LINE = /^[0-9a-f]{4}( [0-9a-f]+){8}$/;
/** xauth waits this long for its lock; then the session goes on without the entry. */
const XAUTH_TIMEOUT_MS = 5000;

/** Give the forwarded display's cookie a wildcard entry; returns a line for the
 * person when that failed (X programs in the container will then be refused). */
export function shareDisplayCookie(display: string | undefined, home: string): string | undefined {
  const m = display === undefined ? null : SSH_DISPLAY.exec(display);
  if (!m) return undefined;
  const file = join(home, '.Xauthority');
  const run = (args: string[], input = '') =>
    spawnSync(XAUTH, ['-q', '-f', file, ...args], {
      input,
      encoding: 'utf8',
      timeout: XAUTH_TIMEOUT_MS,
      env: { PATH: '/usr/bin:/bin', HOME: home },
    });
  const failed = (what: string, r: ReturnType<typeof run>): string =>
    `X11 forwarding: ${what} (${(r.error?.message ?? r.stderr.trim().split('\n')[0]) || `exit ${r.status}`}); X programs here will be refused by the display`;
  const listed = run(['nlist', `unix:${m[1]}`]);
  if (listed.status !== 0 || listed.error) return failed(`xauth can't read ${file}`, listed);
  const wild = listed.stdout
    .split('\n')
    .filter((l) => NLIST_LINE.test(l))
    .map((l) => `ffff${l.slice(4)}`);
  if (wild.length === 0) return `X11 forwarding: sshd left no cookie for display ${m[1]} in ${file}`;
  const merged = run(['nmerge', '-'], `${wild.join('\n')}\n`);
  if (merged.status !== 0 || merged.error) return failed(`xauth can't write ${file}`, merged);
  return undefined;
}
