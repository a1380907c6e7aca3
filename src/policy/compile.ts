// From the resolved Policy and the host's accounts to the records the helper
// reads: one per enrolled user and per user named in the policy, sorted by uid.
// Group entries are resolved here, from the groups each user has now (NSS): a
// change of membership takes effect at the next apply.
// Account facts the helper cannot look up itself (group names, supplementary
// groups, home) are taken here, and checked against the helper's rules.
import { BOUNDS } from '../contract/index.js';
import { enrolledUsers, type PasswdEntry } from '../sys/users.js';
import { Diagnostics, type Diagnostic, type SourceLoc } from './diagnostics.js';
import { expandHostname } from './hostname.js';
import {
  effectiveFor,
  type Effective,
  type Forwarding,
  type IdClaims,
  type Origin,
  type Policy,
  type PolicyEnv,
} from './resolve.js';
import { UNLIMITED } from './sizes.js';
import {
  compiledLimit,
  compiledRlimit,
  MAX_GROUPS,
  USER_MAY_KEYS,
  userMayKeyOf,
  encodeEnv,
  type CompiledImage,
  type CompiledIo,
  type CompiledRoot,
  type CompiledUser,
  type UserMayKey,
} from './compiled.js';
import { ENV_ENCODED_MAX, type IoDevice } from './values.js';
import {
  ENV_MAX_VARS,
  envNameProblem,
  envValueProblem,
  hostnameProblem,
  nameProblem,
  pathProblem,
} from './validators.js';

/** The result of compiling: records for the users that passed, and every problem. */
export interface Compiled {
  readonly users: readonly CompiledUser[];
  /** What sshd forwards for each compiled user, by name (sshd enforces it, not the helper). */
  readonly forwarding: ReadonlyMap<string, Forwarding>;
  readonly diagnostics: readonly Diagnostic[];
}

/** A gid the kernel uses for "no group" ((gid_t)-1); the helper refuses it. */
const NO_ID = 0xffffffff;

/** The compiled name of a user-settable setting key ("limits.memory" -> "memory"). */
export function compiledKeyOf(key: string): UserMayKey {
  const name = userMayKeyOf(key);
  if (name === undefined) throw new Error(`${key} is not a user-settable key`);
  return name;
}

/** The compiled user_may list: each key once, in the helper's order (the order
 * the compiled file is written and read back in), whatever the policy's order. */
export function canonicalUserMay(keys: readonly string[]): UserMayKey[] {
  const wanted = new Set(keys.map(compiledKeyOf));
  return USER_MAY_KEYS.filter((k) => wanted.has(k));
}

/** The devices' numbers on this host, or the problems that stop it. */
function ioValues(list: readonly IoDevice[], env: PolicyEnv): { io: CompiledIo[]; problems: string[] } {
  const io: CompiledIo[] = [];
  const problems: string[] = [];
  for (const d of list) {
    const disk = env.devices(d.device);
    if (typeof disk === 'string') {
      problems.push(disk);
      continue;
    }
    if (io.some((o) => o.major === disk.major && o.minor === disk.minor)) {
      problems.push(`${d.device} is the disk ${disk.major}:${disk.minor} again; give each disk one entry`);
      continue;
    }
    io.push({
      ...disk,
      rbps: compiledLimit(d.read_bps),
      wbps: compiledLimit(d.write_bps),
      riops: compiledLimit(d.read_iops),
      wiops: compiledLimit(d.write_iops),
    });
  }
  return { io, problems };
}

/** Where a value was set, for a message: "defaults at policy.yaml:3:12". */
function setAt(origin: Origin): string {
  return 'at' in origin
    ? `${origin.layer} at ${origin.at.file}:${origin.at.line}:${origin.at.col}`
    : 'the built-in default';
}

/** strict refuses every namespace, so it can't also allow nested user namespaces:
 * reported where nested_userns is set to true (never the built-in value), once
 * per place. Returns whether the settings contradict each other. */
