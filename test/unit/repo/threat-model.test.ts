// docs/threat-model.md is where a reader looks up an attack class that the
// code, the tests and the docs cite by its id (SA- and two digits): every cited
// id has a section there, and every file, name and test title a section gives
// exists as given. Each check also runs on a broken copy of the document, to
// show that it can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const root = packageRoot();
const DOC = 'docs/threat-model.md';
/** Where ids are cited: the code, tests, docs, bench, PAM notes, default config, installer and README. */
const CITING = ['src', 'test', 'docs', 'bench', 'pam', 'config', 'install.sh', 'README.md'];
/** Folders of build output and dependencies, never cited from. */
const SKIPPED = new Set(['node_modules', 'dist', 'build', '.git']);
/** This file: the ids in its broken copies of the document are examples, not citations. */
const SELF = 'test/unit/repo/threat-model.test.ts';
/** An id as cited: "SA-" and its number. */
const CITED_ID = /\bSA-(\d+)\b/g;
/** The parts of a section, in this order. */
const PARTS = ['Attack', 'Defence', 'Where', 'Tests'] as const;

/** Repository files by path relative to the root, read once. */
const texts = new Map<string, string | undefined>();
function read(path: string): string | undefined {
  if (!texts.has(path)) {
    const full = join(root, path);
    texts.set(path, existsSync(full) ? readFileSync(full, 'utf8') : undefined);
  }
  return texts.get(path);
}

/** Every file below path (a file or a folder), relative to the root. */
function filesBelow(path: string): string[] {
  const full = join(root, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { withFileTypes: true })
    .filter((e) => !SKIPPED.has(e.name))
    .flatMap((e) => (e.isDirectory() ? filesBelow(`${path}/${e.name}`) : e.isFile() ? [`${path}/${e.name}`] : []));
}

/** Each cited id and where it is cited ("file:line"). */
function citations(files: readonly string[]): Map<number, string[]> {
  const cited = new Map<number, string[]>();
  for (const file of files) {
    (read(file) ?? '').split('\n').forEach((text, i) => {
      for (const m of text.matchAll(CITED_ID)) {
        const id = Number(m[1]);
        cited.set(id, [...(cited.get(id) ?? []), `${file}:${i + 1}`]);
      }
    });
  }
  return cited;
}

/** A file a section names under Where, with the names it lists after it. */
interface Named {
  readonly path: string;
  readonly names: string[];
  readonly line: number;
}
/** A test file a section names under Tests, with the titles listed below it. */
interface TestRef {
  readonly path: string;
  readonly titles: Array<{ title: string; line: number }>;
  readonly line: number;
}
/** One "### SA-nn Title" section. */
interface Section {
  readonly id: number;
  readonly line: number;
  readonly parts: string[];
  readonly where: Named[];
  readonly tests: TestRef[];
}

/** The document's SA sections. A section runs to the next heading of level 1-3. Under
 * "**Where.**", each "- `path`: `name`, `name`" line names a file; under "**Tests.**",
 * each "- `path`" line names a test file and each "  - title" line below it a title. */
function sections(doc: string): Section[] {
  const out: Section[] = [];
  let cur: Section | undefined;
  let part: string | undefined;
  let ref: TestRef | undefined;
  doc.split('\n').forEach((text, i) => {
    const line = i + 1;
    if (/^#{1,3} /.test(text)) {
      const m = /^### SA-(\d+) \S/.exec(text);
      cur = m ? { id: Number(m[1]), line, parts: [], where: [], tests: [] } : undefined;
      if (cur) out.push(cur);
      part = undefined;
      return;
    }
    if (!cur) return;
    const p = /^\*\*(\w+)\.\*\*/.exec(text);
    if (p) {
      part = p[1];
      cur.parts.push(part!);
      ref = undefined;
      return;
    }
    if (part === 'Where') {
      const m = /^- `([^`]+)`(.*)$/.exec(text);
      if (m) cur.where.push({ path: m[1]!, names: [...m[2]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!), line });
    } else if (part === 'Tests') {
      const file = /^- `([^`]+)`/.exec(text);
      const title = /^ {2}- (.+)$/.exec(text);
      if (file) {
        ref = { path: file[1]!, titles: [], line };
        cur.tests.push(ref);
      } else if (title && ref) ref.titles.push({ title: title[1]!, line });
    }
  });
  return out;
}

