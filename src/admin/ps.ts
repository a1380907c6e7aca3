// `cellsh-admin ps`: every running container with what it uses against its
// limits: memory, CPU (measured over a short sample) and processes, and how
// often it ran into its memory or pids limit; an image container's writable
// layer, used against its size; its uptime, sessions, and whether
// it runs the applied policy (current), not yet (changed: the next login
// applies it) or waits for a restart (pending).
import { readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Layout } from '../layout.js';
import { formatCpu } from '../policy/index.js';
import { recordHashes } from '../policy/compiled-file.js';
import { cgroupHost, containerUsage, type CgroupHost, type Usage } from '../sys/cgroups.js';
import type { UserDirectory } from '../sys/users.js';
import type { TextOut } from './check.js';

/** What ps needs; the sample time and clock are parameters for tests. */
export interface PsOptions {
  readonly layout: Layout;
  readonly dir: UserDirectory;
  readonly out: TextOut;
  readonly json: boolean;
  /** How long to measure CPU use over (ms). */
  readonly sampleMs: number;
}

/** One container as the helper recorded it (src/helper/state.h). */
export interface ContainerRecord {
  readonly uid: number;
  readonly id: string;
  readonly initPid: number;
  readonly initStart: number;
  readonly createdMs: number;
  /** The admin's record it was last brought in line with (16 hex digits), if known. */
  readonly policyHash: string | undefined;
  /** Settings waiting for a restart ("" none). */
  readonly pending: string;
  /** The host UDP ports its NAT publishes, [lo, hi]; [0, 0] for none. */
  readonly udpPorts: readonly [number, number];
  /** Made from an image (not the host's own system). */
  readonly image: boolean;
  /** Its writable layer's size limit in bytes (0: none). */
  readonly diskLimit: number;
}

/** One row of the listing. */
export interface PsRow {
  readonly user: string;
  readonly uid: number;
  readonly container: string;
  readonly started: string;
  readonly uptime_s: number;
  /** Sessions running in it now (each session's monitor holds its notice file open). */
  readonly sessions: number;
  /** current | changed (applies at the next login) | pending (waits for a restart) | unknown. */
  readonly policy: 'current' | 'changed' | 'pending' | 'unknown';
  /** With policy pending: what waits for the restart. */
  readonly pending: string;
  readonly memory: { readonly used: number | null; readonly limit: number | null };
  /** CPUs in use over the sample, and the limit in CPUs. */
  readonly cpu: { readonly used: number | null; readonly limit: number | null };
  readonly pids: { readonly used: number | null; readonly limit: number | null };
  /** An image container's writable layer: bytes used, and its size limit; null for the host's system. */
  readonly disk: { readonly used: number | null; readonly limit: number | null } | null;
  readonly oom_kills: number;
  readonly pids_limit_hits: number;
}

/** List the running containers; returns the exit code. */
export async function runPs(opts: PsOptions): Promise<number> {
  const host = cgroupHost(opts.layout.cgroupName);
  const records = runningContainers(opts.layout.stateDir);
  const before = new Map(records.map((r) => [r.uid, containerUsage(host, r.uid)]));
  const t0 = Date.now();
  if (records.length > 0) await new Promise((res) => setTimeout(res, opts.sampleMs));
  const seconds = (Date.now() - t0) / 1000;
  const hashes = appliedHashes(opts.layout.compiledPolicy);
  const sessions = sessionCounts(opts.layout.stateDir);
  const rows = records.map((r) =>
    row(r, opts.dir, before.get(r.uid), containerUsage(host, r.uid), seconds, {
      sessions: sessions.get(r.uid) ?? 0,
      policy: policyState(r, hashes.get(r.uid)),
    }),
  );
  if (opts.json) {
    opts.out.write(`${JSON.stringify({ cgroup: describeHost(host), containers: rows }, null, 2)}\n`);
  } else {
    opts.out.write(table(rows));
  }
  return 0;
}

function describeHost(host: CgroupHost): { version: string; path: string } {
  return host.version === 'v2' ? { version: 'v2', path: host.base } : { version: 'v1', path: host.bases['pids']! };
}

/** The containers running now, by their records in the state folder. */
export function runningContainers(stateDir: string): ContainerRecord[] {
  return readRecords(stateDir).filter(alive);
}

/** The records in the state folder; damaged ones are skipped. */
function readRecords(stateDir: string): ContainerRecord[] {
  let names: string[];
  try {
    names = readdirSync(stateDir).filter((n) => /^\d+\.state$/.test(n));
  } catch {
    return [];
  }
  const out: ContainerRecord[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = readFileSync(join(stateDir, name), 'utf8');
    } catch {
      continue;
    }
    const kv = new Map(text.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    const n = (k: string): number => Number(kv.get(k));
    if (!/^cellsh-state [12]\n/.test(text) || !/^[0-9a-f]{12}$/.test(kv.get('id') ?? '')) continue;
    const pending = kv.get('pending');
    const ports = n('udp_ports') || 0; /* LO << 16 | HI */
    const image = kv.get('image');
    const layer = /^(temporary|persistent) (\d+)$/.exec(kv.get('layer') ?? '');
    out.push({
      uid: n('uid'),
      id: kv.get('id')!,
      initPid: n('init_pid'),
      initStart: n('init_start'),
      createdMs: n('created_ms'),
      policyHash: kv.get('policy'),
      pending: pending === undefined || pending === '-' ? '' : pending,
      udpPorts: [Math.floor(ports / 65536), ports % 65536],
      image: image !== undefined && image !== 'host' && image !== '-',
      diskLimit: layer ? Number(layer[2]) : 0,
    });
  }
  return out.sort((a, b) => a.uid - b.uid);
}

