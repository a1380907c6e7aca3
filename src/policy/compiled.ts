// One user's record in the compiled policy the setuid helper reads: its keys,
// order and bounds are the contract's (src/contract/index.ts, which the helper
// includes as contract.h); here are its TypeScript type, its lines, and a reader
// that is at least as strict as parse_record in src/helper/policy.c. The file
// around the records (header, index, checksum) is compiled-file.ts.
import {
  BOUNDS,
  LAYER_MODES,
  NETWORK_MODES,
  POLICY_FILE,
  RECORD_KEYS,
  RESTART_MODES,
  RLIMIT_KEYS,
  SECCOMP_PROFILES,
  USER_MAY_KEYS as CONTRACT_USER_MAY_KEYS,
  type RecordKey,
} from '../contract/index.js';
import { CellshError, ExitCode } from '../errors.js';
import { UNLIMITED, type Limit } from './sizes.js';
import type { RlimitValue } from './values.js';
import {
  ENV_MAX_VARS,
  envNameProblem,
  envValueProblem,
  hostnameProblem,
  nameProblem,
  pathProblem,
} from './validators.js';

/** An rlimit as the helper sets it: soft and hard, a number or 'max' (RLIM_INFINITY). */
export interface CompiledRlimit {
  readonly soft: number | 'max';
  readonly hard: number | 'max';
}

/** Bandwidth limits on one block device (struct io_limit); 0 = no limit. */
export interface CompiledIo {
  readonly major: number;
  readonly minor: number;
  readonly rbps: number;
  readonly wbps: number;
  readonly riops: number;
  readonly wiops: number;
}

/** One user's record; the fields of struct user_policy, named as the file's
 * keys. Zero for a limit means no limit. */
export interface CompiledUser {
  /** "user": the record key, the real uid (never 0). */
  readonly uid: number;
  /** "gid": primary group id. */
  readonly gid: number;
  /** "name": login name. */
  readonly name: string;
  /** "group": primary group name. */
  readonly group: string;
  /** "groups": supplementary gids (primary first), at most 64. */
  readonly groups: readonly number[];
  /** "home": canonical absolute path, bind-mounted at the same path. */
  readonly home: string;
  /** "shell": canonical absolute path inside the container. */
  readonly shell: string;
  /** "hostname": the container's uts name. */
  readonly hostname: string;
  /** "network": none | host. */
  readonly network: (typeof NETWORK_MODES)[number];
  /** "memory": bytes (0 = unlimited). */
  readonly memory: number;
  /** "memory_high": bytes (0 = none). */
  readonly memory_high: number;
  /** "swap": bytes of swap on top of memory, or 'max' (no limit). */
  readonly swap: number | 'max';
  /** "pids": max tasks (0 = unlimited). */
  readonly pids: number;
  /** "cpu": thousandths of a CPU (0 = unlimited). */
  readonly cpu: number;
  /** "io_weight": 1-10000, 0 = the kernel's default. */
  readonly io_weight: number;
  /** "io": per-device bandwidth limits, at most 8. */
  readonly io: readonly CompiledIo[];
  /** "nofile", "nproc", "core": per-process limits. */
  readonly nofile: CompiledRlimit;
  readonly nproc: CompiledRlimit;
  readonly core: CompiledRlimit;
  /** "env": variables set in every session, in order. */
  readonly env: readonly (readonly [string, string])[];
  /** "restart": when a change cgroups can't apply live restarts the container. */
  readonly restart: 'idle' | 'login' | 'manual';
  /** "user_may": the compiled keys the user may set (USER_MAY_KEYS). */
  readonly user_may: readonly UserMayKey[];
  /** "seccomp": the filter profile (enum seccomp_profile). */
  readonly seccomp: 'default' | 'strict' | 'unconfined';
  /** "nested_userns": under default, user namespaces and mounts in them allowed; never with strict. */
  readonly nested_userns: boolean;
  /** "udp_ports": host UDP ports published into the container, [lo, hi]; [0, 0] for none. */
  readonly udp_ports: readonly [number, number];
  /** "image": the host's own system, or an image of the store and its layer list's id. */
  readonly image: CompiledImage;
  /** "layer": an image container's writable layer, kept or not, and its size in bytes (0: none, only when not kept). */
  readonly layer: CompiledLayer;
  /** "root": root inside, on the user's subordinate ids, the image store's mapped onto them; or none. */
  readonly root: CompiledRoot;
}

