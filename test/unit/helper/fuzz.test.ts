// A short fuzz run of the setuid helper's parsers (src/helper/fuzz, libFuzzer
// with ASan and UBSan): the harnesses are built into build/fuzz, each runs on
// its seed corpus (test/fuzz/corpus, where fixed reproducers stay) and then
// fuzzes for 12 s (CELLSH_FUZZ_SECONDS). Any crash, sanitizer report or broken
// invariant fails the test, naming the saved input. docs/fuzzing.md has more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const root = packageRoot();
const out = join(root, 'build', 'fuzz');
const seconds = Number(process.env.CELLSH_FUZZ_SECONDS ?? 12);

/** Each harness, and what its invariants say in a test name. */
const TARGETS: ReadonlyArray<readonly [string, string]> = [
  ['args', "the helper's argv parser accepts only its grammar and reads it back exactly"],
  ['env', 'the environment filter keeps only allowlisted names with allowed values'],
  [
    'policy',
    "the compiled policy's look-up never crashes, reads only within the file and serves only records within the documented bounds",
  ],
  ['override', "a user's --set never takes a limit above the admin's nor changes another key"],
  ['log', "the audit log's strings are valid JSON that decodes back to the input, with no raw control byte"],
  ['route', 'the launcher skips Node only for a plain login or command, and the helper reads that command back'],
  ['tar', "the layer unpacker's tar reader yields only clean names and exactly each file's data, and always ends"],
];

function make(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('make', ['-s', '-C', join(root, 'src', 'helper', 'fuzz'), `OUT=${out}`, ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

const probe = make('probe');
const probeWhy = probe.output
  .trim()
  .split('\n')
  .filter((l) => l && !l.startsWith('make'))
  .at(-1);
const skip = probe.status === 0 ? false : `no libFuzzer toolchain here (${probeWhy ?? probe.output.trim()})`;
const build = skip ? undefined : make('-j2', 'all');

test('the fuzz harnesses build with the sanitizers and -Werror', { skip }, () => {
  assert.equal(build!.status, 0, build!.output);
});

for (const [target, behaviour] of TARGETS) {
  test(`${behaviour} (${seconds} s of fuzzing)`, {
    skip: skip || (build?.status !== 0 && 'the harnesses did not build'),
  }, () => {
    const binary = join(out, `fuzz-${target}`);
    const seeds = join(root, 'test', 'fuzz', 'corpus', target);
    const work = join(out, 'findings', `${target}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'new'), { recursive: true });
    mkdirSync(join(work, 'crash'));
    // New inputs go to a scratch folder: the committed seeds are only read.
    const r = spawnSync(
      binary,
      [
        `-max_total_time=${seconds}`,
        '-timeout=10',
        '-print_final_stats=1',
        `-dict=${join(root, 'test', 'fuzz', `${target}.dict`)}`,
        `-artifact_prefix=${join(work, 'crash')}/`,
        join(work, 'new'),
        seeds,
      ],
      { encoding: 'utf8', timeout: (seconds + 120) * 1000, maxBuffer: 64 << 20 },
    );
    const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    const saved = readdirSync(join(work, 'crash')).map((f) => join(work, 'crash', f));
    const why = log
      .split('\n')
      .filter((l) => /invariant failed|ERROR: |SUMMARY: |runtime error/.test(l))
      .slice(0, 6)
      .join('\n');
    assert.ok(
      r.status === 0 && saved.length === 0,
      `fuzz-${target} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${why || log.slice(-2000)}\n` +
        `reproducer: ${saved.join(' ') || 'none saved'} (rerun: ${binary} FILE)`,
    );
    const runs = Number(/^stat::number_of_executed_units:\s*(\d+)/m.exec(log)?.[1] ?? 0);
    assert.ok(runs > readdirSync(seeds).length * 10, `fuzz-${target} ran only ${runs} inputs:\n${log.slice(-2000)}`);
    rmSync(work, { recursive: true, force: true });
  });
}

test('every harness has a seed corpus and a dictionary', () => {
  for (const [target] of TARGETS) {
    assert.ok(existsSync(join(root, 'src', 'helper', 'fuzz', `fuzz-${target}.c`)), `fuzz-${target}.c`);
    assert.ok(readdirSync(join(root, 'test', 'fuzz', 'corpus', target)).length >= 3, `seeds for ${target}`);
    assert.ok(existsSync(join(root, 'test', 'fuzz', `${target}.dict`)), `${target}.dict`);
  }
});