/** An id as the document writes it: SA-05. */
function idName(id: number): string {
  return `SA-${String(id).padStart(2, '0')}`;
}

/** Cited ids with no section, each with where it is cited. */
function uncovered(cited: Map<number, string[]>, secs: readonly Section[]): string[] {
  const have = new Set(secs.map((s) => s.id));
  return [...cited]
    .filter(([id]) => !have.has(id))
    .sort(([a], [b]) => a - b)
    .map(([id, where]) => `${idName(id)}, cited at ${where.join(', ')}`);
}

/** What is wrong with the shape of the sections: parts missing or out of order, an
 * empty Where or Tests, an id twice or out of order. */
function shapeProblems(secs: readonly Section[]): string[] {
  const problems: string[] = [];
  secs.forEach((s, i) => {
    const at = `${DOC}:${s.line} ${idName(s.id)}`;
    if (s.parts.join() !== PARTS.join())
      problems.push(`${at}: parts are ${s.parts.join(', ') || 'none'}, not ${PARTS.join(', ')}`);
    if (s.where.length === 0) problems.push(`${at}: no "- \`file\`" line under Where`);
    if (s.tests.length === 0) problems.push(`${at}: no "- \`test file\`" line under Tests`);
    for (const r of s.tests)
      if (r.titles.length === 0) problems.push(`${DOC}:${r.line}: ${r.path} lists no test title`);
    if (i > 0 && s.id <= secs[i - 1]!.id) problems.push(`${at}: comes after ${idName(secs[i - 1]!.id)}`);
  });
  return problems;
}

/** A path in the repository, as the document writes one in backticks. */
const REPO_PATH = /^(?:(?:src|test|docs|bench|pam|config)\/[^\s`]+|install\.sh|README\.md)$/;

/** Files and names the document gives that the repository lacks: each Where file and
 * every name listed after it, every repository path in backticks, every relative link. */
function sourceProblems(doc: string, secs: readonly Section[]): string[] {
  const problems: string[] = [];
  for (const s of secs) {
    for (const w of s.where) {
      const text = read(w.path);
      if (text === undefined) {
        problems.push(`${DOC}:${w.line}: ${w.path} does not exist`);
        continue;
      }
      for (const name of w.names) {
        const found = /^\w+$/.test(name) ? new RegExp(`\\b${name}\\b`).test(text) : text.includes(name);
        if (!found) problems.push(`${DOC}:${w.line}: ${w.path} has no "${name}"`);
      }
    }
  }
  doc.split('\n').forEach((text, i) => {
    for (const [, path] of text.matchAll(/`([^`\s]+)`/g)) {
      if (REPO_PATH.test(path!) && !existsSync(join(root, path!))) {
        problems.push(`${DOC}:${i + 1}: ${path} does not exist`);
      }
    }
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const path = posix.normalize(posix.join(posix.dirname(DOC), target!));
      if (!existsSync(join(root, path))) problems.push(`${DOC}:${i + 1}: the link ${target} leads nowhere (${path})`);
    }
  });
  return [...new Set(problems)];
}

/** A string literal as pieces of fixed text, with a value filled in between each two
 * (a template's ${...}, a C format's %s): a plain literal is one piece. */
type Pieces = string[];

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', 0: '\0', b: '\b', f: '\f', v: '\v' };

/** The literal whose opening quote is at text[start], and the index after it. */
function literalAt(text: string, start: number): { pieces: Pieces; end: number } | undefined {
  const quote = text[start]!;
  const pieces: Pieces = [''];
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === quote) return { pieces, end: i + 1 };
    if (c === '\n' && quote !== '`') return undefined;
    if (c === '\\') {
      const e = text[++i]!;
      if (e === 'x') {
        pieces[pieces.length - 1] += String.fromCharCode(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (e === 'u' && text[i + 1] !== '{') {
        pieces[pieces.length - 1] += String.fromCharCode(parseInt(text.slice(i + 1, i + 5), 16));
        i += 4;
      } else if (e !== '\n') {
        pieces[pieces.length - 1] += ESCAPES[e] ?? e;
      }
    } else if (quote === '`' && c === '$' && text[i + 1] === '{') {
      let depth = 0;
      for (i++; i < text.length; i++) {
        if (text[i] === '{') depth++;
        else if (text[i] === '}' && --depth === 0) break;
      }
      pieces.push('');
    } else {
      pieces[pieces.length - 1] += c;
    }
  }
  return undefined;
}