/** "root": none, or the first ids of the user's subordinate ranges and of the store's. */
export type CompiledRoot =
  | 'none'
  | { readonly subUid: number; readonly subGid: number; readonly storeUid: number; readonly storeGid: number };

/** "layer": MODE BYTES. */
export interface CompiledLayer {
  readonly mode: (typeof LAYER_MODES)[number];
  readonly bytes: number;
}

/** "host", or an image by name and the id (64 hex digits) of its layer list in the store. */
export type CompiledImage = 'host' | { readonly name: string; readonly id: string };

/** An image name as the store names one (valid_image_name in policy.c). */
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

export type UserMayKey = (typeof CONTRACT_USER_MAY_KEYS)[number];
/** The keys a user may be let set: compiled name -> the policy's setting key. */
const USER_MAY_SETTINGS: { readonly [K in UserMayKey]: string } = {
  shell: 'shell',
  hostname: 'hostname',
  env: 'env',
  network: 'network',
  memory: 'limits.memory',
  memory_high: 'limits.memory_high',
  swap: 'limits.swap',
  pids: 'limits.pids',
  cpu: 'limits.cpu',
  io_weight: 'limits.io_weight',
  nofile: 'rlimits.nofile',
  nproc: 'rlimits.nproc',
  core: 'rlimits.core',
};
/** In the helper's order. */
export const USER_MAY_KEYS: readonly UserMayKey[] = CONTRACT_USER_MAY_KEYS;
const RESTARTS = RESTART_MODES;

/** The policy's key for a compiled user-settable name ("memory" -> "limits.memory"). */
export function settingKeyOf(name: UserMayKey): string {
  return USER_MAY_SETTINGS[name];
}

/** The compiled name of a user-settable setting key, or undefined if users may never set it. */
export function userMayKeyOf(key: string): UserMayKey | undefined {
  return USER_MAY_KEYS.find((k) => USER_MAY_SETTINGS[k] === key);
}

/** A limit in the compiled form: 0 means no limit. */
export function compiledLimit(v: Limit): number {
  return v === UNLIMITED ? 0 : v;
}

/** An rlimit in the compiled form: 'max' means unlimited. */
export function compiledRlimit(v: RlimitValue): CompiledRlimit {
  const one = (x: Limit): number | 'max' => (x === UNLIMITED ? 'max' : x);
  return { soft: one(v.soft), hard: one(v.hard) };
}

/** Bytes an env value holds unencoded (ENV_PLAIN in policy.c); others are %XX. */
const ENV_PLAIN = /[A-Za-z0-9\-._~/:,@+=]/;

/** NAME=VALUE items for the "env" line, values percent-encoded byte by byte. */
export function encodeEnv(env: readonly (readonly [string, string])[]): string {
  const enc = (v: string): string =>
    [...Buffer.from(v, 'utf8')]
      .map((b) =>
        b < 0x80 && ENV_PLAIN.test(String.fromCharCode(b))
          ? String.fromCharCode(b)
          : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
      )
      .join('');
  return env.map(([k, v]) => `${k}=${enc(v)}`).join(' ');
}