function seccompConflict(
  eff: Effective,
  report: (at: SourceLoc | undefined, path: string, message: string) => void,
): boolean {
  const { settings, origins } = eff;
  if (settings.seccomp !== 'strict' || !settings.nested_userns) return false;
  const origin = origins.nested_userns;
  const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.nested_userns`] : [undefined, 'nested_userns'];
  report(
    at,
    path,
    `true contradicts "seccomp: strict" (${setAt(origins.seccomp)}), which refuses every namespace; ` +
      'set seccomp: default where nested user namespaces are wanted, or leave nested_userns false',
  );
  return true;
}

/** Every user to compile: enrolled users and users with an entry, by uid. Root is left out. */
function targets(policy: Policy, env: PolicyEnv, diags: Diagnostics): PasswdEntry[] {
  const byName = new Map<string, PasswdEntry>();
  for (const u of enrolledUsers(env.dir, env.group)) {
    if (u.uid === 0)
      diags.warning(
        policy.files[0] ?? '',
        undefined,
        '',
        `${u.name} (uid 0) is in the "${env.group}" group, but root is never served by cellsh; left out`,
      );
    else byName.set(u.name, u);
  }
  for (const u of policy.users.values()) byName.set(u.account.name, u.account);
  return [...byName.values()].sort((a, b) => a.uid - b.uid || a.name.localeCompare(b.name));
}

/** Compile the policy for every user it serves. Problems with one user are errors:
 * the helper would refuse the whole file, so the file is not written. */
export function compilePolicy(policy: Policy, env: PolicyEnv): Compiled {
  const diags = new Diagnostics();
  const users: CompiledUser[] = [];
  const forwarding = new Map<string, Forwarding>();
  // Contradictions that reach no user yet still make the file wrong: the
  // defaults, and any one mapping that sets both.
  const toDiags =
    (file: string) =>
    (at: SourceLoc | undefined, path: string, message: string): void =>
      diags.error(at?.file ?? file, at, path, message);
  seccompConflict(policy.defaults, toDiags(policy.files[0] ?? ''));
  for (const layer of policy.layers) {
    const s = layer.settings;
    if (s?.seccomp && s.nested_userns) {
      seccompConflict(
        {
          settings: { ...policy.defaults.settings, seccomp: s.seccomp.value, nested_userns: s.nested_userns.value },
          origins: {
            ...policy.defaults.origins,
            seccomp: { layer: layer.name, at: s.seccomp.at },
            nested_userns: { layer: layer.name, at: s.nested_userns.at },
          },
        },
        toDiags(layer.file),
      );
    }
  }
  let previous: PasswdEntry | undefined;
  const published: Array<{ name: string; lo: number; hi: number }> = [];
  for (const account of targets(policy, env, diags)) {
    const entry = policy.users.get(account.name);
    const file = entry?.at.file ?? policy.files[0] ?? '';
    const report = (at: SourceLoc | undefined, path: string, message: string): void =>
      diags.error(at?.file ?? file, at, path, message);
    const where: [SourceLoc | undefined, string] = entry ? [entry.at, `users.${account.name}`] : [undefined, ''];
    if (previous && previous.uid === account.uid) {
      report(
        ...where,
        `users ${previous.name} and ${account.name} share uid ${account.uid}; cellsh serves one name per uid`,
      );
      continue;
    }
    previous = account;
    const loginGroups = env.dir.groupsOf(account);
    const effective = effectiveFor(policy, account.name, loginGroups);
    const record = compileUser(env, account, loginGroups, effective, report, where);
    if (!record) continue;
    const [lo, hi] = record.udp_ports;
    const taken = published.find((p) => lo !== 0 && p.lo <= hi && lo <= p.hi);
    if (taken) {
      const origin = effective.origins['publish.udp'];
      const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.publish.udp`] : where;
      report(
        at,
        path,
        `${record.name}'s published UDP ports ${lo}-${hi} overlap ${taken.name}'s ${taken.lo}-${taken.hi}; give each user ports of their own`,
      );
      continue;
    }
    if (lo !== 0) published.push({ name: record.name, lo, hi });
    users.push(record);
    forwarding.set(record.name, effective.settings.forwarding);
  }
  return { users, forwarding, diagnostics: diags.list };
}

