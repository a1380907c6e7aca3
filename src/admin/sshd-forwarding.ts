// What sshd forwards for each user cellsh serves, from the policy's
// `forwarding` keys: sshd_config.d/cellsh-forwarding.conf. install.sh creates
// that file together with the pam_cellsh line that puts sshd's forwards in the
// user's container network, and removes both; `apply` fills it and makes a
// running sshd read it again. Without the file there is no pam_cellsh, and
// apply writes nothing: cellsh.conf keeps every forward closed.
//
// sshd takes the first value it meets for a keyword, across Match blocks and in
// file order, and this file is read before cellsh.conf. So every block sets all
// four keywords, the users whose forwarding differs from the defaults come
// first, and the block for the whole group last.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Layout } from '../layout.js';
import type { Forwarding } from '../policy/index.js';
import { pamCellshLines } from './pam-stack.js';
import { writeFileAtomic } from './write-atomic.js';

/** The drop-in's name: it sorts before cellsh.conf, so its values win. */
export const FORWARDING_CONF = 'cellsh-forwarding.conf';
/** Debian's sshd. */
export const SSHD = '/usr/sbin/sshd';
/** Nothing forwarded: the drop-in's text while pam_cellsh is not in sshd's PAM stack. */
const CLOSED: Forwarding = { local: false, remote: false, x11: false };

/** The four sshd keywords for one forwarding setting, indented for a Match block. */
export function sshdKeywords(f: Forwarding): string[] {
  const tcp = f.local && f.remote ? 'yes' : f.local ? 'local' : f.remote ? 'remote' : 'no';
  return [
    `    AllowTcpForwarding ${tcp}`,
    `    PermitOpen ${f.local ? 'any' : 'none'}`,
    `    PermitListen ${f.remote ? 'any' : 'none'}`,
    `    X11Forwarding ${f.x11 ? 'yes' : 'no'}`,
  ];
}

const same = (a: Forwarding, b: Forwarding): boolean => a.local === b.local && a.remote === b.remote && a.x11 === b.x11;

/** The drop-in's text: a block per user whose forwarding is not the defaults', then the group's. */
export function forwardingConf(group: string, defaults: Forwarding, users: ReadonlyMap<string, Forwarding>): string {
  const lines = [
    `# cellsh: what sshd forwards for members of group ${group}; pam_cellsh (in`,
    "# /etc/pam.d/sshd) puts each forward inside the user's container network.",
    '# Written by "cellsh-admin apply" from the policy\'s forwarding settings: do not',
    '# edit. install.sh creates it with the PAM line and removes it with that line.',
  ];
  const names = [...users.keys()].sort();
  for (const name of names) {
    const f = users.get(name)!;
    if (!same(f, defaults)) lines.push(`Match Group ${group} User ${name}`, ...sshdKeywords(f));
  }
  lines.push(`Match Group ${group}`, ...sshdKeywords(defaults));
  return `${lines.join('\n')}\n`;
}

/** What became of the drop-in. */
export type ForwardingResult =
  | { readonly kind: 'absent' }
  | { readonly kind: 'unchanged'; readonly path: string; readonly closed: boolean }
  | {
      readonly kind: 'written';
      readonly path: string;
      readonly closed: boolean;
      readonly sshd: 'reloaded' | 'not-running';
    }
  | { readonly kind: 'refused'; readonly path: string; readonly why: string };

/** The running sshd the layout's pid file names; undefined if none runs. */
export function runningSshd(pidFile: string, sshd = SSHD): number | undefined {
  let text: string;
  try {
    // Only a pid file root alone could have written names a process to signal.
    const st = lstatSync(pidFile);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) return undefined;
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  try {
    // A stale file may name a pid since reused by another program, or by a user's own sshd.
    if (statSync(`/proc/${pid}`).uid !== 0 || readlinkSync(`/proc/${pid}/exe`) !== sshd) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/** The drop-in's path and its current text, or undefined where install.sh put none. */
function currentDropIn(layout: Layout): { path: string; text: string } | undefined {
  const path = join(layout.sshdConfigDir, FORWARDING_CONF);
  try {
    return lstatSync(path).isFile() ? { path, text: readFileSync(path, 'utf8') } : undefined;
  } catch {
    return undefined;
  }
}

/** The text the drop-in should have: the policy's forwarding, or none at all
 * while pam_cellsh is missing from sshd's PAM stack (the forwards would be the
 * host's: an upgrade of openssh-server may have replaced the stack). */
function wanted(
  layout: Layout,
  defaults: Forwarding,
  users: ReadonlyMap<string, Forwarding>,
): { text: string; closed: boolean } {
  const closed = pamCellshLines(layout.sshdPam).length === 0;
  return {
    text: closed ? forwardingConf(layout.group, CLOSED, new Map()) : forwardingConf(layout.group, defaults, users),
    closed,
  };
}

/** The drop-in's path when apply would write it (it exists and its text differs), for diff. */
export function forwardingPending(
  layout: Layout,
  defaults: Forwarding,
  users: ReadonlyMap<string, Forwarding>,
): string | undefined {
  const now = currentDropIn(layout);
  return now && now.text !== wanted(layout, defaults, users).text ? now.path : undefined;
}

/** Write the drop-in if install.sh put it in place and it changed, check sshd's
 * whole configuration with `sshd -t` (a HUP on one sshd refuses would end it),
 * and have a running sshd read it. On refusal the old text goes back. */
export function applyForwarding(
  layout: Layout,
  defaults: Forwarding,
  users: ReadonlyMap<string, Forwarding>,
  sshd = SSHD,
): ForwardingResult {
  const now = currentDropIn(layout);
  if (!now) return { kind: 'absent' };
  const { path, text: old } = now;
  const { text, closed } = wanted(layout, defaults, users);
  if (text === old) return { kind: 'unchanged', path, closed };
  const write = (data: string): void => writeFileAtomic(path, data, { mode: 0o644, dirMode: 0o755 });
  write(text);
  if (existsSync(layout.sshdConfig)) {
    const check = spawnSync(sshd, ['-t', '-f', layout.sshdConfig], { encoding: 'utf8' });
    if (check.status !== 0) {
      write(old);
      const why = (check.stderr || check.error?.message || `exit ${check.status}`).trim().split('\n')[0] ?? '';
      return { kind: 'refused', path, why };
    }
  }
  const pid = runningSshd(layout.sshdPidFile, sshd);
  if (pid === undefined) return { kind: 'written', path, closed, sshd: 'not-running' };
  process.kill(pid, 'SIGHUP');
  return { kind: 'written', path, closed, sshd: 'reloaded' };
}
