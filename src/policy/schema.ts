// The policy's settings in one table: each key's checker, default, example and
// description. Validation, the built-in defaults and the README's reference
// table are all derived from FIELDS, so they cannot drift apart.
import { parseDocument } from 'yaml';
import { absolutePath, count, cpus, hostnameTemplate, limitText, oneOf, size, type Checker } from './values.js';
import type { Limit } from './sizes.js';

/** Container images cellsh can build a root from ("host": the host's /usr and a filtered /etc). */
export type Image = 'host';
/** Network modes the helper implements (enum network_mode in policy.h). */
export type Network = 'none' | 'host';

/** Every setting by its dotted key, with the type of its checked value. */
export interface SettingValues {
  'image': Image;
  'shell': string;
  /** A template; see hostname.ts. */
  'hostname': string;
  'network': Network;
  /** Bytes. */
  'limits.memory': Limit;
  /** Tasks. */
  'limits.pids': Limit;
  /** Thousandths of a CPU. */
  'limits.cpu': Limit;
}
/** A setting's dotted key. */
export type SettingKey = keyof SettingValues;

/** How one setting is checked and documented. */
export interface FieldSpec<T> {
  /** The kind of value, for the reference table (Markdown). */
  readonly type: string;
  /** The built-in default, as YAML text. */
  readonly default: string;
  /** An example value, as YAML text. */
  readonly example: string;
  /** One line for the reference table. */
  readonly description: string;
  /** Whether a user may set it for themselves (the per-user file comes later; off for all). */
  readonly userMay: boolean;
  readonly check: Checker<T>;
  /** The value in the policy's own notation (for `show` and the table). */
  readonly format: (v: T) => string;
}

const MIB = 1024 * 1024;
/** Below this a container cannot even start a shell reliably. */
export const MEMORY_MIN_BYTES = 32 * MIB;
/** Largest size a JavaScript number holds exactly (the helper's own cap is 2^62). */
export const MEMORY_MAX_BYTES = 8191 * 2 ** 40;
/** The kernel's PID_MAX_LIMIT on 64-bit. */
export const PIDS_MAX = 4194304;
/** Matches the helper's cap of 1024000 thousandths. */
export const CPUS_MAX = 1024;

const IMAGES: readonly Image[] = ['host'];
const NETWORKS: readonly Network[] = ['none', 'host'];
const quoted = (s: string): string => `"${s}"`;

/** The table. The mapped type makes adding a key to SettingValues without a row a compile error. */
export const FIELDS: { readonly [K in SettingKey]: FieldSpec<SettingValues[K]> } = {
  'image': {
    type: IMAGES.map((i) => `\`${i}\``).join(' \\| '), default: 'host', example: 'host', userMay: false,
    description: 'What the container\'s root is made of: `host` is the host\'s own /usr and a filtered /etc, read-only.',
    check: oneOf(IMAGES), format: (v) => v,
  },
  'shell': {
    type: 'absolute path', default: '/bin/bash', example: '/usr/bin/zsh', userMay: false,
    description: 'The shell run inside the container for logins and `-c` commands.',
    check: absolutePath('/bin/bash'), format: (v) => v,
  },
  'hostname': {
    type: 'template', default: '"{user}"', example: '"{user}-{host}"', userMay: false,
    description: 'The container\'s hostname; `{user}`, `{uid}` and `{host}` (the host\'s short name) expand.',
    check: hostnameTemplate(), format: quoted,
  },
  'network': {
    type: NETWORKS.map((n) => `\`${n}\``).join(' \\| '), default: 'none', example: 'host', userMay: false,
    description: '`none`: only a loopback interface; `host`: the host\'s network.',
    check: oneOf(NETWORKS), format: (v) => v,
  },
  'limits.memory': {
    type: 'size or `unlimited`', default: '2G', example: '512M', userMay: false,
    description: 'Memory the whole container may use (binary units: K, M, G, T; at least 32M).',
    check: size({ min: MEMORY_MIN_BYTES, max: MEMORY_MAX_BYTES }), format: limitText.size,
  },
  'limits.pids': {
    type: `integer 1-${PIDS_MAX} or \`unlimited\``, default: '512', example: '256', userMay: false,
    description: 'Processes and threads the container may run at once.',
    check: count({ min: 1, max: PIDS_MAX }), format: limitText.count,
  },
  'limits.cpu': {
    type: `CPUs (up to 3 decimals, at most ${CPUS_MAX}) or \`unlimited\``, default: '1.5', example: '0.5', userMay: false,
    description: 'CPU time the container may use, in CPUs (1.5 = one and a half cores).',
    check: cpus({ max: CPUS_MAX }), format: limitText.cpus,
  },
};

/** Every setting key, in table order. */
export const SETTING_KEYS = Object.keys(FIELDS) as SettingKey[];

/** Check a YAML text (a default or an example) with a field's checker; throws if it fails. */
export function checkText<K extends SettingKey>(key: K, text: string): SettingValues[K] {
  const result = (FIELDS[key].check as Checker<SettingValues[K]>)(parseDocument(text).contents);
  if (!result.ok) throw new Error(`the schema's own value for ${key} is invalid: ${result.message}`);
  return result.value;
}

/** The built-in defaults, checked by the same code as the file's values. */
export const BUILTIN_DEFAULTS: Readonly<SettingValues> = Object.freeze(
  Object.fromEntries(SETTING_KEYS.map((k) => [k, checkText(k, FIELDS[k].default)])) as unknown as SettingValues,
);

/** The keys that may appear in a settings mapping under a prefix: [] -> image, ..., limits; ["limits"] -> memory, pids, cpu. */
export function keysUnder(prefix: readonly string[]): string[] {
  const out = new Set<string>();
  for (const key of SETTING_KEYS) {
    const parts = key.split('.');
    if (parts.length > prefix.length && prefix.every((p, i) => parts[i] === p)) out.add(parts[prefix.length]!);
  }
  return [...out];
}

/** The setting at a path, if the path names one (["limits", "memory"] -> "limits.memory"). */
export function settingAt(path: readonly string[]): SettingKey | undefined {
  const key = path.join('.');
  return (SETTING_KEYS as string[]).includes(key) ? (key as SettingKey) : undefined;
}

/** The reference table (key | type | default | example | description) as Markdown, for the README. */
export function renderPolicyTable(): string {
  const cell = (s: string): string => s.replace(/\n/g, ' ');
  const code = (s: string): string => `\`${s}\``;
  const rows = SETTING_KEYS.map((k) => {
    const f = FIELDS[k] as FieldSpec<unknown>;
    return `| ${code(k)} | ${cell(f.type)} | ${code(f.default)} | ${code(f.example)} | ${cell(f.description)} |`;
  });
  return ['| key | type | default | example | description |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
