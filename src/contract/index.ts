// The facts the TypeScript side and the setuid helper share, written once.
//
// The build turns this module into the C header the helper and the launcher
// include (c-header.ts writes build/contract.h), so a bound, a key, a word of
// the helper's command line or an exit code is changed here and nowhere else.
// test/unit/contract runs examples of every record, argv form and message
// through the real C parsers.

/** Exit codes, sysexits style; the helper exits with the same ones. */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  /** Malformed argv or environment from the caller. */
  usage: 64,
  /** A kernel call failed where it should not. */
  internal: 70,
  /** The policy or an ownership check says no. */
  refused: 77,
  /** The compiled policy or the install is untrusted or invalid. */
  config: 78,
} as const;

/** The compiled policy file around the records (compiled-file.ts, policy.c). */
export const POLICY_FILE = {
  /** First line: magic and format version. */
  magic: 'cellsh-policy 5',
  /** The magic line and "index NNNNNNNNNN\n". */
  headLen: 'cellsh-policy 5'.length + 1 + 'index '.length + 10 + 1,
  /** "UUUUUUUUUU OOOOOOOOOOOOOOOO LLLLLLLL HHHHHHHHHHHHHHHH\n". */
  indexEntryLen: 10 + 1 + 16 + 1 + 8 + 1 + 16 + 1,
  /** A longer record is refused. */
  recordMaxBytes: 64 * 1024,
  /** The longest line, without its newline (the helper's buffer is this + 1). */
  lineMax: 1023,
} as const;

/** Bounds on a record's values. */
export const BOUNDS = {
  /** User and group names. */
  nameMaxLen: 32,
  /** Home and shell. */
  pathMaxLen: 255,
  hostnameMaxLen: 63,
  /** Supplementary groups per user. */
  maxGroups: 64,
  /** Block devices with bandwidth limits. */
  maxIoDevices: 8,
  ioWeightMin: 1,
  ioWeightMax: 10000,
  /** The kernel's PID_MAX_LIMIT on 64-bit. */
  pidsMax: 4194304,
  /** Device numbers: 12 bits of major, 20 of minor. */
  majorMax: 4095,
  minorMax: 1048575,
  /** Below this the helper itself can't work. */
  nofileMin: 64,
  /** The least memory a container may be given (32 MiB). */
  memoryMin: 32 * 1024 * 1024,
  /** Host UDP ports a user's container may have published: the lowest port, and how many. */
  udpPortMin: 1024,
  udpPortsMax: 100,
  /** cpu in thousandths of a CPU: 0 (no limit) or 0.01 to 1024 CPUs. */
  cpuMin: 10,
  cpuMax: 1024000,
  /** Variables the policy sets, and their name and value lengths. */
  envMax: 16,
  envNameMax: 63,
  envValueMax: 255,
  /** An image's name (a file name in the image store). */
  imageNameMax: 64,
  /** Layers of an image a container can be made from: overlay's lowerdir option (a
   * page on Linux 6.1) holds this many layer names of 64 hex digits. */
  imageLayersMax: 60,
  /** Ids of a user namespace: 0..idRange-1 inside (a subordinate range's size). */
  idRange: 65536,
  /** The least size of a writable layer (16 MiB: an ext4 with its journal fits). */
  diskMin: 16 * 1024 * 1024,
} as const;

/** Every record key, in the order cellsh-admin writes them; each is required.
 * The value says what the key holds (for the C header's comments). */
export const RECORD_KEYS = {
  name: 'login name, for passwd inside',
  gid: 'primary group id',
  group: 'primary group name',
  groups: 'supplementary gids, space separated (may be empty)',
  home: 'absolute path, bind-mounted at the same path',
  shell: 'absolute path inside the container',
  hostname: "the container's uts name",
  network: 'one of NETWORK_MODES',
  memory: 'bytes, hard limit (0: none)',
  memory_high: 'bytes, throttled above it (0: none)',
  swap: 'bytes of swap on top of memory, or "max"',
  pids: 'max tasks (0: none), at most pidsMax',
  cpu: 'thousandths of a CPU (0: none), cpuMin to cpuMax',
  io_weight: "ioWeightMin to ioWeightMax, 0 for the kernel's default",
  io: 'MAJ:MIN RBPS WBPS RIOPS WIOPS, repeated (may be empty)',
  nofile: 'SOFT HARD, each a number or "max"; soft at least nofileMin',
  nproc: 'SOFT HARD, each a number or "max"',
  core: 'SOFT HARD, each a number or "max"',
  env: 'NAME=VALUE items, space separated, values percent-encoded',
  restart: 'one of RESTART_MODES',
  user_may: 'USER_MAY_KEYS, space separated',
  seccomp: 'one of SECCOMP_PROFILES',
  nested_userns: 'true or false (never true with seccomp strict)',
  udp_ports: 'LO HI: host UDP ports published into the container (network private), "0 0" for none',
  image: '"host", or NAME ID: an image of the store and the 64 hex digits naming its layer list',
  layer: "MODE BYTES: an image's writable layer, MODE one of LAYER_MODES; its size, 0 (none) only when temporary",
  root: '"none", or SUBUID SUBGID STOREUID STOREGID: root inside; the first ids of the user\'s 65536 subordinate ones, and of the store\'s',
} as const;
export type RecordKey = keyof typeof RECORD_KEYS;

