// cellsh-admin image import / pull / ls / inspect / rm / gc against the private
// install's store: images in each form they travel in, each layer stored
// once, digests checked, hostile or damaged images refused with nothing kept,
// and a pull from Debian's docker-registry on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { skipReason, testInstall } from '../helpers/install.js';
import { busyboxRoot, dockerArchive, ociArchive, tarOf, writeLayout } from '../helpers/images.js';
import { registrySkipReason, startRegistry } from '../helpers/registry.js';
import { must, run, type Result } from '../helpers/system.js';

const inst = testInstall();
const skip = skipReason(inst) || registrySkipReason();

function admin(...args: string[]): Result {
  return run(inst!.admin, args, { timeoutMs: 300_000 });
}
function mustAdmin(...args: string[]): Result {
  const r = admin(...args);
  assert.equal(r.status, 0, `cellsh-admin ${args.join(' ')}: ${r.err}${r.out}`);
  return r;
}

function storeDir(): string {
  const layout = JSON.parse(readFileSync(join(inst!.libDir, 'layout.json'), 'utf8')) as { imageStore: string };
  return layout.imageStore;
}
function layerDirs(): string[] {
  const dir = join(storeDir(), 'layers');
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.endsWith('.json')) : [];
}
function imageNames(): string[] {
  return (JSON.parse(mustAdmin('image', 'ls', '--json').out) as { name: string }[]).map((i) => i.name);
}