/** The "env" value back to pairs, or undefined if policy.c would refuse it. */
function decodeEnv(v: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  for (const item of v.split(' ').filter((x) => x !== '')) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? '' : item.slice(0, eq);
    if (eq < 0 || envNameProblem(name) || out.some(([n]) => n === name) || out.length === ENV_MAX_VARS)
      return undefined;
    const bytes: number[] = [];
    const text = item.slice(eq + 1);
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '%') {
        if (!/^[0-9A-F]{2}$/.test(text.slice(i + 1, i + 3))) return undefined;
        bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (ENV_PLAIN.test(text[i]!)) {
        bytes.push(text.charCodeAt(i));
      } else {
        return undefined;
      }
    }
    const value = Buffer.from(bytes).toString('utf8');
    if (bytes.some((b) => b < 0x20 || b === 0x7f) || bytes.length > 255 || envValueProblem(value)) return undefined;
    out.push([name, value]);
  }
  return v === '' || out.length > 0 ? out : undefined;
}

/** The longest line of a compiled policy, without its newline. */
export const LINE_MAX = POLICY_FILE.lineMax;
/** At most this many supplementary groups per user. */
export const MAX_GROUPS = BOUNDS.maxGroups;
/** The helper's groups buffer: MAX_GROUPS * 11 + 1 bytes including the NUL. */
const GROUPS_VALUE_MAX = MAX_GROUPS * 11;
const U32_MAX = 0xffffffff;
/** memory must be below 2^62 (policy.c); above 2^53 a JavaScript number is not exact. */
const MEMORY_LIMIT = 2n ** 62n;
const {
  cpuMin: CPU_MIN,
  cpuMax: CPU_MAX,
  ioWeightMax: IO_WEIGHT_MAX,
  maxIoDevices: MAX_IO_DEVICES,
  pidsMax: PIDS_MAX,
  majorMax: MAJOR_MAX,
  minorMax: MINOR_MAX,
  nofileMin: NOFILE_MIN,
} = BOUNDS;

/** A compiled policy that is malformed; line is 1-based, 0 for the whole file. */
export class CompiledPolicyError extends CellshError {
  readonly line: number;
  constructor(line: number, message: string) {
    super('policy-compiled-invalid', line > 0 ? `line ${line}: ${message}` : message, { exitCode: ExitCode.config });
    this.line = line;
  }
}

/** FNV-1a 64 of bytes, as 16 lowercase hex digits (fnv1a64 in policy.c). The
 * 64-bit state is kept in four 16-bit limbs, so a large policy hashes without BigInt:
 * the prime is 2^40 + 0x1b3, so h * prime is h * 0x1b3 plus h shifted up 40 bits. */
export function fnv1a64(bytes: Uint8Array): string {
  let h0 = 0x2325,
    h1 = 0x8422,
    h2 = 0x9ce4,
    h3 = 0xcbf2;
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i]!;
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    h3 = (h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)) & 0xffff;
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
  }
  const hex = (n: number): string => n.toString(16).padStart(4, '0');
  return hex(h3) + hex(h2) + hex(h1) + hex(h0);
}

