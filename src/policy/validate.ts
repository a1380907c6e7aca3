// From a parsed YAML document to a RawPolicy, checking every key and value
// against the schema table. Nothing stops at the first problem: each one is
// recorded with its line and column and the walk goes on. A user's own file is
// walked with quoting 'withhold': its messages name no key or value it holds,
// only known keys, places and kinds of value.
import {
  isAlias,
  isCollection,
  isMap,
  isScalar,
  visit,
  type Alias,
  type Document,
  type LineCounter,
  type YAMLMap,
} from 'yaml';
import { dotted, type Diagnostics, type SourceLoc } from './diagnostics.js';
import { FIELDS, keysUnder, settingAt, type SettingKey } from './schema.js';
import { closestWord } from './validators.js';
import { describeValue, type Checker, type Quoting } from './values.js';
import type { Located, RawEntry, RawPolicy, RawSettings } from './raw.js';

/** What the walk carries: the file, positions, and where problems go. */
interface Walk {
  readonly file: string;
  readonly lines: LineCounter;
  readonly diags: Diagnostics;
  readonly quoting: Quoting;
  /** The node an alias stands for (undefined if none). */
  readonly resolve: (alias: Alias) => unknown;
}

/** One key of a mapping with its value (aliases resolved). */
interface Entry {
  readonly name: string;
  readonly keyNode: unknown;
  readonly value: unknown;
}

type Sections = { -readonly [K in keyof RawPolicy]?: RawPolicy[K] };

/** The top-level keys and how to read each. */
const SECTIONS: Readonly<Record<string, (w: Walk, e: Entry) => Sections>> = {
  defaults: (w, e) => ({ defaults: readSettingsBlock(w, e, ['defaults']) }),
  groups: (w, e) => ({ groups: readNamed(w, e, 'groups', 'group') }),
  users: (w, e) => ({ users: readNamed(w, e, 'users', 'user') }),
};

/** The 1-based line and column of an offset in the file. */
export function locOf(w: Pick<Walk, 'file' | 'lines'>, offset: number): SourceLoc {
  const { line, col } = w.lines.linePos(offset);
  return { file: w.file, line: Math.max(line, 1), col: Math.max(col, 1) };
}

/** Where to report a problem with a node: its own start, or its key's when the value is empty. */
function nodeLoc(w: Walk, node: unknown, keyNode?: unknown): SourceLoc {
  const range = (n: unknown): number | undefined =>
    n && typeof n === 'object' && 'range' in n ? (n as { range?: [number, number, number] }).range?.[0] : undefined;
  const empty = node === null || node === undefined || (isScalar(node) && node.value === null && !node.source);
  return locOf(w, (empty ? range(keyNode) : range(node)) ?? range(keyNode) ?? 0);
}

function error(w: Walk, at: SourceLoc, path: readonly string[], message: string): void {
  w.diags.error(w.file, at, dotted(path), message);
}

/** Turn a parsed document into a RawPolicy, recording every problem in w.diags. */
export function validateDocument(
  file: string,
  doc: Document.Parsed,
  lines: LineCounter,
  diags: Diagnostics,
): RawPolicy {
  const w: Walk = { file, lines, diags, quoting: 'quote', resolve: aliasResolver(doc) };
  const policy: Sections = { file, defaults: undefined, groups: [], users: [] };
  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return policy as RawPolicy;
  if (!isMap(top)) {
    error(
      w,
      nodeLoc(w, top),
      [],
      `expected a mapping with "defaults:", "groups:" and "users:", got ${describeValue(top)}`,
    );
    return policy as RawPolicy;
  }
  for (const e of entries(w, top, [])) {
    const read = SECTIONS[e.name];
    if (read) Object.assign(policy, read(w, e));
    else unknownKey(w, e, [], Object.keys(SECTIONS));
  }
  return policy as RawPolicy;
}

/** A whole document that is one settings mapping (a user's ~/.config/cellsh.yaml). */
export function validateSettingsDocument(
  file: string,
  doc: Document.Parsed,
  lines: LineCounter,
  diags: Diagnostics,
  quoting: Quoting = 'quote',
): RawSettings {
  const w: Walk = { file, lines, diags, quoting, resolve: aliasResolver(doc) };
  const top = doc.contents;
  if (top === null || (isScalar(top) && top.value === null)) return {};
  if (!isMap(top)) {
    error(
      w,
      nodeLoc(w, top),
      [],
      `expected a mapping of settings like "hostname: mybox", got ${describeValue(top, quoting)}`,
    );
    return {};
  }
  const out: { [K in SettingKey]?: Located<unknown> } = {};
  readSettings(w, top, [], [], out);
  return out as RawSettings;
}

/** Aliases resolved as YAML says (the last anchor of that name before the
 * alias), all in one pass over the document, made at the first alias. yaml's
 * own Alias.resolve walks the whole document for each alias: a 64 KiB file
 * of aliases took 37 s that way. The nodes are never expanded. */
