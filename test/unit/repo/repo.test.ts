// The repository's top-level layout, and a README read in ten minutes: what
// cellsh is, its security model, the two-command quick start (the same test
// command CI runs), how users get in, the policy table generated from the
// schema, admin commands, limitations and uninstall, in that order, in about
// 300 lines, with nothing dated in it. Detail lives in docs/ and bench/README.md,
// and every relative link in those pages resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';
import { renderPolicyTable } from '../../../src/policy/index.js';
import { LOG_EVENTS } from '../../../src/contract/index.js';

const root = packageRoot();
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

/** The README's "## " sections, in this order and no others. */
const README_SECTIONS = [
  'Security model',
  'Quick start',
  'How users get in',
  'The policy',
  'Admin commands',
  'Limitations',
  'Uninstall',
];
/** About 300 lines; above this the README has grown a section that belongs in docs/. */
const README_MAX_LINES = 320;

/** Text that dates a page or refers to work outside the repository (a results
 * log such as bench/README.md may be dated; the README may not). */
const DATED: readonly RegExp[] = [
  /\b(19|20)\d\d-\d\d-\d\d\b/,
  /\b(January|February|March|April|May|June|July|August|September|October|November|December) +(\d{1,2}, +)?(19|20)\d\d\b/i,
  /\b(today|yesterday|tonight|last night|this morning|this afternoon|this evening)\b/i,
  /\bth(is|at) (session|evening|morning|afternoon|night|day|week|run)\b/i,
  /\b(earlier|later) (runs?|sessions?) of the day\b/i,
  /\bdesign brief\b/i,
  /\bissues?\b/i,
  /\bp\d\d\b/,
];

/** Text with fenced code blocks blanked (line count kept), so "## " or links in code don't count. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, ''));
}

/** The "## " headings in order. */
function headings(text: string): string[] {
  return prose(text)
    .split('\n')
    .filter((l) => l.startsWith('## '))
    .map((l) => l.slice(3).trim());
}

/** The line count, as wc -l gives it. */
function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

/** Every line with dated text, as "LINE: text". */
function datedLines(text: string): string[] {
  return text.split('\n').flatMap((l, i) => (DATED.some((re) => re.test(l)) ? [`${i + 1}: ${l.trim()}`] : []));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown text's headings make (a repeated heading gets -1, -2, ...). */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text).split('\n')) {
    const m = /^#{1,6} +(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The relative links of a Markdown text: [text](target), outside code. */
function relativeLinks(text: string): string[] {
  const noCode = prose(text).replace(/`[^`\n]*`/g, '');
  return [...noCode.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/i.test(t));
}

/** Links in file (a path from the root) that lead to no file, or to no heading of it, as "file: target". */
function brokenLinks(
  file: string,
  text: string,
  exists: (p: string) => boolean,
  textOf: (p: string) => string,
): string[] {
  return relativeLinks(text).flatMap((target) => {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const to = path === '' ? file : normalize(join(dirname(file), path));
    if (to.startsWith('..') || !exists(to)) return [`${file}: ${target} (no such file)`];
    if (anchor !== undefined && to.endsWith('.md') && !anchors(textOf(to)).has(anchor))
      return [`${file}: ${target} (no such heading)`];
    return [];
  });
}

/** The Markdown pages cellsh's documentation is made of. */
function docPages(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', 'bench/README.md', ...docs];
}

test('layout: package.json, tsconfig.json, src/, config/, pam/, test/, install.sh, README.md at the top', () => {
  for (const f of ['package.json', 'tsconfig.json', 'install.sh', 'README.md'])
    assert.ok(statSync(join(root, f)).isFile(), f);
  for (const d of ['src', 'config', 'pam', 'test']) assert.ok(statSync(join(root, d)).isDirectory(), d);
  const helper = readdirSync(join(root, 'src/helper'));
  assert.ok(
    helper.includes('Makefile') && helper.filter((f) => f.endsWith('.c')).length >= 10,
    'the C helper has its own folder under src/',
  );
  assert.ok(!readdirSync(join(root, 'src')).some((f) => f.endsWith('.c')), 'no C outside src/helper');
  const policy = read('config/policy.yaml');
  assert.ok(policy.split('\n').filter((l) => l.trim().startsWith('#')).length >= 20, 'the default policy is commented');
  assert.ok(existsSync(join(root, 'pam/README.md')));
  assert.ok((statSync(join(root, 'install.sh')).mode & 0o111) !== 0, 'install.sh is executable');
});

test('README: says what cellsh is, then has exactly the sections security model, quick start, how users get in, policy, admin commands, limitations, uninstall, in that order', () => {
  const readme = read('README.md');
  assert.match(
    readme.split('\n## ')[0]!,
    /login shell that puts each user of a shared Linux host into their own container/,
  );
  assert.deepEqual(headings(readme), README_SECTIONS);
});

test('README: the section check fails on a missing, extra or reordered section', () => {
  const doc = (names: string[]): string => ['# cellsh', '', ...names.map((n) => `## ${n}\n\ntext\n`)].join('\n');
  assert.deepEqual(headings(doc(README_SECTIONS)), README_SECTIONS);
  assert.notDeepEqual(headings(doc(README_SECTIONS.slice(1))), README_SECTIONS);
  assert.notDeepEqual(
    headings(doc([...README_SECTIONS.slice(0, 3), 'Enrolling users', ...README_SECTIONS.slice(3)])),
    README_SECTIONS,
  );
  assert.notDeepEqual(
    headings(doc([README_SECTIONS[1]!, README_SECTIONS[0]!, ...README_SECTIONS.slice(2)])),
    README_SECTIONS,
  );
  assert.deepEqual(
    headings('```\n## not a heading\n```\n## Quick start\n'),
    ['Quick start'],
    'a "## " inside a code block is not a section',
  );
});