/** Why a record cannot be written or was read wrongly, or undefined if the helper would accept it. */
export function recordProblem(u: CompiledUser): string | undefined {
  const u32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32_MAX;
  const id = (n: number): boolean => u32(n) && n !== U32_MAX;
  const text: Array<[string, string | undefined]> = [
    ['name', nameProblem(u.name)],
    ['group', nameProblem(u.group)],
    ['home', pathProblem(u.home)],
    ['shell', pathProblem(u.shell)],
    ['hostname', hostnameProblem(u.hostname)],
  ];
  for (const [key, problem] of text) if (problem) return `${key}: ${problem}`;
  if (!id(u.uid) || u.uid === 0) return 'user: uid must be 1 to 4294967294';
  if (!id(u.gid)) return 'gid: must be 0 to 4294967294';
  if (u.groups.length > MAX_GROUPS) return `groups: more than ${MAX_GROUPS}`;
  if (!u.groups.every(id)) return 'groups: each gid must be 0 to 4294967294';
  if (!NETWORK_MODES.includes(u.network)) return 'network: must be none or host';
  const bytes = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!bytes(u.memory)) return 'memory: must be a whole number of bytes';
  if (!bytes(u.memory_high)) return 'memory_high: must be a whole number of bytes';
  if (u.swap !== 'max' && !bytes(u.swap)) return 'swap: must be a whole number of bytes or max';
  if (!u32(u.pids) || u.pids > PIDS_MAX) return `pids: must be 0 to ${PIDS_MAX}`;
  if (!u32(u.cpu) || u.cpu > CPU_MAX || (u.cpu > 0 && u.cpu < CPU_MIN))
    return `cpu: must be 0 or ${CPU_MIN} to ${CPU_MAX}`;
  if (!u32(u.io_weight) || u.io_weight > IO_WEIGHT_MAX) return `io_weight: must be 0 to ${IO_WEIGHT_MAX}`;
  if (u.io.length > MAX_IO_DEVICES) return `io: more than ${MAX_IO_DEVICES} devices`;
  if (
    !u.io.every(
      (d) =>
        u32(d.major) &&
        d.major <= MAJOR_MAX &&
        u32(d.minor) &&
        d.minor <= MINOR_MAX &&
        [d.rbps, d.wbps, d.riops, d.wiops].every(bytes),
    )
  )
    return 'io: invalid device limits';
  if (new Set(u.io.map((d) => `${d.major}:${d.minor}`)).size !== u.io.length) return 'io: a disk is listed twice';
  if (u.nofile.soft !== 'max' && u.nofile.soft < NOFILE_MIN)
    return `nofile: the soft limit must be at least ${NOFILE_MIN}`;
  for (const key of RLIMIT_KEYS) {
    const { soft, hard } = u[key];
    if (
      ![soft, hard].every((v) => v === 'max' || bytes(v)) ||
      (soft === 'max' && hard !== 'max') ||
      (soft !== 'max' && hard !== 'max' && soft > hard)
    )
      return `${key}: soft and hard must be numbers or max, soft <= hard`;
  }
  if (u.env.length > ENV_MAX_VARS) return `env: more than ${ENV_MAX_VARS} variables`;
  for (const [name, value] of u.env) {
    const problem = envNameProblem(name) ?? envValueProblem(value);
    if (problem) return `env: ${name}: ${problem}`;
  }
  if (new Set(u.env.map(([n]) => n)).size !== u.env.length) return 'env: a variable is set twice';
  if (!RESTARTS.includes(u.restart)) return 'restart: must be idle, login or manual';
  if (!u.user_may.every((k) => USER_MAY_KEYS.includes(k)) || new Set(u.user_may).size !== u.user_may.length)
    return 'user_may: unknown or repeated key';
  if (!SECCOMP_PROFILES.includes(u.seccomp)) return 'seccomp: must be default, strict or unconfined';
  if (typeof u.nested_userns !== 'boolean') return 'nested_userns: must be true or false';
  if (u.seccomp === 'strict' && u.nested_userns) return 'nested_userns: never true with seccomp strict';
  if (!udpPortsValid(u.udp_ports)) return 'udp_ports: must be 0 0 or LO HI within the published-port bounds';
  if (u.udp_ports[0] !== 0 && u.network !== 'private') return 'udp_ports: only with network private';
  if (u.image !== 'host' && !imageValid(u.image)) return 'image: must be host or NAME ID (64 hex digits)';
  if (u.root !== 'none' && !rootValid(u.root, u.uid, u.gid))
    return "root: must be none or four id range starts, each range within 32 bits and clear of the user's ids";
  if (u.root !== 'none' && u.image === 'host') return 'root: only with an image';
  if (!layerValid(u.layer))
    return `layer: must be temporary or persistent, and 0 (temporary only) or ${BOUNDS.diskMin} bytes or more`;
  return undefined;
}

/** The value of the "io" line: MAJ:MIN RBPS WBPS RIOPS WIOPS per device. */
function ioValue(io: readonly CompiledIo[]): string {
  return io.map((d) => `${d.major}:${d.minor} ${d.rbps} ${d.wbps} ${d.riops} ${d.wiops}`).join(' ');
}

