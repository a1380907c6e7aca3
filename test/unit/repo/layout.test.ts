// test/unit mirrors the code: a folder of unit tests for each folder of src/
// (and for bench/), and no folder of tests for code that is not there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const root = packageRoot();
const folders = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();

test('test/unit has a folder for each folder of src/, and none for code that is not there', () => {
  const src = folders('src');
  const tests = folders('test/unit');
  // bench/ is tested like src/; repo/ checks the repository itself.
  assert.deepEqual(
    tests.filter((t) => !src.includes(t) && t !== 'bench' && t !== 'repo'),
    [],
    'test folders without code',
  );
  assert.deepEqual(
    src.filter((s) => !tests.includes(s)),
    [],
    'code folders without unit tests',
  );
});
