// The one entry point from policy files to a resolved Policy: list the files
// (policy.yaml, then policy.d/*.yaml), read (an installed policy's files only
// if root alone could have written them: trust.ts), parse the YAML keeping positions,
// check against the schema, resolve against the host's accounts. Every problem
// of every stage and every file comes back together.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument, type Document, type ErrorCode, type YAMLError } from 'yaml';
import { Diagnostics, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { resolvePolicy, type Policy, type PolicyEnv } from './resolve.js';
import { locOf, validateDocument, validateSettingsDocument } from './validate.js';
import type { RawPolicy, RawSettings } from './raw.js';
import { readTrusted, trustMessage } from './trust.js';
import type { Quoting } from './values.js';

/** A resolved policy and every problem found on the way. The policy is a best
 * effort when there are errors (invalid values fall back to the layer below):
 * use it to report more problems, never to apply. */
export interface Loaded {
  readonly policy: Policy;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parse and check one file's text into a RawPolicy (no accounts needed). Schema
 * problems on a line that has a YAML syntax error are left out: they are echoes
 * of the syntax error (a tab-indented key looks like an unknown top-level key). */
export function parseRawPolicy(text: string, file: string, diags: Diagnostics): RawPolicy {
  return parseChecked(text, file, diags, validateDocument);
}

/** Parse and check a user's own settings file (a settings mapping at the top);
 * with quoting 'withhold', no message repeats what the file says. */
export function parseRawSettings(
  text: string,
  file: string,
  diags: Diagnostics,
  quoting: Quoting = 'quote',
): RawSettings {
  return parseChecked(
    text,
    file,
    diags,
    (f, doc, lines, d) => validateSettingsDocument(f, doc, lines, d, quoting),
    quoting,
  );
}

/** yaml's error codes in words: its messages may quote the text (a tag, an alias's name). */
const YAML_PROBLEMS: Readonly<Record<ErrorCode, string>> = {
  ALIAS_PROPS: 'an alias with an anchor or a tag',
  BAD_ALIAS: 'an alias to no anchor before it',
  BAD_DIRECTIVE: 'a bad directive',
  BAD_DQ_ESCAPE: 'a bad escape in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'an anchor or tag in the wrong place',
  BAD_SCALAR_START: 'a value starting with a reserved character',
  BLOCK_AS_IMPLICIT_KEY: 'a block used as a key',
  BLOCK_IN_FLOW: 'a block inside [ ] or { }',
  DUPLICATE_KEY: 'a duplicate key',
  IMPOSSIBLE: 'something the parser cannot read',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  MISSING_CHAR: 'a missing closing character',
  MULTILINE_IMPLICIT_KEY: 'a key spread over lines',
  MULTIPLE_ANCHORS: 'more than one anchor on a value',
  MULTIPLE_DOCS: 'more than one document',
  MULTIPLE_TAGS: 'more than one tag on a value',
  NON_STRING_KEY: 'a key that is not a string',
  RESOURCE_EXHAUSTION: 'too many aliases',
  TAB_AS_INDENT: 'a tab used for indentation',
  TAG_RESOLVE_FAILED: 'an unknown tag',
  UNEXPECTED_TOKEN: 'an unexpected character',
  BAD_COLLECTION_TYPE: 'a tag that does not fit its value',
};

/** A YAML problem's text for a message: its first line, or withheld, its code in words. */
function yamlProblem(e: YAMLError, quoting: Quoting): string {
  return quoting === 'quote' ? e.message.split('\n')[0]! : (YAML_PROBLEMS[e.code] ?? 'a syntax error');
}

function parseChecked<T>(
  text: string,
  file: string,
  diags: Diagnostics,
  validate: (file: string, doc: Document.Parsed, lines: LineCounter, diags: Diagnostics) => T,
  quoting: Quoting = 'quote',
): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const brokenLines = new Set<number>();
  for (const e of doc.errors) {
    const at = locOf({ file, lines }, e.pos[0]);
    brokenLines.add(at.line);
    diags.error(file, at, '', `invalid YAML: ${yamlProblem(e, quoting)}`);
  }
  for (const e of doc.warnings)
    diags.warning(file, locOf({ file, lines }, e.pos[0]), '', `YAML: ${yamlProblem(e, quoting)}`);
  const schema = new Diagnostics();
  const raw = validate(file, doc, lines, schema);
  diags.addAll(schema.list.filter((d) => !d.at || !brokenLines.has(d.at.line)));
  return raw;
}

/** One file of a policy: its name, and its text when it is not to be read from disk. */
export interface PolicySource {
  readonly file: string;
  readonly text?: string;
  /** The policy folder (/etc/cellsh) of an installed policy: the file is read only if
   * root alone could have written it, and a symlink only if it stays in this folder
   * (see trust.ts). Left out for drafts checked by name. */
  readonly trustedIn?: string;
}

/** The files of an installed policy: the main file, then every `*.yaml` in
 * the drop-in folder in name order (byte order, as `ls` in the C locale).
 * Hidden files are skipped; other names are skipped with a warning, so a
 * `10-dev.yml` is not silently ignored. A missing folder is no drop-ins. */
export function policyFiles(mainFile: string, dropinDir: string): { files: string[]; diagnostics: Diagnostic[] } {
  const diags = new Diagnostics();
  let names: string[];
  try {
    names = readdirSync(dropinDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT')
      diags.error(dropinDir, undefined, '', `can't read the drop-in folder: ${(err as Error).message}`);
    return { files: [mainFile], diagnostics: diags.list };
  }
  const files = [mainFile];
  for (const name of names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.startsWith('.')) continue;
    if (name.endsWith('.yaml')) files.push(join(dropinDir, name));
    else diags.warning(join(dropinDir, name), undefined, '', 'ignored: only files whose name ends in .yaml are read');
  }
  return { files, diagnostics: diags.list };
}

/** Load, check and resolve a policy made of files layered in order. An
 * unreadable file is one error; the others are still checked. */
export function loadPolicy(sources: readonly PolicySource[], env: PolicyEnv): Loaded {
  const diags = new Diagnostics();
  const raws: RawPolicy[] = [];
  for (const { file, text, trustedIn } of sources) {
    const body =
      text ?? (trustedIn === undefined ? readPolicyFile(file, diags) : readTrustedPolicyFile(file, trustedIn, diags));
    if (body !== undefined) raws.push(parseRawPolicy(body, file, diags));
  }
  const policy = resolvePolicy(raws, env, diags);
  return { policy, diagnostics: sortDiagnostics(diags.list) };
}

/** An installed policy file's text, or undefined after recording why it is not trusted. */
function readTrustedPolicyFile(file: string, policyFolder: string, diags: Diagnostics): string | undefined {
  const read = readTrusted(file, policyFolder);
  if ('text' in read) return read.text;
  if (read.missing) diags.error(file, undefined, '', "can't read the policy: no such file");
  for (const p of read.problems) diags.error(p.file, undefined, '', trustMessage(p));
  return undefined;
}

/** A policy file's text, or undefined after recording why it can't be read. */
function readPolicyFile(file: string, diags: Diagnostics): string | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) {
      diags.error(file, undefined, '', "can't read the policy: not a regular file");
      return undefined;
    }
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    diags.error(file, undefined, '', `can't read the policy: ${reason}`);
    return undefined;
  }
}