/** When a changed record key reaches a running container: drift.c decides it at
 * a login from this table (generated into contract.h as RESTART_KEYS), and
 * `cellsh-admin diff` says it to the admin before the apply.
 *  - session: every new session starts with it; the container stays.
 *  - live: written into the running container's cgroup at the next login.
 *  - restart: it shapes the container, so it waits for a restart, which the
 *    record's "restart" times.
 *  - access: as restart, but the old container would keep access the change
 *    takes away, so the next login restarts it whatever "restart" says.
 * Two keys change class with the direction of the change: "network" is access
 * when the host's network is taken away, and "seccomp" and "nested_userns" wait
 * for a restart, taking access, when the filter gets stricter than one the
 * container's processes ran under (seccompStrength). `label` is how a pending
 * change is named to people ("hostname, network"). */
export const CHANGES = ['session', 'live', 'restart', 'access'] as const;
export type Change = (typeof CHANGES)[number];
export const RECORD_CHANGES: { readonly [K in RecordKey]: { readonly change: Change; readonly label?: string } } = {
  name: { change: 'restart', label: 'user name' },
  gid: { change: 'access', label: 'group id' },
  group: { change: 'restart', label: 'group name' },
  groups: { change: 'session' },
  home: { change: 'access', label: 'home' },
  shell: { change: 'session' },
  hostname: { change: 'restart', label: 'hostname' },
  network: { change: 'restart', label: 'network' },
  memory: { change: 'live' },
  memory_high: { change: 'live' },
  swap: { change: 'live' },
  pids: { change: 'live' },
  cpu: { change: 'live' },
  io_weight: { change: 'live' },
  io: { change: 'live' },
  nofile: { change: 'session' },
  nproc: { change: 'session' },
  core: { change: 'session' },
  env: { change: 'session' },
  restart: { change: 'session' },
  user_may: { change: 'session' },
  seccomp: { change: 'session', label: 'seccomp filter' },
  nested_userns: { change: 'session', label: 'seccomp filter' },
  udp_ports: { change: 'restart', label: 'published UDP ports' },
  image: { change: 'restart', label: 'image' },
  layer: { change: 'restart', label: 'writable layer' },
  root: { change: 'access', label: 'root inside' },
};

/** How much a seccomp profile confines, 0 (unconfined) to 3 (strict); default
 * confines less (1) when it lets nested user namespaces through. */
export const SECCOMP_STRENGTH = { unconfined: 0, defaultNested: 1, default: 2, strict: 3 } as const;

/** The strength of a record's filter (SECCOMP_STRENGTH). */
export function seccompStrength(profile: (typeof SECCOMP_PROFILES)[number], nestedUserns: boolean): number {
  return profile === 'default' && nestedUserns ? SECCOMP_STRENGTH.defaultNested : SECCOMP_STRENGTH[profile];
}

const openness = (network: string): number => NETWORK_OPENNESS[network as (typeof NETWORK_MODES)[number]] ?? 0;

/** When a change of `key` from `before` to `after` reaches a running container
 * (RECORD_CHANGES, with the two keys whose class depends on the direction). */
export function changeOf(
  key: RecordKey,
  before: { network: string; seccomp: (typeof SECCOMP_PROFILES)[number]; nested_userns: boolean },
  after: { network: string; seccomp: (typeof SECCOMP_PROFILES)[number]; nested_userns: boolean },
): Change {
  if (key === 'network' && openness(after.network) < openness(before.network)) return 'access';
  if (
    (key === 'seccomp' || key === 'nested_userns') &&
    seccompStrength(after.seccomp, after.nested_userns) > seccompStrength(before.seccomp, before.nested_userns)
  )
    return 'access';
  return RECORD_CHANGES[key].change;
}

