// A real OCI registry for tests: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1 and a spare port, serving a folder of its own, optionally behind
// basic auth, bearer tokens or TLS; a tiny image built by hand as an OCI layout
// (busybox-static and a file) and pushed with skopeo; and a blob sink that
// keeps blobs in a folder and checks their digests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createSign, randomUUID, X509Certificate } from 'node:crypto';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { must } from './system.js';
import { blobWriter, digestOf, type Blob } from './images.js';
import { sparePort } from './sshd.js';

export { digestOf, sparePort };
import type { BlobSink } from '../../src/images/registry.js';

const TOOLS = {
  '/usr/bin/docker-registry': 'docker-registry',
  '/usr/bin/skopeo': 'skopeo',
  '/usr/bin/htpasswd': 'apache2-utils',
  '/usr/bin/openssl': 'openssl',
  '/bin/busybox': 'busybox-static',
  '/usr/bin/tar': 'tar',
} as const;

/** Why the registry tests can't run here, or false. */
export function registrySkipReason(): string | false {
  for (const [bin, pkg] of Object.entries(TOOLS)) {
    if (!existsSync(bin)) return `${bin} is not installed (apt-get install ${pkg})`;
  }
  return false;
}

/** How a test registry is set up. */
export interface RegistryOptions {
  /** Its storage root; the caller's folder, so several registries can serve one push. */
  readonly data: string;
  /** An htpasswd file (bcrypt): basic auth. */
  readonly htpasswd?: string;
  /** Bearer tokens from a token server. */
  readonly token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Serve TLS with this certificate and key. */
  readonly tls?: { cert: string; key: string };
  /** Redirect blob GETs to this origin (the storage "redirect" middleware), as a
   * registry on S3 or GCS does. */
  readonly redirect?: string;
}

/** A running docker-registry. */
export interface TestRegistry {
  readonly port: number;
  /** "127.0.0.1:PORT", the registry part of a reference. */
  readonly host: string;
  /** Everything it has logged (stdout and stderr), the access log included. */
  log(): string;
  /** How many GETs its access log shows for a path. */
  gets(path: string): number;
}

/** Start docker-registry in dir; it is stopped by its pid after t (on failure too). */
export async function startRegistry(
  t: { after(fn: () => void): void },
  dir: string,
  opts: RegistryOptions,
): Promise<TestRegistry> {
  const port = await sparePort();
  mkdirSync(dir, { recursive: true });
  const auth = opts.htpasswd
    ? ['auth:', '  htpasswd:', '    realm: cellsh-test', `    path: ${opts.htpasswd}`]
    : opts.token
      ? [
          'auth:',
          '  token:',
          `    realm: ${opts.token.realm}`,
          `    service: ${opts.token.service}`,
          `    issuer: ${opts.token.issuer}`,
          `    rootcertbundle: ${opts.token.rootCertBundle}`,
        ]
      : [];
  const tls = opts.tls ? ['  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`] : [];
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${opts.data}`,
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: cellsh-test-secret',
      ...tls,
      ...auth,
      ...(opts.redirect
        ? ['middleware:', '  storage:', '    - name: redirect', '      options:', `        baseurl: ${opts.redirect}`]
        : []),
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  proc.stdout!.on('data', (b: Buffer) => (text += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (text += b.toString()));
  t.after(() => {
    proc.kill('SIGTERM');
  });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`docker-registry did not start:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    log: () => text,
    gets: (path) => text.split('\n').filter((l) => l.includes(`"GET ${path} HTTP/`)).length,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(true));
    s.once('error', () => resolve(false));
    s.once('close', () => s.destroy());
    s.once('connect', () => s.end());
  });
}

