// `cellsh-admin diff`: what `apply` would change, user by user. It compiles
// the edited files against the host as it is now (so a user added to a group
// shows up too) and compares the result with the applied compiled policy.
import { changeOf, RECORD_KEYS, type Change, type RecordKey } from '../contract/index.js';
import { ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { changedFields, describeCompiled } from '../policy/describe.js';
import { errorsOf, plural, type CompiledUser, type PolicyEnv } from '../policy/index.js';
import { printDiagnostics, type TextOut } from './check.js';
import { buildInstalled, readApplied } from './installed.js';
import { forwardingPending } from './sshd-forwarding.js';

/** What diff needs. */
export interface DiffOptions {
  readonly layout: Layout;
  readonly env: PolicyEnv;
  readonly json: boolean;
  readonly out: TextOut;
  readonly err: TextOut;
}

/** One user's change. */
export interface UserChange {
  readonly user: string;
  readonly uid: number;
  readonly change: 'added' | 'removed' | 'changed';
  readonly fields: ReadonlyArray<{ key: string; before: string; after: string; when: Change }>;
}

/** How each kind of change reaches a running container, in diff's words. */
const WHEN_TEXT: { readonly [C in Change]: string } = {
  session: 'from the next session',
  live: 'live, at the next login',
  restart: 'waits for a restart',
  access: 'restarts the container at the next login',
};

/** The record key a described key (describe.ts) shows. */
function recordKeyOf(key: string, b: CompiledUser, a: CompiledUser): RecordKey | undefined {
  if (key === 'group') return b.gid === a.gid ? 'group' : 'gid';
  const k = key === 'user_may_set' ? 'user_may' : key.replace(/^r?limits\./, '');
  return k in RECORD_KEYS ? (k as RecordKey) : undefined;
}

/** Compare two lists of records by uid. */
export function diffRecords(
  before: readonly CompiledUser[],
  after: readonly CompiledUser[],
  groupName: (gid: number) => string | undefined,
): UserChange[] {
  const old = new Map(before.map((u) => [u.uid, u]));
  const now = new Map(after.map((u) => [u.uid, u]));
  const uids = [...new Set([...old.keys(), ...now.keys()])].sort((a, b) => a - b);
  const out: UserChange[] = [];
  for (const uid of uids) {
    const b = old.get(uid);
    const a = now.get(uid);
    if (!b) out.push({ user: a!.name, uid, change: 'added', fields: [] });
    else if (!a) out.push({ user: b.name, uid, change: 'removed', fields: [] });
    else {
      const fields = changedFields(
        { name: b.name, ...describeCompiled(b, groupName) },
        { name: a.name, ...describeCompiled(a, groupName) },
      ).map((f) => {
        const key = recordKeyOf(f.key, b, a);
        return { ...f, when: key === undefined ? ('restart' as const) : changeOf(key, b, a) };
      });
      if (fields.length > 0) out.push({ user: a.name, uid, change: 'changed', fields });
    }
  }
  return out;
}

/** Print what apply would change; exit 0 when nothing, 1 when something, 78 when the files have errors. */
export function runDiff(opts: DiffOptions): number {
  const built = buildInstalled(opts.layout, opts.env);
  const errors = errorsOf(built.diagnostics);
  if (errors.length > 0) {
    printDiagnostics(built.diagnostics, opts.err);
    opts.err.write(`cellsh-admin: the policy has ${plural(errors.length, 'error')}: apply would change nothing\n`);
    return ExitCode.config;
  }
  const applied = readApplied(opts.layout);
  const changes = diffRecords(applied ?? [], built.users, (g) => opts.env.dir.groupName(g));
  const sshd = forwardingPending(opts.layout, built.policy.defaults.settings.forwarding, built.forwarding);
  const changed = changes.length > 0 || sshd !== undefined;
  if (opts.json) {
    opts.out.write(
      JSON.stringify({ applied: applied !== undefined, changes, forwarding: sshd !== undefined }, null, 2) + '\n',
    );
    return changed ? ExitCode.failure : ExitCode.ok;
  }
  if (applied === undefined) opts.out.write('no policy is applied yet: every user below is new\n');
  for (const c of changes) {
    if (c.change === 'added') opts.out.write(`+ ${c.user} (uid ${c.uid}): served from the next apply\n`);
    else if (c.change === 'removed')
      opts.out.write(`- ${c.user} (uid ${c.uid}): no longer served after the next apply\n`);
    else
      for (const f of c.fields)
        opts.out.write(`  ${c.user}: ${f.key} ${f.before} -> ${f.after} (${WHEN_TEXT[f.when]})\n`);
  }
  if (sshd) opts.out.write(`  ssh forwarding: ${sshd} changes (sshd reloads at apply; open connections keep theirs)\n`);
  opts.out.write(
    !changed
      ? 'no changes: the applied policy says what the files say\n'
      : changes.length === 0
        ? 'ssh forwarding would change; "cellsh-admin apply" applies it\n'
        : `${plural(changes.length, 'user')} would change; "cellsh-admin apply" applies it\n`,
  );
  return changed ? ExitCode.failure : ExitCode.ok;
}
