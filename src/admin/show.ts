// `cellsh-admin show USER`: what one user gets and why. Every setting with
// its value and the layer and file:line it came from, the layers that apply
// to them in order, and whether the applied policy already says the same.
import { isDeepStrictEqual } from 'node:util';
import { CellshError, ExitCode } from '../errors.js';
import type { Layout } from '../layout.js';
import { describeOrigin, explainUser } from '../policy/explain.js';
import { errorsOf, plural, type Origin, type PolicyEnv, type SourceLoc } from '../policy/index.js';
import { enrolledUsers } from '../sys/users.js';
import type { TextOut } from './check.js';
import { buildInstalled, readApplied } from './installed.js';

/** What show needs. */
export interface ShowOptions {
  readonly layout: Layout;
  readonly env: PolicyEnv;
  readonly name: string;
  readonly json: boolean;
  readonly out: TextOut;
  readonly err: TextOut;
}

/** How the applied policy stands for a user. */
type Applied = 'up-to-date' | 'changed' | 'not-applied' | 'nothing-applied';

const APPLIED_TEXT: Record<Applied, string> = {
  'up-to-date': 'the applied policy is up to date',
  'changed': 'the files say something else than the applied policy: see "cellsh-admin diff", then apply',
  'not-applied': 'not in the applied policy yet: run "cellsh-admin apply"',
  'nothing-applied': 'no policy is applied yet: run "cellsh-admin apply"',
};

/** Show one user's effective policy; returns the exit code. */
export function runShow(opts: ShowOptions): number {
  const { env, name } = opts;
  const account = env.dir.user(name);
  if (!account) throw new CellshError('no-such-user', `no user "${name}" on this host`, { exitCode: ExitCode.usage });
  const built = buildInstalled(opts.layout, opts.env);
  const errors = errorsOf(built.diagnostics).length;
  const gids = env.dir.groupsOf(account);
  const explained = explainUser(built.policy, name, gids);
  const enrolled = enrolledUsers(env.dir, env.group).some((u) => u.name === name);
  const record = built.users.find((u) => u.uid === account.uid);
  const appliedAll = readApplied(opts.layout);
  const applied = appliedAll?.find((u) => u.uid === account.uid);
  const state: Applied =
    appliedAll === undefined
      ? 'nothing-applied'
      : applied === undefined
        ? 'not-applied'
        : isDeepStrictEqual(applied, record)
          ? 'up-to-date'
          : 'changed';
  const groupNames = gids.map((g) => env.dir.groupName(g) ?? String(g));

  if (opts.json) {
    const at = (o: { at?: SourceLoc | undefined } | Origin): object =>
      'at' in o && o.at ? { file: o.at.file, line: o.at.line, col: o.at.col } : {};
    opts.out.write(
      JSON.stringify(
        {
          user: name,
          uid: account.uid,
          groups: groupNames,
          enrolled,
          applied: state,
          policy_errors: errors,
          hostname: record?.hostname ?? null,
          layers: explained.layers.map((l) => ({ layer: l.name, file: l.file, ...at(l) })),
          settings: Object.fromEntries(
            explained.settings.map((s) => [s.key, { value: s.value, layer: s.origin.layer, ...at(s.origin) }]),
          ),
        },
        null,
        2,
      ) + '\n',
    );
    return ExitCode.ok;
  }
  if (errors > 0) {
    opts.err.write(
      `cellsh-admin: the policy has ${plural(errors, 'error')} ("cellsh-admin check" lists them); ` +
        'an invalid value is shown from the layer below\n',
    );
  }
  const lines = [
    `${name} (uid ${account.uid}; groups ${groupNames.join(', ')}): ${enrolled ? 'enrolled' : `not enrolled: cellsh does not serve them (cellsh-admin enroll ${name})`}`,
    `${APPLIED_TEXT[state]}`,
    `layers, in order: ${['built-in', ...explained.layers.map((l) => (l.at ? `${l.name} (${l.file}:${l.at.line})` : `${l.name} (${l.file})`))].join(', ')}`,
    '',
  ];
  const width = Math.max(...explained.settings.map((s) => s.key.length));
  const values = explained.settings.map((s) =>
    s.key === 'hostname' && record ? `${s.value} = ${record.hostname}` : s.value,
  );
  const valueWidth = Math.min(40, Math.max(...values.map((v) => v.length)));
  explained.settings.forEach((s, i) => {
    lines.push(`  ${s.key.padEnd(width)}  ${values[i]!.padEnd(valueWidth)}  ${describeOrigin(s.origin)}`);
  });
  opts.out.write(lines.join('\n') + '\n');
  return ExitCode.ok;
}
