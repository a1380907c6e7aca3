// The cgroups the helper makes for containers, seen from the admin's side: where
// they are on this host (the same rules as src/helper/cgroup-v1.c and
// cgroup-v2.c), which controllers cellsh can use, and what each container uses
// against its limits.
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const CGROUP2_SUPER_MAGIC = 0x63677270;
/** The controllers cellsh limits with, by hierarchy. */
export const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'blkio'] as const;
export const V2_CONTROLLERS = ['memory', 'pids', 'cpu', 'io'] as const;
/** What v1 reports for "no memory limit" is PAGE_COUNTER_MAX pages: LONG_MAX
 * rounded down to a page, so 2^63 less the page size (4 KiB on x86-64, up to
 * 64 KiB on arm64). Any value from the 64 KiB one up is no limit. */
const V1_MEMORY_UNLIMITED = 2 ** 63 - 64 * 1024;

/** Where the containers' cgroups are on this host. */
export type CgroupHost =
  | { readonly version: 'v2'; readonly systemd: boolean; readonly base: string }
  | { readonly version: 'v1'; readonly bases: Readonly<Record<string, string>> };

/** Does systemd run this host (sd_booted)? */
export function underSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

/** The hierarchy and the folder(s) the helper puts containers in, for a cgroup name. */
export function cgroupHost(name: string): CgroupHost {
  let v2 = false;
  try {
    v2 = statfsSync(ROOT).type === CGROUP2_SUPER_MAGIC;
  } catch {
    // no /sys/fs/cgroup: reported as v1 with nothing mounted
  }
  if (v2) {
    const systemd = underSystemd();
    return { version: 'v2', systemd, base: join(ROOT, systemd ? `${name}.slice/${name}.service` : name) };
  }
  return { version: 'v1', bases: Object.fromEntries(V1_CONTROLLERS.map((c) => [c, join(ROOT, c, name)])) };
}

/** Controllers offered to the containers' cgroups (v2: in the base's cgroup.controllers,
 * or the root's when the base is not made yet; v1: mounted hierarchies). */
export function availableControllers(host: CgroupHost): string[] {
  if (host.version === 'v1') return V1_CONTROLLERS.filter((c) => existsSync(join(ROOT, c, 'cgroup.procs')));
  const from = existsSync(host.base) ? host.base : host.systemd ? undefined : ROOT;
  return from ? (read(join(from, 'cgroup.controllers')) ?? '').split(/\s+/).filter((c) => c !== '') : [];
}

/** A number from a cgroup file ("max" and v1's huge value are undefined). */
function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max' || t === '-1' || t === '') return undefined;
  const n = Number(t.split(/\s+/)[0]);
  return Number.isFinite(n) && n < V1_MEMORY_UNLIMITED ? n : undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The value after "key " in a flat-keyed file. */
function keyed(text: string | undefined, key: string): number | undefined {
  const m = text === undefined ? null : new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** What one container uses, against its limits (undefined: no limit, or not known). */
export interface Usage {
  readonly memory: { readonly used: number | undefined; readonly limit: number | undefined };
  readonly pids: { readonly used: number | undefined; readonly limit: number | undefined };
  /** CPU time used so far, in microseconds, and the limit in thousandths of a CPU. */
  readonly cpu: { readonly usec: number | undefined; readonly limit: number | undefined };
  /** Processes the OOM killer ended, and forks refused at the pids limit. */
  readonly oomKills: number;
  readonly pidsMax: number;
}

/** The usage of uid's container, or undefined if it has no cgroup. */
export function containerUsage(host: CgroupHost, uid: number): Usage | undefined {
  const leaf = `u${uid}`;
  if (host.version === 'v2') {
    const dir = join(host.base, leaf);
    if (!existsSync(dir)) return undefined;
    const f = (file: string): string | undefined => read(join(dir, file));
    const cpuMax = f('cpu.max')?.trim().split(/\s+/);
    const quota =
      cpuMax && cpuMax[0] !== 'max' ? Math.round((Number(cpuMax[0]) * 1000) / Number(cpuMax[1])) : undefined;
    return {
      memory: { used: num(f('memory.current')), limit: num(f('memory.max')) },
      pids: { used: num(f('pids.current')), limit: num(f('pids.max')) },
      cpu: { usec: keyed(f('cpu.stat'), 'usage_usec'), limit: quota },
      oomKills: keyed(f('memory.events'), 'oom_kill') ?? 0,
      pidsMax: keyed(f('pids.events'), 'max') ?? 0,
    };
  }
  const at = (c: string, file: string): string | undefined => read(join(host.bases[c]!, leaf, file));
  if (!existsSync(join(host.bases['pids']!, leaf))) return undefined;
  const quota = num(at('cpu', 'cpu.cfs_quota_us'));
  const period = num(at('cpu', 'cpu.cfs_period_us'));
  const usageNs = num(at('cpu', 'cpuacct.usage'));
  return {
    memory: { used: num(at('memory', 'memory.usage_in_bytes')), limit: num(at('memory', 'memory.limit_in_bytes')) },
    pids: { used: num(at('pids', 'pids.current')), limit: num(at('pids', 'pids.max')) },
    cpu: {
      usec: usageNs === undefined ? undefined : Math.round(usageNs / 1000),
      limit: quota && period ? Math.round((quota * 1000) / period) : undefined,
    },
    oomKills: keyed(at('memory', 'memory.oom_control'), 'oom_kill') ?? 0,
    pidsMax: keyed(at('pids', 'pids.events'), 'max') ?? 0,
  };
}