/** A scratch folder, and every image the test made removed afterwards (then gc). */
function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(inst!.root, 'images-'));
  const before = new Set(existsSync(join(storeDir(), 'images')) ? imageNames() : []);
  t.after(() => {
    for (const name of imageNames()) if (!before.has(name)) admin('image', 'rm', name);
    admin('image', 'gc');
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A busybox root, then a layer deleting one file (a whiteout) and replacing a folder (opaque). */
function twoLayerLayout(dir: string): ReturnType<typeof writeLayout> {
  const base = busyboxRoot(join(dir, 'base'));
  must('mkdir', ['-p', join(base, 'srv/old')]);
  writeFileSync(join(base, 'srv/old/file'), 'old\n');
  writeFileSync(join(base, 'etc/gone'), 'to be deleted\n');
  const top = join(dir, 'top');
  must('mkdir', ['-p', join(top, 'etc'), join(top, 'srv')]);
  writeFileSync(join(top, 'etc/.wh.gone'), '');
  writeFileSync(join(top, 'srv/.wh..wh..opq'), '');
  writeFileSync(join(top, 'srv/new'), 'new\n');
  return writeLayout(join(dir, 'layout'), [
    { tag: 'two', layers: [tarOf(base), tarOf(top)], env: ['PATH=/bin', 'IMAGE=two'], workingDir: '/srv' },
  ]);
}

test('an OCI layout, its OCI archive and its docker save archive import as one image whose layers are stored once', {
  skip,
}, (t) => {
  const dir = scratch(t);
  const written = twoLayerLayout(dir);
  const layersBefore = layerDirs().length;
  const r = mustAdmin('image', 'import', join(dir, 'layout'), '--name', 't-layout');
  assert.match(r.out, /an OCI image: 2 layers/);
  assert.match(r.out, /imported t-layout \([0-9a-f]{12}, 2 layers/);
  assert.equal(layerDirs().length, layersBefore + 2);
  const archive = ociArchive(join(dir, 'layout'), 'two', join(dir, 'two.oci.tar'));
  const r2 = mustAdmin('image', 'import', archive, '--name', 't-archive');
  assert.match(r2.out, /layer 1 of 2: already in the store/);
  assert.match(r2.out, /layer 2 of 2: already in the store/);
  const saved = dockerArchive(join(dir, 'layout'), 'two', join(dir, 'two.docker.tar'), 'example.org/team/two:1');
  const r3 = mustAdmin('image', 'import', saved);
  assert.match(r3.out, /a docker save archive: 2 layers/);
  assert.match(r3.out, /imported two-1 /, 'named from its repo tag');
  assert.equal(layerDirs().length, layersBefore + 2, 'three images, the same two layers');

  const img = JSON.parse(mustAdmin('image', 'inspect', 't-layout').out) as {
    manifestDigest: string;
    config: { env: string[]; workingDir: string };
    layers: { diffId: string; chainId: string; bytes: number }[];
  };
  assert.equal(img.manifestDigest, written['two']!.manifest.digest);
  assert.deepEqual(img.config.env, ['PATH=/bin', 'IMAGE=two']);
  assert.equal(img.config.workingDir, '/srv');
  assert.deepEqual(
    img.layers.map((l) => l.diffId),
    written['two']!.diffIds,
  );
  const top = join(storeDir(), 'layers', img.layers[1]!.chainId.slice(7));
  const gone = lstatSync(join(top, 'etc/gone'));
  assert.ok(gone.isCharacterDevice() && gone.rdev === 0, 'the whiteout is an overlay whiteout');
  assert.ok(!existsSync(join(top, 'srv/.wh..wh..opq')));
  const xattrs = must('/usr/bin/python3', [
    '-c',
    'import os,sys; print(sorted(os.listxattr(sys.argv[1])))',
    join(top, 'srv'),
  ]).out;
  assert.match(xattrs, /'trusted\.overlay\.opaque'/);
  const ls = mustAdmin('image', 'ls').out;
  assert.match(ls, /^NAME\s+DIGEST\s+SIZE\s+LAYERS\s+IMPORTED\s+USERS\s+FROM$/m);
  assert.match(ls, /^t-archive\s+[0-9a-f]{12}\s+[\d.]+ MiB\s+2\s+\S+ \S+\s+-\s/m);
});

test('a plain root file system imports from a folder, a tar and a gzipped tar, as one layer', { skip }, (t) => {
  const dir = scratch(t);
  const root = busyboxRoot(join(dir, 'root'));
  const tar = tarOf(root);
  writeFileSync(join(dir, 'root.tar'), tar);
  writeFileSync(join(dir, 'root.tar.gz'), gzipSync(tar));
  mustAdmin('image', 'import', join(dir, 'root.tar'), '--name', 't-rootfs-tar');
  mustAdmin('image', 'import', join(dir, 'root.tar.gz'), '--name', 't-rootfs-gz');
  const r = mustAdmin('image', 'import', root, '--name', 't-rootfs-dir');
  assert.match(r.out, /as a root file system/);
  const show = (n: string) =>
    JSON.parse(mustAdmin('image', 'inspect', n).out) as { format: string; layers: { chainId: string }[] };
  const [a, b, c] = ['t-rootfs-tar', 't-rootfs-gz', 't-rootfs-dir'].map(show);
  assert.equal(a!.format, 'rootfs');
  assert.equal(a!.layers.length, 1);
  assert.equal(a!.layers[0]!.chainId, b!.layers[0]!.chainId, 'the same tar, gzipped or not, is the same layer');
  const layer = join(storeDir(), 'layers', c!.layers[0]!.chainId.slice(7));
  assert.equal(readFileSync(join(layer, 'etc/hello.txt'), 'utf8'), 'hello from a cellsh test image\n');
  const st = lstatSync(join(layer, 'bin/busybox'));
  const range = readFileSync('/etc/subuid', 'utf8').match(/^cellsh-store:(\d+):65536$/m);
  assert.ok(range, 'the store range is recorded in /etc/subuid');
  assert.equal(st.uid, Number(range[1]), "root's files in the image are the store range's first id on the host");
});

test('a blob that does not match its digest is refused, and nothing of the image is kept', { skip }, (t) => {
  const dir = scratch(t);
  const written = twoLayerLayout(dir);
  const blob = join(dir, 'layout', 'blobs', 'sha256', written['two']!.layers[1]!.digest.slice(7));
  const bytes = readFileSync(blob);
  bytes[bytes.length - 10]! ^= 0xff;
  writeFileSync(blob, bytes);
  const layersBefore = layerDirs();
  const r = admin('image', 'import', join(dir, 'layout'), '--name', 't-corrupt');
  assert.notEqual(r.status, 0);
  assert.match(r.err, /layer 2 of 2|does not match|unexpected end|incorrect/);
  assert.ok(!r.err.includes('    at '), 'no stack trace');
  assert.ok(!imageNames().includes('t-corrupt'));
  const added = layerDirs().filter((l) => !layersBefore.includes(l));
  assert.ok(added.length <= 1, 'at most the first, sound layer is kept (for gc)');
  assert.deepEqual(readdirSync(join(storeDir(), 'tmp')), [], 'no half-unpacked layer is left');
});

test('an image with a hostile layer is refused whole, saying which entry and why', { skip }, (t) => {
  const dir = scratch(t);
  const corpus = join(dir, 'corpus');
  must('/usr/bin/python3', [
    join(__dirname, '..', '..', '..', 'test', 'helpers', 'hostile-tars.py'),
    corpus,
    'hardlink-absolute',
  ]);
  const base = busyboxRoot(join(dir, 'base'));
  writeLayout(join(dir, 'layout'), [
    { tag: 'bad', layers: [tarOf(base), readFileSync(join(corpus, 'hardlink-absolute.tar'))] },
  ]);
  const r = admin('image', 'import', join(dir, 'layout'), '--name', 't-hostile');
  assert.equal(r.status, 78, r.err);
  assert.match(r.err, /refused: entry "h": a hard link to etc\/passwd, which is in no layer/);
  assert.ok(!imageNames().includes('t-hostile'));
});

test('rm removes an image and the layers only it used; gc frees layers no image uses', { skip }, (t) => {
  const dir = scratch(t);
  twoLayerLayout(dir);
  const root = busyboxRoot(join(dir, 'root'));
  const before = layerDirs().length;
  mustAdmin('image', 'import', join(dir, 'layout'), '--name', 't-rm-a');
  mustAdmin('image', 'import', join(dir, 'layout'), '--name', 't-rm-b');
  mustAdmin('image', 'import', root, '--name', 't-rm-c');
  assert.equal(layerDirs().length, before + 3);
  assert.match(mustAdmin('image', 'rm', 't-rm-a').out, /removed t-rm-a; freed 0 layers/);
  assert.match(mustAdmin('image', 'rm', 't-rm-b').out, /removed t-rm-b; freed 2 layers/);
  assert.equal(layerDirs().length, before + 1);
  const missing = admin('image', 'rm', 't-rm-a');
  assert.equal(missing.status, 64);
  assert.match(missing.err, /no image "t-rm-a" in the store/);
  mkdtempSync(join(storeDir(), 'tmp', 'layer-left-'));
  assert.match(mustAdmin('image', 'gc').out, /freed 0 layers/);
  assert.deepEqual(readdirSync(join(storeDir(), 'tmp')), [], 'what a failed import left is removed');
});

test('bad input to image import is refused with one line and changes nothing', { skip }, (t) => {
  const dir = scratch(t);
  const root = busyboxRoot(join(dir, 'root'));
  const names = imageNames();
  const layers = layerDirs();
  for (const [args, status, why] of [
    [['import', root, '--name', 'Bad/Name'], 64, /not a valid image name/],
    [['import', root, '--name', 'host'], 64, /not a valid image name/],
    [['import', join(dir, 'nothing-here')], 64, /does not exist/],
    [['import', root, '--max-size', 'lots'], 64, /--max-size needs a size/],
    [['frobnicate'], 64, /unknown command "frobnicate"/],
  ] as const) {
    const r = admin('image', ...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, why);
    assert.ok(r.err.trim().split('\n').length <= 2, 'one or two lines');
  }
  // A link on the way to what is imported is not followed: it could lead root anywhere.
  symlinkSync(root, join(dir, 'link'));
  const linked = admin('image', 'import', join(dir, 'link'), '--name', 't-link');
  assert.equal(linked.status, 64, linked.err);
  assert.match(linked.err, /link is a symbolic link: cellsh follows none on the way to what it imports/);
  // Inside a layout too: a folder that is a link is not followed.
  const linkedLayout = join(dir, 'linked-layout');
  twoLayerLayout(join(dir, 'l2'));
  must('cp', ['-a', join(dir, 'l2', 'layout'), linkedLayout]);
  must('mv', [join(linkedLayout, 'blobs'), join(dir, 'blobs-elsewhere')]);
  symlinkSync(join(dir, 'blobs-elsewhere'), join(linkedLayout, 'blobs'));
  const inner = admin('image', 'import', linkedLayout, '--name', 't-inner-link');
  assert.equal(inner.status, 78, inner.err);
  assert.match(inner.err, /a part of its path is a symbolic link/);
  // What an image says reaches the terminal escaped.
  writeLayout(join(dir, 'layout'), [
    { tag: 'a\x1b[31mred', layers: [tarOf(root)] },
    { tag: 'b', layers: [tarOf(root)] },
  ]);
  const which = admin('image', 'import', join(dir, 'layout'));
  assert.equal(which.status, 64);
  assert.match(which.err, /a\\u001b\[31mred/);
  assert.ok(!which.err.includes('\x1b'), 'no raw escape reaches the terminal');
  assert.deepEqual(imageNames(), names);
  assert.deepEqual(layerDirs(), layers);
  const user = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', inst!.admin, 'image', 'ls']);
  assert.equal(user.status, 77, 'not root');
});

test('a pull from a registry on 127.0.0.1 checks every blob, and a second pull fetches no layer again', {
  skip,
}, async (t) => {
  const dir = scratch(t);
  twoLayerLayout(dir);
  const reg = await startRegistry(t, join(dir, 'registry'), { data: join(dir, 'registry', 'data') });
  must('/usr/bin/skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    `oci:${join(dir, 'layout')}:two`,
    `docker://${reg.host}/team/two:1`,
  ]);
  const r = mustAdmin('image', 'pull', '--insecure', `${reg.host}/team/two:1`);
  assert.match(r.out, /2 layers/);
  assert.match(r.out, /imported two-1 /);
  const again = mustAdmin('image', 'pull', '--insecure', `${reg.host}/team/two:1`, '--name', 't-pulled-again');
  assert.match(again.out, /layer 1 of 2: already in the store/);
  assert.match(again.out, /layer 2 of 2: already in the store/);
  const missing = admin('image', 'pull', '--insecure', `${reg.host}/team/nothing:1`);
  assert.notEqual(missing.status, 0);
  assert.match(missing.err, /no such image or tag/);
});
