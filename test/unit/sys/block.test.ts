// The disk an I/O limit names, asked of the real kernel: every block device this
// host lists in sysfs, paths that are no block device, device numbers past 8
// bits (made with mknod), and a partition (added to a loop device with BLKPG),
// which stands for its disk.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockDevice } from '../../../src/sys/block.js';
import { waitFor } from '../../helpers/system.js';

const root = process.getuid?.() === 0;
const NEEDS_MKNOD = root ? false : 'needs root: it makes block device nodes (mknod)';
const NEEDS_LOOP = root ? false : 'needs root: it sets up a loop device with a partition';

/** major:minor as sysfs writes it in a "dev" file. */
function numbers(text: string): { major: number; minor: number } {
  const [major, minor] = text.trim().split(':').map(Number);
  return { major: major!, minor: minor! };
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cellsh-t-block-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('every block device of this host names its disk: itself, or for a partition the disk holding it', (t) => {
  let seen = 0;
  for (const name of readdirSync('/sys/class/block')) {
    const node = join('/dev', name);
    if (!existsSync(node)) continue;
    const sys = join('/sys/class/block', name);
    const disk = existsSync(join(sys, 'partition')) ? join(sys, '..') : sys;
    assert.deepEqual(blockDevice(node), numbers(readFileSync(join(disk, 'dev'), 'utf8')), node);
    seen++;
  }
  if (seen === 0) t.skip('this host shows no block device in /dev');
  t.diagnostic(`${seen} block devices`);
});

test('a path that is no block device, or nothing, says so', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), '');
  assert.equal(blockDevice('/dev/null'), '/dev/null is not a block device');
  assert.equal(blockDevice(dir), `${dir} is not a block device`);
  assert.equal(blockDevice(join(dir, 'file')), `${join(dir, 'file')} is not a block device`);
  assert.equal(blockDevice(join(dir, 'sdz')), `${join(dir, 'sdz')} does not exist on this host`);
});

test('device numbers past 8 bits of major and minor are split as the kernel packs them', { skip: NEEDS_MKNOD }, (t) => {
  const dir = tempDir(t);
  // Numbers no driver registers: the node names no device, so no partition is looked up.
  const cases = [
    [4095, 1_048_575],
    [300, 70_000],
    [1, 256],
    [256, 1],
  ] as const;
  for (const [major, minor] of cases) {
    const node = join(dir, `b${major}-${minor}`);
    const r = spawnSync('mknod', [node, 'b', String(major), String(minor)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(blockDevice(node), { major, minor }, `${major}:${minor}`);
  }
});

test('a partition stands for the disk it is on', { skip: NEEDS_LOOP, timeout: 20_000 }, async (t) => {
  const image = join(tempDir(t), 'disk.img');
  writeFileSync(image, '');
  truncateSync(image, 4 << 20);
  const loop = spawnSync('losetup', ['--find', '--show', '--partscan', image], { encoding: 'utf8' });
  if (loop.status !== 0) return t.skip(`no loop device here: losetup: ${(loop.stderr || String(loop.error)).trim()}`);
  const disk = loop.stdout.trim();
  t.after(() => spawnSync('losetup', ['--detach', disk]));
  // BLKPG adds the partition whatever partition tables this kernel can read.
  const add = spawnSync('addpart', [disk, '1', '2048', '4096'], { encoding: 'utf8' });
  if (add.status !== 0)
    return t.skip(`can't add a partition to ${disk}: addpart: ${(add.stderr || String(add.error)).trim()}`);
  const part = `${disk}p1`;
  await waitFor(`${part} in /dev`, () => existsSync(part), 5_000);
  const diskNumbers = numbers(readFileSync(`/sys/class/block/${disk.slice(5)}/dev`, 'utf8'));
  const partNumbers = numbers(readFileSync(`/sys/class/block/${part.slice(5)}/dev`, 'utf8'));
  assert.notDeepEqual(partNumbers, diskNumbers, 'the partition has numbers of its own');
  assert.deepEqual(blockDevice(part), diskNumbers);
  assert.deepEqual(blockDevice(disk), diskNumbers);
});