/** The titles of the tests in a TypeScript test file: the literal first argument of
 * each test(), it() or describe() call. */
function tsTitles(text: string): Pieces[] {
  const out: Pieces[] = [];
  for (const m of text.matchAll(/\b(?:test|it|describe)\s*\(\s*(?=['"`])/g)) {
    const lit = literalAt(text, m.index! + m[0].length);
    if (lit) out.push(lit.pieces);
  }
  return out;
}

/** A printf format as pieces: each conversion is a value filled in. */
function formatPieces(format: string): Pieces {
  return format.split(/%[-+ #0]*\d*(?:\.\d+)?[hlzjt]*[sdiuxXcp]/).map((p) => p.replace(/%%/g, '%'));
}

/** Every string literal of a C file (adjacent ones joined), a printf conversion
 * in it counting as a value filled in. Comments and character literals are skipped. */
function cTitles(text: string): Pieces[] {
  const out: Pieces[] = [];
  let joined: string | undefined;
  for (let i = 0; i < text.length; ) {
    if (text.startsWith('//', i)) i = text.indexOf('\n', i) + 1 || text.length;
    else if (text.startsWith('/*', i)) i = text.indexOf('*/', i + 2) + 2 || text.length;
    else if (text[i] === "'") i = text.indexOf("'", i + (text[i + 1] === '\\' ? 3 : 2)) + 1 || text.length;
    else if (text[i] === '"') {
      const lit = literalAt(text, i);
      if (!lit) return out;
      joined = (joined ?? '') + lit.pieces[0];
      i = lit.end;
      continue;
    } else if (/\s/.test(text[i]!)) {
      i++;
      continue;
    } else i++;
    if (joined !== undefined) out.push(formatPieces(joined));
    joined = undefined;
  }
  if (joined !== undefined) out.push(formatPieces(joined));
  return out;
}

/** The values filled in between the pieces to give title, or undefined if they can't:
 * each piece found in order, the first at the start, the last at the end, and each
 * value at least one character (the first place each piece fits is taken). */
function fill(pieces: Pieces, title: string): string[] | undefined {
  if (!title.startsWith(pieces[0]!)) return undefined;
  const values: string[] = [];
  let pos = pieces[0]!.length;
  for (let k = 1; k < pieces.length; k++) {
    const piece = pieces[k]!;
    const at = k === pieces.length - 1 ? title.length - piece.length : title.indexOf(piece, pos + 1);
    if (at <= pos || !title.startsWith(piece, at)) return undefined;
    values.push(title.slice(pos, at));
    pos = at + piece.length;
  }
  return values;
}

/** Fixed text a built title needs at least, so that "%s" alone matches nothing. */
const MIN_FIXED = 10;

/** Each test file's titles, and its text with escapes undone, worked out once. */
const titles = new Map<string, { candidates: Pieces[]; plain: string }>();

/** Is title one of the file's test titles? Where the title is built (in a loop, or
 * by a format), each value filled in must itself be text the file holds. */
function hasTitle(path: string, text: string, title: string): boolean {
  let known = titles.get(path);
  if (!known) {
    known = { candidates: path.endsWith('.c') ? cTitles(text) : tsTitles(text), plain: text.replace(/\\(.)/g, '$1') };
    titles.set(path, known);
  }
  const { candidates, plain } = known;
  return candidates.some((pieces) => {
    if (pieces.length === 1) return pieces[0] === title;
    if (pieces.join('').length < MIN_FIXED) return false;
    return fill(pieces, title)?.every((value) => plain.includes(value)) ?? false;
  });
}

/** Test files the document names that the repository lacks, and titles those files
 * do not hold exactly. */
function testProblems(secs: readonly Section[]): string[] {
  const problems: string[] = [];
  for (const s of secs) {
    for (const r of s.tests) {
      const text = read(r.path);
      if (text === undefined) {
        problems.push(`${DOC}:${r.line}: ${r.path} does not exist`);
        continue;
      }
      for (const t of r.titles) {
        if (!hasTitle(r.path, text, t.title))
          problems.push(`${DOC}:${t.line}: ${r.path} has no test titled "${t.title}"`);
      }
    }
  }
  return problems;
}

const doc = read(DOC)!;
const cited = citations(CITING.flatMap(filesBelow).filter((f) => f !== SELF));

/** The document with from replaced by to (which must be there). */
function broken(from: string, to: string): string {
  assert.ok(doc.includes(from), `the document no longer holds ${from}; pick another for this control`);
  return doc.replace(from, to);
}

test('every SA id cited in the code, tests, docs, bench, pam, config and install.sh has a section in docs/threat-model.md', () => {
  assert.ok(cited.size >= 20, `only ${cited.size} cited ids found: is the scan looking in the right places?`);
  assert.deepEqual(uncovered(cited, sections(doc)), []);
});

test('each SA section gives the attack, the defence, where it lives and the tests that try it, in id order', () => {
  assert.deepEqual(shapeProblems(sections(doc)), []);
});

test('every file a section names exists and holds each name listed after it; every path and link in the document exists', () => {
  assert.deepEqual(sourceProblems(doc, sections(doc)), []);
});

test('every test file a section names exists and has each listed test title, exactly', () => {
  assert.deepEqual(testProblems(sections(doc)), []);
});

test('a cited id whose section is gone is reported with the places that cite it', () => {
  const without = broken('### SA-05 ', '### Inherited fds (was 05) ');
  const found = uncovered(cited, sections(without));
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /^SA-05, cited at .*src\/helper\/caller\.c:\d+/);
  assert.match(
    shapeProblems(
      sections(broken('**Defence.** First thing in `main`, fds', '**Defense.** First thing in `main`, fds')),
    ).join('\n'),
    /SA-05: parts are Attack, Defense, Where, Tests/,
  );
});

test('a source file, a name in it or a linked file that does not exist is reported', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '- `src/helper/caller.c`: `caller_sanitize_fds_and_timers`',
      '- `src/helper/entry.c`: `caller_sanitize_fds_and_timers`',
      /src\/helper\/entry\.c does not exist/,
    ],
    [
      '`caller_check_stdio`, `caller_take_channel`',
      '`caller_check_stdio`, `caller_sanitize_fds`',
      /src\/helper\/caller\.c has no "caller_sanitize_fds"/,
    ],
    ['[fuzzing.md](fuzzing.md)', '[fuzzing.md](fuzz.md)', /the link fuzz\.md leads nowhere/],
  ];
  for (const [from, to, want] of cases) {
    const text = broken(from, to);
    assert.match(sourceProblems(text, sections(text)).join('\n'), want, to);
  }
});

test('a test file or title that does not exist is reported, and a title built in a loop must use values the file holds', () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      '- `test/integration/terminal.test.ts`',
      '- `test/integration/p05-terminal.test.ts`',
      /p05-terminal\.test\.ts does not exist/,
    ],
    [
      '  - stdio fds that are handles on the host (O_PATH, folders, devices) are refused',
      '  - stdio fds that are handles on the host are refused',
      /has no test titled "stdio fds that are handles on the host are refused"/,
    ],
    [
      '(su - from a root shell, the early start)',
      '(su - from a root shell, a route it never takes)',
      /has no test titled "\^C, \^\\ and \^Z/,
    ],
    [
      "  - refused, changing nothing: memory above the admin's",
      '  - refused, changing nothing: anything at all',
      /test-units\.c has no test titled "refused, changing nothing: anything at all"/,
    ],
  ];
  for (const [from, to, want] of cases) {
    assert.match(testProblems(sections(broken(from, to))).join('\n'), want, to);
  }
});
