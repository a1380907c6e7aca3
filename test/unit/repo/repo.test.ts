// The repository's top-level layout, and a README
// that says what cellsh is, its security model, the two-command quick start
// (the same test command CI runs), how to enroll a user and the policy keys —
// the table generated from the schema, so the two cannot drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';
import { renderPolicyTable } from '../../../src/policy/index.js';

const root = packageRoot();
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

test('layout: package.json, tsconfig.json, src/, config/, pam/, test/, install.sh, README.md at the top', () => {
  for (const f of ['package.json', 'tsconfig.json', 'install.sh', 'README.md']) assert.ok(statSync(join(root, f)).isFile(), f);
  for (const d of ['src', 'config', 'pam', 'test']) assert.ok(statSync(join(root, d)).isDirectory(), d);
  const helper = readdirSync(join(root, 'src/helper'));
  assert.ok(helper.includes('Makefile') && helper.filter((f) => f.endsWith('.c')).length >= 10, 'the C helper has its own folder under src/');
  assert.ok(!readdirSync(join(root, 'src')).some((f) => f.endsWith('.c')), 'no C outside src/helper');
  const policy = read('config/policy.yaml');
  assert.ok(policy.split('\n').filter((l) => l.trim().startsWith('#')).length >= 20, 'the default policy is commented');
  assert.ok(existsSync(join(root, 'pam/README.md')));
  assert.ok((statSync(join(root, 'install.sh')).mode & 0o111) !== 0, 'install.sh is executable');
});

/** The README's "## " headings in order. */
function headings(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3));
}

test('README: what it is, then the security model, quick start, enrolling, policy, limitations, uninstall', () => {
  const readme = read('README.md');
  assert.match(readme.split('\n## ')[0]!, /login shell that puts each user of a shared Linux host into their own container/);
  const order = ['Security model', 'Quick start', 'How users get in', 'Enrolling users', 'The policy', 'Admin commands', 'Limitations', 'Uninstall'];
  const found = headings(readme).filter((h) => order.includes(h));
  assert.deepEqual(found, order);
});

test('README: the quick start is two commands, and CI runs the same test command', () => {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 3));
  const block = /```\n([\s\S]*?)```/.exec(section)![1]!.trim().split('\n');
  assert.deepEqual(block, ['sudo ./install.sh --demo', 'sudo test/run.sh']);
  assert.match(read('.ci/run'), /^exec test\/run\.sh$/m);
});

test('README: how to enroll a user, and the policy table generated from the schema', () => {
  const readme = read('README.md');
  assert.match(readme, /sudo cellsh-admin enroll alice/);
  assert.ok(readme.includes(renderPolicyTable().trim()), 'the README\'s policy table is renderPolicyTable(); paste it again');
  assert.ok(read('src/policy/README.md').includes(renderPolicyTable().trim()));
});