function aliasResolver(doc: Document.Parsed): (alias: Alias) => unknown {
  let targets: Map<Alias, unknown> | undefined;
  return (alias) => {
    if (!targets) {
      const found = new Map<Alias, unknown>();
      const anchors = new Map<string, unknown>();
      visit(doc, (_key, node) => {
        if (isAlias(node)) found.set(node, anchors.get(node.source));
        else if ((isScalar(node) || isCollection(node)) && node.anchor) anchors.set(node.anchor, node);
      });
      targets = found;
    }
    return targets.get(alias);
  };
}

/** The keys of a mapping in order, reporting keys that are not plain names and
 * duplicates (withheld, a duplicate is named only if it is one of `known`). */
function entries(w: Walk, map: YAMLMap, path: readonly string[], known: readonly string[] = []): Entry[] {
  const out: Entry[] = [];
  const seen = new Map<string, SourceLoc>();
  for (const pair of map.items) {
    const keyNode = pair.key;
    const at = nodeLoc(w, keyNode, map);
    const name =
      isScalar(keyNode) && keyNode.value !== null && typeof keyNode.value !== 'object'
        ? typeof keyNode.value === 'string'
          ? keyNode.value
          : (keyNode.source ?? String(keyNode.value))
        : undefined;
    if (name === undefined) {
      error(w, at, path, `expected a plain key, got ${describeValue(keyNode, w.quoting)}`);
      continue;
    }
    const first = seen.get(name);
    if (first) {
      const named = w.quoting === 'quote' || known.includes(name);
      error(w, at, named ? [...path, name] : path, `duplicate key (first set at line ${first.line})`);
      continue;
    }
    seen.set(name, at);
    out.push({ name, keyNode, value: isAlias(pair.value) ? w.resolve(pair.value) : pair.value });
  }
  return out;
}

/** An unknown key, with the closest known one as a hint; withheld, reported
 * at its place under its parent, without its name. */
function unknownKey(w: Walk, e: Entry, path: readonly string[], known: readonly string[]): void {
  const near = closestWord(e.name, known);
  const hint = near ? `did you mean "${near}"?` : `expected one of: ${known.join(', ')}`;
  if (w.quoting === 'withhold') error(w, nodeLoc(w, e.keyNode), path, `unknown key; ${hint}`);
  else error(w, nodeLoc(w, e.keyNode), [...path, e.name], `unknown key "${e.name}"; ${hint}`);
}

/** The mapping an entry holds; an empty value counts as an empty mapping. */
function mappingOf(w: Walk, e: Entry, path: readonly string[], what: string): YAMLMap | undefined {
  if (e.value === null || e.value === undefined || (isScalar(e.value) && e.value.value === null)) return undefined;
  if (isMap(e.value)) return e.value;
  error(w, nodeLoc(w, e.value, e.keyNode), path, `expected ${what}, got ${describeValue(e.value, w.quoting)}`);
  return undefined;
}

/** A settings mapping (`defaults:` or one user's entry). */
function readSettingsBlock(w: Walk, e: Entry, path: readonly string[]): RawSettings {
  const out: { [K in SettingKey]?: Located<unknown> } = {};
  const map = mappingOf(w, e, path, 'a mapping of settings');
  if (map) readSettings(w, map, path, [], out);
  return out as RawSettings;
}

/** Settings under a prefix ([] or ["limits"]), recursing into groups of keys. */
function readSettings(
  w: Walk,
  map: YAMLMap,
  path: readonly string[],
  prefix: readonly string[],
  out: { [K in SettingKey]?: Located<unknown> },
): void {
  const known = keysUnder(prefix);
  for (const e of entries(w, map, [...path, ...prefix], known)) {
    const sub = [...prefix, e.name];
    if (!known.includes(e.name)) {
      unknownKey(w, e, [...path, ...prefix], known);
      continue;
    }
    const key = settingAt(sub);
    if (key === undefined) {
      const inner = mappingOf(w, e, [...path, ...sub], `a mapping with ${keysUnder(sub).join(', ')}`);
      if (inner) readSettings(w, inner, path, sub, out);
      continue;
    }
    const at = nodeLoc(w, e.value, e.keyNode);
    const result = (FIELDS[key].check as Checker<unknown>)(e.value, w.quoting);
    if (result.ok) out[key] = { value: result.value, at };
    else error(w, at, [...path, ...sub], result.message);
  }
}

/** The `groups:` or `users:` mapping: group or user name to settings. */
function readNamed(w: Walk, e: Entry, section: 'groups' | 'users', what: string): RawEntry[] {
  const map = mappingOf(w, e, [section], `a mapping of ${what} names to settings`);
  if (!map) return [];
  return entries(w, map, [section]).map((u) => ({
    name: u.name,
    at: nodeLoc(w, u.keyNode),
    settings: readSettingsBlock(w, u, [section, u.name]),
  }));
}
