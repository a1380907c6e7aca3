// A user's own settings: ~/.config/cellsh.yaml, read by the login shell as the
// user (no privilege), checked like the admin's policy, and limited to the keys
// the admin's record lets them set (user_may) and to values no more than the
// admin's. What passes becomes `--set KEY=VALUE` arguments, which the helper
// checks again (policy_override in src/helper/policy.c). A bad file is never a
// failed login: the user hears what is wrong and gets the admin's values.
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { compiledLimit, compiledRlimit, encodeEnv, settingKeyOf, userMayKeyOf, type CompiledUser } from '../policy/compiled.js';
import { Diagnostics, errorsOf, formatDiagnostic, sortDiagnostics, type SourceLoc } from '../policy/diagnostics.js';
import { expandHostname, shortHostname } from '../policy/hostname.js';
import type { SettingKey, SettingValues } from '../policy/schema.js';
import { formatCpu, formatSize, UNLIMITED, type Limit } from '../policy/sizes.js';
import { ENV_MAX_VARS, hostnameProblem } from '../policy/validators.js';
import type { RlimitValue } from '../policy/values.js';

/** Where the file lives, relative to the home. */
export const USER_FILE = '.config/cellsh.yaml';
/** Larger files are not read (the settings fit in a few hundred bytes). */
const MAX_BYTES = 64 * 1024;

/** The outcome: --set values for the helper, and lines to show the user. */
export interface UserSettings {
  readonly sets: readonly string[];
  readonly messages: readonly string[];
}

const NONE: UserSettings = { sets: [], messages: [] };

/** Read and check the user's file; never throws. */
export async function userSettings(record: CompiledUser): Promise<UserSettings> {
  if (record.user_may.length === 0) return NONE; // nothing to read: the common case costs nothing
  const path = join(record.home, USER_FILE);
  const shown = `~/${USER_FILE}`;
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_BYTES) return ignored(shown, [`${shown}: larger than ${MAX_BYTES / 1024} KiB`]);
    text = bytes.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? NONE : ignored(shown, [`${shown}: can't read it (${code ?? String(err)})`]);
  }
  const { parseRawSettings } = await import('../policy/load.js'); // YAML: only when there is a file
  const diags = new Diagnostics();
  const raw = parseRawSettings(text, shown, diags);
  const sets: string[] = [];
  for (const [key, located] of Object.entries(raw) as Array<[SettingKey, { value: unknown; at: SourceLoc }]>) {
    const name = userMayKeyOf(key);
    const problem = name === undefined || !record.user_may.includes(name)
      ? `your administrator does not let you set this (you may set: ${record.user_may.map(settingKeyOf).join(', ')})`
      : valueProblem(key, located.value, record);
    if (problem) diags.error(shown, located.at, key, problem);
    else sets.push(`${name!}=${compiledValue(key, located.value, record)}`);
  }
  const errors = sortDiagnostics(errorsOf(diags.list));
  if (errors.length > 0) return ignored(shown, errors.map(formatDiagnostic));
  return { sets, messages: [] };
}

function ignored(shown: string, problems: readonly string[]): UserSettings {
  return { sets: [], messages: [...problems, `ignoring ${shown}: your administrator's settings apply; fix the file for your next login`] };
}

/** Why a checked value can't be the user's, or undefined (the helper's rules, said in words). */
function valueProblem(key: SettingKey, value: unknown, r: CompiledUser): string | undefined {
  const lower = (want: Limit, admin: number, text: (n: number) => string): string | undefined =>
    admin === 0 || (want !== UNLIMITED && want <= admin) ? undefined : `at most ${text(admin)}, your administrator's limit`;
  switch (key) {
    case 'shell': {
      // As chsh(1): one of the host's login shells (all under /usr, which the
      // container shares), and one that runs.
      const listed = readShells().includes(value as string);
      let runs = true;
      try {
        accessSync(value as string, constants.X_OK);
      } catch {
        runs = false;
      }
      return listed && runs ? undefined
        : `${value as string} is not ${listed ? 'a program you can run' : 'in /etc/shells (the login shells this host offers)'}; a shell that can't start would lock you out`;
    }
    case 'hostname': {
      const problem = hostnameProblem(hostnameFor(value as string, r));
      return problem ? `not a valid hostname (${problem})` : undefined;
    }
    case 'env': {
      const names = new Set([...r.env.map(([n]) => n), ...Object.keys(value as SettingValues['env'])]);
      return names.size > ENV_MAX_VARS ? `with your administrator's ${r.env.length} variables that makes ${names.size}; at most ${ENV_MAX_VARS}` : undefined;
    }
    case 'network': return value === 'host' && r.network !== 'host' ? 'your administrator gives you no host network; only "none"' : undefined;
    case 'limits.memory': return lower(value as Limit, r.memory, formatSize);
    case 'limits.memory_high': return lower(value as Limit, r.memory_high, formatSize);
    case 'limits.pids': return lower(value as Limit, r.pids, String);
    case 'limits.cpu': return lower(value as Limit, r.cpu, (n) => `${formatCpu(n)} CPUs`);
    case 'limits.swap':
      return r.swap === 'max' || (value !== UNLIMITED && (value as number) <= r.swap) ? undefined
        : `at most ${formatSize(r.swap)}, your administrator's limit`;
    case 'limits.io_weight': {
      const w = (v: number | 'default'): number => (v === 'default' || v === 0 ? 100 : v);
      return w(value as number | 'default') > w(r.io_weight) ? `at most ${w(r.io_weight)}, your administrator's weight` : undefined;
    }
    case 'rlimits.nofile': case 'rlimits.nproc': case 'rlimits.core': {
      const admin = r[key.slice('rlimits.'.length) as 'nofile' | 'nproc' | 'core'].hard;
      const mine = (value as RlimitValue).hard;
      return admin === 'max' || (mine !== UNLIMITED && mine <= admin) ? undefined : `the hard limit may be at most ${admin}, your administrator's`;
    }
    default: return undefined;
  }
}

/** The login shells /etc/shells lists ([] if it can't be read). */
function readShells(): string[] {
  try {
    return readFileSync('/etc/shells', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/'));
  } catch {
    return [];
  }
}

function hostnameFor(template: string, r: CompiledUser): string {
  return expandHostname(template, { user: r.name, uid: r.uid, host: shortHostname(hostname()) });
}

/** The value in the compiled policy's notation (what --set takes). */
function compiledValue(key: SettingKey, value: unknown, r: CompiledUser): string {
  switch (key) {
    case 'hostname': return hostnameFor(value as string, r);
    case 'env': return encodeEnv(Object.entries(value as SettingValues['env']));
    case 'limits.swap': return value === UNLIMITED ? 'max' : String(value);
    case 'limits.io_weight': return String(value === 'default' ? 0 : value);
    case 'limits.memory': case 'limits.memory_high': case 'limits.pids': case 'limits.cpu': return String(compiledLimit(value as Limit));
    case 'rlimits.nofile': case 'rlimits.nproc': case 'rlimits.core': {
      const { soft, hard } = compiledRlimit(value as RlimitValue);
      return `${soft} ${hard}`;
    }
    default: return String(value);
  }
}