/** One user's record, or undefined after reporting why the helper could not accept it. */
function compileUser(
  env: PolicyEnv,
  account: PasswdEntry,
  loginGroups: readonly number[],
  { settings, origins }: Effective,
  report: (at: SourceLoc | undefined, path: string, message: string) => void,
  where: [SourceLoc | undefined, string],
): CompiledUser | undefined {
  const { name, uid, gid, home } = account;
  const problems: string[] = [];
  const nameBad = nameProblem(name);
  if (nameBad) problems.push(`user name "${name}" is not one cellsh supports (${nameBad})`);
  const group = env.dir.groupName(gid);
  const groupBad = group === undefined ? 'it has no name' : nameProblem(group);
  if (gid === NO_ID || groupBad)
    problems.push(
      `the primary group (gid ${gid}) of ${name} is not one cellsh supports (${groupBad ?? 'invalid gid'})`,
    );
  // The enrolment group only lets its members run the helper on the host; inside
  // the container it would be an unmapped id that grants nothing.
  const enrolment = env.dir.group(env.group)?.gid;
  const groups = [...new Set(loginGroups)].filter((g) => g !== enrolment || g === gid);
  if (groups.length > MAX_GROUPS)
    problems.push(`${name} is in ${groups.length} groups; cellsh supports at most ${MAX_GROUPS}`);
  if (groups.includes(NO_ID)) problems.push(`${name} is in a group with the invalid gid ${NO_ID}`);
  const homeBad = pathProblem(home);
  if (homeBad) problems.push(`the home of ${name}, "${home}", is not a path cellsh supports (${homeBad})`);
  for (const p of problems) report(...where, p);

  const hostname = expandHostname(settings.hostname, { user: name, uid, host: env.host });
  const hostBad = hostnameProblem(hostname);
  if (hostBad) {
    const origin = origins.hostname;
    const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.hostname`] : where;
    report(
      at,
      path,
      `"${settings.hostname}" gives "${hostname}" for ${name}, which is not a valid hostname (${hostBad}); set users.${name}.hostname`,
    );
  }
  const l = settings.limits;
  const { io, problems: ioProblems } = ioValues(l.io, env);
  for (const p of ioProblems) {
    const origin = origins['limits.io'];
    const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.limits.io`] : where;
    report(at, path, p);
  }
  const conflict = seccompConflict({ settings, origins }, report);
  const publishBad = settings.publish.udp !== 'none' && settings.network !== 'private';
  if (publishBad) {
    const origin = origins['publish.udp'];
    const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.publish.udp`] : where;
    report(
      at,
      path,
      `${name} has network: ${settings.network}, where published UDP ports reach nothing; set network: private, or publish.udp: none`,
    );
  }
  const fromImage = imageSettings(env, settings, origins, name, report, where);
  const unsized = settings.persist && l.disk === UNLIMITED;
  if (unsized) {
    const origin = origins.persist;
    const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.persist`] : where;
    report(
      at,
      path,
      `${name} has persist: true but no limits.disk, the size of the file system that keeps the layer; set one`,
    );
  }
  const root = rootSettings(env, settings, origins, account, report, where);
  if (
    problems.length > 0 ||
    hostBad ||
    ioProblems.length > 0 ||
    conflict ||
    publishBad ||
    !fromImage ||
    unsized ||
    root === undefined
  )
    return undefined;
  return {
    uid,
    gid,
    name,
    group: group!,
    groups,
    home,
    shell: fromImage.shell,
    hostname,
    network: settings.network,
    memory: compiledLimit(l.memory),
    memory_high: compiledLimit(l.memory_high),
    swap: l.swap === UNLIMITED ? 'max' : l.swap,
    pids: compiledLimit(l.pids),
    cpu: compiledLimit(l.cpu),
    io_weight: l.io_weight === 'default' ? 0 : l.io_weight,
    io,
    nofile: compiledRlimit(settings.rlimits.nofile),
    nproc: compiledRlimit(settings.rlimits.nproc),
    core: compiledRlimit(settings.rlimits.core),
    env: fromImage.env,
    restart: settings.restart,
    user_may: canonicalUserMay(settings.user_may_set),
    seccomp: settings.seccomp,
    nested_userns: settings.nested_userns,
    udp_ports: settings.publish.udp === 'none' ? [0, 0] : [settings.publish.udp.lo, settings.publish.udp.hi],
    image: fromImage.image,
    layer: { mode: settings.persist ? 'persistent' : 'temporary', bytes: compiledLimit(l.disk) },
    root,
  };
}

/** Root inside: the user's subordinate ids and the store's, or none. Undefined
 * (reported at the root key) where it can't be given: the host image, no
 * range of the user's, or one that holds their own ids or the store's. */
