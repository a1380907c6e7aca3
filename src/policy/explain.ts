// "Why does alice get this?": a user's effective settings, each with the
// layer and file:line it came from, and the layers that apply to them in
// order. `cellsh-admin show` prints this; the layering tests compare it.
import { FIELDS, SETTING_KEYS, type FieldSpec, type SettingKey, type SettingValues } from './schema.js';
import { effectiveFor, layersFor, type Origin, type Policy, type PolicyLayer } from './resolve.js';

/** One setting as a user gets it. */
export interface ExplainedSetting {
  readonly key: SettingKey;
  /** The value in the policy's own notation ("4G", "{soft: 1024, hard: 524288}"). */
  readonly value: string;
  readonly origin: Origin;
}

/** A user's settings and the layers behind them. */
export interface Explained {
  readonly layers: readonly PolicyLayer[];
  readonly settings: readonly ExplainedSetting[];
}

/** The flat value of a setting from the nested Settings. */
function settingValue(settings: ReturnType<typeof effectiveFor>['settings'], key: SettingKey): unknown {
  let v: unknown = settings;
  for (const part of key.split('.')) v = (v as Record<string, unknown>)[part];
  return v;
}

/** Format a setting's value in the policy's notation. */
export function formatSetting<K extends SettingKey>(key: K, value: SettingValues[K]): string {
  return (FIELDS[key] as FieldSpec<SettingValues[K]>).format(value);
}

/** Explain the settings of a user (by name and the gids they get at login). */
export function explainUser(policy: Policy, name: string, gids: readonly number[]): Explained {
  const { settings, origins } = effectiveFor(policy, name, gids);
  return {
    layers: layersFor(policy, name, gids).filter((l) => l.scope.kind !== 'all' || l.settings !== undefined),
    settings: SETTING_KEYS.map((key) => ({
      key,
      value: formatSetting(key, settingValue(settings, key) as never),
      origin: origins[key],
    })),
  };
}

/** "groups.dev at policy.d/10-dev.yaml:3:13" or "built-in". */
export function describeOrigin(origin: Origin, file: (path: string) => string = (p) => p): string {
  return 'at' in origin ? `${origin.layer} at ${file(origin.at.file)}:${origin.at.line}:${origin.at.col}` : 'built-in';
}
