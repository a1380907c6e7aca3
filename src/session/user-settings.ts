// A user's own settings: ~/.config/cellsh.yaml, read by the login shell as the
// user (no privilege), checked like the admin's policy, and limited to the keys
// the admin's record lets them set (user_may) and to values no more than the
// admin's. What passes becomes `--set KEY=VALUE` arguments, which the helper
// checks again (policy_override in src/helper/policy.c). A bad file is never a
// failed login: the user hears what is wrong and gets the admin's values.
// This runs on the host, outside the container and its cgroups, and the user
// shapes the file from inside: it is read only as a regular file of their own
// (src/sys/own-file.ts), and no message quotes what it says, only where and
// what kind of thing is wrong (it may be a link to what the container hides).
import { accessSync, constants, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  compiledLimit,
  compiledRlimit,
  encodeEnv,
  settingKeyOf,
  userMayKeyOf,
  type CompiledUser,
} from '../policy/compiled.js';
import { Diagnostics, errorsOf, formatDiagnostic, sortDiagnostics, type SourceLoc } from '../policy/diagnostics.js';
import { expandHostname, shortHostname } from '../policy/hostname.js';
import { NETWORK_MODES, NETWORK_OPENNESS } from '../contract/index.js';
import type { Network, SettingKey, SettingValues } from '../policy/schema.js';
import { formatCpu, formatSize, UNLIMITED, type Limit } from '../policy/sizes.js';
import { ENV_MAX_VARS, hostnameProblem } from '../policy/validators.js';
import type { RlimitValue } from '../policy/values.js';
import { OWN_FILE_MAX_BYTES, readOwnFile, type OwnFileText } from '../sys/own-file.js';

/** Where the file lives, relative to the home. */
export const USER_FILE = '.config/cellsh.yaml';
/** Larger files are not read (the settings fit in a few hundred bytes). */
const MAX_BYTES = OWN_FILE_MAX_BYTES;
/** Problems shown at most: a 64 KiB file can hold thousands, one a line. */
const MAX_PROBLEMS = 20;

/** The outcome: --set values for the helper, and lines to show the user. */
export interface UserSettings {
  readonly sets: readonly string[];
  readonly messages: readonly string[];
}

const NONE: UserSettings = { sets: [], messages: [] };

/** Read and check the user's file (the uid it must belong to is the record's);
 * never throws. */
export async function userSettings(record: CompiledUser): Promise<UserSettings> {
  if (record.user_may.length === 0) return NONE; // nothing to read: the common case costs nothing
  const shown = `~/${USER_FILE}`;
  let read: OwnFileText;
  try {
    read = readOwnFile(record.home, USER_FILE, record.uid, MAX_BYTES);
  } catch (err) {
    read = {
      kind: 'refused',
      path: USER_FILE,
      why: `can't be read (${(err as NodeJS.ErrnoException).code ?? 'an unexpected error'})`,
    };
  }
  if (read.kind === 'none') return NONE;
  if (read.kind === 'refused') {
    const where = read.path ? `~/${read.path}` : '~';
    return ignored(shown, [
      `${where} ${read.why}; cellsh reads only a regular file of your own (not a link), at most ${MAX_BYTES / 1024} KiB`,
    ]);
  }
  const { parseRawSettings } = await import('../policy/load.js'); // YAML: only when there is a file
  const diags = new Diagnostics();
  const raw = parseRawSettings(read.text, shown, diags, 'withhold');
  const sets: string[] = [];
  for (const [key, located] of Object.entries(raw) as Array<[SettingKey, { value: unknown; at: SourceLoc }]>) {
    const name = userMayKeyOf(key);
    const problem =
      name === undefined || !record.user_may.includes(name)
        ? `your administrator does not let you set this (you may set: ${record.user_may.map(settingKeyOf).join(', ')})`
        : valueProblem(key, located.value, record);
    if (problem) diags.error(shown, located.at, key, problem);
    else sets.push(`${name!}=${compiledValue(key, located.value, record)}`);
  }
  const errors = sortDiagnostics(errorsOf(diags.list));
  if (errors.length === 0) return { sets, messages: [] };
  const more = errors.length - MAX_PROBLEMS;
  return ignored(shown, [
    ...errors.slice(0, MAX_PROBLEMS).map(formatDiagnostic),
    ...(more > 0 ? [`${shown}: ${more} more problems`] : []),
  ]);
}

