// doctor's checks for network: private (src/helper/nat.h): the NAT program,
// its account, nft, and the host firewall's table that keeps NATs from the
// host's own addresses. Quiet when no user has network: private.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { CompiledUser } from '../policy/index.js';
import type { Finding } from './doctor.js';

/** What the checks look at; each is a parameter for the tests. */
export interface NatHost {
  readonly slirp4netns: string;
  readonly nft: string;
  /** The NAT's account from /etc/passwd (the helper reads that file, not NSS). */
  readonly account: () => boolean;
  /** Whether the host firewall holds cellsh's table: true, false, or undefined if nft can't tell. */
  readonly table: () => boolean | undefined;
  /** net.ipv4.ip_local_reserved_ports of the host ("8080,61000-61003"). */
  readonly reservedPorts: () => string;
  /** Whether a cgroup v2 hierarchy is mounted where the helper puts its port guard. */
  readonly cgroup2: () => boolean;
}

export const NAT_USER = 'cellsh-nat';
const TABLE = ['inet', 'cellsh'];

export const natHost: NatHost = {
  slirp4netns: '/usr/bin/slirp4netns',
  nft: '/usr/sbin/nft',
  account: () =>
    readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((l) => l.startsWith(`${NAT_USER}:`)),
  table: () => {
    const r = spawnSync(natHost.nft, ['list', 'table', ...TABLE], { encoding: 'utf8' });
    if (r.error) return undefined;
    return r.status === 0 ? true : /No such file or directory/.test(r.stderr) ? false : undefined;
  },
  reservedPorts: () => readFileSync('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8').trim(),
  cgroup2: () =>
    readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => /^\S+ \/sys\/fs\/cgroup(\/unified)? cgroup2 /.test(l)),
};

/** Is every port of [lo, hi] in the sysctl's list? */
function allReserved(list: string, [lo, hi]: readonly [number, number]): boolean {
  const ranges = list
    .split(',')
    .filter(Boolean)
    .map((r) => r.split('-').map(Number));
  for (let p = lo; p <= hi; p++) if (!ranges.some(([a = -1, b = a]) => p >= a && p <= b)) return false;
  return true;
}

/** Users with publish.udp need the helper's port guard (src/helper/port-guard.h):
 * a cgroup v2 hierarchy to put it on, and their ports kept before they log in. */
function checkPorts(compiled: ReadonlyArray<Pick<CompiledUser, 'name' | 'udp_ports'>>, host: NatHost): Finding[] {
  const publishing = compiled.filter((u) => u.udp_ports[0] !== 0);
  if (publishing.length === 0) return [];
  const who = `(${publishing.map((u) => u.name).join(', ')})`;
  if (!host.cgroup2())
    return [
      {
        status: 'fail',
        area: 'install',
        message: `no cgroup v2 hierarchy is mounted, so the UDP ports of publish.udp can't be kept for the NAT and those users' logins fail ${who}`,
        fix: 'mount cgroup2 (systemd does, at /sys/fs/cgroup or /sys/fs/cgroup/unified), or take publish.udp out of the policy',
      },
    ];
  const list = host.reservedPorts();
  const loose = publishing.filter((u) => !allReserved(list, u.udp_ports)).map((u) => u.name);
  return loose.length > 0
    ? [
        {
          status: 'warn',
          area: 'install',
          message: `the UDP ports of publish.udp are not kept for the NAT (${loose.join(', ')}): until they log in, another account may hold them and make their logins fail`,
          fix: 'cellsh-admin apply (at boot, the cellsh unit does it)',
        },
      ]
    : [
        {
          status: 'ok',
          area: 'install',
          message: `the UDP ports of publish.udp are kept for the NAT, no other account may bind them ${who}`,
        },
      ];
}

/** Users with network: private need slirp4netns, nft and cellsh-nat, or their
 * logins fail; their running NATs need the firewall table. */
export function checkNat(
  compiled: ReadonlyArray<Pick<CompiledUser, 'name' | 'network' | 'udp_ports'>>,
  host: NatHost,
): Finding[] {
  return [...checkNatPieces(compiled, host), ...checkPorts(compiled, host)];
}

function checkNatPieces(compiled: ReadonlyArray<Pick<CompiledUser, 'name' | 'network'>>, host: NatHost): Finding[] {
  const users = compiled.filter((u) => u.network === 'private').map((u) => u.name);
  if (users.length === 0) return [];
  const who = `(${users.join(', ')})`;
  const missing: Finding[] = [];
  for (const [path, pkg] of [
    [host.slirp4netns, 'slirp4netns'],
    [host.nft, 'nftables'],
  ] as const) {
    if (!existsSync(path))
      missing.push({
        status: 'fail',
        area: 'install',
        message: `${path} is missing: logins of users with network: private fail ${who}`,
        fix: `apt-get install ${pkg}`,
      });
  }
  if (!host.account())
    missing.push({
      status: 'fail',
      area: 'install',
      message: `the account ${NAT_USER} is missing: logins of users with network: private fail ${who}`,
      fix: 'run install.sh again (it creates the account)',
    });
  if (missing.length > 0) return missing;
  const table = host.table();
  if (table === false)
    return [
      {
        status: 'fail',
        area: 'install',
        message: `the host firewall has no table ${TABLE.join(' ')} (a ruleset flush?): NATs running now may reach the host's own addresses ${who}`,
        fix: 'cellsh-admin restart each of these users; every start puts the table back',
      },
    ];
  return [
    {
      status: table ? 'ok' : 'warn',
      area: 'install',
      message: table
        ? `network: private has its NAT (slirp4netns as ${NAT_USER}) and the firewall table that keeps it from the host ${who}`
        : `nft could not tell whether the firewall table ${TABLE.join(' ')} is in place ${who}`,
    },
  ];
}
