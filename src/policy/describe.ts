// A compiled record in the admin's words, field by field: what `diff`
// compares between the applied policy and the edited files, and how it
// prints each side ("4G", "1.5 CPUs", "dev (950)").
import { settingKeyOf, type CompiledRlimit, type CompiledUser } from './compiled.js';
import { FIELDS } from './schema.js';
import { formatCpu, formatSize } from './sizes.js';

/** Each field of a record as text, keyed by the policy key it comes from. */
export type Described = Readonly<Record<string, string>>;

const bytes = (n: number, zero = 'unlimited'): string => (n === 0 ? zero : formatSize(n));
const rlimit = (r: CompiledRlimit, one: (n: number) => string): string => {
  const v = (x: number | 'max'): string => (x === 'max' ? 'unlimited' : one(x));
  return r.soft === r.hard ? v(r.soft) : `{soft: ${v(r.soft)}, hard: ${v(r.hard)}}`;
};

/** Describe a record; `groupName` names gids (undefined: just the number). */
export function describeCompiled(u: CompiledUser, groupName: (gid: number) => string | undefined): Described {
  const gid = (g: number): string => (groupName(g) === undefined ? String(g) : `${groupName(g)} (${g})`);
  return {
    'image': u.image === 'host' ? 'host' : `${u.image.name} (${u.image.id.slice(0, 12)})`,
    'uid': String(u.uid),
    'group': `${u.group} (${u.gid})`,
    'groups': u.groups.map(gid).join(', '),
    'home': u.home,
    'shell': u.shell,
    'hostname': u.hostname,
    'network': u.network,
    'persist': String(u.layer.mode === 'persistent'),
    'root': u.root === 'none' ? 'false' : `true (ids ${u.root.subUid}-${u.root.subUid + 65535})`,
    'limits.disk': bytes(u.layer.bytes),
    'limits.memory': bytes(u.memory),
    'limits.memory_high': bytes(u.memory_high),
    'limits.swap': u.swap === 'max' ? 'unlimited' : bytes(u.swap, '0'),
    'limits.pids': u.pids === 0 ? 'unlimited' : String(u.pids),
    'limits.cpu': u.cpu === 0 ? 'unlimited' : formatCpu(u.cpu),
    'limits.io_weight': u.io_weight === 0 ? 'default' : String(u.io_weight),
    'limits.io':
      u.io.length === 0
        ? '[]'
        : u.io
            .map((d) => {
              const parts = [
                ['read_bps', d.rbps, formatSize],
                ['write_bps', d.wbps, formatSize],
                ['read_iops', d.riops, String],
                ['write_iops', d.wiops, String],
              ] as const;
              return `${d.major}:${d.minor}${parts
                .filter(([, v]) => v > 0)
                .map(([k, v, f]) => ` ${k} ${f(v)}`)
                .join('')}`;
            })
            .join('; '),
    'rlimits.nofile': rlimit(u.nofile, String),
    'rlimits.nproc': rlimit(u.nproc, String),
    'rlimits.core': rlimit(u.core, formatSize),
    'env': FIELDS.env.format(Object.fromEntries(u.env)),
    'restart': u.restart,
    'user_may_set': `[${u.user_may.map(settingKeyOf).join(', ')}]`,
    'seccomp': u.seccomp,
    'nested_userns': String(u.nested_userns),
    'publish.udp': FIELDS['publish.udp'].format(
      u.udp_ports[0] === 0 ? 'none' : { lo: u.udp_ports[0], hi: u.udp_ports[1] },
    ),
  };
}

/** The fields that differ between two descriptions: key, before, after. */
export function changedFields(
  before: Described,
  after: Described,
): Array<{ key: string; before: string; after: string }> {
  return Object.keys(after)
    .filter((k) => before[k] !== after[k])
    .map((k) => ({ key: k, before: before[k] ?? '', after: after[k]! }));
}
