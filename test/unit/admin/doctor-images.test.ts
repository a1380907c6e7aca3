// doctor's image findings: overlayfs, images missing from the store, and a
// store range that is someone else's too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkImages, type ImageHost } from '../../../src/admin/doctor-images.js';

const id = 'd'.repeat(64);
const host = (over: Partial<ImageHost> = {}): ImageHost => ({
  filesystems: () => 'nodev\ttmpfs\nnodev\toverlay\n\text4\n',
  storeRange: () => ({ uid: 196608, gid: 196608 }),
  subIds: () => ({ uid: [{ owner: 'alice', start: 100000, count: 65536 }], gid: [] }),
  ids: () => [0, 1000, 65534],
  hasRef: () => true,
  ...over,
});
const users = [
  { name: 'alice', image: { name: 'tools', id } },
  { name: 'bob', image: 'host' as const },
];

test('doctor finds nothing to say of a host that can mount images and a store range of its own', () => {
  assert.deepEqual(checkImages(users, host()), []);
});

test('doctor fails without overlayfs only when some user is given an image', () => {
  const none = host({ filesystems: () => 'nodev\ttmpfs\n' });
  const [f] = checkImages(users, none);
  assert.equal(f!.status, 'fail');
  assert.match(f!.message, /no overlayfs: logins of users given an image fail \(alice\)/);
  assert.deepEqual(checkImages([users[1]!], none), []);
});

test("doctor fails for an image the store lost, and for a store range that is another user's or an account's", () => {
  assert.match(
    checkImages(users, host({ hasRef: () => false }))[0]!.message,
    /alice's image "tools" is not in the image store/,
  );
  const shared = host({ subIds: () => ({ uid: [{ owner: 'carol', start: 200000, count: 65536 }], gid: [] }) });
  assert.match(checkImages(users, shared)[0]!.message, /also subordinate ids of carol/);
  assert.match(checkImages([], host({ ids: () => [196700] }))[0]!.message, /also account ids \(196700\)/);
});

test("doctor fails a root-inside user whose subordinate ids are another user's or an account's", () => {
  const root = { subUid: 300000, subGid: 300000, storeUid: 196608, storeGid: 196608 };
  const dana = { name: 'dana', image: { name: 'tools', id }, root };
  assert.deepEqual(
    checkImages([dana], host({ subIds: () => ({ uid: [{ owner: 'dana', start: 300000, count: 65536 }], gid: [] }) })),
    [],
  );
  const shared = host({
    subIds: () => ({
      uid: [
        { owner: 'dana', start: 300000, count: 65536 },
        { owner: 'erin', start: 330000, count: 65536 },
      ],
      gid: [],
    }),
  });
  assert.match(
    checkImages([dana], shared)[0]!.message,
    /dana's subordinate ids 300000-365535 \(root inside\) are also erin's/,
  );
  assert.match(checkImages([dana], host({ ids: () => [300001] }))[0]!.message, /are also account ids \(300001\)/);
});