/** How each key's value is written. */
const FIELD_WRITERS: { readonly [K in RecordKey]: (u: CompiledUser) => string } = {
  name: (u) => u.name,
  gid: (u) => String(u.gid),
  group: (u) => u.group,
  groups: (u) => u.groups.join(' '),
  home: (u) => u.home,
  shell: (u) => u.shell,
  hostname: (u) => u.hostname,
  network: (u) => u.network,
  memory: (u) => String(u.memory),
  memory_high: (u) => String(u.memory_high),
  swap: (u) => String(u.swap),
  pids: (u) => String(u.pids),
  cpu: (u) => String(u.cpu),
  io_weight: (u) => String(u.io_weight),
  io: (u) => ioValue(u.io),
  nofile: (u) => `${u.nofile.soft} ${u.nofile.hard}`,
  nproc: (u) => `${u.nproc.soft} ${u.nproc.hard}`,
  core: (u) => `${u.core.soft} ${u.core.hard}`,
  env: (u) => encodeEnv(u.env),
  restart: (u) => u.restart,
  user_may: (u) => USER_MAY_KEYS.filter((k) => u.user_may.includes(k)).join(' '),
  seccomp: (u) => u.seccomp,
  nested_userns: (u) => String(u.nested_userns),
  udp_ports: (u) => u.udp_ports.join(' '),
  image: (u) => (u.image === 'host' ? 'host' : `${u.image.name} ${u.image.id}`),
  layer: (u) => `${u.layer.mode} ${u.layer.bytes}`,
  root: (u) => (u.root === 'none' ? 'none' : `${u.root.subUid} ${u.root.subGid} ${u.root.storeUid} ${u.root.storeGid}`),
};

/** A record's lines, in the contract's key order. */
export function recordLines(u: CompiledUser): string[] {
  return [
    `user ${u.uid}`,
    ...(Object.keys(RECORD_KEYS) as RecordKey[]).map((k) => `${k} ${FIELD_WRITERS[k](u)}`),
    'end',
  ];
}

type FieldKey = RecordKey;
type Fields = { -readonly [K in FieldKey]?: CompiledUser[K] };

/** Strict decimal (parse_u64 in util.c): digits only, no sign, no leading zero. */
function decimal(v: string): bigint | undefined {
  return /^(0|[1-9][0-9]*)$/.test(v) ? BigInt(v) : undefined;
}
function u32(v: string, max = U32_MAX): number | undefined {
  const n = decimal(v);
  return n !== undefined && n <= BigInt(max) ? Number(n) : undefined;
}
const checked =
  (problem: (s: string) => string | undefined) =>
  (v: string): string | undefined =>
    problem(v) === undefined ? v : undefined;

