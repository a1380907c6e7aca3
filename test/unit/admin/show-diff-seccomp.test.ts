// `cellsh-admin show` and `diff` know the seccomp keys: each with its value and
// origin, and a changed profile or nested_userns as a before -> after line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { runApply } from '../../../src/admin/apply.js';
import { runDiff } from '../../../src/admin/diff.js';
import { runShow } from '../../../src/admin/show.js';
import { memoryLogger } from '../../../src/log.js';
import { sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

/** A temp installation with policy.yaml; show, diff and apply run against it. */
function setup(text: string) {
  const tmp = tempLayout();
  mkdirSync(tmp.layout.policyDir, { recursive: true });
  writeFileSync(tmp.layout.policyFile, text);
  const env = sampleEnv();
  const io = () => ({ out: textSink(), err: textSink() });
  return {
    ...tmp,
    write: (t: string) => writeFileSync(tmp.layout.policyFile, t),
    apply: () => runApply({ layout: tmp.layout, env, log: memoryLogger().log, ...io(), euid: 0, byUid: 0 }),
    show: (name: string, json = false) => {
      const s = io();
      const code = runShow({ layout: tmp.layout, env, name, json, ...s });
      return { code, out: s.out.text(), err: s.err.text() };
    },
    diff: () => {
      const s = io();
      const code = runDiff({ layout: tmp.layout, env, json: false, ...s });
      return { code, out: s.out.text(), err: s.err.text() };
    },
  };
}

test('show: seccomp and nested_userns with their values and where they came from', () => {
  const t = setup('defaults:\n  seccomp: strict\ngroups:\n  dev:\n    seccomp: default\n    nested_userns: true\n');
  try {
    const row = (out: string, key: string): string => out.split('\n').find((l) => l.startsWith(`  ${key} `))!.replace(/ +/g, ' ').trim();
    const alice = t.show('alice');
    assert.equal(alice.code, 0);
    assert.equal(row(alice.out, 'seccomp'), `seccomp default groups.dev at ${t.layout.policyFile}:5:14`);
    assert.equal(row(alice.out, 'nested_userns'), `nested_userns true groups.dev at ${t.layout.policyFile}:6:20`);
    const bob = t.show('bob');
    assert.equal(row(bob.out, 'seccomp'), `seccomp strict defaults at ${t.layout.policyFile}:2:12`);
    assert.equal(row(bob.out, 'nested_userns'), 'nested_userns false built-in');
    const j = JSON.parse(t.show('bob', true).out) as { settings: Record<string, unknown> };
    assert.deepEqual(j.settings['nested_userns'], { value: 'false', layer: 'built-in' });
  } finally {
    t.remove();
  }
});

test('diff: a changed seccomp profile and nested_userns, before -> after', () => {
  const t = setup('');
  try {
    assert.equal(t.apply(), 0);
    t.write('defaults:\n  seccomp: strict\nusers:\n  alice:\n    seccomp: default\n    nested_userns: true\n');
    const r = t.diff();
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, ['  alice: nested_userns false -> true', '  bob: seccomp default -> strict',
      '2 users would change; "cellsh-admin apply" applies it', ''].join('\n'));
  } finally {
    t.remove();
  }
});