/** Is the recorded init still that process (same pid, same start time)? */
function alive(r: ContainerRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${r.initPid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) === r.initStart;
  } catch {
    return false;
  }
}

/** What an image container's writable layer holds: the overlay at its root
 * reports its upper file system (the tmpfs or the user's ext4). */
function diskUse(r: ContainerRecord): PsRow['disk'] {
  if (!r.image) return null;
  try {
    const s = statfsSync(`/proc/${r.initPid}/root`, { bigint: true });
    return { used: Number((s.blocks - s.bfree) * s.bsize), limit: r.diskLimit || null };
  } catch {
    return { used: null, limit: r.diskLimit || null };
  }
}

/** Each record's hash in the applied policy, by uid (none if it can't be read). */
function appliedHashes(compiledPolicy: string): Map<number, string> {
  try {
    return recordHashes(readFileSync(compiledPolicy));
  } catch {
    return new Map();
  }
}

function policyState(r: ContainerRecord, current: string | undefined): Pick<PsRow, 'policy' | 'pending'> {
  if (r.policyHash === undefined || current === undefined) return { policy: 'unknown', pending: '' };
  if (r.policyHash !== current) return { policy: 'changed', pending: '' };
  return r.pending ? { policy: 'pending', pending: r.pending } : { policy: 'current', pending: '' };
}

/** Sessions per uid: fds that point at the state folder's <uid>.notice (every session's monitor holds one). */
function sessionCounts(stateDir: string): Map<number, number> {
  const out = new Map<number, number>();
  const pattern = new RegExp(`^${stateDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(\\d+)\\.notice$`);
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = pattern.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + 1);
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

function row(
  r: ContainerRecord,
  dir: UserDirectory,
  before: Usage | undefined,
  after: Usage | undefined,
  seconds: number,
  extra: { sessions: number; policy: Pick<PsRow, 'policy' | 'pending'> },
): PsRow {
  const cpuUsed =
    before?.cpu.usec !== undefined && after?.cpu.usec !== undefined && seconds > 0
      ? Math.max(0, (after.cpu.usec - before.cpu.usec) / 1e6 / seconds)
      : null;
  return {
    user: dir.userById(r.uid)?.name ?? String(r.uid),
    uid: r.uid,
    container: r.id,
    started: new Date(r.createdMs).toISOString(),
    uptime_s: Math.max(0, Math.round((Date.now() - r.createdMs) / 1000)),
    sessions: extra.sessions,
    ...extra.policy,
    memory: { used: after?.memory.used ?? null, limit: after?.memory.limit ?? null },
    cpu: {
      used: cpuUsed === null ? null : Math.round(cpuUsed * 100) / 100,
      limit: after?.cpu.limit === undefined ? null : after.cpu.limit / 1000,
    },
    pids: { used: after?.pids.used ?? null, limit: after?.pids.limit ?? null },
    disk: diskUse(r),
    oom_kills: after?.oomKills ?? 0,
    pids_limit_hits: after?.pidsMax ?? 0,
  };
}

/** 45s, 12m, 3h05m, 2d04h. */
export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** 1.5G, 212M, 900K: one decimal below 10. */
export function humanBytes(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[i]}`;
}

function table(rows: readonly PsRow[]): string {
  if (rows.length === 0) return 'no containers are running\n';
  const of = (used: string, limit: number | null, fmt: (n: number) => string): string =>
    `${used} / ${limit === null ? 'unlimited' : fmt(limit)}`;
  const cells = rows.map((r) => [
    r.user,
    String(r.uid),
    r.container,
    duration(r.uptime_s),
    String(r.sessions),
    r.policy === 'pending'
      ? `restart pending (${r.pending})`
      : r.policy === 'changed'
        ? 'changed (next login)'
        : r.policy,
    of(r.memory.used === null ? '?' : humanBytes(r.memory.used), r.memory.limit, humanBytes),
    of(r.cpu.used === null ? '?' : r.cpu.used.toFixed(2), r.cpu.limit, (c) => formatCpu(Math.round(c * 1000))),
    of(r.pids.used === null ? '?' : String(r.pids.used), r.pids.limit, String),
    r.disk === null ? '-' : of(r.disk.used === null ? '?' : humanBytes(r.disk.used), r.disk.limit, humanBytes),
    [r.oom_kills ? `oom ${r.oom_kills}` : '', r.pids_limit_hits ? `pids ${r.pids_limit_hits}` : '']
      .filter((x) => x)
      .join(', ') || '-',
  ]);
  const head = [
    'USER',
    'UID',
    'CONTAINER',
    'UPTIME',
    'SESSIONS',
    'POLICY',
    'MEMORY',
    'CPU',
    'PIDS',
    'DISK',
    'LIMIT HITS',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return (
    [head, ...cells]
      .map((c) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('  '))
      .join('\n') + '\n'
  );
}
