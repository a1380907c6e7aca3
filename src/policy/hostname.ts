// Hostname templates: "{user}", "{user}-{host}", "box{uid}". The template is
// checked when the policy is read (known tokens, allowed characters), and the
// expansion is checked again for each user when the policy is compiled.
import { closestWord, hostnameProblem, HOSTNAME_MAX_LEN } from './validators.js';

/** The values a template may refer to. */
export interface HostnameVars {
  /** The login name. */
  readonly user: string;
  /** The numeric uid. */
  readonly uid: number;
  /** The host's short hostname (up to the first "."). */
  readonly host: string;
}

/** Token names a template may use, as {name}. */
export const HOSTNAME_TOKENS: readonly (keyof HostnameVars)[] = ['user', 'uid', 'host'];

type Piece = { literal: string } | { token: keyof HostnameVars };
const PIECE_RE = /\{([^{}]*)\}|([{}])|([^{}]+)/g;
/** What a token stands in for while checking the literal parts of a template. */
const TOKEN_PLACEHOLDER = 'x';

/** Split a template into literal text and tokens, or say what is wrong with it. */
function pieces(template: string): Piece[] | string {
  const out: Piece[] = [];
  for (const m of template.matchAll(PIECE_RE)) {
    const [, token, stray, literal] = m;
    if (stray !== undefined) return `unmatched "${stray}" in "${template}"`;
    if (literal !== undefined) {
      out.push({ literal });
      continue;
    }
    if (!(HOSTNAME_TOKENS as readonly string[]).includes(token!)) {
      const near = closestWord(token!, HOSTNAME_TOKENS);
      const hint = near
        ? `did you mean "{${near}}"?`
        : `known tokens: ${HOSTNAME_TOKENS.map((t) => `{${t}}`).join(', ')}`;
      return `unknown token "{${token}}" in "${template}"; ${hint}`;
    }
    out.push({ token: token as keyof HostnameVars });
  }
  return out;
}

/** Why a template can never give a valid hostname (a message), or undefined if it may. */
export function hostnameTemplateProblem(template: string): string | undefined {
  const parts = pieces(template);
  if (typeof parts === 'string') return parts;
  const literalLength = parts.reduce((n, p) => n + ('literal' in p ? p.literal.length : 0), 0);
  const sample = parts.map((p) => ('literal' in p ? p.literal : TOKEN_PLACEHOLDER)).join('');
  const problem =
    literalLength > HOSTNAME_MAX_LEN
      ? `longer than ${HOSTNAME_MAX_LEN} characters`
      : hostnameProblem(sample.slice(0, HOSTNAME_MAX_LEN));
  return problem ? `expected a hostname template like "{user}", got "${template}" (${problem})` : undefined;
}

/** Expand a template that hostnameTemplateProblem accepted. */
export function expandHostname(template: string, vars: HostnameVars): string {
  const parts = pieces(template);
  if (typeof parts === 'string') throw new Error(parts);
  return parts.map((p) => ('literal' in p ? p.literal : String(vars[p.token]))).join('');
}

/** The short hostname of a full one: "build1.example.org" -> "build1". */
export function shortHostname(full: string): string {
  return full.split('.')[0] ?? full;
}
