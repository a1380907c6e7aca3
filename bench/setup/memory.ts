// Host memory as the kernel counts it: the system-wide figure sampled before
// and after, and per process (PSS) and per cgroup.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** /proc/meminfo fields in bytes. */
function meminfo(): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const r = /^(\w+):\s+(\d+) kB/.exec(line);
    if (r) m.set(r[1]!, Number(r[2]) * 1024);
  }
  return m;
}

/** Memory in use, not counting caches that the kernel gives back on demand. */
export interface HostMemory {
  readonly used: number;
  readonly slabUnreclaimable: number;
}

function sampleOnce(): HostMemory {
  const m = meminfo();
  const g = (k: string): number => m.get(k) ?? 0;
  return {
    used: g('MemTotal') - g('MemFree') - g('Buffers') - g('Cached') - g('SReclaimable'),
    slabUnreclaimable: g('SUnreclaim'),
  };
}

/** The median of `n` samples 200 ms apart (the figure moves with everything else on the host). */
export function sampleHost(n = 7): HostMemory {
  const used: number[] = [];
  const slab: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = sampleOnce();
    used.push(s.used);
    slab.push(s.slabUnreclaimable);
    spawnSync('/bin/sleep', ['0.2']);
  }
  const mid = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  return { used: mid(used), slabUnreclaimable: mid(slab) };
}

/** A "Name:   N kB" field of a /proc/PID file in bytes (0 if the process is gone). */
function procKb(pid: number, file: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size of a process in bytes. */
export const pss = (pid: number): number => procKb(pid, 'smaps_rollup', 'Pss');
/** Resident set size of a process in bytes. */
export const rss = (pid: number): number => procKb(pid, 'status', 'VmRSS');

/** Every process below pid (not pid itself). */
export function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(name)]);
    } catch {
      // ended while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const k of kids.get(p) ?? []) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

/** Whether a process runs in another pid namespace than ours (inside a container). */
export function inOtherPidNs(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`) !== readlinkSync('/proc/self/ns/pid');
  } catch {
    return false;
  }
}

/** The short name of a process. */
export function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