function ignored(shown: string, problems: readonly string[]): UserSettings {
  return {
    sets: [],
    messages: [...problems, `ignoring ${shown}: your administrator's settings apply; fix the file for your next login`],
  };
}

/** Why a checked value can't be the user's, or undefined (the helper's rules, said in words). */
function valueProblem(key: SettingKey, value: unknown, r: CompiledUser): string | undefined {
  const lower = (want: Limit, admin: number, text: (n: number) => string): string | undefined =>
    admin === 0 || (want !== UNLIMITED && want <= admin)
      ? undefined
      : `at most ${text(admin)}, your administrator's limit`;
  switch (key) {
    case 'shell': {
      // As chsh(1): one of the host's login shells (all under /usr, which the
      // container shares), and one that runs. Only a listed path is looked at
      // on the host: any other could probe what the container hides.
      if (!readShells().includes(value as string)) {
        return "not in /etc/shells (the login shells this host offers); a shell that can't start would lock you out";
      }
      try {
        accessSync(value as string, constants.X_OK);
        return undefined;
      } catch {
        return "not a program you can run; a shell that can't start would lock you out";
      }
    }
    case 'hostname': {
      const problem = hostnameProblem(hostnameFor(value as string, r));
      return problem ? `not a valid hostname (${problem})` : undefined;
    }
    case 'env': {
      const names = new Set([...r.env.map(([n]) => n), ...Object.keys(value as SettingValues['env'])]);
      return names.size > ENV_MAX_VARS
        ? `with your administrator's ${r.env.length} variables that makes ${names.size}; at most ${ENV_MAX_VARS}`
        : undefined;
    }
    case 'network':
      return NETWORK_OPENNESS[value as Network] > NETWORK_OPENNESS[r.network]
        ? `your administrator gives you network: ${r.network}; you may choose only ${NETWORK_MODES.filter(
            (n) => NETWORK_OPENNESS[n] <= NETWORK_OPENNESS[r.network],
          )
            .map((n) => `"${n}"`)
            .join(' or ')}`
        : undefined;
    case 'limits.memory':
      return lower(value as Limit, r.memory, formatSize);
    case 'limits.memory_high':
      return lower(value as Limit, r.memory_high, formatSize);
    case 'limits.pids':
      return lower(value as Limit, r.pids, String);
    case 'limits.cpu':
      return lower(value as Limit, r.cpu, (n) => `${formatCpu(n)} CPUs`);
    case 'limits.swap':
      return r.swap === 'max' || (value !== UNLIMITED && (value as number) <= r.swap)
        ? undefined
        : `at most ${formatSize(r.swap)}, your administrator's limit`;
    case 'limits.io_weight': {
      const w = (v: number | 'default'): number => (v === 'default' || v === 0 ? 100 : v);
      return w(value as number | 'default') > w(r.io_weight)
        ? `at most ${w(r.io_weight)}, your administrator's weight`
        : undefined;
    }
    case 'rlimits.nofile':
    case 'rlimits.nproc':
    case 'rlimits.core': {
      const admin = r[key.slice('rlimits.'.length) as 'nofile' | 'nproc' | 'core'].hard;
      const mine = (value as RlimitValue).hard;
      return admin === 'max' || (mine !== UNLIMITED && mine <= admin)
        ? undefined
        : `the hard limit may be at most ${admin}, your administrator's`;
    }
    default:
      return undefined;
  }
}

/** The login shells /etc/shells lists ([] if it can't be read). Root's file:
 * read by path, as every program that checks a shell does. */
function readShells(): string[] {
  try {
    return readFileSync('/etc/shells', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('/'));
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
    case 'hostname':
      return hostnameFor(value as string, r);
    case 'env':
      return encodeEnv(Object.entries(value as SettingValues['env']));
    case 'limits.swap':
      return value === UNLIMITED ? 'max' : String(value);
    case 'limits.io_weight':
      return String(value === 'default' ? 0 : value);
    case 'limits.memory':
    case 'limits.memory_high':
    case 'limits.pids':
    case 'limits.cpu':
      return String(compiledLimit(value as Limit));
    case 'rlimits.nofile':
    case 'rlimits.nproc':
    case 'rlimits.core': {
      const { soft, hard } = compiledRlimit(value as RlimitValue);
      return `${soft} ${hard}`;
    }
    default:
      return String(value);
  }
}