/** How each key's value is read; undefined means invalid (parse_field in policy.c). */
const FIELD_READERS: { readonly [K in FieldKey]: (v: string) => CompiledUser[K] | undefined } = {
  name: checked(nameProblem),
  gid: (v) => u32(v, U32_MAX - 1),
  group: checked(nameProblem),
  groups: (v) => {
    if (v.length > GROUPS_VALUE_MAX) return undefined;
    const gids = v
      .split(' ')
      .filter((t) => t !== '')
      .map((t) => u32(t, U32_MAX - 1));
    return gids.length <= MAX_GROUPS && gids.every((g) => g !== undefined) ? (gids as number[]) : undefined;
  },
  home: checked(pathProblem),
  shell: checked(pathProblem),
  hostname: checked(hostnameProblem),
  network: (v) => NETWORK_MODES.find((m) => m === v),
  memory: (v) => size(v),
  memory_high: (v) => size(v),
  swap: (v) => (v === 'max' ? 'max' : size(v)),
  pids: (v) => u32(v, PIDS_MAX),
  cpu: (v) => {
    const n = u32(v, CPU_MAX);
    return n === 0 || (n !== undefined && n >= CPU_MIN) ? n : undefined;
  },
  io_weight: (v) => u32(v, IO_WEIGHT_MAX),
  io: (v) => {
    const t = v.split(' ').filter((x) => x !== '');
    if (t.length % 5 !== 0 || t.length / 5 > MAX_IO_DEVICES || (v !== '' && t.join(' ') !== v)) return undefined;
    const out: CompiledIo[] = [];
    for (let i = 0; i < t.length; i += 5) {
      const m = /^(\d+):(\d+)$/.exec(t[i]!);
      const [major, minor] = m ? [u32(m[1]!, MAJOR_MAX), u32(m[2]!, MINOR_MAX)] : [undefined, undefined];
      const [rbps, wbps, riops, wiops] = t.slice(i + 1, i + 5).map(size);
      if ([major, minor, rbps, wbps, riops, wiops].some((x) => x === undefined)) return undefined;
      out.push({ major: major!, minor: minor!, rbps: rbps!, wbps: wbps!, riops: riops!, wiops: wiops! });
    }
    return out;
  },
  nofile: (v) => {
    const r = rlimitPair(v);
    return r && (r.soft === 'max' || r.soft >= NOFILE_MIN) ? r : undefined;
  },
  nproc: (v) => rlimitPair(v),
  core: (v) => rlimitPair(v),
  env: (v) => decodeEnv(v),
  restart: (v) => RESTARTS.find((r) => r === v),
  user_may: (v) => {
    const words = v.split(' ').filter((x) => x !== '');
    return (v === '' || words.join(' ') === v) &&
      words.every((w) => (USER_MAY_KEYS as readonly string[]).includes(w)) &&
      new Set(words).size === words.length
      ? (words as UserMayKey[])
      : undefined;
  },
  seccomp: (v) => SECCOMP_PROFILES.find((p) => p === v),
  nested_userns: (v) => (v === 'true' ? true : v === 'false' ? false : undefined),
  image: (v) => {
    if (v === 'host') return 'host';
    const [name, id, extra] = v.split(' ');
    const image = name !== undefined && id !== undefined && extra === undefined ? { name, id } : undefined;
    return image && imageValid(image) ? image : undefined;
  },
  root: (v) => {
    if (v === 'none') return 'none';
    const m = /^(0|[1-9]\d{0,9}) (0|[1-9]\d{0,9}) (0|[1-9]\d{0,9}) (0|[1-9]\d{0,9})$/.exec(v);
    return m
      ? { subUid: Number(m[1]), subGid: Number(m[2]), storeUid: Number(m[3]), storeGid: Number(m[4]) }
      : undefined;
  },
  layer: (v) => {
    const m = /^([a-z]+) (0|[1-9]\d{0,18})$/.exec(v);
    const layer = m ? { mode: m[1] as CompiledLayer['mode'], bytes: Number(m[2]) } : undefined;
    return layer && layerValid(layer) ? layer : undefined;
  },
  udp_ports: (v) => {
    const m = /^(0|[1-9]\d{0,4}) (0|[1-9]\d{0,4})$/.exec(v);
    const pair = m ? ([Number(m[1]), Number(m[2])] as const) : undefined;
    return pair && udpPortsValid(pair) ? pair : undefined;
  },
};

/** root_parse in policy.c: each range of 65536 starts above 0 and ends within 32 bits, and the user's own
 * uid and gid are in neither of theirs (they stay mapped to themselves). */
function rootValid(r: Exclude<CompiledRoot, 'none'>, uid: number, gid: number): boolean {
  const ok = (start: number): boolean => start > 0 && start + BOUNDS.idRange <= 0xffffffff;
  const outside = (id: number, start: number): boolean => id < start || id >= start + BOUNDS.idRange;
  return [r.subUid, r.subGid, r.storeUid, r.storeGid].every(ok) && outside(uid, r.subUid) && outside(gid, r.subGid);
}

/** layer_parse in policy.c. */
function layerValid(l: CompiledLayer): boolean {
  return (
    LAYER_MODES.includes(l.mode) &&
    Number.isSafeInteger(l.bytes) &&
    (l.bytes === 0 ? l.mode === 'temporary' : l.bytes >= BOUNDS.diskMin)
  );
}

