// Looking at processes from the host side, as root: who runs what, with which
// ids, limits and fds. Everything here reads /proc.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The pids of every process running the program at exe (by /proc/PID/exe). */
export function pidsRunning(exe: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/exe`) === exe) pids.push(Number(d));
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

/** A field of /proc/PID/status ("Uid" -> "0\t0\t0\t0"), or undefined if the process is gone. */
export function statusField(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Real, effective, saved and file-system uid. */
export function uidsOf(pid: number): number[] | undefined {
  return statusField(pid, 'Uid')?.split(/\s+/).map(Number);
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, tty_nr, tpgid, ...]. */
export function statOf(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The children of pid. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** One line of /proc/PID/limits ("Max cpu time" -> ["unlimited", "unlimited"]): soft, hard. */
export function limitOf(pid: number, name: string): [string, string] | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(name));
    const [soft, hard] = line!.slice(26).trim().split(/\s+/);
    return [soft!, hard!];
  } catch {
    return undefined;
  }
}

/** What each open fd of pid refers to (readlink of /proc/PID/fd/N), with the
 * pid a pidfd names (its fdinfo's "Pid:"). */
export function fdsOf(pid: number): Array<{ fd: number; target: string; pidfdOf?: number }> {
  const out: Array<{ fd: number; target: string; pidfdOf?: number }> = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const info = target === 'anon_inode:[pidfd]' ? readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8') : '';
      const named = /^Pid:\s+(-?\d+)$/m.exec(info);
      out.push({ fd: Number(fd), target, ...(named ? { pidfdOf: Number(named[1]) } : {}) });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
