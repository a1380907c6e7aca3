// The contract (index.ts) as the C header the helper and the launcher include.
// The helper's Makefile runs this (node dist/src/contract/c-header.js OUT) after
// tsc, so the header is build output and never edited or committed.
import { writeFileSync } from 'node:fs';
import {
  BOUNDS,
  EXIT_CODES,
  FDS,
  HELPER_ARGV,
  LOG_EVENTS,
  LAYER_MODES,
  NETWORK_MODES,
  NETWORK_OPENNESS,
  NETNS_REPLY,
  POLICY_FILE,
  RECORD_CHANGES,
  RECORD_KEYS,
  RESERVED_ENV,
  RESTART_MODES,
  RLIMIT_KEYS,
  SECCOMP_PROFILES,
  SECCOMP_STRENGTH,
  STARTED,
  USER_MAY_KEYS,
  ROUTES,
  INVOCATIONS,
  TERMINALS,
  ROUTE_TABLE,
  type RouteRow,
} from './index.js';

/** "nameMaxLen" -> "NAME_MAX_LEN", "memory_high" -> "MEMORY_HIGH", "pids-limit" -> "PIDS_LIMIT". */
export function cName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-.]/g, '_')
    .toUpperCase();
}

const str = (s: string): string => JSON.stringify(s);
const num = (n: number): string => (n > 0x7fffffff ? `${n}u` : String(n));

/** An enum of words, its count, and an initializer of their names in the same order. */
function wordEnum(tag: string, prefix: string, words: readonly string[], what: string | readonly string[]): string[] {
  const comment =
    typeof what === 'string' ? [`/* ${what} */`] : [`/* ${what[0]}`, ...what.slice(1).map((l) => ` * ${l}`), ' */'];
  return [
    ...comment,
    `enum ${tag} {`,
    ...words.map((w, i) => `  ${prefix}_${cName(w)}${i === 0 ? ' = 0' : ''},`),
    `  ${prefix}_COUNT`,
    '};',
    `#define ${prefix}_NAMES {${words.map(str).join(', ')}}`,
    '',
  ];
}

/** A row of the route table as a C initializer. */
function routeRow(r: RouteRow): string {
  const any = (v: string | boolean, c: () => string): string => (v === '*' ? '-1' : c());
  return (
    `{${any(r.invocation, () => `INVOCATION_${cName(r.invocation)}`)}, ${any(r.terminals, () => `TERMINALS_${cName(r.terminals)}`)}, ` +
    `${any(r.plainRecord, () => (r.plainRecord ? '1' : '0'))}, ${any(r.helperRunnable, () => (r.helperRunnable ? '1' : '0'))}, ROUTE_${cName(r.route)}}`
  );
}

