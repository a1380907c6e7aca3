// Formatting and lint over the whole repository, one test per tool (test/lint.sh
// runs them; npm run lint is the same): any finding fails the test and is
// printed. A tool that is not installed skips its test with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const root = packageRoot();
/** test/lint.sh's exit status for "this check's tool is not installed". */
const SKIPPED = 77;

interface Outcome {
  readonly status: number | null;
  readonly output: string;
}

/** Run one check of test/lint.sh, its stdout and stderr together (never rejects:
 * the promises wait unawaited while earlier tests run). */
function lint(check: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, 'test/lint.sh'), check], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      output += b.toString();
    });
    child.on('error', (err) => resolve({ status: null, output: `can't run test/lint.sh: ${err.message}` }));
    child.on('close', (status) => resolve({ status, output }));
  });
}

const checks = {
  biome: 'the TypeScript is formatted as biome.jsonc says and has no Biome lint findings',
  'clang-format': 'the C is formatted as .clang-format says',
  'c-analyzer': "gcc's static analyzer finds nothing in the C",
  shellcheck: 'shellcheck finds nothing in the shell scripts',
} as const;

// Started together: the checks run side by side, each test waits for its own.
const running = new Map(Object.keys(checks).map((check) => [check, lint(check)]));

for (const [check, title] of Object.entries(checks)) {
  test(`lint: ${title}`, async (t) => {
    const { status, output } = await running.get(check)!;
    if (status === SKIPPED) {
      t.skip(output.trim().replace(/^lint: /, ''));
      return;
    }
    assert.equal(status, 0, `test/lint.sh ${check} found problems (exit ${status}):\n${output}`);
  });
}
