// Where an installation keeps its files: layout.json beside the compiled code,
// over the defaults; the helper is always the one in that folder, whatever the
// file says; a broken file fails rather than falling back to the defaults.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LAYOUT, libDirOfThisCode, loadLayout } from '../../src/layout.js';
import { packageRoot } from '../helpers/fixtures.js';

function libDir(t: TestContext, layoutJson?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-layout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  if (layoutJson !== undefined) writeFileSync(join(dir, 'layout.json'), layoutJson);
  return dir;
}

test('without layout.json the layout is the default one', (t) => {
  assert.deepEqual(loadLayout(libDir(t)), DEFAULT_LAYOUT);
});

test("layout.json's paths replace the defaults, the others stay", (t) => {
  const dir = libDir(
    t,
    JSON.stringify({ policyFile: '/opt/cellsh/etc/policy.yaml', stateDir: '/run/cellsh-test', group: 'shellers' }),
  );
  assert.deepEqual(loadLayout(dir), {
    ...DEFAULT_LAYOUT,
    libDir: dir,
    helper: join(dir, 'cellsh-helper'),
    policyFile: '/opt/cellsh/etc/policy.yaml',
    stateDir: '/run/cellsh-test',
    group: 'shellers',
  });
});

test('the lib folder and the helper are the folder layout.json is in, whatever it says', (t) => {
  const dir = libDir(t, JSON.stringify({ libDir: '/tmp/elsewhere', helper: '/tmp/elsewhere/cellsh-helper' }));
  const layout = loadLayout(dir);
  assert.equal(layout.libDir, dir);
  assert.equal(layout.helper, join(dir, 'cellsh-helper'));
});

test('a layout.json that is not JSON is an error, not the defaults', (t) => {
  assert.throws(() => loadLayout(libDir(t, '{ "policyFile": ')), SyntaxError);
});

test("the code's lib folder is the one above dist/, where layout.json is installed", () => {
  assert.equal(libDirOfThisCode(), packageRoot());
});