/** The images buildLayout wrote, by what the tests look for. */
export interface TestImages {
  /** The layout folder: tags "single" (linux/amd64) and "multi" (an index of amd64 and arm64). */
  readonly layout: string;
  /** busybox-static and /bin/sh, then /etc/hello.txt. */
  readonly layers: readonly Blob[];
  readonly amd64: { manifest: Blob; config: Blob };
  readonly arm64: { manifest: Blob; config: Blob };
  readonly index: Blob;
}

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Write an OCI image layout by hand in dir (blobs, index.json, oci-layout). */
export function buildLayout(dir: string): TestImages {
  const layout = join(dir, 'layout');
  const put = blobWriter(layout);
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

  // Two layers, each a tar of a folder, gzipped; their diff_ids are the tars' digests.
  const base = join(dir, 'rootfs-base');
  mkdirSync(join(base, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(base, 'bin', 'busybox'));
  symlinkSync('busybox', join(base, 'bin', 'sh'));
  const top = join(dir, 'rootfs-top');
  mkdirSync(join(top, 'etc'), { recursive: true });
  writeFileSync(join(top, 'etc', 'hello.txt'), 'hello from a cellsh test image\n');
  const tars = [base, top].map(
    (root) =>
      must('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', root, '-cf', '-', '.']).stdout,
  );
  const layers = tars.map((tar) => put(OCI.layer, gzipSync(tar)));

  const image = (architecture: string, variant?: string) => {
    const config = put(
      OCI.config,
      json({
        architecture,
        ...(variant ? { variant } : {}),
        os: 'linux',
        config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: tars.map(digestOf) },
      }),
    );
    const manifest = put(OCI.manifest, json({ schemaVersion: 2, mediaType: OCI.manifest, config, layers }));
    return { manifest, config };
  };
  const amd64 = image('amd64');
  const arm64 = image('arm64', 'v8');
  const index = put(
    OCI.index,
    json({
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: [
        { ...amd64.manifest, platform: { architecture: 'amd64', os: 'linux' } },
        { ...arm64.manifest, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      ],
    }),
  );
  const tag = (blob: Blob, name: string) => ({ ...blob, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(join(layout, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    json({ schemaVersion: 2, mediaType: OCI.index, manifests: [tag(amd64.manifest, 'single'), tag(index, 'multi')] }),
  );
  return { layout, layers, amd64, arm64, index };
}

/** Push a tag of the layout to a plain-http registry, digests unchanged. */
export function push(images: TestImages, tag: string, dest: string): void {
  must('/usr/bin/skopeo', [
    'copy',
    '--quiet',
    '--all',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${images.layout}:${tag}`,
    `docker://${dest}`,
  ]);
}

/** Where a registry keeps a blob's bytes. */
export function storedBlob(data: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(data, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** A test CA, and a certificate it signed for 127.0.0.1 and localhost. */
export function makeCa(dir: string): { ca: string; cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  // biome-ignore format: one openssl option and its value a line
  must('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
    '-subj', '/CN=cellsh test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  must('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('srv.key'),
    '-out',
    f('srv.csr'),
  ]);
  writeFileSync(f('srv.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  // biome-ignore format: one openssl option and its value a line
  must('openssl', ['x509', '-req', '-in', f('srv.csr'), '-days', '1',
    '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-extfile', f('srv.ext'), '-out', f('srv.crt')]);
  return { ca: f('ca.crt'), cert: f('srv.crt'), key: f('srv.key') };
}

/** A token server (node:http) as distribution's token auth wants one: a JWT signed
 * RS256 whose header carries the signing certificate (x5c), which the registry
 * checks against its rootcertbundle. It wants user:password and grants what is asked. */
export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** The certificate the registry trusts (its rootcertbundle). */
  readonly cert: string;
  /** The scopes asked for, and whether credentials came with the request. */
  readonly requests: { scope: string[]; authorized: boolean }[];
}

export async function startTokenServer(
  t: { after(fn: () => void): void },
  dir: string,
  user: string,
  password: string,
): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'token.key');
  const cert = join(dir, 'token.crt');
  must('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=cellsh test token issuer',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  const x5c = [new X509Certificate(readFileSync(cert)).raw.toString('base64')];
  const service = 'cellsh-test-registry';
  const issuer = 'cellsh-test-issuer';
  const requests: TokenServer['requests'] = [];
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.getAll('scope');
    const authorized = req.headers.authorization === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    requests.push({ scope, authorized });
    if (!authorized || url.searchParams.get('service') !== service) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scope.map((s) => {
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const claims = {
      iss: issuer,
      sub: user,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signed = `${b64({ typ: 'JWT', alg: 'RS256', x5c })}.${b64(claims)}`;
    const signature = createSign('RSA-SHA256').update(signed).sign(readFileSync(key)).toString('base64url');
    // access_token, not token: the client must read either.
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ access_token: `${signed}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  const port = (server.address() as { port: number }).port;
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, cert, requests };
}

/** A BlobSink that keeps blobs in a folder, checks each one's size and sha256, and
 * remembers what it was given. */
export class DirSink implements BlobSink {
  readonly puts: string[] = [];

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  path(digest: string): string {
    return join(this.dir, digest.replace(':', '-'));
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  async put(digest: string, size: number, body: NodeJS.ReadableStream): Promise<void> {
    this.puts.push(digest);
    const hash = createHash('sha256');
    let seen = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const tmp = `${this.path(digest)}.tmp`;
    try {
      await pipeline(body, count, createWriteStream(tmp));
      const got = `sha256:${hash.digest('hex')}`;
      if (seen !== size || got !== digest) throw new Error(`test sink: ${digest}: got ${seen} bytes, ${got}`);
      renameSync(tmp, this.path(digest));
    } finally {
      rmSync(tmp, { force: true });
    }
  }
}

/** A storage server for a registry's redirects: serves the files of its data folder by
 * path (the redirect middleware sends clients to BASEURL/docker/registry/v2/...) on
 * 127.0.0.2, another host than the registry's, and records what came to it. */
export async function startBlobServer(
  t: { after(fn: () => void): void },
  data: string,
): Promise<{ origin: string; requests: { path: string; authorization: string | undefined }[] }> {
  const requests: { path: string; authorization: string | undefined }[] = [];
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path, authorization: req.headers.authorization });
    const file = join(data, path);
    if (path.includes('..') || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  return { origin: `http://127.0.0.2:${(server.address() as { port: number }).port}`, requests };
}
