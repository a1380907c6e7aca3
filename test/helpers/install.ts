// The private installation the integration tests run against. test/run.sh
// installs cellsh with install.sh under a root-owned test root and passes its
// location here; nothing touches a real installation.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type Result } from './system.js';
import { packageRoot } from './fixtures.js';
import { logRecordProblem } from '../../src/log.js';

/** Where the private installation's pieces are. */
export interface TestInstall {
  readonly root: string;
  readonly prefix: string;
  readonly libDir: string;
  readonly helper: string;
  readonly launcher: string;
  readonly admin: string;
  readonly group: string;
  readonly cgroupName: string;
  readonly policyFile: string;
  readonly policyDir: string;
  readonly compiledPolicy: string;
  readonly stateDir: string;
  readonly logFile: string;
  /** The persistent writable layers, UID.ext4. */
  readonly layerDir: string;
  /** The C unit-test binary (built by test/run.sh). */
  readonly testUnits: string;
}

/** The private installation, or undefined when the tests run without one. */
export function testInstall(): TestInstall | undefined {
  const root = process.env['CELLSH_TEST_ROOT'];
  const prefix = process.env['CELLSH_TEST_PREFIX'];
  if (!root || !prefix || process.getuid?.() !== 0) return undefined;
  const libDir = join(prefix, 'lib', 'cellsh');
  const layout = JSON.parse(readFileSync(join(libDir, 'layout.json'), 'utf8')) as Record<string, string>;
  return {
    root,
    prefix,
    libDir,
    helper: join(libDir, 'cellsh-helper'),
    launcher: layout['launcher']!,
    admin: join(prefix, 'sbin', 'cellsh-admin'),
    group: layout['group']!,
    cgroupName: layout['cgroupName']!,
    policyFile: layout['policyFile']!,
    policyDir: layout['policyDir']!,
    compiledPolicy: layout['compiledPolicy']!,
    stateDir: layout['stateDir']!,
    logFile: layout['logFile']!,
    layerDir: layout['layerDir']!,
    testUnits: join(packageRoot(), 'build', 'test-units'),
  };
}

/** Why integration tests are skipped, or false when they can run. */
export function skipReason(inst: TestInstall | undefined): string | false {
  if (process.getuid?.() !== 0) return 'integration tests need root (run test/run.sh as root)';
  return inst ? false : 'no private installation: run the suite through test/run.sh';
}

/** Why network: private can't run here (src/helper/nat.h), or false. */
export function natSkipReason(): string | false {
  if (!existsSync('/usr/bin/slirp4netns')) return 'slirp4netns is not installed (test/run.sh installs it)';
  if (!existsSync('/usr/sbin/nft')) return 'nft is not installed (test/run.sh installs nftables)';
  return run('getent', ['passwd', 'cellsh-nat']).status === 0
    ? false
    : 'the cellsh-nat account is missing (install.sh creates it)';
}

/** Write the policy YAML and apply it with the private cellsh-admin. */
export function applyPolicy(inst: TestInstall, yaml: string): Result {
  writeFileSync(inst.policyFile, yaml, { mode: 0o644 });
  return run(inst.admin, ['apply']);
}

/** Apply a policy (the defaults when none is given) or fail the test with its output. */
export function mustApply(inst: TestInstall, yaml = 'defaults: {}\n'): void {
  const r = applyPolicy(inst, yaml);
  if (r.status !== 0) throw new Error(`cellsh-admin apply exited ${r.status}\n${r.err}`);
}

/** The audit log's records (parsed JSON lines). */
export function logRecords(inst: TestInstall): Array<Record<string, unknown>> {
  let text = '';
  try {
    text = readFileSync(inst.logFile, 'utf8');
  } catch {
    return [];
  }
  const records = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  // Every event the helper or cellsh-admin wrote is one the contract describes.
  for (const r of records) {
    const problem = logRecordProblem(r);
    if (problem) throw new Error(`a log record the contract (src/contract) does not describe: ${problem}`);
  }
  return records;
}
