// `cellsh-admin image pull`'s client (src/images/registry.ts) against a real
// registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1, with a
// tiny image built by hand as an OCI layout and pushed with skopeo. Each test
// starts the registries it needs (plain, basic auth, bearer tokens, TLS, a
// corrupt copy) on the one pushed storage folder or a copy of it.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CellshError } from '../../src/errors.js';
import { parseReference } from '../../src/images/reference.js';
import { hostPlatform, pullImage, type PullOptions } from '../../src/images/registry.js';
import {
  buildLayout,
  DirSink,
  digestOf,
  makeCa,
  push,
  registrySkipReason,
  startBlobServer,
  startRegistry,
  startTokenServer,
  storedBlob,
  type TestImages,
  type TestRegistry,
} from '../helpers/registry.js';
import { must } from '../helpers/system.js';

const skip = registrySkipReason();
const cleanups: (() => void)[] = [];
let dir: string;
/** The storage folder everything is pushed to once. */
let data: string;
let images: TestImages;
/** A plain-http registry on data, without auth. */
let plain: TestRegistry;

before(async () => {
  if (skip) return;
  dir = mkdtempSync('/tmp/cellsh-t-registry-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  data = join(dir, 'data');
  images = buildLayout(dir);
  plain = await startRegistry({ after: (fn) => cleanups.push(fn) }, join(dir, 'plain'), { data });
  push(images, 'single', `${plain.host}/test/bb:1`);
  push(images, 'multi', `${plain.host}/test/bb:multi`);
});

after(() => {
  for (const fn of cleanups.reverse()) fn();
});

/** A sink in a fresh folder of its own. */
function newSink(): DirSink {
  return new DirSink(mkdtempSync(join(dir, 'sink-')));
}

/** Pull "HOST/REPO" from a registry. */
function pull(reg: TestRegistry, name: string, opts: Partial<PullOptions> = {}) {
  return pullImage(parseReference(`${reg.host}/${name}`), { sink: newSink(), insecure: true, ...opts });
}

/** Assert that p fails with a CellshError whose code, message and hint match. */
async function refuses(p: Promise<unknown>, code: string, message: RegExp, hint?: RegExp): Promise<CellshError> {
  let caught: unknown;
  await p.catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof CellshError, `expected a CellshError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  if (hint) assert.match(caught.hint ?? '', hint);
  return caught;
}

const blobPath = (digest: string) => `/v2/test/bb/blobs/${digest}`;

test('image references: docker-style defaults, and malformed ones refused as usage errors', () => {
  const hub = parseReference('busybox');
  assert.deepEqual(hub, {
    registry: 'registry-1.docker.io',
    repository: 'library/busybox',
    tag: 'latest',
    text: 'busybox',
  });
  assert.equal(parseReference('docker.io/ubuntu:22.04').repository, 'library/ubuntu');
  assert.equal(parseReference('team/tool:1').repository, 'team/tool');
  const local = parseReference('localhost/x/y');
  assert.equal(local.registry, 'localhost');
  const port = parseReference('127.0.0.1:5000/test/bb');
  assert.deepEqual([port.registry, port.repository, port.tag], ['127.0.0.1:5000', 'test/bb', 'latest']);
  const pinned = parseReference(`ghcr.io/o/t@sha256:${'a'.repeat(64)}`);
  assert.deepEqual([pinned.registry, pinned.tag, pinned.digest], ['ghcr.io', undefined, `sha256:${'a'.repeat(64)}`]);
  for (const bad of ['', 'Busybox', 'busybox:', 'busybox@sha256:abc', 'a//b', '-x', 'x:-1', 'bad_host.example/x']) {
    assert.throws(
      () => parseReference(bad),
      (err: unknown) =>
        err instanceof CellshError && err.exitCode === 64 && /is not an image reference/.test(err.message),
      bad,
    );
  }
});

test('image pull: an anonymous pull by tag fetches the manifest, the config and each layer once, with digests that match', {
  skip,
}, async () => {
  const { amd64, layers } = images;
  const paths = ['/v2/test/bb/manifests/1', ...[amd64.config, ...layers].map((b) => blobPath(b.digest))];
  const gets = () => paths.map((p) => plain.gets(p));
  const before = gets();
  const sink = newSink();
  const pulled = await pull(plain, 'test/bb:1', { sink });
  assert.equal(pulled.manifestDigest, amd64.manifest.digest);
  assert.equal(digestOf(pulled.manifest), amd64.manifest.digest);
  assert.equal(digestOf(pulled.config), amd64.config.digest);
  assert.equal(pulled.indexDigest, undefined);
  assert.deepEqual(sink.puts, [amd64.config.digest, ...layers.map((l) => l.digest)]);
  for (const digest of sink.puts) assert.equal(digestOf(readFileSync(sink.path(digest))), digest);
  assert.deepEqual(
    gets().map((n, i) => n - before[i]!),
    [1, 1, 1, 1],
    'one GET for the manifest, the config and each layer',
  );
});

test('image pull: a pull by digest of a multi-arch index takes the linux/amd64 image, or the platform asked for', {
  skip,
}, async (t) => {
  const ref = `test/bb@${images.index.digest}`;
  const arm = await pull(plain, ref, { platform: { os: 'linux', architecture: 'arm64' } });
  assert.equal(arm.manifestDigest, images.arm64.manifest.digest);
  assert.equal(arm.indexDigest, images.index.digest);
  assert.equal(JSON.parse(arm.config.toString()).architecture, 'arm64');
  await refuses(
    pull(plain, ref, { platform: { os: 'linux', architecture: 's390x' } }),
    'no-platform',
    /^.*\/test\/bb@sha256:[0-9a-f]{64} has no image for linux\/s390x \(it has: linux\/amd64, linux\/arm64\/v8\)$/,
  );
  if (hostPlatform().architecture !== 'amd64') return t.skip(`this host is ${hostPlatform().architecture}, not amd64`);
  const host = await pull(plain, ref);
  assert.equal(host.manifestDigest, images.amd64.manifest.digest);
  assert.equal(JSON.parse(host.config.toString()).architecture, 'amd64');
});

test('image pull: a blob the sink already has is not downloaded again', { skip }, async () => {
  const [first, second] = images.layers;
  const sink = newSink();
  writeFileSync(sink.path(first!.digest), readFileSync(join(images.layout, 'blobs/sha256', first!.digest.slice(7))));
  const before = [first, second].map((l) => plain.gets(blobPath(l!.digest)));
  await pull(plain, 'test/bb:1', { sink });
  assert.deepEqual(sink.puts, [images.amd64.config.digest, second!.digest]);
  assert.equal(plain.gets(blobPath(first!.digest)), before[0], 'the layer the sink has was not fetched');
  assert.equal(plain.gets(blobPath(second!.digest)), before[1]! + 1);

  // A second pull into the same sink fetches only the manifest and the config (returned to the caller).
  sink.puts.length = 0;
  await pull(plain, 'test/bb:1', { sink });
  assert.deepEqual(sink.puts, []);
  assert.equal(plain.gets(blobPath(second!.digest)), before[1]! + 1);
});

/** A registry on the pushed storage that wants alice's password (htpasswd -B). */
async function basicAuthRegistry(t: TestContext, name: string, redirect?: string): Promise<TestRegistry> {
  const htpasswd = join(dir, `${name}.htpasswd`);
  writeFileSync(htpasswd, must('htpasswd', ['-Bbn', 'alice', 'secret']).out);
  return startRegistry(t, join(dir, name), { data, htpasswd, ...(redirect ? { redirect } : {}) });
}

test('image pull: a registry with basic auth refuses a pull without credentials, naming them, and serves one with them', {
  skip,
}, async (t) => {
  const reg = await basicAuthRegistry(t, 'basic');
  await refuses(
    pull(reg, 'test/bb:1'),
    'registry-denied',
    /^127\.0\.0\.1:\d+ wants credentials for 127\.0\.0\.1:\d+\/test\/bb:1 \(UNAUTHORIZED/,
    /--username and --password-stdin/,
  );
  await refuses(
    pull(reg, 'test/bb:1', { auth: { username: 'alice', password: 'wrong' } }),
    'registry-denied',
    /refused user "alice" for 127\.0\.0\.1:\d+\/test\/bb:1/,
    /check the password \(--username and --password-stdin\)/,
  );
  const pulled = await pull(reg, 'test/bb:1', { auth: { username: 'alice', password: 'secret' } });
  assert.equal(pulled.manifestDigest, images.amd64.manifest.digest);
});

test('image pull: blobs redirected to storage on another host are fetched there, without the Authorization', {
  skip,
}, async (t) => {
  const storage = await startBlobServer(t, data);
  const reg = await basicAuthRegistry(t, 'redirect', storage.origin);
  const sink = newSink();
  await pull(reg, 'test/bb:1', { sink, auth: { username: 'alice', password: 'secret' } });
  assert.equal(sink.puts.length, 3);
  const blobs = [images.amd64.config, ...images.layers].map((b) => storedBlob('/', b.digest));
  assert.deepEqual(
    storage.requests.map((r) => r.path),
    blobs,
    'the config and layers came from the storage host',
  );
  assert.deepEqual(
    storage.requests.map((r) => r.authorization),
    [undefined, undefined, undefined],
    'the registry credentials stayed with the registry',
  );
});

test('image pull: bearer-token auth: a token from the realm with the credentials given, and a line naming them without', {
  skip,
}, async (t) => {
  const tokens = await startTokenServer(t, join(dir, 'token'), 'alice', 'secret');
  const reg = await startRegistry(t, join(dir, 'bearer'), {
    data,
    token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.cert },
  });
  await refuses(
    pull(reg, 'test/bb:1'),
    'registry-denied',
    /^the token server http:\/\/127\.0\.0\.1:\d+ wants credentials for 127\.0\.0\.1:\d+\/test\/bb:1$/,
    /--username and --password-stdin/,
  );
  const pulled = await pull(reg, 'test/bb:1', { auth: { username: 'alice', password: 'secret' } });
  assert.equal(pulled.manifestDigest, images.amd64.manifest.digest);
  assert.deepEqual(tokens.requests.at(-1), { scope: ['repository:test/bb:pull'], authorized: true });
  assert.match(reg.log(), /"GET \/v2\/test\/bb\/manifests\/1 HTTP\/1\.1" 200/, 'the registry took the token');
});

test('image pull: TLS: with the test CA as caFile the pull succeeds; with the host bundle it fails on the certificate', {
  skip,
}, async (t) => {
  const ca = makeCa(join(dir, 'ca'));
  const reg = await startRegistry(t, join(dir, 'tls'), { data, tls: { cert: ca.cert, key: ca.key } });
  await refuses(
    pull(reg, 'test/bb:1', { insecure: false }),
    'registry-tls',
    /^can't verify the TLS certificate of 127\.0\.0\.1:\d+: /,
    /--ca-file.*\/etc\/ssl\/certs\/ca-certificates\.crt/,
  );
  const pulled = await pull(reg, 'test/bb:1', { insecure: false, caFile: ca.ca });
  assert.equal(pulled.manifestDigest, images.amd64.manifest.digest);
});

test("image pull: a layer or index that doesn't match its digest or size is refused, and the sink keeps none of it", {
  skip,
}, async (t) => {
  const copy = join(dir, 'data-corrupt');
  cpSync(data, copy, { recursive: true });
  const reg = await startRegistry(t, join(dir, 'corrupt'), { data: copy });
  const [first, second] = images.layers;
  const file = storedBlob(copy, first!.digest);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);
  const sink = newSink();
  await refuses(
    pull(reg, 'test/bb:1', { sink }),
    'image-digest-mismatch',
    new RegExp(`^layer ${first!.digest} of .*/test/bb:1 does not match: expected ${first!.digest}, got sha256:`),
  );
  assert.equal(sink.has(first!.digest), false);

  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);
  truncateSync(storedBlob(copy, second!.digest), second!.size - 1);
  await refuses(
    pull(reg, 'test/bb:1', { sink }),
    'image-digest-mismatch',
    new RegExp(
      `^layer ${second!.digest} of .* does not match: expected ${second!.size} bytes, got ${second!.size - 1}`,
    ),
  );
  assert.equal(sink.has(second!.digest), false);

  // An index whose bytes were changed (still valid JSON) no longer has the digest it was asked by.
  const index = storedBlob(copy, images.index.digest);
  writeFileSync(index, readFileSync(index, 'utf8').replace('"arm64"', '"arm65"'));
  await refuses(
    pull(reg, `test/bb@${images.index.digest}`, { sink }),
    'image-digest-mismatch',
    new RegExp(`^manifest ${images.index.digest} of .* does not match: expected ${images.index.digest}, got sha256:`),
  );
});

test('image pull: a missing tag or repository is "no such image or tag"', { skip }, async () => {
  await refuses(
    pull(plain, 'test/bb:nope'),
    'image-not-found',
    /^no such image or tag: 127\.0\.0\.1:\d+\/test\/bb:nope/,
  );
  await refuses(pull(plain, 'test/none:1'), 'image-not-found', /^no such image or tag: .*\/test\/none:1/);
});
