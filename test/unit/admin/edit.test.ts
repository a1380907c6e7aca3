// `cellsh-admin edit`: the copy is checked with the whole installed policy,
// errors loop or leave the file alone, a good copy replaces it and is applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEdit, type EditOptions } from '../../../src/admin/edit.js';
import { CellshError } from '../../../src/errors.js';
import { needsTrustedBase, sampleEnv, tempLayout, textSink } from '../../helpers/fixtures.js';

const skip = needsTrustedBase();

function setup(main: string) {
  const tmp = tempLayout();
  mkdirSync(tmp.layout.policyDir, { recursive: true });
  writeFileSync(tmp.layout.policyFile, main);
  let applied = 0;
  const edit = (
    editors: Array<(path: string) => void>,
    extra: Partial<EditOptions> = {},
    answers: string[] | undefined = undefined,
  ) => {
    const out = textSink();
    const err = textSink();
    const asked: string[] = [];
    const code = runEdit({
      layout: tmp.layout,
      env: sampleEnv(),
      file: tmp.layout.policyFile,
      out,
      err,
      editor: (path) => {
        const next = editors.shift();
        assert.ok(next, 'the editor ran more often than expected');
        next(path);
        return 0;
      },
      ask:
        answers &&
        ((q) => {
          asked.push(q);
          return answers.shift() ?? 'x';
        }),
      apply: () => {
        applied++;
        return 0;
      },
      ...extra,
    });
    return { code, out: out.text(), err: err.text(), asked, editorsLeft: editors.length };
  };
  return { ...tmp, edit, applied: () => applied };
}

const write = (text: string) => (path: string) => writeFileSync(path, text);

test('a good edit replaces the file atomically with mode 0644 and applies', { skip }, () => {
  const t = setup('defaults:\n  network: none\n');
  try {
    const r = t.edit([write('defaults:\n  network: host\n')]);
    assert.deepEqual([r.code, r.out, r.err], [0, `saved ${t.layout.policyFile}\n`, '']);
    assert.equal(readFileSync(t.layout.policyFile, 'utf8'), 'defaults:\n  network: host\n');
    assert.equal(statSync(t.layout.policyFile).mode & 0o7777, 0o644);
    assert.equal(t.applied(), 1);
    assert.equal(existsSync(`${t.layout.policyFile}.edit-lock`), false, 'the lock is released');
  } finally {
    t.remove();
  }
});

test('no change: nothing saved, nothing applied', { skip }, () => {
  const t = setup('defaults: {}\n');
  try {
    const r = t.edit([() => {}]);
    assert.deepEqual([r.code, r.out], [0, `no changes: ${t.layout.policyFile} is unchanged\n`]);
    assert.equal(t.applied(), 0);
  } finally {
    t.remove();
  }
});

test('errors without a terminal: every problem shown, the file unchanged, exit 78', { skip }, () => {
  const t = setup('defaults:\n  network: none\n');
  try {
    const r = t.edit([write('defaults:\n  network: wifi\n  limits: {memory: lots}\n')]);
    assert.equal(r.code, 78);
    const copy = /(\/[^:]+\/policy\.yaml):2:12/.exec(r.err);
    assert.equal(copy?.[1], t.layout.policyFile, 'problems name the real file, not the temp copy');
    assert.match(r.err, /2 errors; .* is unchanged\n$/);
    assert.equal(readFileSync(t.layout.policyFile, 'utf8'), 'defaults:\n  network: none\n');
    assert.equal(t.applied(), 0);
  } finally {
    t.remove();
  }
});

test('errors with a terminal: edit again until it is right, or leave without saving', { skip }, () => {
  const t = setup('defaults:\n  network: none\n');
  try {
    const again = t.edit([write('defaults:\n  network: wifi\n'), write('defaults:\n  network: host\n')], {}, [
      '?',
      'e',
    ]);
    assert.equal(again.code, 0);
    assert.equal(again.asked.length, 2, 'an unknown answer asks again');
    assert.match(again.asked[0]!, /^1 error\. What now\? \(e\)dit again, e\(x\)it without saving: $/);
    assert.equal(readFileSync(t.layout.policyFile, 'utf8'), 'defaults:\n  network: host\n');
    const quit = t.edit([write('defaults:\n  network: wifi\n')], {}, ['x']);
    assert.equal(quit.code, 78);
    assert.equal(readFileSync(t.layout.policyFile, 'utf8'), 'defaults:\n  network: host\n');
  } finally {
    t.remove();
  }
});

test('a copy is checked with the other files: a drop-in may not break the whole', { skip }, () => {
  const t = setup('users:\n  alice:\n    network: host\n');
  try {
    const dropin = join(t.layout.policyDir, '50-new.yaml');
    const r = t.edit([write('users:\n  alice:\n    limits: {pids: 0}\n')], { file: dropin });
    assert.equal(r.code, 78);
    assert.match(r.err, new RegExp(`^${dropin}:3:20: users\\.alice\\.limits\\.pids: `));
    assert.equal(existsSync(dropin), false, 'a new drop-in with errors is not created');
    const ok = t.edit([write('users:\n  alice:\n    limits: {pids: 10}\n')], { file: dropin });
    assert.equal(ok.code, 0);
    assert.equal(readFileSync(dropin, 'utf8'), 'users:\n  alice:\n    limits: {pids: 10}\n');
  } finally {
    t.remove();
  }
});

test('only files of the installed policy, and one edit at a time', { skip }, () => {
  const t = setup('');
  try {
    assert.throws(
      () => t.edit([], { file: '/etc/passwd' }),
      (e: unknown) => e instanceof CellshError && e.exitCode === 64,
    );
    assert.throws(
      () => t.edit([], { file: join(t.layout.policyDir, 'x.yml') }),
      (e: unknown) => e instanceof CellshError && e.exitCode === 64,
    );
    writeFileSync(`${t.layout.policyFile}.edit-lock`, `${process.pid}\n`);
    assert.throws(
      () => t.edit([]),
      (e: unknown) => e instanceof CellshError && e.exitCode === 77 && /is being edited by process/.test(e.message),
    );
    writeFileSync(`${t.layout.policyFile}.edit-lock`, '2147483646\n');
    assert.equal(t.edit([write('defaults: {}\n')]).code, 0, 'a lock whose process is gone is taken over');
  } finally {
    t.remove();
  }
});

test('a failing editor changes nothing', { skip }, () => {
  const t = setup('defaults: {}\n');
  try {
    const r = t.edit([], { editor: () => 2 });
    assert.deepEqual(
      [r.code, r.err],
      [1, `cellsh-admin: the editor exited with status 2; ${t.layout.policyFile} is unchanged\n`],
    );
  } finally {
    t.remove();
  }
});
