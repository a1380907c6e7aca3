// The policy's settings in one table: each key's checker, default, example and
// description. Validation, the built-in defaults and the README's reference
// table are all derived from FIELDS, so they cannot drift apart.
import { parseDocument } from 'yaml';
import { BOUNDS, NETWORK_MODES, RESTART_MODES, SECCOMP_PROFILES as PROFILES } from '../contract/index.js';
import {
  absolutePath,
  count,
  cpus,
  envMap,
  flag,
  hostnameTemplate,
  ioDevices,
  IO_WEIGHT_MAX,
  limitText,
  imageName,
  oneOf,
  portRange,
  rlimit,
  size,
  weight,
  wordList,
  type Checker,
  type IoDevice,
  type PortRange,
  type RlimitValue,
} from './values.js';
import { ENV_MAX_VARS } from './validators.js';
import type { Limit } from './sizes.js';

/** What a container's root is made of: "host" (the host's /usr and a filtered /etc), or an image of the store by name. */
export type Image = string;
/** Network modes the helper implements (the contract's NETWORK_MODES). */
export type Network = (typeof NETWORK_MODES)[number];
/** When a container restarts for a change that waits for one (the contract's RESTART_MODES). */
export type RestartMode = (typeof RESTART_MODES)[number];
/** The seccomp filter of the container's processes (the contract's SECCOMP_PROFILES; docs/seccomp.md). */
export type SeccompProfile = (typeof PROFILES)[number];

/** Every setting by its dotted key, with the type of its checked value. */
export interface SettingValues {
  'image': Image;
  /** Keep an image container's writable layer across restarts. */
  'persist': boolean;
  /** Root inside an image container, on the user's subordinate ids. */
  'root': boolean;
  'shell': string;
  /** A template; see hostname.ts. */
  'hostname': string;
  'network': Network;
  /** Variables set in every session. */
  'env': Readonly<Record<string, string>>;
  /** Bytes. */
  'limits.memory': Limit;
  /** Bytes. */
  'limits.memory_high': Limit;
  /** Bytes of swap on top of memory. */
  'limits.swap': Limit;
  /** Tasks. */
  'limits.pids': Limit;
  /** Thousandths of a CPU. */
  'limits.cpu': Limit;
  /** 1-10000, or the kernel's default. */
  'limits.io_weight': number | 'default';
  /** Bandwidth limits per block device. */
  'limits.io': readonly IoDevice[];
  /** Bytes of an image container's writable layer. */
  'limits.disk': Limit;
  /** Open files per process. */
  'rlimits.nofile': RlimitValue;
  /** Processes of the user (the kernel counts per uid). */
  'rlimits.nproc': RlimitValue;
  /** Bytes of a core dump. */
  'rlimits.core': RlimitValue;
  'restart': RestartMode;
  /** Setting keys the user may set in ~/.config/cellsh.yaml. */
  'user_may_set': readonly string[];
  'seccomp': SeccompProfile;
  /** Under seccomp default: may the user create user namespaces (and mount in them)? */
  'nested_userns': boolean;
  /** ssh -L, -D and -W (sshd's AllowTcpForwarding local, PermitOpen). */
  'forwarding.local': boolean;
  /** ssh -R (AllowTcpForwarding remote, PermitListen). */
  'forwarding.remote': boolean;
  /** ssh -X and -Y (X11Forwarding). */
  'forwarding.x11': boolean;
  /** Host UDP ports published into a private network's container (mosh). */
  'publish.udp': PortRange | 'none';
}
/** A setting's dotted key. */
export type SettingKey = keyof SettingValues;

/** How one setting is checked and documented. */
export interface FieldSpec<T> {
  /** The kind of value, for the reference table (Markdown). */
  readonly type: string;
  /** The built-in default, as YAML text. */
  readonly default: string;
  /** An example value, as YAML text. */
  readonly example: string;
  /** One line for the reference table. */
  readonly description: string;
  /** Whether an admin may let users set it in ~/.config/cellsh.yaml (`user_may_set`);
   * limits only ever lower than the admin's. */
  readonly userMay: boolean;
  readonly check: Checker<T>;
  /** The value in the policy's own notation (for `show` and the table). */
  readonly format: (v: T) => string;
}