function imageValid(i: { name: string; id: string }): boolean {
  return (
    IMAGE_NAME.test(i.name) && i.name.length <= BOUNDS.imageNameMax && i.name !== 'host' && /^[0-9a-f]{64}$/.test(i.id)
  );
}

/** [0, 0], or lo to hi: at most udpPortsMax ports, none below udpPortMin (parse_udp_ports in policy.c). */
function udpPortsValid([lo, hi]: readonly [number, number]): boolean {
  if (lo === 0 && hi === 0) return true;
  return (
    Number.isInteger(lo) &&
    Number.isInteger(hi) &&
    lo >= BOUNDS.udpPortMin &&
    hi >= lo &&
    hi <= 65535 &&
    hi - lo < BOUNDS.udpPortsMax
  );
}

/** A size below 2^62 that a JavaScript number holds exactly. */
function size(v: string): number | undefined {
  const n = decimal(v);
  return n !== undefined && n < MEMORY_LIMIT && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

/** "SOFT HARD", each a number or "max", soft <= hard (parse_rlimit in policy.c). */
function rlimitPair(v: string): CompiledRlimit | undefined {
  const m = /^(\d+|max) (\d+|max)$/.exec(v);
  if (!m) return undefined;
  const [soft, hard] = [m[1]!, m[2]!].map((x) => (x === 'max' ? 'max' : size(x)));
  if (
    soft === undefined ||
    hard === undefined ||
    (soft === 'max' && hard !== 'max') ||
    (soft !== 'max' && hard !== 'max' && soft > hard)
  )
    return undefined;
  return { soft, hard };
}
const FIELD_KEYS = Object.keys(RECORD_KEYS) as FieldKey[];

/** One record's lines, "user N" through "end" (the first at line number first),
 * read as policy.c reads them: every key once, every value in range. Throws
 * CompiledPolicyError naming the line. */
export function parseRecord(lines: readonly string[], first: number): CompiledUser {
  const fail = (lineno: number, message: string): never => {
    throw new CompiledPolicyError(lineno, message);
  };
  const head = /^user (0|[1-9][0-9]*)$/.exec(lines[0] ?? '');
  const uid = head ? u32(head[1]!, U32_MAX - 1) : undefined;
  if (uid === undefined || uid === 0) fail(first, 'expected "user <uid>" (uid 0 is never served)');
  const fields: Fields = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const lineno = first + i;
    if (line.length > LINE_MAX) fail(lineno, 'too long');
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    if (key === 'end' && sp < 0) {
      if (i !== lines.length - 1) fail(lineno + 1, `the record for uid ${uid} goes on after "end"`);
      const missing = FIELD_KEYS.filter((k) => fields[k] === undefined);
      if (missing.length > 0)
        fail(lineno, `the record for uid ${uid} misses ${missing.map((k) => `"${k}"`).join(', ')}`);
      if (fields.seccomp === 'strict' && fields.nested_userns)
        fail(lineno, `the record for uid ${uid} sets nested_userns with seccomp strict`);
      if (fields.udp_ports && fields.udp_ports[0] !== 0 && fields.network !== 'private')
        fail(lineno, `the record for uid ${uid} publishes UDP ports without network private`);
      if (fields.root && fields.root !== 'none' && fields.image === 'host')
        fail(lineno, `the record for uid ${uid} gives root inside the host image`);
      if (fields.root && fields.root !== 'none' && !rootValid(fields.root, uid!, fields.gid!))
        fail(lineno, `the record for uid ${uid} maps its own ids into its subordinate ones`);
      return { uid: uid!, ...(fields as Required<Fields>) };
    }
    if (!Object.hasOwn(FIELD_READERS, key)) fail(lineno, `unknown key "${key}"`);
    const k = key as FieldKey;
    if (fields[k] !== undefined) fail(lineno, `"${k}" appears twice`);
    const v = FIELD_READERS[k](value);
    if (v === undefined) fail(lineno, `invalid value for "${k}": ${JSON.stringify(value)}`);
    (fields as Record<string, unknown>)[k] = v;
  }
  return fail(first, `the record for uid ${uid} has no "end"`);
}
