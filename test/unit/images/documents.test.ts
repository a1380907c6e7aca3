// The image documents parsed from untrusted bytes (oci.ts), digests and
// ChainIDs (digest.ts), names made from references, and the store's id range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CellshError } from '../../../src/errors.js';
import { chainIds, checkDigest, sha256 } from '../../../src/images/digest.js';
import { nameFromRef } from '../../../src/images/import.js';
import {
  archivePath,
  isIndex,
  layerCompression,
  parseConfig,
  parseDockerManifest,
  parseManifest,
  pickPlatform,
} from '../../../src/images/oci.js';
import { checkImageName } from '../../../src/images/store.js';
import { freeRangeStart, parseSubIds } from '../../../src/images/store-range.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

test('a ChainID is the first DiffID, then the digest of "below above"', () => {
  assert.deepEqual(chainIds([]), []);
  const [c1, c2] = chainIds([D1, D2]);
  assert.equal(c1, D1);
  assert.equal(c2, sha256(`${D1} ${D2}`));
});

test('only sha256 digests of 64 lower-case hex digits are accepted', () => {
  assert.equal(checkDigest(D1, 'x'), D1);
  for (const bad of [
    `sha512:${'1'.repeat(128)}`,
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'1'.repeat(63)}`,
    42,
    undefined,
  ])
    assert.throws(() => checkDigest(bad, 'the blob'), CellshError);
});

test('a manifest gives its config and layers; schema 1 and bad descriptors are refused', () => {
  const m = parseManifest(
    {
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D1, size: 10 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D2, size: 20 }],
    },
    'm',
  );
  assert.equal(m.config.digest, D1);
  assert.deepEqual(
    m.layers.map((l) => [l.digest, l.size]),
    [[D2, 20]],
  );
  assert.throws(() => parseManifest({ schemaVersion: 1, fsLayers: [] }, 'm'), /schema 1/);
  assert.throws(() => parseManifest({ config: { digest: D1, size: -1 }, layers: [] }, 'm'), /no valid size/);
  assert.throws(
    () => parseManifest({ config: { digest: D1, size: 1 }, layers: Array(101).fill({ digest: D2, size: 1 }) }, 'm'),
    /more than 100 layers/,
  );
});

test('a layer media type says its compression; anything that is not a tar layer is refused', () => {
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+gzip', 'l'), 'gzip');
  assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip', 'l'), 'gzip');
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar', 'l'), 'none');
  assert.equal(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd', 'l'), 'zstd');
  assert.throws(() => layerCompression('application/vnd.cncf.helm.chart.content.v1.tar+gzip', 'l'), /not a tar layer/);
});

test("an index is told from a manifest, and this machine's platform is picked or the ones there are listed", () => {
  assert.ok(isIndex({ manifests: [] }, ''));
  assert.ok(!isIndex({ layers: [], config: {} }, ''));
  const arm = { mediaType: '', digest: D1, size: 1, platform: { os: 'linux', architecture: 'arm64' } };
  const s390 = { mediaType: '', digest: D2, size: 1, platform: { os: 'linux', architecture: 's390x' } };
  assert.throws(() => pickPlatform([arm, s390], 'the image'), /it has: linux\/arm64, linux\/s390x/);
});

test('a config gives Env, WorkingDir, Entrypoint, Cmd, User and the DiffIDs, checked', () => {
  const { config, diffIds } = parseConfig(
    {
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['A=1'], WorkingDir: '/w', Cmd: ['/bin/sh'], User: '1000' },
      rootfs: { type: 'layers', diff_ids: [D1] },
    },
    'c',
  );
  assert.deepEqual(config, {
    env: ['A=1'],
    workingDir: '/w',
    entrypoint: [],
    cmd: ['/bin/sh'],
    user: '1000',
    os: 'linux',
    architecture: 'amd64',
  });
  assert.deepEqual(diffIds, [D1]);
  assert.throws(() => parseConfig({ rootfs: { diff_ids: ['nope'] } }, 'c'), /no valid sha256 digest/);
  assert.throws(() => parseConfig({ config: { Env: 'A=1' }, rootfs: { diff_ids: [] } }, 'c'), /not a list of strings/);
});

test("docker save's manifest.json paths must be plain relative paths inside the archive", () => {
  const [e] = parseDockerManifest([{ Config: 'abc.json', RepoTags: ['bb:1'], Layers: ['x/layer.tar'] }], 'm');
  assert.deepEqual(e, { config: 'abc.json', repoTags: ['bb:1'], layers: ['x/layer.tar'] });
  for (const bad of ['../etc/passwd', '/etc/passwd', 'a//b', 'a/../b', 'a b', ''])
    assert.throws(() => archivePath(bad, 'p'), /not a plain path/, bad);
});

test('a name is made from a reference: its last part, and the tag unless latest', () => {
  assert.equal(nameFromRef('docker.io/library/debian:12'), 'debian-12');
  assert.equal(nameFromRef('127.0.0.1:5000/test/busybox'), 'busybox');
  assert.equal(nameFromRef('busybox:latest'), 'busybox');
  assert.equal(nameFromRef(`busybox@${D1}`), 'busybox');
  assert.equal(nameFromRef('Host'), undefined, '"host" names the host itself');
});

test('image names are plain lower-case words, and never "host"', () => {
  assert.equal(checkImageName('debian-12'), 'debian-12');
  for (const bad of ['host', 'Debian', '-x', '../x', 'a/b', '', 'x'.repeat(65)])
    assert.throws(() => checkImageName(bad), /not a valid image name/, bad);
});

test("the store's range starts above every subordinate range and id in use, on a 65536 boundary", () => {
  const entries = parseSubIds('alice:100000:65536\n# comment\nbob:165536:65536\nbad line\n');
  assert.deepEqual(
    entries.map((e) => e.owner),
    ['alice', 'bob'],
  );
  assert.equal(freeRangeStart(entries, [1000, 65534]), 262144);
  assert.equal(freeRangeStart([], [1000]), 131072, 'above SUB_UID_MIN (100000)');
  assert.equal(freeRangeStart([], [300000]), 327680, 'above a real uid');
  assert.throws(() => freeRangeStart([{ owner: 'x', start: 0xfffe0000, count: 65536 }], []), /no free block/);
});
