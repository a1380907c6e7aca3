// The HTTP side of `cellsh-admin image pull`: one pull's conversation with a
// registry (https://github.com/opencontainers/distribution-spec, spec.md).
// Authenticate on a 401 (Basic, or a Bearer token from the realm the registry
// names), follow redirects without taking the Authorization to other hosts,
// trust only the CA file, turn each failure into a line that says what to do,
// and read bodies only up to a bound.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CellshError, ExitCode } from '../errors.js';
import { DOCUMENT_MAX } from './oci.js';
import type { ImageReference } from './reference.js';

/** How to reach a registry: the part of PullOptions this file reads. */
export interface RegistryAccess {
  auth?: { username: string; password: string };
  /** Speak plain http to the registry (the CLI sets it for 127.0.0.1/localhost or when
   * asked). TLS, when used, is always verified. */
  insecure?: boolean;
  /** The CAs to trust, PEM; default the host's bundle, DEFAULT_CA_FILE. */
  caFile?: string;
}

/** What a request is for, for messages. */
export interface What {
  kind: 'ping' | 'manifest' | 'blob' | 'token';
  name: string;
}

/** The host's CA bundle (Debian's ca-certificates). */
export const DEFAULT_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
const MAX_REDIRECTS = 5;
/** A registry's error body is read this far for its code; the rest is dropped. */
const ERROR_BODY_MAX = 64 * 1024;
/** A connection silent this long is given up. */
const IDLE_TIMEOUT_MS = 60_000;
/** The flags of `cellsh-admin image pull` that messages point to. */
const FLAGS = { user: '--username', password: '--password-stdin', ca: '--ca-file', insecure: '--insecure' };
/** TLS errors that mean "the certificate isn't trusted" (OpenSSL's verify codes, Node's altname check). */
const CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID/;

/** One pull's conversation with a registry: where it is, what TLS trusts, and the Authorization. */
export class Registry {
  readonly base: URL;
  private authorization: string | undefined;
  private ca: Buffer | undefined;

  constructor(
    readonly ref: ImageReference,
    private readonly opts: RegistryAccess,
  ) {
    this.base = new URL(`${opts.insecure ? 'http' : 'https'}://${ref.registry}`);
  }

  /** GET /v2/: is it a registry, and does it want credentials? Authenticate now if so. */
  async ping(): Promise<void> {
    const res = await this.send(new URL('/v2/', this.base), {});
    if (res.statusCode !== 200 && res.statusCode !== 401) {
      throw await this.statusError(res, { kind: 'ping', name: '/v2/' });
    }
    res.resume();
    if (res.statusCode === 401) await this.authenticate(res.headers);
  }

  /** GET /v2/REPO/PATH, authenticating once on a 401; resolves with a 200 answer. */
  async get(path: string, what: What, accept?: string): Promise<IncomingMessage> {
    const url = new URL(`/v2/${this.ref.repository}/${path}`, this.base);
    const headers: Record<string, string> = accept ? { accept } : {};
    let res = await this.send(url, headers);
    if (res.statusCode === 401 && (await this.authenticate(res.headers))) {
      res.resume();
      res = await this.send(url, headers);
    }
    if (res.statusCode !== 200) throw await this.statusError(res, what);
    return res;
  }

