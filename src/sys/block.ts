// Block devices as the kernel's I/O limits name them: the major:minor of a
// whole disk (cgroup io.max and v1 blkio.throttle take disks, not partitions).
import { readFileSync, statSync } from 'node:fs';

/** A disk by its device numbers. */
export interface DiskNumbers {
  readonly major: number;
  readonly minor: number;
}

/** The disk a device path names (a partition stands for its disk), or why there is none. */
export function blockDevice(path: string): DiskNumbers | string {
  let rdev: bigint;
  try {
    const st = statSync(path, { bigint: true });
    if (!st.isBlockDevice()) return `${path} is not a block device`;
    rdev = st.rdev;
  } catch {
    return `${path} does not exist on this host`;
  }
  // glibc's gnu_dev_major/minor: 12 bits of major and 20 of minor, split.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  const sys = `/sys/dev/block/${major}:${minor}`;
  try {
    readFileSync(`${sys}/partition`);
  } catch {
    return { major, minor };
  }
  const disk = /^(\d+):(\d+)$/.exec(readFileSync(`${sys}/../dev`, 'utf8').trim());
  return disk ? { major: Number(disk[1]), minor: Number(disk[2]) } : `can't find the disk of the partition ${path}`;
}