/** Below this a container cannot even start a shell reliably. */
export const MEMORY_MIN_BYTES = BOUNDS.memoryMin;
/** Largest size a JavaScript number holds exactly (the helper's own cap is 2^62). */
export const MEMORY_MAX_BYTES = 8191 * 2 ** 40;
/** The kernel's PID_MAX_LIMIT on 64-bit. */
export const PIDS_MAX = BOUNDS.pidsMax;
/** The helper's cap, in CPUs. */
export const CPUS_MAX = BOUNDS.cpuMax / 1000;
/** The kernel's ceiling for open files per process (NR_OPEN). */
export const NOFILE_MAX = 1073741816;
/** Bandwidth limits at least this (a lower one stalls a process for seconds per request). */
export const BPS_MIN = 4096;
/** Sizes below 2^62 (the helper's SIZE_LIMIT) that a JavaScript number holds exactly. */
const BYTES_MAX = Number.MAX_SAFE_INTEGER;

const rlimitText =
  (format: (v: Limit) => string) =>
  (v: RlimitValue): string =>
    v.soft === v.hard ? format(v.soft) : `{soft: ${format(v.soft)}, hard: ${format(v.hard)}}`;
const ioText = (list: readonly IoDevice[]): string =>
  list.length === 0
    ? '[]'
    : `[${list
        .map(
          (d) =>
            `{device: ${d.device}${(['read_bps', 'write_bps', 'read_iops', 'write_iops'] as const)
              .filter((k) => d[k] !== 'unlimited')
              .map((k) => `, ${k}: ${k.endsWith('bps') ? limitText.size(d[k]) : limitText.count(d[k])}`)
              .join('')}}`,
        )
        .join(', ')}]`;

const RESTARTS: readonly RestartMode[] = RESTART_MODES;
const envText = (v: Readonly<Record<string, string>>): string =>
  `{${Object.entries(v)
    .map(([k, x]) => `${k}: ${JSON.stringify(x)}`)
    .join(', ')}}`;
const NETWORKS: readonly Network[] = NETWORK_MODES;
const SECCOMP_PROFILES: readonly SeccompProfile[] = PROFILES;
const quoted = (s: string): string => `"${s}"`;

