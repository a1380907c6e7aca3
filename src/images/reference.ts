// Image references as docker and podman read them: [REGISTRY/]NAME[:TAG][@DIGEST].
// A name without a registry is Docker Hub's, and a one-part name there is in
// library/ (the grammar is distribution/reference's, reference.go).
import { CellshError, ExitCode } from '../errors.js';

/** Docker Hub's registry endpoint: where a name without a registry goes. */
export const DEFAULT_REGISTRY = 'registry-1.docker.io';

/** The names people write for Docker Hub. */
const HUB_NAMES = new Set(['docker.io', 'index.docker.io', DEFAULT_REGISTRY]);
const DEFAULT_TAG = 'latest';
/** Registry and repository together, as distribution bounds them. */
const NAME_MAX = 255;

const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const REGISTRY = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]{1,5})?$`);
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A parsed reference: where the image is and which one. */
export interface ImageReference {
  /** Host, and port if any, of the registry: "registry-1.docker.io", "127.0.0.1:5000". */
  readonly registry: string;
  /** The repository in it: "library/debian", "team/tool". */
  readonly repository: string;
  /** The tag; "latest" when neither a tag nor a digest was given. */
  readonly tag?: string;
  /** "sha256:" and 64 hex digits when the reference pins one; it wins over the tag. */
  readonly digest?: string;
  /** The reference as it was given, for messages. */
  readonly text: string;
}

/** Parse an image reference such as "debian:12", "ghcr.io/o/tool@sha256:..." or
 * "127.0.0.1:5000/test/bb:1"; a malformed one is a usage error. */
export function parseReference(text: string): ImageReference {
  const bad = (why: string): CellshError =>
    new CellshError('bad-image-reference', `"${text}" is not an image reference: ${why}`, {
      hint: 'write it as [REGISTRY/]NAME[:TAG][@sha256:DIGEST], e.g. debian:12 or ghcr.io/owner/tool:1.0',
      exitCode: ExitCode.usage,
    });
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('a digest is "sha256:" and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('a tag is up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
  }
  // The first part names a registry if it can't be a repository's: localhost, or a "." or ":" in it.
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  if (first === 'localhost' || /[.:[]/.test(first)) {
    if (!REGISTRY.test(first)) throw bad(`"${first}" is not a registry host name`);
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (HUB_NAMES.has(registry)) {
    registry = DEFAULT_REGISTRY;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (repository === '' || repository === 'library/') throw bad('it names no image');
  for (const part of repository.split('/')) {
    if (COMPONENT.test(part)) continue;
    if (/[A-Z]/.test(part)) throw bad('repository names are lowercase');
    throw bad(`"${part}" is not a name part (lowercase letters and digits, with ".", "_" or "-" between them)`);
  }
  if (registry.length + 1 + repository.length > NAME_MAX) throw bad(`the name is longer than ${NAME_MAX} characters`);
  return {
    registry,
    repository,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? DEFAULT_TAG } : {}),
    ...(digest !== undefined ? { digest } : {}),
    text,
  };
}