  /** Take up a 401's challenge: Basic with the credentials, or a Bearer token from its
   * realm. False if there is nothing new to try. */
  private async authenticate(headers: IncomingHttpHeaders): Promise<boolean> {
    const challenge = String(headers['www-authenticate'] ?? '');
    const bearer = /\bBearer\s+(.*)/i.exec(challenge);
    if (bearer) {
      const params = new Map([...bearer[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
      const before = this.authorization;
      this.authorization = `Bearer ${await this.token(params)}`;
      return this.authorization !== before;
    }
    if (/\bBasic\b/i.test(challenge) && this.opts.auth && !this.authorization) {
      this.authorization = this.basic();
      return true;
    }
    return false;
  }

  /** The credentials as a Basic Authorization, if there are any. */
  private basic(): string | undefined {
    const { auth } = this.opts;
    return auth && `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  }

  /** A token for this repository from the realm a Bearer challenge names (distribution's
   * docs/spec/auth/token.md), asked with the credentials if there are any. */
  private async token(params: Map<string, string>): Promise<string> {
    const url = URL.canParse(params.get('realm') ?? '') ? new URL(params.get('realm')!) : undefined;
    if (!url) {
      const why = `${this.ref.registry} asked for a token but named no realm to get it from`;
      throw fail('registry-bad-answer', why, "ask the registry's operator: its auth setup is incomplete");
    }
    if (params.has('service')) url.searchParams.set('service', params.get('service')!);
    for (const scope of (params.get('scope') ?? `repository:${this.ref.repository}:pull`).split(' ')) {
      url.searchParams.append('scope', scope);
    }
    const res = await this.send(url, {}, this.basic(), url.origin);
    if (res.statusCode !== 200) throw await this.statusError(res, { kind: 'token', name: url.origin });
    const body = await readBounded(res, DOCUMENT_MAX, this.ref, 'the token answer', true);
    let token: unknown;
    try {
      const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      token = json['token'] ?? json['access_token'];
    } catch {
      // reported below
    }
    if (typeof token !== 'string' || token === '') {
      const why = `the token server ${url.origin} answered without a token`;
      throw fail('registry-bad-answer', why, `ask the operator of ${this.ref.registry} about its token service`);
    }
    return token;
  }

  /** One GET, following up to MAX_REDIRECTS redirects. The authorization goes only to
   * authOrigin (the registry's own): never to the storage a blob redirects to. */
  private async send(
    url: URL,
    headers: Record<string, string>,
    authorization = this.authorization,
    authOrigin = this.base.origin,
  ): Promise<IncomingMessage> {
    for (let hops = 0; ; hops++) {
      // Plain http only with --insecure, or on this host when the registry itself is on
      // this host: a remote registry must not send root's requests to a local service.
      if (
        url.protocol === 'http:' &&
        !this.opts.insecure &&
        !(isLoopback(url.hostname) && isLoopback(this.base.hostname))
      ) {
        const why = `${this.ref.registry} sent the pull to plain http: ${url.origin}`;
        throw fail('registry-plain-http', why, `cellsh uses plain http only on this host or with ${FLAGS.insecure}`);
      }
      const auth: Record<string, string> = authorization && url.origin === authOrigin ? { authorization } : {};
      const res = await this.request(url, { ...headers, ...auth });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !location) return res;
      res.resume();
      if (hops === MAX_REDIRECTS) {
        const why = `${this.ref.registry} redirected more than ${MAX_REDIRECTS} times`;
        throw fail(
          'registry-redirects',
          why,
          "the registry or its storage is misconfigured: ask the registry's operator",
        );
      }
      url = new URL(location, url);
    }
  }

  private request(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const options = { headers: { 'user-agent': 'cellsh', ...headers }, timeout: IDLE_TIMEOUT_MS };
      let req: ClientRequest;
      try {
        req =
          url.protocol === 'https:' ? httpsRequest(url, { ...options, ca: this.trusted() }) : httpRequest(url, options);
      } catch (err) {
        return reject(err instanceof CellshError ? err : this.lost(err, url));
      }
      req.on('response', resolve);
      req.on('error', (err) => reject(this.lost(err, url)));
      req.on('timeout', () => req.destroy(new Error(`no answer in ${IDLE_TIMEOUT_MS / 1000} seconds`)));
      req.end();
    });
  }

  /** The CA bundle, read once: the only CAs trusted (Node's own list is not). */
  private trusted(): Buffer {
    const file = this.opts.caFile ?? DEFAULT_CA_FILE;
    try {
      this.ca ??= readFileSync(file);
    } catch (err) {
      const why = `can't read the CA certificates in "${file}": ${(err as Error).message}`;
      throw fail('ca-file', why, `give a PEM file of the CAs to trust with ${FLAGS.ca}`);
    }
    return this.ca;
  }

  /** A failed connection as a line: a certificate not trusted, no TLS there, or unreachable. */
  private lost(err: unknown, url: URL): CellshError {
    const e = err as NodeJS.ErrnoException;
    if (CERT_ERRORS.test(e.code ?? '')) {
      const trusted = this.opts.caFile ?? DEFAULT_CA_FILE;
      const why = `can't verify the TLS certificate of ${url.host}: ${e.message}`;
      return fail(
        'registry-tls',
        why,
        `give the CA that signed it with ${FLAGS.ca} (trusted now: ${trusted})`,
        ExitCode.failure,
        err,
      );
    }
    if (/wrong version number|ERR_SSL_/.test(`${e.code} ${e.message}`)) {
      const why = `${url.host} does not speak TLS (${e.code ?? 'EPROTO'})`;
      return fail(
        'registry-tls',
        why,
        `if it is a plain-http registry, pull with ${FLAGS.insecure}`,
        ExitCode.failure,
        err,
      );
    }
    const why = `can't reach the registry at ${url.host}: ${e.message}`;
    return fail(
      'registry-unreachable',
      why,
      'check the name, and that this host can reach it (DNS, proxy, firewall)',
      ExitCode.failure,
      err,
    );
  }

  /** An answer other than 200 as a line, with the registry's own error code if it gave one. */
  private async statusError(res: IncomingMessage, what: What): Promise<CellshError> {
    const status = res.statusCode ?? 0;
    let detail = '';
    try {
      const body = JSON.parse((await readBounded(res, ERROR_BODY_MAX, this.ref, 'an error', true)).toString('utf8'));
      const first = (body as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
      if (first?.code) detail = ` (${first.code}${first.message ? `: ${first.message}` : ''})`;
    } catch {
      res.destroy();
    }
    const { ref } = this;
    const { auth } = this.opts;
    const where = what.kind === 'token' ? `the token server ${what.name}` : ref.registry;
    const credentials = `${FLAGS.user} and ${FLAGS.password}`;
    if ((status === 401 || status === 403) && auth) {
      const why = `${where} refused user "${auth.username}" for ${ref.text}${detail}`;
      return fail('registry-denied', why, `check the password (${credentials}) and that the user may pull it`);
    }
    if (status === 401 || status === 403) {
      const why = `${where} wants credentials for ${ref.text}${detail}`;
      return fail('registry-denied', why, `give a user name and password with ${credentials}; or no such image exists`);
    }
    if (status === 404 && what.kind === 'manifest') {
      const name = `${ref.repository}${what.name.startsWith('sha256:') ? '@' : ':'}${what.name}`;
      return fail(
        'image-not-found',
        `no such image or tag: ${ref.text}${detail}`,
        `check the name and tag: ${ref.registry} has no ${name}`,
      );
    }
    if (status === 404 && what.kind === 'blob') {
      const why = `${ref.registry} lists blob ${what.name} in ${ref.text} but does not have it`;
      return fail(
        'image-broken',
        why,
        "the image in the registry is broken: push it again, or ask the registry's operator",
      );
    }
    let hint = "try again later; if it persists, ask the registry's operator";
    if (status === 429) hint = 'it limits pulls: wait, or give credentials (a logged-in user may pull more)';
    else if (what.kind === 'ping' && status === 404) hint = `${ref.registry} does not look like a registry: no /v2/`;
    // Go's TLS server answers plain http with a 400.
    else if (what.kind === 'ping' && status === 400 && this.opts.insecure) hint = `pull without ${FLAGS.insecure}`;
    return fail('registry-status', `${where} answered HTTP ${status} for ${what.name}${detail}`, hint);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** A body of exactly size bytes, or of at most size if upTo; refused early by its Content-Length. */
export async function readBounded(
  res: IncomingMessage,
  size: number,
  ref: ImageReference,
  what: string,
  upTo = false,
): Promise<Buffer> {
  const wrong = (got: number): CellshError =>
    upTo ? tooLarge(ref, what, got, size) : mismatch(ref, what, `${size} bytes`, `${got} bytes`);
  const length = res.headers['content-length'];
  if (length !== undefined && (upTo ? Number(length) > size : Number(length) !== size)) {
    res.destroy();
    throw wrong(Number(length));
  }
  const chunks: Buffer[] = [];
  let seen = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      seen += chunk.length;
      if (seen > size) throw wrong(seen);
      chunks.push(chunk);
    }
  } catch (err) {
    res.destroy();
    throw err instanceof CellshError ? err : brokeOff(ref, what, err as Error);
  }
  if (!upTo && seen !== size) throw wrong(seen);
  return Buffer.concat(chunks);
}

/** A CellshError: what happened, and what to do. */
export function fail(
  code: string,
  message: string,
  hint: string,
  exitCode: number = ExitCode.failure,
  cause?: unknown,
): CellshError {
  return new CellshError(code, message, { hint, exitCode, cause });
}

/** Bytes that are not what the manifest or the request said: another digest or size. */
export function mismatch(ref: ImageReference, what: string, want: string, got: string): CellshError {
  const why = `${what} of ${ref.text} does not match: expected ${want}, got ${got}`;
  return fail(
    'image-digest-mismatch',
    why,
    "nothing of it was kept; pull again, and if it persists the registry's copy is corrupt",
    ExitCode.config,
  );
}

/** A connection that failed in the middle of a body. */
export function brokeOff(ref: ImageReference, what: string, err: Error): CellshError {
  const why = `the download of ${what} of ${ref.text} broke off: ${err.message}`;
  return fail(
    'registry-lost',
    why,
    'pull again: the layers already stored are not fetched again',
    ExitCode.failure,
    err,
  );
}

/** A document (manifest, config, token answer) over the bound it is read to. */
export function tooLarge(ref: ImageReference, what: string, size: number, max = DOCUMENT_MAX): CellshError {
  const why = `${what} of ${ref.text} is ${size} bytes, over the ${max} allowed`;
  return fail('image-too-large', why, 'this is not a container image cellsh can read', ExitCode.config);
}
