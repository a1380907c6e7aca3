// From RawPolicy layers to the effective Policy: built-in defaults <- each
// file's `defaults:` <- each file's `groups.<name>:` the user is in, in the
// order written <- each file's `users.<name>:`, merged key by key (so `limits:`
// merges per limit). Every value remembers which layer it came from, which is
// what `cellsh-admin show` prints. Users and groups named in the policy are
// checked against the host's accounts (NSS) here.
import { enrolledUsers, type PasswdEntry, type UserDirectory } from '../sys/users.js';
import type { DiskNumbers } from '../sys/block.js';
import type { Diagnostics, SourceLoc } from './diagnostics.js';
import {
  BUILTIN_DEFAULTS,
  SETTING_KEYS,
  type Image,
  type Network,
  type RestartMode,
  type SeccompProfile,
  type SettingKey,
  type SettingValues,
} from './schema.js';
import type { Limit } from './sizes.js';
import type { IoDevice, PortRange, RlimitValue } from './values.js';
import { nameProblem } from './validators.js';
import type { RawEntry, RawPolicy, RawSettings } from './raw.js';

/** What resolving and compiling need to know about the host. */
export interface PolicyEnv {
  /** Accounts (NSS on a real host, a table in tests). */
  readonly dir: UserDirectory;
  /** The Unix group whose members are enrolled (layout.group). */
  readonly group: string;
  /** The host's short hostname, for {host} in hostname templates. */
  readonly host: string;
  /** The disk a device path names, for I/O limits, or why there is none (blockDevice on a real host). */
  readonly devices: (path: string) => DiskNumbers | string;
  /** An image of the store by name, or why a container can't be made from it (none: no store here). */
  readonly images?: (name: string) => ImageFacts | string;
  /** The first ids of a user's 65536 subordinate uids and gids (/etc/subuid, /etc/subgid), if they have them. */
  readonly subIds?: (name: string) => IdStarts | undefined;
  /** The first ids of the image store's range, if it has one. */
  readonly storeIds?: () => IdStarts | undefined;
  /** Every subordinate range by owner (/etc/subuid, /etc/subgid), and every account's uid and gid. */
  readonly idClaims?: () => IdClaims;
}

/** Who holds which ids on the host. */
export interface IdClaims {
  readonly uid: ReadonlyArray<{ readonly owner: string; readonly start: number; readonly count: number }>;
  readonly gid: ReadonlyArray<{ readonly owner: string; readonly start: number; readonly count: number }>;
  readonly ids: readonly number[];
}

/** The first uid and gid of a range of 65536. */
export interface IdStarts {
  readonly uid: number;
  readonly gid: number;
}

/** What compiling needs of an image: the id of its layer list, and what its config asks of a session. */
export interface ImageFacts {
  /** The 64 hex digits naming the image's layer list in the store (what the helper mounts). */
  readonly id: string;
  /** Its config's Env, NAME=VALUE each. */
  readonly env: readonly string[];
  /** The shell its config names, for a policy that names none. */
  readonly shell: string;
}

/** Resource limits of the whole container: a number in the helper's unit
 * (bytes, tasks, thousandths of a CPU) or 'unlimited'. */
export interface Limits {
  readonly memory: Limit;
  readonly memory_high: Limit;
  readonly swap: Limit;
  readonly pids: Limit;
  readonly cpu: Limit;
  readonly io_weight: number | 'default';
  readonly io: readonly IoDevice[];
  /** An image container's writable layer. */
  readonly disk: Limit;
}

/** Limits of each process (setrlimit). */
export interface Rlimits {
  readonly nofile: RlimitValue;
  readonly nproc: RlimitValue;
  readonly core: RlimitValue;
}

/** One user's effective settings, every key present. */
export interface Settings {
  readonly image: Image;
  /** Keep an image container's writable layer across restarts. */
  readonly persist: boolean;
  /** uid 0 inside mapped onto the user's subordinate ids; sessions started with `root` are root there. */
  readonly root: boolean;
  readonly shell: string;
  /** The template; expanded per user when compiling. */
  readonly hostname: string;
  readonly network: Network;
  readonly env: Readonly<Record<string, string>>;
  readonly limits: Limits;
  readonly rlimits: Rlimits;
  readonly restart: RestartMode;
  /** Setting keys the user may set in ~/.config/cellsh.yaml. */
  readonly user_may_set: readonly string[];
  /** The seccomp filter of the container's processes. */
  readonly seccomp: SeccompProfile;
  /** Under seccomp default: user namespaces (and mounts in them) allowed. */
  readonly nested_userns: boolean;
  readonly publish: { readonly udp: PortRange | 'none' };
  /** What sshd forwards for the user (src/admin/sshd-forwarding.ts writes it into sshd's configuration). */
  readonly forwarding: Forwarding;
}