/** "network": a new namespace with only loopback, the host's, or a new one with
 * a user-mode NAT to the host's network (src/helper/nat.h). Records store the
 * index, so a new mode goes at the end. */
export const NETWORK_MODES = ['none', 'host', 'private'] as const;
/** How much of the network each mode reaches: a change to a lower one takes access away. */
export const NETWORK_OPENNESS: { readonly [N in (typeof NETWORK_MODES)[number]]: number } = {
  none: 0,
  private: 1,
  host: 2,
};
/** "layer": an image's writable layer is thrown away with the container, or kept
 * (an ext4 image of its own per user, src/helper/layer.c). */
export const LAYER_MODES = ['temporary', 'persistent'] as const;
/** "restart": when a change cgroups can't apply live restarts the container. */
export const RESTART_MODES = ['idle', 'login', 'manual'] as const;
/** "seccomp": the filter the container's processes run under. */
export const SECCOMP_PROFILES = ['default', 'strict', 'unconfined'] as const;
/** The per-process limits a session's program starts with. */
export const RLIMIT_KEYS = ['nofile', 'nproc', 'core'] as const;
/** The record keys a user may be let set for themselves (--set), in record order. */
export const USER_MAY_KEYS = [
  'shell',
  'hostname',
  'env',
  'network',
  'memory',
  'memory_high',
  'swap',
  'pids',
  'cpu',
  'io_weight',
  'nofile',
  'nproc',
  'core',
] as const;

/** Variables cellsh sets itself in every session; the policy may not set them. */
export const RESERVED_ENV = [
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'XDG_RUNTIME_DIR',
  'SSH_AUTH_SOCK',
  'SSH_TTY',
  'SSH_CONNECTION',
  'SSH_CLIENT',
  'SSH_ORIGINAL_COMMAND',
] as const;

/** The helper's command line:
 *
 *   cellsh-helper login [--pty SPEC] [--agent] [--set KEY=VALUE]...
 *   cellsh-helper run [--pty SPEC] [--agent] [--set KEY=VALUE]... COMMAND
 *   cellsh-helper stop [UID [--notice TEXT]]
 *   cellsh-helper netns
 *   cellsh-helper ports
 *
 * SPEC is MASK:ROWSxCOLS, MASK 1-7 (bit i: fd i gets the inner pty). netns is
 * the PAM module's (pam/pam_cellsh.c): the caller's container, started if none
 * runs, and its network namespace sent over fd 3 (NETNS_REPLY). ports is
 * cellsh-admin apply's and the boot unit's (root only): the UDP ports the
 * applied policy publishes are kept for the NAT (src/helper/port-guard.h). */
export const HELPER_ARGV = {
  verbs: ['login', 'run', 'stop', 'netns', 'ports'],
  /** --set options at most. */
  maxSets: 16,
  /** Bytes of one --set KEY=VALUE at most. */
  setMaxBytes: 1100,
  /** --pty rows and columns are 1 to this. */
  ptyMaxDim: 9999,
  /** Bytes of a --notice at most (no control characters). */
  noticeMax: 300,
} as const;

/** File descriptors with a fixed meaning between the programs. */
export const FDS = {
  /** The helper's channel to cellsh's Node side (with --pty or --agent). */
  channel: 3,
  /** Where the launcher's early start hands Node the helper's stderr, when Node's own is a terminal. */
  attachedStderr: 4,
  /** Where the launcher's early start hands Node sshd's agent socket (an O_PATH fd of the checked socket). */
  agent: 5,
} as const;

/** The message the helper sends on the channel once the program is about to start:
 *
 *   started SESSION CONTAINER created|joined[ MS-SESSION.sock]
 *
 * SESSION and CONTAINER are idHexLen lowercase hex digits; the last word is the
 * session's agent socket (with --agent). It carries the program's pidfd, the pty
 * master with --pty, and the agent's listening socket and folder with --agent. */
export const STARTED = {
  word: 'started',
  idHexLen: 12,
  created: 'created',
  joined: 'joined',
  socketSuffix: '.sock',
} as const;

/** The helper's answer to `netns` on fd 3, once the container runs:
 *
 *   netns CONTAINER    with the container's network namespace as the message's fd
 *   host CONTAINER     the policy gives the user the host's network: nothing to join
 *
 * CONTAINER is STARTED.idHexLen lowercase hex digits. */
export const NETNS_REPLY = {
  joined: 'netns',
  host: 'host',
} as const;