function rootSettings(
  env: PolicyEnv,
  { root, image }: Effective['settings'],
  origins: Effective['origins'],
  account: { name: string; uid: number; gid: number },
  report: (at: SourceLoc | undefined, path: string, message: string) => void,
  where: [SourceLoc | undefined, string],
): CompiledRoot | undefined {
  if (!root) return 'none';
  const origin = origins.root;
  const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.root`] : where;
  const { name, uid, gid } = account;
  const fail = (why: string): undefined => {
    report(at, path, `${name} has root: true, but ${why}`);
    return undefined;
  };
  if (image === 'host') return fail("the host's own system can't be theirs: give them an image");
  const sub = env.subIds?.(name);
  if (!sub)
    return fail(`has no 65536 subordinate ids in /etc/subuid and /etc/subgid; run "cellsh-admin enroll ${name}"`);
  const store = env.storeIds?.();
  if (!store) return fail('the image store has no ids yet; import an image first');
  const within = (id: number, start: number): boolean => id >= start && id < start + BOUNDS.idRange;
  if (within(uid, sub.uid) || within(gid, sub.gid)) return fail('their subordinate ids hold their own uid or gid');
  if (Math.abs(sub.uid - store.uid) < BOUNDS.idRange || Math.abs(sub.gid - store.gid) < BOUNDS.idRange)
    return fail("their subordinate ids overlap the image store's; give them another range");
  // Root inside may own files as any of these ids: none may be anyone else's.
  const claims = env.idClaims?.();
  const overlaps = (list: IdClaims['uid'], start: number): string[] =>
    list
      .filter((e) => e.owner !== name && e.owner !== String(uid))
      .filter((e) => e.start < start + BOUNDS.idRange && start < e.start + e.count)
      .map((e) => e.owner);
  const others = [...new Set([...overlaps(claims?.uid ?? [], sub.uid), ...overlaps(claims?.gid ?? [], sub.gid)])];
  if (others.length > 0)
    return fail(`their subordinate ids are also ${others.join(', ')}'s; give them a range of their own`);
  const held = (claims?.ids ?? []).find((id) => within(id, sub.uid) || within(id, sub.gid));
  if (held !== undefined)
    return fail(`their subordinate ids hold the account id ${held}; give them a range of their own`);
  return { subUid: sub.uid, subGid: sub.gid, storeUid: store.uid, storeGid: store.gid };
}

/** The image a user's container is made from, and what it adds to their
 * sessions: its Env under the policy's own variables, and its shell where the
 * policy names none. Undefined (reported) if the store has no such image or
 * the variables don't fit a record. */
function imageSettings(
  env: PolicyEnv,
  { image, shell, env: policyVars }: Effective['settings'],
  origins: Effective['origins'],
  name: string,
  report: (at: SourceLoc | undefined, path: string, message: string) => void,
  where: [SourceLoc | undefined, string],
): { image: CompiledImage; shell: string; env: Array<[string, string]> } | undefined {
  const own = Object.entries(policyVars);
  if (image === 'host') return { image: 'host', shell, env: own };
  const origin = origins.image;
  const [at, path] = 'at' in origin ? [origin.at, `${origin.layer}.image`] : where;
  const facts = env.images ? env.images(image) : 'can not be looked up here (no image store)';
  if (typeof facts === 'string') {
    report(at, path, `${name}'s image "${image}" ${facts}; see "cellsh-admin image ls"`);
    return undefined;
  }
  // The image's variables that a session may carry, under the policy's.
  const vars: Array<[string, string]> = [];
  for (const item of facts.env) {
    const eq = item.indexOf('=');
    const [k, v] = [item.slice(0, eq), item.slice(eq + 1)];
    if (eq > 0 && !Object.hasOwn(policyVars, k) && !envNameProblem(k) && !envValueProblem(v)) vars.push([k, v]);
  }
  const merged = [...vars, ...own];
  if (merged.length > ENV_MAX_VARS || Buffer.byteLength(encodeEnv(merged)) > ENV_ENCODED_MAX) {
    report(
      at,
      path,
      `${name}'s image "${image}" sets ${vars.length} variables, which with the policy's ${own.length} are more than a session carries (${ENV_MAX_VARS}, ${ENV_ENCODED_MAX} bytes); set fewer`,
    );
    return undefined;
  }
  const shellOwn = origins.shell.layer !== 'built-in';
  return { image: { name: image, id: facts.id }, shell: shellOwn ? shell : facts.shell, env: merged };
}
