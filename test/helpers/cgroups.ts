// A container's cgroup as tests read it, on either hierarchy a host may have:
// cgroup v1 (a tree per controller) or v2 (one tree; under systemd, in the
// cgroup the cellsh service delegates). Where cellsh puts them on this host
// comes from the same rules the helper follows (src/sys/cgroups.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupHost } from '../../src/sys/cgroups.js';
import type { TestInstall } from './install.js';

/** The limit files, by hierarchy. */
const FILES = {
  pids: { v1: 'pids.max', v2: 'pids.max' },
  memory: { v1: 'memory.limit_in_bytes', v2: 'memory.max' },
} as const;

/** A limit of a user's container as the kernel holds it: pids.max, or the memory
 * limit in bytes (v1 writes no memory limit as a huge number, v2 as "max"). */
export function containerLimit(inst: TestInstall, uid: number, limit: keyof typeof FILES): string {
  const host = cgroupHost(inst.cgroupName);
  const file =
    host.version === 'v2'
      ? join(host.base, `u${uid}`, FILES[limit].v2)
      : join(host.bases[limit]!, `u${uid}`, FILES[limit].v1);
  return readFileSync(file, 'utf8').trim();
}

/** The folders of a cgroup name on this host (one per v1 controller, or the v2 base),
 * or with a uid, that user's container's folders in them. */
export function cgroupDirs(cgroupName: string, uid?: number): string[] {
  const host = cgroupHost(cgroupName);
  const bases = host.version === 'v2' ? [host.base] : Object.values(host.bases);
  return uid === undefined ? bases : bases.map((b) => join(b, `u${uid}`));
}
