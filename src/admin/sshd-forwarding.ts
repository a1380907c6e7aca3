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
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Layout } from '../layout.js';
import type { Forwarding } from '../policy/index.js';
import { writeFileAtomic } from './write-atomic.js';

/** The drop-in's name: it sorts before cellsh.conf, so its values win. */
export const FORWARDING_CONF = 'cellsh-forwarding.conf';
/** The sshd every test and host here runs. */
const SSHD = '/usr/sbin/sshd';

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
  | { readonly kind: 'unchanged'; readonly path: string }
  | { readonly kind: 'written'; readonly path: string; readonly sshd: 'reloaded' | 'not-running' }
  | { readonly kind: 'refused'; readonly path: string; readonly why: string };

/** The running sshd the layout's pid file names, and the configuration it reads; undefined if none runs. */
export function runningSshd(pidFile: string): { pid: number; config: string } | undefined {
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
    // A stale file may name a pid reused by another program.
    if (readlinkSync(`/proc/${pid}/exe`) !== SSHD) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = argv.indexOf('-f');
    const config = at > 0 ? argv[at + 1] : argv.find((a) => a.startsWith('-f') && a.length > 2)?.slice(2);
    return { pid, config: config ?? '/etc/ssh/sshd_config' };
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

/** The drop-in's path when apply would write it (it exists and its text differs), for diff. */
export function forwardingPending(
  layout: Layout,
  defaults: Forwarding,
  users: ReadonlyMap<string, Forwarding>,
): string | undefined {
  const now = currentDropIn(layout);
  return now && now.text !== forwardingConf(layout.group, defaults, users) ? now.path : undefined;
}

/** Write the drop-in if install.sh put it in place and it changed; then have a
 * running sshd read it, after `sshd -t` accepts the result (a HUP on a
 * configuration sshd refuses would end it). On refusal the old text goes back. */
export function applyForwarding(
  layout: Layout,
  defaults: Forwarding,
  users: ReadonlyMap<string, Forwarding>,
): ForwardingResult {
  const now = currentDropIn(layout);
  if (!now) return { kind: 'absent' };
  const { path, text: old } = now;
  const text = forwardingConf(layout.group, defaults, users);
  if (text === old) return { kind: 'unchanged', path };
  const write = (data: string): void => writeFileAtomic(path, data, { mode: 0o644, dirMode: 0o755 });
  write(text);
  const sshd = runningSshd(layout.sshdPidFile);
  if (!sshd) return { kind: 'written', path, sshd: 'not-running' };
  const check = spawnSync(SSHD, ['-t', '-f', sshd.config], { encoding: 'utf8' });
  if (check.status !== 0) {
    write(old);
    const why = (check.stderr || check.error?.message || `exit ${check.status}`).trim().split('\n')[0] ?? '';
    return { kind: 'refused', path, why };
  }
  process.kill(sshd.pid, 'SIGHUP');
  return { kind: 'written', path, sshd: 'reloaded' };
}