/** The table. The mapped type makes adding a key to SettingValues without a row a compile error. */
export const FIELDS: { readonly [K in SettingKey]: FieldSpec<SettingValues[K]> } = {
  'image': {
    type: '`host` \\| image name',
    default: 'host',
    example: 'debian-12',
    userMay: false,
    description:
      "What the container's root is made of: `host` is the host's own /usr and a filtered /etc, read-only; a name is an image of the store (`cellsh-admin image ls`), whose Env joins the session's and whose shell is used where the policy names none. A change waits for a restart.",
    check: imageName(),
    format: (v) => v,
  },
  'persist': {
    type: '`true` \\| `false`',
    default: 'false',
    example: 'true',
    userMay: false,
    description:
      'With an image: `true` keeps what the user writes outside their home (packages, /etc) across restarts and reboots, in a file system of its own per user (`limits.disk` big, which it needs); `false` throws it away when the container stops. `cellsh-admin reset USER` discards it.',
    check: flag(),
    format: (v) => String(v),
  },
  'root': {
    type: '`true` \\| `false`',
    default: 'false',
    example: 'true',
    userMay: false,
    description:
      'With an image: the user may be root in their own container (`ssh -t host root`, `ssh host root apt-get install htop`), on their subordinate ids (`cellsh-admin enroll` gives them 65536); root there has no power over the host. A change restarts the container at the next login.',
    check: flag(),
    format: (v) => String(v),
  },
  'shell': {
    type: 'absolute path',
    default: '/bin/bash',
    example: '/usr/bin/zsh',
    userMay: true,
    description: 'The shell run inside the container for logins and `-c` commands.',
    check: absolutePath('/bin/bash'),
    format: (v) => v,
  },
  'hostname': {
    type: 'template',
    default: '"{user}"',
    example: '"{user}-{host}"',
    userMay: true,
    description: "The container's hostname; `{user}`, `{uid}` and `{host}` (the host's short name) expand.",
    check: hostnameTemplate(),
    format: quoted,
  },
  'network': {
    type: NETWORKS.map((n) => `\`${n}\``).join(' \\| '),
    default: 'none',
    example: 'host',
    userMay: true,
    description:
      "`none`: only a loopback interface; `private`: a network of its own, with a user-mode NAT (slirp4netns) to what lies beyond the host, and DNS, but no way to the host itself or to other containers; `host`: the host's network.",
    check: oneOf(NETWORKS),
    format: (v) => v,
  },
  'env': {
    type: 'mapping of NAME: value',
    default: '{}',
    example: '{http_proxy: "http://proxy:3128"}',
    userMay: true,
    description: `Variables set in every session (at most ${ENV_MAX_VARS}; not HOME, USER, LOGNAME, SHELL, TERM, XDG_RUNTIME_DIR or SSH_*). Layers replace the whole mapping; a user's own variables are added to it.`,
    check: envMap(),
    format: envText,
  },
  'limits.memory': {
    type: 'size or `unlimited`',
    default: '2G',
    example: '512M',
    userMay: true,
    description: 'Memory the whole container may use (binary units: K, M, G, T; at least 32M).',
    check: size({ min: MEMORY_MIN_BYTES, max: MEMORY_MAX_BYTES }),
    format: limitText.size,
  },
  'limits.memory_high': {
    type: 'size or `unlimited`',
    default: 'unlimited',
    example: '1536M',
    userMay: true,
    description:
      'Above this the container is slowed down and its memory reclaimed first, before the hard limit (v2 memory.high; v1: soft limit, reclaimed first when the host runs short).',
    check: size({ min: MEMORY_MIN_BYTES, max: MEMORY_MAX_BYTES }),
    format: limitText.size,
  },
  'limits.swap': {
    type: 'size or `unlimited`',
    default: '0',
    example: '1G',
    userMay: true,
    description:
      'Swap the container may use on top of its memory. Enforced when the host has swap; on cgroup v1 it needs a memory limit.',
    check: size({ min: 0, max: MEMORY_MAX_BYTES }),
    format: limitText.size,
  },
  'limits.pids': {
    type: `integer 1-${PIDS_MAX} or \`unlimited\``,
    default: '512',
    example: '256',
    userMay: true,
    description: 'Processes and threads the container may run at once.',
    check: count({ min: 1, max: PIDS_MAX }),
    format: limitText.count,
  },
  'limits.cpu': {
    type: `CPUs (up to 3 decimals, at most ${CPUS_MAX}) or \`unlimited\``,
    default: '1.5',
    example: '0.5',
    userMay: true,
    description: 'CPU time the container may use, in CPUs (1.5 = one and a half cores).',
    check: cpus({ max: CPUS_MAX }),
    format: limitText.cpus,
  },
  'limits.io_weight': {
    type: `integer 1-${IO_WEIGHT_MAX} or \`default\``,
    default: 'default',
    example: '50',
    userMay: true,
    description:
      "The container's share of disk time against others (100 is the kernel's default); needs a device scheduled by BFQ (or io.cost on v2).",
    check: weight(),
    format: (v) => String(v),
  },
  'limits.io': {
    type: 'list of `{device, read_bps, write_bps, read_iops, write_iops}`',
    default: '[]',
    example: '[{device: /dev/sda, write_bps: 50M}]',
    userMay: false,
    description:
      'Bandwidth caps per block device: bytes (read_bps, write_bps: sizes per second) and operations (read_iops, write_iops) per second. A partition stands for its disk.',
    check: ioDevices({ bps: size({ min: BPS_MIN, max: BYTES_MAX }), iops: count({ min: 1, max: 2 ** 32 - 1 }) }),
    format: ioText,
  },
  'limits.disk': {
    type: 'size or `unlimited`',
    default: 'unlimited',
    example: '10G',
    userMay: false,
    description: `With an image: the most the writable layer may hold (at least ${BOUNDS.diskMin / 2 ** 20}M); writing past it fails with "No space left on device". Without \`persist\` the layer is in memory, within \`limits.memory\` too. A change waits for a restart.`,
    check: size({ min: BOUNDS.diskMin, max: MEMORY_MAX_BYTES }),
    format: limitText.size,
  },
  'rlimits.nofile': {
    type: 'integer, `unlimited` or `{soft, hard}`',
    default: '{soft: 1024, hard: 524288}',
    example: '4096',
    userMay: true,
    description: 'Open files per process (`ulimit -n`); a user may raise the soft limit up to the hard one.',
    check: rlimit(count({ min: BOUNDS.nofileMin, max: NOFILE_MAX })),
    format: rlimitText(limitText.count),
  },
  'rlimits.nproc': {
    type: 'integer, `unlimited` or `{soft, hard}`',
    default: 'unlimited',
    example: '1024',
    userMay: true,
    description:
      'Processes the user may have (`ulimit -u`; the kernel counts them per uid). `limits.pids` is the container-wide cap.',
    check: rlimit(count({ min: 1, max: PIDS_MAX })),
    format: rlimitText(limitText.count),
  },
  'rlimits.core': {
    type: 'size, `unlimited` or `{soft, hard}`',
    default: '{soft: 0, hard: unlimited}',
    example: 'unlimited',
    userMay: true,
    description: 'Largest core dump a process may write (`ulimit -c`).',
    check: rlimit(size({ min: 0, max: BYTES_MAX })),
    format: rlimitText(limitText.size),
  },
  'restart': {
    type: RESTARTS.map((r) => `\`${r}\``).join(' \\| '),
    default: 'idle',
    example: 'login',
    userMay: false,
    description:
      "When a running container restarts for a change that can't reach it live (hostname, network, home, names): `idle` at a login once nothing of the user's runs in it, `login` at the next login (ending what runs), `manual` only by `cellsh-admin restart` or the user. Limits change live.",
    check: oneOf(RESTARTS),
    format: (v) => v,
  },
  'user_may_set': {
    type: 'list of keys',
    default: '[]',
    example: '[hostname, env, limits.memory]',
    userMay: false,
    description:
      "Settings the user may choose in `~/.config/cellsh.yaml`: any of `shell`, `hostname`, `env`, `network`, `limits.*` but `io`, `rlimits.*`. Limits only lower than the admin's, `network` only as open as the admin's (`none` < `private` < `host`).",
    check: wordList(
      () => USER_SETTABLE,
      (w) => ((SETTING_KEYS as string[]).includes(w) ? `"${w}" is never the user's to set` : undefined),
    ),
    format: (v) => `[${v.join(', ')}]`,
  },
  'seccomp': {
    type: SECCOMP_PROFILES.map((p) => `\`${p}\``).join(' \\| '),
    default: 'default',
    example: 'strict',
    userMay: false,
    description:
      'The system-call filter of every process in the container (docs/seccomp.md): `default` refuses what the container runtimes refuse (keyrings, bpf, perf, io_uring, kernel modules, mounts, new user namespaces, TIOCSTI, ...); `strict` adds debugging other processes (ptrace), every new namespace and foreign personalities; `unconfined` installs none.',
    check: oneOf(SECCOMP_PROFILES),
    format: (v) => v,
  },
  'nested_userns': {
    type: '`true` \\| `false`',
    default: 'false',
    example: 'true',
    userMay: false,
    description:
      'Under `seccomp: default`, let users create user namespaces of their own and mount inside them (rootless podman, buildah, bubblewrap, browser sandboxes); this opens kernel code written for root. Not with `strict`; `unconfined` filters nothing anyway.',
    check: flag(),
    format: (v) => String(v),
  },
  'forwarding.local': {
    type: '`true` \\| `false`',
    default: 'true',
    example: 'false',
    userMay: false,
    description:
      "`ssh -L`, `-D` and `-W`: connections sshd makes for the client, from inside the container's network (with pam_cellsh; sshd sees `-D` as `-L`, so the two go together).",
    check: flag(),
    format: (v) => String(v),
  },
  'forwarding.remote': {
    type: '`true` \\| `false`',
    default: 'true',
    example: 'false',
    userMay: false,
    description: "`ssh -R`: ports sshd listens on for the client, in the container's network (with pam_cellsh).",
    check: flag(),
    format: (v) => String(v),
  },
  'forwarding.x11': {
    type: '`true` \\| `false`',
    default: 'false',
    example: 'true',
    userMay: false,
    description:
      "`ssh -X` and `-Y`: a display in the container's network that reaches the client's X server (with pam_cellsh; the host needs xauth). Programs in the container can then read the client's screen and keyboard.",
    check: flag(),
    format: (v) => String(v),
  },
  'publish.udp': {
    type: '`none`, a port or `LO-HI`',
    default: 'none',
    example: '60001-60004',
    userMay: false,
    description: `With \`network: private\`: UDP ports of the host's, on all its addresses, that reach the same ports in the container (for \`mosh --port\`); at most ${BOUNDS.udpPortsMax}, from ${BOUNDS.udpPortMin}, and no two users' may overlap. No other account of the host may bind them. A change waits for a restart.`,
    check: portRange({ min: BOUNDS.udpPortMin, count: BOUNDS.udpPortsMax }),
    format: (v) => (v === 'none' ? 'none' : v.lo === v.hi ? String(v.lo) : `${v.lo}-${v.hi}`),
  },
};

