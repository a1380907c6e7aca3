// The policies the limits scenario (test/harness/limits-scenario.sh) applies,
// written with the yaml library instead of pasted together in the shell, so a
// user name or a device path is always written as YAML reads it. It runs where
// the scenario runs, on this host or in the cgroup v2 VM, where Node takes
// seconds to start under emulation: one run writes every policy.
//
//   node dist/test/harness/scenario-policy.js DIR USER_A USER_B [IO_DEVICE]
//
// DIR/limits.yaml: tight limits for A (a write bandwidth limit on IO_DEVICE when
// one is given), roomy ones for B. DIR/live.yaml: the change made while A's
// container runs (memory up, pids down, cpu, memory_high and the disk limit
// dropped). DIR/weight.yaml: live.yaml with a disk weight for B.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

const USAGE = 'usage: scenario-policy.js DIR USER_A USER_B [IO_DEVICE]';

function main(argv: readonly string[]): void {
  const [dir, a, b, device] = argv;
  if (!dir || !a || !b || argv.length > 4) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(64);
  }
  const rlimits = { nofile: { soft: 512, hard: 1024 }, nproc: { soft: 2000, hard: 3000 }, core: 0 };
  const roomy = { memory: '1G', pids: 200 };
  const first = {
    users: {
      [a]: {
        limits: {
          memory: '64M',
          memory_high: '56M',
          pids: 40,
          cpu: 0.5,
          ...(device ? { io: [{ device, write_bps: '2M' }] } : {}),
          io_weight: 'default',
        },
        rlimits,
      },
      [b]: { limits: roomy },
    },
  };
  const live = {
    users: {
      [a]: { limits: { memory: '96M', pids: 30, cpu: 'unlimited' }, rlimits },
      [b]: { limits: roomy },
    },
  };
  const weight = { users: { ...live.users, [b]: { limits: { ...roomy, io_weight: 50 } } } };
  for (const [name, policy] of [
    ['limits.yaml', first],
    ['live.yaml', live],
    ['weight.yaml', weight],
  ] as const) {
    writeFileSync(join(dir, name), stringify(policy, { aliasDuplicateObjects: false }), { mode: 0o644 });
  }
}

main(process.argv.slice(2));
