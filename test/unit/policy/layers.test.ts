// Layering, scenario by scenario: each folder of test/fixtures/layers holds a
// host's accounts, an installed policy (policy.yaml and policy.d/) and what
// `check` and `show` must say about it (see the folder's README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { buildPolicy, formatDiagnostic, policyFiles, sortDiagnostics } from '../../../src/policy/index.js';
import { describeOrigin, explainUser } from '../../../src/policy/explain.js';
import { fixturePath, sampleDevices, tableDirectory, type UserRow } from '../../helpers/fixtures.js';

interface Host {
  users: UserRow[];
  groups: Record<string, number>;
}
interface Expect {
  problems: string[];
  users: Record<string, Record<string, string>>;
}

const ROOT = fixturePath('layers');
const scenarios = readdirSync(ROOT).filter((n) => statSync(join(ROOT, n)).isDirectory());

test('there are layering scenarios to run', () => {
  assert.ok(scenarios.length >= 5, `only ${scenarios.length} scenarios in ${ROOT}`);
});

for (const name of scenarios) {
  test(`layers: ${name}`, () => {
    const dir = join(ROOT, name);
    const host = parse(readFileSync(join(dir, 'host.yaml'), 'utf8')) as Host;
    const expect = parse(readFileSync(join(dir, 'expect.yaml'), 'utf8')) as Expect;
    const users = host.users.map((u) => ({ ...u, groups: ['cellsh', ...(u.groups ?? [])] }));
    const accounts = tableDirectory(users, { cellsh: 900, ...host.groups });
    const env = { dir: accounts, group: 'cellsh', host: 'box', devices: sampleDevices };

    const listed = policyFiles(join(dir, 'policy.yaml'), join(dir, 'policy.d'));
    const built = buildPolicy(
      listed.files.map((file) => ({ file })),
      env,
    );
    const problems = sortDiagnostics([...listed.diagnostics, ...built.diagnostics]).map(formatDiagnostic);
    const rel = (p: string): string => relative(dir, p);
    assert.deepEqual(
      problems.map((p) => p.split(dir + '/').join('')),
      expect.problems,
    );

    for (const [user, keys] of Object.entries(expect.users)) {
      const account = accounts.user(user)!;
      const explained = explainUser(built.policy, user, accounts.groupsOf(account));
      const got = Object.fromEntries(
        Object.keys(keys).map((key) => {
          const s = explained.settings.find((e) => e.key === key);
          assert.ok(s, `${name}: no setting "${key}"`);
          return [key, `${s.value} from ${describeOrigin(s.origin, rel)}`];
        }),
      );
      assert.deepEqual(got, keys, `${name}: ${user}`);
    }
  });
}