/** The audit log's events: who writes each ("helper": the setuid helper, which
 * the user can't tamper with; "admin": cellsh-admin through pino) and the fields
 * each carries besides pino's own (level, time, pid, hostname, msg). A field
 * ending in "?" may be left out. */
export const LOG_EVENTS = {
  'login': {
    by: 'helper',
    fields: ['user', 'uid', 'session', 'mode', 'tty', 'command?', 'ssh_connection?', 'user_settings?'],
  },
  'container-start': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'init_pid'] },
  'container-join': { by: 'helper', fields: ['user', 'uid', 'session', 'container'] },
  'exit': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'status', 'signal?', 'duration_ms'] },
  /** A refusal (usage, refused, config) or a failure; session when the session's own process reported it. */
  'denied': { by: 'helper', fields: ['uid', 'reason', 'code', 'user?', 'session?'] },
  'error': { by: 'helper', fields: ['uid', 'reason', 'code', 'user?', 'session?'] },
  'oom': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'limit', 'count'] },
  'pids-limit': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'limit', 'count'] },
  'container-stop': { by: 'helper', fields: ['uid', 'container', 'by_uid', 'user?'] },
  'limits-update': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'reason'] },
  'restart-pending': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'pending'] },
  'container-restart': { by: 'helper', fields: ['user', 'uid', 'session', 'container', 'reason'] },
  'policy-apply': { by: 'admin', fields: ['files', 'users', 'by_uid'] },
  'sshd-forwarding': { by: 'admin', fields: ['file', 'outcome', 'by_uid'] },
  'policy-rejected': { by: 'admin', fields: ['files', 'problems', 'by_uid'] },
  'enroll': { by: 'admin', fields: ['user', 'uid', 'by_uid'] },
  'unenroll': { by: 'admin', fields: ['user', 'uid', 'by_uid'] },
  /** A user's persistent writable layer discarded (bytes: what it held on disk). */
  'layer-reset': { by: 'admin', fields: ['user', 'uid', 'bytes', 'by_uid'] },
} as const;
export type LogEventName = keyof typeof LOG_EVENTS;

/** How a session reaches the helper (docs/routes.md): "fast", the launcher execs
 * the helper itself; "early", the launcher starts the helper for a terminal and
 * becomes Node's relay while Node loads; "node", the Node login shell does it all. */
export const ROUTES = ['fast', 'early', 'node'] as const;
export type Route = (typeof ROUTES)[number];
/** What the launcher's arguments ask for: a login shell, one command, or something
 * else (options, usage errors, cellsh named by itself) that Node reads and explains. */
export const INVOCATIONS = ['login', 'command', 'other'] as const;
/** Which of fds 0-2 are terminals: none, stdin and stdout (a terminal session),
 * some other mix, or one of the three is closed. */
export const TERMINALS = ['none', 'interactive', 'other', 'closed'] as const;

/** One row of the route table; "*" holds always. */
export interface RouteRow {
  readonly invocation: (typeof INVOCATIONS)[number] | '*';
  readonly terminals: (typeof TERMINALS)[number] | '*';
  /** The user is in the compiled policy and may set nothing themselves (so no
   * ~/.config/cellsh.yaml needs reading, and no refusal of it explaining). */
  readonly plainRecord: boolean | '*';
  /** The helper is there and the caller may run it. */
  readonly helperRunnable: boolean | '*';
  readonly route: Route;
  /** Why, in a line (for docs/routes.md). */
  readonly why: string;
}

/** The route table: the first row whose conditions all hold gives the route. Rows
 * are ordered so that a condition that costs a look-up (the record, the helper) is
 * asked only when the cheap ones already point at a row that needs it. */
export const ROUTE_TABLE: readonly RouteRow[] = [
  {
    invocation: 'other',
    terminals: '*',
    plainRecord: '*',
    helperRunnable: '*',
    route: 'node',
    why: "options and mistakes are Node's to read and explain",
  },
  {
    invocation: 'command',
    terminals: 'none',
    plainRecord: true,
    helperRunnable: '*',
    route: 'fast',
    why: "ssh host cmd, scp, sftp, rsync, git: nothing to relay, so no Node (if the helper can't be run, Node explains)",
  },
  {
    invocation: '*',
    terminals: 'interactive',
    plainRecord: true,
    helperRunnable: true,
    route: 'early',
    why: 'a terminal session: the container starts while Node loads to relay the terminal',
  },
  {
    invocation: '*',
    terminals: '*',
    plainRecord: '*',
    helperRunnable: '*',
    route: 'node',
    why: "settings of the user's own to read, no record to explain, an odd mix of terminals or a closed fd",
  },
];
