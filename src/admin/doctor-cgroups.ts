// doctor's cgroup checks: the hierarchy this host runs, whether the containers'
// cgroup is delegated to cellsh (systemd hosts) or cellsh's own, which
// controllers the containers can get, and each policy limit that a login
// would be refused for because the kernel can't apply it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Layout } from '../layout.js';
import type { CompiledUser } from '../policy/index.js';
import { availableControllers, cgroupHost, type CgroupHost } from '../sys/cgroups.js';
import type { Finding } from './doctor.js';

/** The controller each kind of limit needs, named as on this hierarchy. */
function neededBy(users: readonly CompiledUser[], host: CgroupHost, swaps: boolean): Map<string, string[]> {
  const io = host.version === 'v2' ? 'io' : 'blkio';
  const need = new Map<string, string[]>();
  const add = (c: string, u: CompiledUser): void => {
    need.set(c, [...(need.get(c) ?? []), u.name]);
  };
  for (const u of users) {
    if (u.memory || u.memory_high || (u.swap !== 'max' && (swaps || host.version === 'v2'))) add('memory', u);
    if (u.pids || host.version === 'v1') add('pids', u);
    if (u.cpu) add('cpu', u);
    if (u.io_weight || u.io.length > 0) add(io, u);
  }
  return need;
}

/** Is swap in use on this host? */
function hostSwaps(): boolean {
  try {
    return readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
  } catch {
    return true;
  }
}

/** systemd's view of the delegating unit: active and delegated, or why not. */
function unitState(name: string): { ok: boolean; detail: string } {
  const r = spawnSync('systemctl', ['show', '-p', 'ActiveState', '-p', 'Delegate', `${name}.service`], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0) return { ok: false, detail: 'systemctl could not be asked' };
  const active = /^ActiveState=(.*)$/m.exec(r.stdout)?.[1] ?? '?';
  const delegate = /^Delegate=(.*)$/m.exec(r.stdout)?.[1] ?? '?';
  return {
    ok: active === 'active' && delegate === 'yes',
    detail: `${name}.service is ${active}, Delegate=${delegate}`,
  };
}

function list(names: readonly string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
}

/** The cgroup findings for this host and the applied policy's users. */
export function checkCgroups(layout: Layout, users: readonly CompiledUser[]): Finding[] {
  const host = cgroupHost(layout.cgroupName);
  const swaps = hostSwaps();
  const found: Finding[] = [];
  const name = layout.cgroupName;
  if (host.version === 'v2' && host.systemd) {
    const unit = unitState(name);
    found.push(
      unit.ok
        ? {
            status: 'ok',
            area: 'cgroup',
            message: `cgroup v2; systemd delegates ${host.base} to cellsh (${unit.detail})`,
          }
        : {
            status: 'fail',
            area: 'cgroup',
            message: `cgroup v2 under systemd, but ${unit.detail}: every login with a limit is refused`,
            fix: `systemctl enable --now ${name}.service (install.sh writes it; "Delegate=yes" must stay)`,
          },
    );
  } else if (host.version === 'v2') {
    found.push({
      status: 'ok',
      area: 'cgroup',
      message: `cgroup v2 without systemd: cellsh manages ${host.base} itself`,
    });
  } else {
    found.push({
      status: 'ok',
      area: 'cgroup',
      message: `cgroup v1 (legacy hierarchies): containers under ${host.bases['pids']!.replace('/pids/', '/<controller>/')}`,
    });
  }
  const have = availableControllers(host);
  found.push({
    status: 'ok',
    area: 'cgroup',
    message: `controllers the containers can get: ${have.join(' ') || 'none'}`,
  });
  for (const [controller, who] of neededBy(users, host, swaps)) {
    if (have.includes(controller)) continue;
    const fix =
      host.version === 'v2' && host.systemd
        ? `keep "Delegate=yes" in ${name}.service (systemctl cat ${name}.service)`
        : host.version === 'v2'
          ? `enable it: echo +${controller} > /sys/fs/cgroup/cgroup.subtree_control`
          : `mount the ${controller} hierarchy`;
    found.push({
      status: 'fail',
      area: 'cgroup',
      message: `the ${controller} controller is not available: logins of ${list(who)} are refused (their limits need it)`,
      fix,
    });
  }
  found.push(...swapFindings(host, users, swaps));
  found.push(...ioWeightFindings(host, users));
  if (!hasCapSysResource()) {
    found.push({
      status: 'warn',
      area: 'cgroup',
      message: "root lacks CAP_SYS_RESOURCE here: rlimits above a login's own hard limits are capped at them",
    });
  }
  return found;
}

function swapFindings(host: CgroupHost, users: readonly CompiledUser[], swaps: boolean): Finding[] {
  const limited = users.filter((u) => u.swap !== 'max');
  if (!swaps || limited.length === 0) return [];
  const noMemory = limited.filter((u) => u.memory === 0);
  if (host.version === 'v1' && noMemory.length > 0) {
    return [
      {
        status: 'fail',
        area: 'cgroup',
        message: `on cgroup v1 a swap limit needs a memory limit: logins of ${list(noMemory.map((u) => u.name))} are refused while this host swaps`,
        fix: 'set limits.memory for them, or limits.swap: unlimited',
      },
    ];
  }
  // Where swap is accounted, these files exist (v2: in any non-root cgroup with memory on).
  const file =
    host.version === 'v2' ? join(host.base, 'memory.swap.max') : '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes';
  if (existsSync(file) || (host.version === 'v2' && !existsSync(join(host.base, 'memory.max')))) return [];
  return [
    {
      status: 'fail',
      area: 'cgroup',
      message: `this host swaps but the kernel does not account swap per cgroup: logins of ${list(limited.map((u) => u.name))} are refused (limits.swap)`,
      fix: 'boot with swapaccount=1, or set limits.swap: unlimited',
    },
  ];
}

function ioWeightFindings(host: CgroupHost, users: readonly CompiledUser[]): Finding[] {
  const weighted = users.filter((u) => u.io_weight > 0);
  if (weighted.length === 0 || host.version === 'v2') return [];
  const root = '/sys/fs/cgroup/blkio';
  if (existsSync(join(root, 'blkio.weight')) || existsSync(join(root, 'blkio.bfq.weight'))) return [];
  return [
    {
      status: 'fail',
      area: 'cgroup',
      message: `no device is scheduled by weight here (cgroup v1 needs BFQ): logins of ${list(weighted.map((u) => u.name))} are refused (limits.io_weight)`,
      fix: 'echo bfq > /sys/block/DEVICE/queue/scheduler, or remove limits.io_weight',
    },
  ];
}

/** Is CAP_SYS_RESOURCE (24) in this process's bounding set? */
function hasCapSysResource(): boolean {
  try {
    const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return bnd === undefined || (BigInt(`0x${bnd}`) & (1n << 24n)) !== 0n;
  } catch {
    return true;
  }
}