/** ssh forwarding a user gets: local (-L, -D, -W), remote (-R), x11 (-X, -Y). */
export interface Forwarding {
  readonly local: boolean;
  readonly remote: boolean;
  readonly x11: boolean;
}

/** Where an effective value came from: the built-in default, or a layer of a file. */
export type Origin = { readonly layer: 'built-in' } | { readonly layer: string; readonly at: SourceLoc };

/** Effective settings and the origin of each. */
export interface Effective {
  readonly settings: Settings;
  readonly origins: Readonly<Record<SettingKey, Origin>>;
}

/** Who a layer applies to. */
export type Scope =
  | { readonly kind: 'all' }
  | { readonly kind: 'group'; readonly gid: number }
  | { readonly kind: 'user'; readonly name: string };

/** One mapping of settings from one file, in the order layers apply. */
export interface PolicyLayer {
  /** "defaults", "groups.NAME" or "users.NAME". */
  readonly name: string;
  readonly file: string;
  /** Where the section or entry starts (absent for an empty `defaults:`). */
  readonly at: SourceLoc | undefined;
  readonly scope: Scope;
  readonly settings: RawSettings | undefined;
}

/** A user named under `users:` who exists and may be served. */
export interface PolicyUser {
  readonly account: PasswdEntry;
  /** Where the user's entry is written (the last layer naming them). */
  readonly at: SourceLoc;
}

/** A group named under `groups:` that exists on this host. */
export interface PolicyGroup {
  readonly gid: number;
  /** Where the group's entry is written (the last layer naming it). */
  readonly at: SourceLoc;
}

/** The resolved policy. */
export interface Policy {
  /** The files it was read from, in layer order. */
  readonly files: readonly string[];
  /** Every layer in the order they apply: each file's `defaults:`, then each
   * file's `groups:` entries, then each file's `users:` entries. */
  readonly layers: readonly PolicyLayer[];
  /** What a user in no listed group and with no entry gets. */
  readonly defaults: Effective;
  /** Groups with an entry, by name. */
  readonly groups: ReadonlyMap<string, PolicyGroup>;
  /** Users with an entry, by name. */
  readonly users: ReadonlyMap<string, PolicyUser>;
}

/** Merge layers over the built-in defaults, key by key. */
function merge(layers: readonly Pick<PolicyLayer, 'name' | 'settings'>[]): Effective {
  const values: Record<string, unknown> = { ...BUILTIN_DEFAULTS };
  const origins = Object.fromEntries(SETTING_KEYS.map((k) => [k, { layer: 'built-in' }])) as Record<SettingKey, Origin>;
  for (const layer of layers) {
    for (const key of SETTING_KEYS) {
      const v = layer.settings?.[key];
      if (v === undefined) continue;
      values[key] = v.value;
      origins[key] = { layer: layer.name, at: v.at };
    }
  }
  return { settings: nest(values as unknown as SettingValues), origins };
}

/** The flat key table's values as the nested shape code reads. */
function nest(v: SettingValues): Settings {
  return Object.freeze({
    image: v.image,
    persist: v.persist,
    root: v.root,
    shell: v.shell,
    hostname: v.hostname,
    network: v.network,
    env: v.env,
    limits: Object.freeze({
      memory: v['limits.memory'],
      memory_high: v['limits.memory_high'],
      swap: v['limits.swap'],
      pids: v['limits.pids'],
      cpu: v['limits.cpu'],
      io_weight: v['limits.io_weight'],
      io: v['limits.io'],
      disk: v['limits.disk'],
    }),
    rlimits: Object.freeze({ nofile: v['rlimits.nofile'], nproc: v['rlimits.nproc'], core: v['rlimits.core'] }),
    restart: v.restart,
    user_may_set: v.user_may_set,
    seccomp: v.seccomp,
    nested_userns: v.nested_userns,
    publish: Object.freeze({ udp: v['publish.udp'] }),
    forwarding: Object.freeze({
      local: v['forwarding.local'],
      remote: v['forwarding.remote'],
      x11: v['forwarding.x11'],
    }),
  });
}