/** Every setting key, in table order. */
export const SETTING_KEYS = Object.keys(FIELDS) as SettingKey[];

/** The keys an admin may let users set (userMay), in table order. */
export const USER_SETTABLE: readonly SettingKey[] = SETTING_KEYS.filter((k) => FIELDS[k].userMay);

/** Check a YAML text (a default or an example) with a field's checker; throws if it fails. */
export function checkText<K extends SettingKey>(key: K, text: string): SettingValues[K] {
  const result = (FIELDS[key].check as Checker<SettingValues[K]>)(parseDocument(text).contents);
  if (!result.ok) throw new Error(`the schema's own value for ${key} is invalid: ${result.message}`);
  return result.value;
}

/** The built-in defaults, checked by the same code as the file's values. */
export const BUILTIN_DEFAULTS: Readonly<SettingValues> = Object.freeze(
  Object.fromEntries(SETTING_KEYS.map((k) => [k, checkText(k, FIELDS[k].default)])) as unknown as SettingValues,
);

/** The keys that may appear in a settings mapping under a prefix: [] -> image, ..., limits, rlimits; ["limits"] -> memory, ... */
export function keysUnder(prefix: readonly string[]): string[] {
  const out = new Set<string>();
  for (const key of SETTING_KEYS) {
    const parts = key.split('.');
    if (parts.length > prefix.length && prefix.every((p, i) => parts[i] === p)) out.add(parts[prefix.length]!);
  }
  return [...out];
}

/** The setting at a path, if the path names one (["limits", "memory"] -> "limits.memory"). */
export function settingAt(path: readonly string[]): SettingKey | undefined {
  const key = path.join('.');
  return (SETTING_KEYS as string[]).includes(key) ? (key as SettingKey) : undefined;
}

/** The reference table (key | type | default | example | description) as Markdown, for the README. */
export function renderPolicyTable(): string {
  const cell = (s: string): string => s.replace(/\n/g, ' ');
  const code = (s: string): string => `\`${s}\``;
  const rows = SETTING_KEYS.map((k) => {
    const f = FIELDS[k] as FieldSpec<unknown>;
    return `| ${code(k)} | ${cell(f.type)} | ${code(f.default)} | ${code(f.example)} | ${cell(f.description)} |`;
  });
  return ['| key | type | default | example | description |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
