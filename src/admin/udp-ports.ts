// After apply: the UDP ports publish.udp gives are kept for network: private's
// NAT, through the helper (`cellsh-helper ports`, src/helper/port-guard.h),
// which makes the kept set exactly the applied policy's: a range no user has
// any longer is freed. Without it, any local account could bind a user's port
// (libslirp shares it with SO_REUSEADDR) and take their mosh traffic.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ExitCode } from '../errors.js';
import { helperArgs } from '../helper-client/protocol.js';
import type { Layout } from '../layout.js';
import type { CompiledUser } from '../policy/compiled.js';
import type { TextOut } from './check.js';
import { NAT_USER } from './doctor-nat.js';
import { runningContainers, type ContainerRecord } from './ps.js';

type Range = readonly [number, number];

function showRange([lo, hi]: Range): string {
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}

/** "60001-60004 (alice), 61000 (bob)": what the policy publishes, by user. */
type PortsOf = Pick<CompiledUser, 'uid' | 'name' | 'udp_ports'>;

export function describePorts(users: readonly PortsOf[]): string {
  return users
    .filter((u) => u.udp_ports[0] !== 0)
    .map((u) => `${showRange(u.udp_ports)} (${u.name})`)
    .join(', ');
}

/** A note for each user whose new ports a running container of another still
 * holds: its NAT keeps the ports it started with until it restarts, and the
 * user's login fails until then. */
export function heldPortNotes(
  users: readonly PortsOf[],
  running: readonly Pick<ContainerRecord, 'uid' | 'udpPorts'>[],
): string[] {
  const names = new Map(users.map((u) => [u.uid, u.name]));
  const notes: string[] = [];
  for (const r of running) {
    if (r.udpPorts[0] === 0) continue;
    for (const u of users) {
      const lo = Math.max(u.udp_ports[0], r.udpPorts[0]);
      const hi = Math.min(u.udp_ports[1], r.udpPorts[1]);
      if (u.uid === r.uid || u.udp_ports[0] === 0 || lo > hi) continue;
      const holder = names.get(r.uid);
      const stop = holder ? `"cellsh-admin stop ${holder}" ends it` : 'stopping it ends it';
      notes.push(
        `note: ${u.name}'s UDP ports ${showRange([lo, hi])} are still held by the running container of ${holder ?? `uid ${r.uid}`}, which keeps them until it restarts; ${u.name}'s logins fail until then (${stop})\n`,
      );
    }
  }
  return notes;
}

/** A note for each published port that a socket of another account already
 * holds (bound before the port was kept: the guard refuses only new binds),
 * from /proc/net/udp and udp6's lines. The user's logins fail until it closes. */
export function boundPortNotes(
  users: readonly PortsOf[],
  natUid: number | undefined,
  tables: readonly string[],
): string[] {
  const holders = new Map<number, Set<number>>();
  for (const line of tables.flatMap((t) => t.split('\n').slice(1))) {
    const f = line.trim().split(/\s+/);
    const port = Number.parseInt(f[1]?.split(':')[1] ?? '', 16);
    const uid = Number(f[7]);
    if (!Number.isInteger(port) || !Number.isInteger(uid) || uid === natUid) continue;
    holders.set(port, (holders.get(port) ?? new Set()).add(uid));
  }
  const notes: string[] = [];
  for (const u of users) {
    for (let p = u.udp_ports[0]; p !== 0 && p <= u.udp_ports[1]; p++) {
      const uids = holders.get(p);
      if (uids)
        notes.push(
          `note: UDP port ${p} of ${u.name} is already bound by a socket of uid ${[...uids].join(', uid ')}, so ${u.name}'s logins fail until it is closed\n`,
        );
    }
  }
  return notes;
}

/** The NAT account's uid, from /etc/passwd (as the helper reads it). */
function natUid(): number | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${NAT_USER}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}

function udpTables(): string[] {
  return ['/proc/net/udp', '/proc/net/udp6'].flatMap((f) => {
    try {
      return [readFileSync(f, 'utf8')];
    } catch {
      return [];
    }
  });
}

/** Keep the policy's ports (and free the rest); the exit code apply ends with. */
export function keepPublishedPorts(layout: Layout, users: readonly PortsOf[], out: TextOut, err: TextOut): number {
  const kept = describePorts(users);
  for (const note of heldPortNotes(users, runningContainers(layout.stateDir))) err.write(note);
  if (!existsSync(layout.helper)) {
    if (kept) err.write(`note: ${layout.helper} is missing, so the UDP ports ${kept} are not kept for the NAT\n`);
    return ExitCode.ok;
  }
  const r = spawnSync(layout.helper, helperArgs({ verb: 'ports' }), { encoding: 'utf8' });
  if (r.status === 0) {
    if (kept) out.write(`applied: UDP ports ${kept} kept for the NAT of network: private\n`);
    for (const note of boundPortNotes(users, natUid(), udpTables())) err.write(note);
    return ExitCode.ok;
  }
  const why = (r.stderr || r.error?.message || 'the helper failed').trim().replace(/^cellsh[^:]*: /, '');
  err.write(`${why}\nthe policy is applied, but those users' logins fail until the ports can be kept\n`);
  return ExitCode.config;
}