/** Resolve layers (one per file, in order) against the host's accounts. */
export function resolvePolicy(raws: readonly RawPolicy[], env: PolicyEnv, diags: Diagnostics): Policy {
  const layers: PolicyLayer[] = raws.map((r) => ({
    name: 'defaults',
    file: r.file,
    at: undefined,
    scope: { kind: 'all' },
    settings: r.defaults,
  }));
  const groups = new Map<string, PolicyGroup>();
  for (const raw of raws) {
    for (const g of raw.groups) {
      const gid = checkGroup(g, env, diags);
      if (gid === undefined) continue;
      groups.set(g.name, { gid, at: g.at });
      layers.push({
        name: `groups.${g.name}`,
        file: raw.file,
        at: g.at,
        scope: { kind: 'group', gid },
        settings: g.settings,
      });
    }
  }
  const enrolled = new Set(enrolledUsers(env.dir, env.group).map((u) => u.name));
  const users = new Map<string, PolicyUser>();
  for (const raw of raws) {
    for (const u of raw.users) {
      const account = users.get(u.name)?.account ?? checkAccount(u, env, enrolled, diags);
      if (!account) continue;
      users.set(u.name, { account, at: u.at });
      layers.push({
        name: `users.${u.name}`,
        file: raw.file,
        at: u.at,
        scope: { kind: 'user', name: u.name },
        settings: u.settings,
      });
    }
  }
  return {
    files: raws.map((r) => r.file),
    layers,
    defaults: merge(layers.filter((l) => l.scope.kind === 'all')),
    groups,
    users,
  };
}

/** The gid of a group a `groups:` entry names, or undefined (with an error) if there is none. */
function checkGroup(entry: RawEntry, env: PolicyEnv, diags: Diagnostics): number | undefined {
  const path = `groups.${entry.name}`;
  const problem = nameProblem(entry.name);
  const group = problem ? undefined : env.dir.group(entry.name);
  if (!group) {
    diags.error(
      entry.at.file,
      entry.at,
      path,
      problem ? `not a group name cellsh supports (${problem})` : 'no such group on this host',
    );
    return undefined;
  }
  return group.gid;
}

/** The account a `users:` entry names, or undefined (with an error) if cellsh cannot serve it. */
function checkAccount(
  entry: RawEntry,
  env: PolicyEnv,
  enrolled: ReadonlySet<string>,
  diags: Diagnostics,
): PasswdEntry | undefined {
  const { name } = entry;
  const path = `users.${name}`;
  const problem = nameProblem(name);
  const account = problem ? undefined : env.dir.user(name);
  if (!account) {
    diags.error(
      entry.at.file,
      entry.at,
      path,
      problem ? `not a user name cellsh supports (${problem})` : 'no such user on this host',
    );
    return undefined;
  }
  if (account.uid === 0) {
    diags.error(entry.at.file, entry.at, path, 'root is never served by cellsh');
    return undefined;
  }
  if (!enrolled.has(name)) {
    diags.warning(
      entry.at.file,
      entry.at,
      path,
      `${name} is not enrolled (not in the "${env.group}" group), so cellsh does not serve them yet; run "cellsh-admin enroll ${name}"`,
    );
  }
  return account;
}

/** The layers that apply to a user (by name, and the gids they get at login), in order. */
export function layersFor(policy: Policy, name: string, gids: readonly number[]): PolicyLayer[] {
  return policy.layers.filter(
    (l) =>
      l.scope.kind === 'all' ||
      (l.scope.kind === 'group' && gids.includes(l.scope.gid)) ||
      (l.scope.kind === 'user' && l.scope.name === name),
  );
}

/** The effective settings of a user: the defaults, then the entries of the
 * groups they are in (in the order written), then their own entries. */
export function effectiveFor(policy: Policy, name: string, gids: readonly number[] = []): Effective {
  return merge(layersFor(policy, name, gids));
}