test(`README: at most ${README_MAX_LINES} lines (about 300: detail belongs in docs/)`, () => {
  const lines = lineCount(read('README.md'));
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move detail into a docs/ page and link it`);
  assert.equal(lineCount('a\nb\n'), 2);
  assert.ok(lineCount('x\n'.repeat(README_MAX_LINES + 1)) > README_MAX_LINES, 'the bound check counts every line');
});

test('README: no dated text, no diary, no reference to issues or a design brief', () => {
  assert.deepEqual(datedLines(read('README.md')), []);
});

test('README: the dated-text check catches dates, diary words and outside references, and passes plain prose', () => {
  for (const bad of [
    'Measured on 2026-12-04 10:13 UTC.',
    'The run of December 4, 2026.',
    'The machine was noisy that evening.',
    'Its work did not change this session.',
    'As measured today.',
    'Where this differs from the design brief',
    "titled after the OpenSSH issue's points",
    'sudo test/run.sh p05',
    '1.31-1.50× in earlier runs of the day',
  ])
    assert.equal(datedLines(bad).length, 1, bad);
  for (const good of [
    'Every session of the container prints one line.',
    'at most 1,024 sessions',
    'a budget of 1 MiB that refills at 4 KiB a second',
    'containers keep running after the last session ends',
    'sessions run in the normal scheduling class',
  ])
    assert.deepEqual(datedLines(good), [], good);
});

test('README: the quick start is two commands, and CI runs the same test command', () => {
  const readme = read('README.md');
  const section = readme.slice(
    readme.indexOf('## Quick start'),
    readme.indexOf('\n## ', readme.indexOf('## Quick start') + 3),
  );
  const block = /```\n([\s\S]*?)```/.exec(section)![1]!.trim().split('\n');
  assert.deepEqual(block, ['sudo ./install.sh --demo', 'sudo test/run.sh']);
  assert.match(read('.ci/run'), /^exec test\/run\.sh$/m);
});

test('README: how to enroll a user, and the policy table generated from the schema', () => {
  const readme = read('README.md');
  assert.match(readme, /sudo cellsh-admin enroll alice/);
  assert.ok(
    readme.includes(renderPolicyTable().trim()),
    "the README's policy table is renderPolicyTable(); paste it again",
  );
  assert.ok(read('src/policy/README.md').includes(renderPolicyTable().trim()));
});

test('docs: every relative link in the README, bench/README.md and docs/ leads to a file and heading that exist', () => {
  const exists = (p: string): boolean => existsSync(join(root, p));
  const broken = docPages().flatMap((f) => brokenLinks(f, read(f), exists, read));
  assert.deepEqual(broken, []);
});

test('docs: the link check reports a missing file and a missing heading, and follows headings as GitHub names them', () => {
  const files: Record<string, string> = {
    'README.md': '# x\n## The policy\n',
    'docs/a.md':
      '# A\n## Why the root file system is built in pid 1, as real root\n## `cellsh-admin doctor`\n## Same\n## Same\n',
  };
  const exists = (p: string): boolean => p in files;
  const textOf = (p: string): string => files[p]!;
  const page = [
    '[ok](../README.md#the-policy) [ok](#why-the-root-file-system-is-built-in-pid-1-as-real-root)',
    '[ok](#cellsh-admin-doctor) [ok](#same-1) [ok](a.md) `[in code](nowhere.md)` [web](https://example.org/x)',
    '[gone](missing.md) [gone](../README.md#no-such-part) [gone](#same-2)',
  ].join('\n');
  assert.deepEqual(brokenLinks('docs/a.md', page, exists, textOf), [
    'docs/a.md: missing.md (no such file)',
    'docs/a.md: ../README.md#no-such-part (no such heading)',
    'docs/a.md: #same-2 (no such heading)',
  ]);
});

test('docs: every page under docs/ can be reached from the README through links', () => {
  const seen = new Set<string>(['README.md']);
  const queue = ['README.md'];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const target of relativeLinks(read(file))) {
      const to = normalize(join(dirname(file), target.split('#')[0]!));
      if (to.endsWith('.md') && !seen.has(to) && existsSync(join(root, to))) {
        seen.add(to);
        queue.push(to);
      }
    }
  }
  const orphans = docPages().filter((f) => !seen.has(f));
  assert.deepEqual(orphans, [], 'link these pages from the README or a page it links');
});

test('docs/logs.md lists every audit log event of the contract with its fields', () => {
  const rows = read('docs/logs.md')
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  for (const [event, { fields }] of Object.entries(LOG_EVENTS)) {
    const row = rows.find((r) => r.split('|')[1]!.includes(`\`${event}\``));
    assert.ok(row, `docs/logs.md has no row for the ${event} event`);
    const listed = row.split('|')[3]!;
    for (const f of fields)
      assert.match(
        listed,
        new RegExp(`\\b${f.replace('?', '\\?')}(?![\\w?])`),
        `docs/logs.md: ${event} lacks its field ${f}`,
      );
  }
});