/** The header's text. */
export function renderCHeader(): string {
  const lines = [
    '/* Generated from src/contract/index.ts by src/contract/c-header.ts when the helper',
    ' * is built: edit the contract, never this file. */',
    '#ifndef CELLSH_CONTRACT_H',
    '#define CELLSH_CONTRACT_H',
    '',
    '/* Exit codes, sysexits style (0 and 1 are EXIT_SUCCESS and EXIT_FAILURE). */',
    'enum {',
    ...Object.entries(EXIT_CODES)
      .filter(([, v]) => v > 1)
      .map(([k, v]) => `  EXIT_${cName(k)} = ${v},`),
    '};',
    '',
    '/* The compiled policy file. */',
    `#define POLICY_MAGIC ${str(POLICY_FILE.magic)}`,
    `#define POLICY_HEAD_LEN ${POLICY_FILE.headLen}`,
    `#define INDEX_ENTRY_LEN ${POLICY_FILE.indexEntryLen}`,
    `#define RECORD_MAX_BYTES ${num(POLICY_FILE.recordMaxBytes)}u`,
    `#define POLICY_LINE_MAX ${POLICY_FILE.lineMax}`,
    '',
    "/* Bounds on a record's values. */",
    ...Object.entries(BOUNDS).map(([k, v]) => `#define ${cName(k)} ${num(v)}`),
    '',
    ...wordEnum('record_key', 'KEY', Object.keys(RECORD_KEYS), [
      "A record's keys, in the order cellsh-admin writes them, each required once:",
      ...Object.entries(RECORD_KEYS).map(([k, what]) => `  ${k}: ${what}`),
    ]),
    ...wordEnum('network_mode', 'NETWORK', NETWORK_MODES, '"network"'),
    '/* How much of the network each mode reaches, by enum network_mode: a change',
    ' * to a lower one takes access away. */',
    `#define NETWORK_OPENNESS {${NETWORK_MODES.map((n) => NETWORK_OPENNESS[n]).join(', ')}}`,
    '',
    ...wordEnum('layer_mode', 'LAYER', LAYER_MODES, '"layer": what becomes of an image\'s writable layer'),
    ...wordEnum(
      'restart_mode',
      'RESTART',
      RESTART_MODES,
      '"restart": when a change cgroups can\'t apply live restarts the container',
    ),
    ...wordEnum(
      'seccomp_profile',
      'SECCOMP_PROFILE',
      SECCOMP_PROFILES,
      '"seccomp": the filter the container\'s processes run under',
    ),
    "/* The keys whose change waits for the container's restart (drift.c), as",
    ' * X(key, label, takes_access): the field of the same name in struct user_policy',
    ' * and struct container_record, how people are told it is pending, and whether',
    ' * the old container would keep access the change takes away. */',
    '#define RESTART_KEYS(X) \\',
    ...Object.entries(RECORD_CHANGES)
      .filter(([, c]) => c.change === 'restart' || c.change === 'access')
      .map(([k, c]) => `  X(${k}, ${str(c.label ?? k)}, ${c.change === 'access' ? 1 : 0}) \\`),
    '',
    `#define SECCOMP_CHANGE_LABEL ${str(RECORD_CHANGES.seccomp.label ?? 'seccomp')}`,
    '/* How much each profile confines (enum seccomp_profile order); default with',
    ' * nested user namespaces confines SECCOMP_STRENGTH_NESTED. */',
    `#define SECCOMP_STRENGTHS {${SECCOMP_PROFILES.map((p) => SECCOMP_STRENGTH[p]).join(', ')}}`,
    `#define SECCOMP_STRENGTH_NESTED ${SECCOMP_STRENGTH.defaultNested}`,
    '',
    ...wordEnum('rlimit_key', 'RL', RLIMIT_KEYS, 'the per-process limits, each a record key'),
    ...wordEnum('user_may_bit', 'MAY', USER_MAY_KEYS, '"user_may": the record keys a user may set with --set, as bits'),
    `/* Variables cellsh sets itself; the policy may not set them. */`,
    `#define RESERVED_ENV_NAMES {${RESERVED_ENV.map(str).join(', ')}}`,
    `#define RESERVED_ENV_COUNT ${RESERVED_ENV.length}`,
    '',
    "/* The helper's command line. */",
    ...wordEnum('verb', 'VERB', HELPER_ARGV.verbs, 'cellsh-helper VERB ...'),
    `#define MAX_SETS ${HELPER_ARGV.maxSets}`,
    `#define SET_MAX ${HELPER_ARGV.setMaxBytes}`,
    `#define PTY_MAX_DIM ${HELPER_ARGV.ptyMaxDim}`,
    `#define NOTICE_MAX ${HELPER_ARGV.noticeMax}`,
    '',
    '/* File descriptors with a fixed meaning between the programs. */',
    `#define CHANNEL_FD ${FDS.channel}`,
    `#define HELPER_ERR_FD ${FDS.attachedStderr}`,
    `#define AGENT_FD ${FDS.agent}`,
    '',
    '/* "started SESSION CONTAINER created|joined[ MS-SESSION.sock]" on the channel. */',
    `#define STARTED_WORD ${str(STARTED.word)}`,
    `#define STARTED_ID_LEN ${STARTED.idHexLen}`,
    `#define STARTED_CREATED ${str(STARTED.created)}`,
    `#define STARTED_JOINED ${str(STARTED.joined)}`,
    `#define AGENT_SOCKET_SUFFIX ${str(STARTED.socketSuffix)}`,
    '',
    '/* "netns CONTAINER" (with the namespace\'s fd) or "host CONTAINER" on fd 3. */',
    `#define NETNS_JOINED ${str(NETNS_REPLY.joined)}`,
    `#define NETNS_HOST ${str(NETNS_REPLY.host)}`,
    '',
    "/* How a session reaches the helper: the launcher's route table. */",
    ...wordEnum(
      'session_route',
      'ROUTE',
      ROUTES,
      'fast: the launcher execs the helper; early: it starts it and relays for Node; node: Node does it all',
    ),
    ...wordEnum('invocation', 'INVOCATION', INVOCATIONS, "what the launcher's arguments ask for"),
    ...wordEnum('terminals', 'TERMINALS', TERMINALS, 'which of fds 0-2 are terminals'),
    '/* A row: each condition a value of its enum (or 0/1), or -1 for any. The first',
    ' * row whose conditions all hold gives the route. */',
    'struct route_row {',
    '  int invocation, terminals, plain_record, helper_runnable;',
    '  enum session_route route;',
    '};',
    `#define ROUTE_TABLE { \\`,
    ...ROUTE_TABLE.map((r) => `  ${routeRow(r)}, \\`),
    '}',
    '',
    '/* The audit log events the helper writes. */',
    ...Object.entries(LOG_EVENTS)
      .filter(([, e]) => e.by === 'helper')
      .map(([name]) => `#define EVENT_${cName(name)} ${str(name)}`),
    '',
    '#endif',
    '',
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node c-header.js OUT.h\n');
    process.exit(64);
  }
  writeFileSync(out, renderCHeader());
}
