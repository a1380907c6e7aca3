// The policy exactly as one file states it: every section and every setting
// optional, each value already checked and converted to the helper's unit, and
// each remembering where it was written (for later diagnostics and `show`).
// Defaults are not applied here: that is resolve.ts, producing a Policy.
import type { SourceLoc } from './diagnostics.js';
import type { SettingKey, SettingValues } from './schema.js';

/** A value as written, with its place in the file. */
export interface Located<T> {
  readonly value: T;
  readonly at: SourceLoc;
}

/** The settings one mapping sets, by dotted key ("limits.memory"). A key is
 * absent when the mapping does not set it, or set it to a value that was
 * reported as invalid. */
export type RawSettings = { readonly [K in SettingKey]?: Located<SettingValues[K]> };

/** One entry under `groups:` or `users:`. */
export interface RawEntry {
  /** The group's or user's name. */
  readonly name: string;
  /** Where the name is written. */
  readonly at: SourceLoc;
  readonly settings: RawSettings;
}

/** One policy file. */
export interface RawPolicy {
  readonly file: string;
  /** `defaults:`, if the file has it. */
  readonly defaults: RawSettings | undefined;
  /** `groups:` entries in file order. */
  readonly groups: readonly RawEntry[];
  /** `users:` entries in file order. */
  readonly users: readonly RawEntry[];
}
