// doctor's findings on writable layers: which way this host keeps them, what
// a persistent layer needs (loop devices, e2fsprogs, a root-only folder), a
// temporary layer bigger than the memory it lives in, and layers left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLayers, type LayerHost } from '../../../src/admin/doctor-layers.js';

const DIR = '/var/lib/cellsh/upper';
const host = (over: Partial<LayerHost> = {}): LayerHost => ({
  filesystems: () => 'nodev\ttmpfs\nnodev\toverlay\n\text4\n',
  loopControl: () => true,
  missingTools: () => [],
  layerDir: () => ({ uid: 0, mode: 0o700 }),
  layerFiles: () => [{ uid: 1001, bytes: 5 * 2 ** 20 }],
  ...over,
});
const image = { name: 'tools', id: 'd'.repeat(64) };
const alice = {
  name: 'alice',
  uid: 1001,
  image,
  layer: { mode: 'persistent', bytes: 2 ** 30 },
  memory: 2 ** 31,
} as const;
const bob = { name: 'bob', uid: 1002, image, layer: { mode: 'temporary', bytes: 0 }, memory: 2 ** 31 } as const;
const carol = {
  name: 'carol',
  uid: 1003,
  image: 'host',
  layer: { mode: 'persistent', bytes: 2 ** 30 },
  memory: 0,
} as const;

test('doctor says how this host keeps each kind of writable layer, and nothing more when it can', () => {
  const findings = checkLayers([alice, bob, carol], DIR, host());
  assert.equal(findings.length, 1, JSON.stringify(findings));
  assert.equal(findings[0]!.status, 'ok');
  assert.match(
    findings[0]!.message,
    /persist: true keeps a writable layer in an ext4 file per user in \/var\/lib\/cellsh\/upper, on a loop device \(alice\)/,
  );
  assert.match(findings[0]!.message, /persist: false gives a tmpfs sized by limits.disk, within limits.memory \(bob\)/);
  assert.deepEqual(checkLayers([carol], DIR, host({ layerFiles: () => [] })), [], 'the host image has no layer');
});

test('doctor fails a host where persistent layers would be refused: no loop devices, no e2fsprogs, an open folder', () => {
  const fails = (h: LayerHost): string[] =>
    checkLayers([alice], DIR, h)
      .filter((f) => f.status === 'fail')
      .map((f) => f.message);
  assert.match(
    fails(host({ loopControl: () => false }))[0]!,
    /\/dev\/loop-control is missing: logins of users with persist: true are refused \(alice\)/,
  );
  assert.match(fails(host({ missingTools: () => ['/sbin/resize2fs'] }))[0]!, /\/sbin\/resize2fs missing/);
  assert.match(fails(host({ layerDir: () => ({ uid: 0, mode: 0o755 }) }))[0]!, /is not a folder only root can open/);
  assert.match(fails(host({ layerDir: () => ({ uid: 1001, mode: 0o700 }) }))[0]!, /is not a folder only root can open/);
  assert.deepEqual(fails(host({ loopControl: () => false })).length, 1);
  assert.deepEqual(
    checkLayers([bob], DIR, host({ loopControl: () => false, layerFiles: () => [] })).filter(
      (f) => f.status === 'fail',
    ),
    [],
    'a temporary layer needs none of it',
  );
});

test('doctor warns of a temporary layer bigger than its memory, and of layers no policy keeps', () => {
  const big = { ...bob, layer: { mode: 'temporary', bytes: 2 ** 32 } } as const;
  const warn = checkLayers([big], DIR, host({ layerFiles: () => [] })).find((f) => f.status === 'warn');
  assert.match(warn!.message, /bob's limits.disk \(4G\) is more than limits.memory \(2G\)/);
  const left = checkLayers([bob], DIR, host()).find((f) => f.status === 'warn');
  assert.match(left!.message, /writable layers no policy keeps now take 5M \(uid 1001\)/);
  assert.equal(checkLayers([alice], DIR, host()).filter((f) => f.status === 'warn').length, 0, "alice's layer is kept");
});
