#!/usr/bin/env node
// `cellsh-admin`: the admin's command. Each verb is one row of VERBS (usage,
// help, and how to run it with the real layout, accounts and audit log); the
// work itself lives in src/admin/<verb>.ts and takes its dependencies as
// parameters. Errors are shown as one or two plain lines, never a stack.
import { parseArgs } from 'node:util';
import { runApply } from '../admin/apply.js';
import { policyEnv, runCheck, type TextOut } from '../admin/check.js';
import { policyFolder } from '../admin/installed.js';
import { runEnroll, runUnenroll, stopContainer, type EnrollOptions } from '../admin/enroll.js';
import { runDiff } from '../admin/diff.js';
import { runDoctor } from '../admin/doctor.js';
import { runEdit, systemEditor, terminalQuestion } from '../admin/edit.js';
import { runLogs } from '../admin/logs.js';
import { runPs } from '../admin/ps.js';
import { runReset } from '../admin/reset.js';
import { runShow } from '../admin/show.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { escapeUnsafe } from '../admin/log-text.js';
import { runImageGc, runImageImport, runImageInspect, runImageList, runImageRemove } from '../admin/image.js';
import { ImageStore } from '../images/store.js';
import { importImage } from '../images/import.js';
import { pullToStore } from '../images/pull.js';
import { ensureStoreRange, STORE_USER } from '../images/store-range.js';
import { parseSizeText } from '../policy/sizes.js';
import { getpwnam, listUsers } from '../sys/libc.js';
import { CellshError, describeError, exitCodeOf, ExitCode } from '../errors.js';
import { loadLayout } from '../layout.js';
import { openAuditLog } from '../log.js';
import { buildPolicy, closestWord, policyFiles } from '../policy/index.js';
import { parseCompiled } from '../policy/compiled-file.js';
import type { CompiledUser } from '../policy/compiled.js';
import type { Layout } from '../layout.js';
import { nssDirectory } from '../sys/users.js';
import { HELPER_ARGV } from '../contract/index.js';

const PROG = 'cellsh-admin';

/** The streams a verb writes to. */
export interface Io {
  readonly out: TextOut;
  readonly err: TextOut;
}

/** One verb: its one-line summary, usage, help text, and runner (returns the exit code). */
interface Verb {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly options: Readonly<Record<string, { type: 'boolean' | 'string'; short?: string }>>;
  readonly maxArgs: number;
  run(args: { values: Record<string, unknown>; positionals: string[] }, io: Io): number | Promise<number>;
}

/** The longest --reason: the helper's notice, with the words around it (STOP_TEXT), must fit its bound. */
const NOTICE_REASON_MAX = HELPER_ARGV.noticeMax - 100;

/** What stop and restart tell the sessions, and the admin. */
const STOP_TEXT = {
  stop: {
    notice: (why: string) => `your container was stopped by the administrator: ${why}`,
    done: '',
    status: 'stopped',
  },
  restart: {
    notice: (why: string) => `your container was restarted by the administrator: ${why}; log in again`,
    done: '; their next login starts a new one',
    status: 'restarted',
  },
} as const;

/** Every verb. Add a row here for a new verb. */
const VERBS: Readonly<Record<string, Verb>> = {
  check: {
    summary: 'validate the policy and report every problem with file:line:col',
    usage: 'check [FILE...] [--json]',
    help: [
      'Validate the policy exactly as "apply" would, without changing anything: the',
      'installed one (/etc/cellsh/policy.yaml, then /etc/cellsh/policy.d/*.yaml in name',
      'order), or the FILEs given, layered in the order given. Problems go to stderr, one',
      'per line as file:line:col: key.path: message; a one-line summary goes to stdout.',
      "The installed policy is also checked for files apply refuses to trust (not root's,",
      'writable by group or others, in such a folder, or a symlink out of /etc/cellsh);',
      'FILEs given are drafts: only what they say is checked, not who may write them.',
      '',
      'options:',
      '  --json   print {ok, errors, warnings, users, files} to stdout instead',
      '',
      'exit status: 0 no errors (warnings allowed), 78 errors, 64 usage error',
    ].join('\n'),
    options: { json: { type: 'boolean' } },
    maxArgs: Infinity,
    run: ({ values, positionals }, io) => {
      const layout = loadLayout();
      const drafts = positionals.length > 0;
      const { files, diagnostics } = drafts
        ? { files: positionals, diagnostics: [] }
        : policyFiles(layout.policyFile, layout.policyDir);
      return runCheck({
        files,
        listing: diagnostics,
        trustedIn: drafts ? undefined : policyFolder(layout),
        json: values['json'] === true,
        env: policyEnv(layout, nssDirectory()),
        ...io,
      });
    },
  },
  show: {
    summary: 'what USER gets and why: each setting with the layer and file:line it came from',
    usage: 'show USER [--json]',
    help: [
      'Print the policy USER gets from the installed files: every setting, its value and',
      'where it came from (built-in, defaults, groups.NAME or users.NAME, with file:line),',
      'the layers that apply to USER in order, whether USER is enrolled, and whether the',
      'applied policy already says the same (if not, "diff" shows what apply would change).',
      '',
      'options:',
      '  --json   print {user, uid, groups, enrolled, applied, layers, settings} instead',
      '',
      'exit status: 0 shown, 64 no such user or usage error, 78 the applied policy is damaged',
    ].join('\n'),
    options: { json: { type: 'boolean' } },
    maxArgs: 1,
    run: ({ values, positionals }, io) => {
      const layout = loadLayout();
      return runShow({
        layout,
        env: policyEnv(layout, nssDirectory()),
        name: requireUser(positionals, 'show USER'),
        json: values['json'] === true,
        ...io,
      });
    },
  },
  diff: {
    summary: 'what "apply" would change, user by user',
    usage: 'diff [--json]',
    help: [
      'Compile the installed policy files against the accounts as they are now (group',
      'memberships included) and compare with the applied policy: users who would be',
      'added or dropped, and each setting that would change, before -> after.',
      '',
      'options:',
      '  --json   print {applied, changes: [{user, uid, change, fields}]} instead',
      '',
      'exit status: 0 no changes, 1 changes, 78 the files have errors, 64 usage error',
    ].join('\n'),
    options: { json: { type: 'boolean' } },
    maxArgs: 0,
    run: ({ values }, io) => {
      const layout = loadLayout();
      return runDiff({ layout, env: policyEnv(layout, nssDirectory()), json: values['json'] === true, ...io });
    },
  },
  edit: {
    summary: 'edit a policy file safely: check the copy, loop on errors, then apply (root only)',
    usage: 'edit [FILE]',
    help: [
      'Open a copy of FILE (default /etc/cellsh/policy.yaml; or a NAME.yaml in',
      '/etc/cellsh/policy.d, new or not) in $VISUAL, $EDITOR or editor. When the editor',
      "exits, the whole policy is checked with the copy in FILE's place. With errors you",
      'may edit again or leave FILE unchanged; without, FILE is replaced atomically and',
      'the policy applied. One edit at a time. Nothing is opened while a policy file is one',
      'apply would refuse to trust (see "apply --help").',
      '',
      'exit status: 0 saved and applied (or no change), 78 errors or untrusted files:',
      'FILE unchanged, 1 the editor failed, 77 not root or FILE is being edited, 64 usage error',
    ].join('\n'),
    options: {},
    maxArgs: 1,
    run: ({ positionals }, io) =>
      withAdmin(io, (opts) =>
        runEdit({
          layout: opts.layout,
          env: policyEnv(opts.layout, opts.dir),
          file: positionals[0] ?? opts.layout.policyFile,
          editor: systemEditor(),
          ask: terminalQuestion(),
          apply: opts.apply,
          ...io,
        }),
      ),
  },
  apply: {
    summary: 'validate the policy and install it for the helper (root only)',
    usage: 'apply',
    help: [
      'Validate the installed policy (/etc/cellsh/policy.yaml, then /etc/cellsh/policy.d/',
      '*.yaml in name order) and, if it has no errors, write its compiled form',
      '(/var/lib/cellsh/policy.compiled) atomically ("diff" shows what changes). With errors',
      'nothing changes: the last applied policy keeps working. Logged to the audit log.',
      'A policy file is refused unless root alone could have written it: it and every',
      'folder above it belong to root and are not writable by group or others; a symlink',
      'must stay inside /etc/cellsh; only regular files are read.',
      "Changes take effect at each container's next start.",
      '',
      'exit status: 0 applied, 78 policy rejected (errors or untrusted files), 77 not root,',
      '64 usage error',
    ].join('\n'),
    options: {},
    maxArgs: 0,
    run: (_args, io) => withAdmin(io, (opts) => opts.apply()),
  },
  enroll: {
    summary: 'make USER a cellsh user: login shell, group, then apply (root only)',
    usage: 'enroll USER [--keep-shell]',
    help: [
      'Add USER to the cellsh group (its members may run the helper), make cellsh',
      'their login shell (the old one is remembered for unenroll) and apply the policy.',
      '',
      'options:',
      '  --keep-shell   leave the login shell as it is (sshd ForceCommand deployments);',
      '                 it must read no startup files for -c: /bin/sh (dash) does',
      '',
      'exit status: 0 enrolled, 78 the policy was rejected, 77 not root or unsafe shell, 64 usage error',
    ].join('\n'),
    options: { 'keep-shell': { type: 'boolean' } },
    maxArgs: 1,
    run: ({ positionals, values }, io) =>
      withAdmin(io, (opts) =>
        runEnroll(requireUser(positionals, 'enroll USER'), { ...opts, keepShell: values['keep-shell'] === true }),
      ),
  },
  unenroll: {
    summary: "stop USER's container and undo enroll (root only)",
    usage: 'unenroll USER',
    help: [
      "Stop USER's container, give them back the login shell they had before enroll",
      '(/bin/sh if unknown), take them out of the cellsh group and apply the policy.',
      '',
      'exit status: 0 unenrolled, 78 the policy was rejected, 77 not root, 64 usage error',
    ].join('\n'),
    options: {},
    maxArgs: 1,
    run: ({ positionals }, io) =>
      withAdmin(io, (opts) =>
        runUnenroll(requireUser(positionals, 'unenroll USER'), {
          ...opts,
          stop: (uid) => stopContainer(opts.layout, uid),
        }),
      ),
  },
  doctor: {
    summary: 'check the live system for ways around the containers (root only)',
    usage: 'doctor [--sshd-config FILE] [--pam-file FILE] [--json]',
    help: [
      'Check the install, and for each enrolled user the sshd settings they really get',
      '(sshd -T -C user=NAME), their login shell and the sshd PAM stack. Every finding is',
      'a line: ok, warn, open (a way around the container) or fail (broken), with the fix.',
      '',
      'options:',
      '  --sshd-config FILE   the sshd configuration to check (default /etc/ssh/sshd_config)',
      "  --pam-file FILE      sshd's PAM stack to check (default /etc/pam.d/sshd)",
      '  --json               print {ok, findings} instead',
      '',
      'exit status: 0 nothing open or broken, 1 something is, 77 not root, 64 usage error',
    ].join('\n'),
    options: { 'sshd-config': { type: 'string' }, 'pam-file': { type: 'string' }, json: { type: 'boolean' } },
    maxArgs: 0,
    run: ({ values }, io) => {
      requireRoot("doctor must run as root (it asks sshd for every user's settings)");
      return runDoctor({
        layout: loadLayout(),
        dir: nssDirectory(),
        out: io.out,
        json: values['json'] === true,
        sshdConfig: typeof values['sshd-config'] === 'string' ? values['sshd-config'] : '/etc/ssh/sshd_config',
        pamFile: typeof values['pam-file'] === 'string' ? values['pam-file'] : '/etc/pam.d/sshd',
        sshd: (args) => {
          const r = spawnSync('/usr/sbin/sshd', args, { encoding: 'utf8' });
          return r.error ? undefined : { status: r.status ?? 1, out: r.stdout, err: r.stderr };
        },
      });
    },
  },
  ps: {
    summary: 'list running containers with their memory, CPU and process use (root only)',
    usage: 'ps [--json]',
    help: [
      'List every running container: its user, id and start, and what it uses against its',
      'limits: memory, CPU (in CPUs, measured over half a second) and processes, and how',
      'often it ran into its memory limit (OOM kills) or its process limit.',
      '',
      'options:',
      '  --json   print {cgroup, containers} instead',
      '',
      'exit status: 0, 77 not root, 64 usage error',
    ].join('\n'),
    options: { json: { type: 'boolean' } },
    maxArgs: 0,
    run: ({ values }, io) => {
      requireRoot("ps must run as root (it reads the containers' records)");
      return runPs({
        layout: loadLayout(),
        dir: nssDirectory(),
        out: io.out,
        json: values['json'] === true,
        sampleMs: 500,
      });
    },
  },
  logs: {
    summary: 'the audit log, readable (root only)',
    usage: 'logs [--user U] [-n N] [-f] [--json]',
    help: [
      'Print the audit log (/var/log/cellsh/cellsh.log): logins, containers started,',
      'joined and stopped, exits, refusals, limits reached, policy changes. One line',
      'per event: local time, event, user, then its fields. What users wrote is escaped:',
      'control, C1 and bidi characters as \\uXXXX, bytes that are not UTF-8 as \\xNN.',
      '',
      'options:',
      '  --user U         only events of user U (a name or a uid)',
      '  --lines N, -n N  only the last N of them',
      '  --follow, -f     keep printing new events until interrupted',
      "  --json           print the log's records as JSON lines (filtered, escaped) instead",
      '',
      'exit status: 0, 77 not root, 64 usage error',
    ].join('\n'),
    options: {
      user: { type: 'string' },
      lines: { type: 'string', short: 'n' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
    },
    maxArgs: 0,
    run: async ({ values }, io) => {
      const lines = values['lines'] === undefined ? undefined : Number(values['lines']);
      if (lines !== undefined && !(Number.isInteger(lines) && lines >= 0))
        throw usageError(`logs: --lines needs a whole number, got "${String(values['lines'])}"`, 'logs [--lines N]');
      requireRoot('logs must run as root (the log is readable by root only)');
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        return await runLogs({
          file: loadLayout().logFile,
          user: values['user'] as string | undefined,
          lines,
          follow: values['follow'] === true,
          json: values['json'] === true,
          out: io.out,
          signal: stop.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
  },
  image: {
    summary: 'the image store: import, pull, ls, inspect, rm, gc (root only)',
    usage:
      'image import FILE|DIR [--name N] [--ref R] | pull REF [--name N] | ls [--json] | inspect NAME | rm NAME | gc',
    help: [
      'Images a container can be made from, kept once in the image store',
      "(/var/lib/cellsh/images, root's) however many images and users share their layers.",
      '',
      '  import FILE|DIR  an OCI image layout (a folder, or its tar as skopeo copy oci: or',
      "                   podman save --format oci-archive write), docker save's tar, or a",
      '                   plain root file system (a tar, gzipped or not, or a folder)',
      '  pull REF         from a registry (registry/name:tag or @sha256:...)',
      '  ls               every image: name, digest, size, layers, when, the users whose policy',
      '                   names it, and where it came from',
      '  inspect NAME     one image, with its config and layers, as JSON',
      '  rm NAME          remove an image, and the layers no other image uses',
      '  gc               remove layers no image uses, and what a failed import left',
      '',
      "Every blob is checked against its digest and every layer against the config's",
      'DiffID; a layer is unpacked by cellsh-unpack, confined to its own folder, as ids',
      "of the store's own range. A layer with an unsafe entry is refused whole.",
      '',
      'options:',
      "  --name N          the image's name (default: from the file, folder or tag)",
      '  --ref R           which image of a layout or archive holding several',
      '  --max-size SIZE   the most an archive or a layer may unpack to (default 32G)',
      '  --username U --password-stdin   pull: log in to the registry (the password is read',
      '                    from stdin); a registry asking for a token gets it with these',
      "  --ca-file F       pull: trust this CA (default: the host's, /etc/ssl/certs)",
      '  --insecure        pull: plain http, for a registry on this host only',
      '  --json            ls: print a JSON list instead',
      '',
      'exit status: 0, 64 usage error or no such image, 77 not root or the store is busy,',
      '78 the image is damaged or refused, 1 other failures',
    ].join('\n'),
    options: {
      name: { type: 'string' },
      ref: { type: 'string' },
      'max-size': { type: 'string' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      insecure: { type: 'boolean' },
      'ca-file': { type: 'string' },
      json: { type: 'boolean' },
    },
    maxArgs: 2,
    run: async ({ values, positionals }, io) => {
      const [sub, arg] = positionals;
      const usage = 'image import|pull|ls|inspect|rm|gc; see image --help';
      const needs = (what: string): string => {
        if (arg === undefined) throw usageError(`image ${sub}: ${what} is needed`, usage);
        return arg;
      };
      const layout = loadLayout();
      const store = new ImageStore(layout.imageStore);
      const opts = {
        store,
        out: io.out,
        err: io.err,
        users: () => imageUsers(layout),
        appliedRefs: () => new Set([...appliedImages(layout).map((u) => u.id), ...runningImages(layout)]),
      };
      requireRoot("image commands must run as root (the image store is root's)");
      switch (sub) {
        case 'ls':
          return runImageList({ ...opts, json: values['json'] === true });
        case 'inspect':
          return runImageInspect({ ...opts, name: needs('an image name') });
        case 'rm':
          return runImageRemove({ ...opts, name: needs('an image name') });
        case 'gc':
          return runImageGc(opts);
        case 'import':
        case 'pull': {
          const maxText = values['max-size'] as string | undefined;
          const max = maxText === undefined ? 32n << 30n : parseSizeText(maxText);
          if (max === undefined || max <= 0n)
            throw usageError(`image ${sub}: --max-size needs a size such as 8G, got "${maxText}"`, usage);
          const source = needs(sub === 'import' ? 'a file or folder' : 'a reference such as registry/name:tag');
          const username = values['username'] as string | undefined;
          if ((username === undefined) !== (values['password-stdin'] !== true))
            throw usageError('image pull: --username and --password-stdin go together', usage);
          const password = username === undefined ? undefined : readFileSync(0, 'utf8').replace(/\r?\n$/, '');
          return await runImageImport({
            ...opts,
            range: () =>
              ensureStoreRange(
                () => getpwnam(STORE_USER)?.uid,
                () => listUsers().flatMap((u) => [u.uid, u.gid]),
                (line) => io.out.write(`${line}\n`),
              ),
            unpacker: join(layout.libDir, 'cellsh-unpack'),
            maxBytes: Number(max),
            name: values['name'] as string | undefined,
            ref: values['ref'] as string | undefined,
            bring: (o) =>
              sub === 'import'
                ? importImage(source, o)
                : pullToStore(source, {
                    ...o,
                    auth: username === undefined ? undefined : { username, password: password! },
                    insecure: values['insecure'] === true,
                    caFile: values['ca-file'] as string | undefined,
                  }),
          });
        }
        default:
          throw usageError(sub === undefined ? 'image: which command?' : `image: unknown command "${sub}"`, usage);
      }
    },
  },
  stop: stopVerb('stop', "stop USER's container and everything in it; their sessions are told why (root only)", [
    "Kill every process in USER's container and remove its cgroup and record. Each of",
    'USER\'s sessions prints, as it ends, "cellsh: your container was stopped by the',
    'administrator: TEXT". The next login starts a new container.',
  ]),
  reset: {
    summary: "stop USER's container and discard what they wrote outside their home (root only)",
    usage: 'reset USER [--yes]',
    help: [
      "Stop USER's container and delete their persistent writable layer (persist: true),",
      'so the next login starts from their image as it is: packages they installed and',
      'changes to /etc are gone. Their home is not touched. Asks first on a terminal.',
      '',
      'options:',
      '  --yes   do it without asking (needed where there is no terminal to ask on)',
      '',
      'exit status: 0 reset (or nothing to reset), 77 not root, 64 usage error, no such user or not confirmed',
    ].join('\n'),
    options: { yes: { type: 'boolean' } },
    maxArgs: 1,
    run: ({ positionals, values }, io) =>
      withAdmin(io, (opts) => {
        const ask = terminalQuestion();
        return runReset(requireUser(positionals, 'reset USER'), {
          ...opts,
          yes: values['yes'] === true,
          confirm: ask && ((q) => /^y(es)?$/i.test(ask(q).trim())),
          stop: (uid, notice) => stopContainer(opts.layout, uid, notice),
        });
      }),
  },
  restart: stopVerb('restart', "restart USER's container: stop it now, the next login starts it afresh (root only)", [
    'Stop USER\'s container as "stop" does, telling each session "cellsh: your container',
    'was restarted by the administrator: TEXT; log in again". The next login starts a',
    'new container with the applied policy (use this after a change that needs a restart).',
  ]),
};

/** The stop and restart verbs: the notice the sessions print, then the helper's stop. */
function stopVerb(verb: keyof typeof STOP_TEXT, summary: string, description: string[]): Verb {
  const usage = `${verb} USER [--reason TEXT]`;
  const text = STOP_TEXT[verb];
  return {
    summary,
    usage,
    help: [
      ...description,
      '',
      'options:',
      `  --reason TEXT   why, in ${NOTICE_REASON_MAX} characters at most, no control characters`,
      '',
      `exit status: 0 ${text.status} (or none ran), 77 not root, 64 usage error or no such user`,
    ].join('\n'),
    options: { reason: { type: 'string' } },
    maxArgs: 1,
    run: ({ positionals, values }, io) => {
      const reason = typeof values['reason'] === 'string' ? values['reason'] : undefined;
      if (
        reason !== undefined &&
        (reason.length === 0 || Buffer.byteLength(reason) > NOTICE_REASON_MAX || /[\x00-\x1f\x7f]/.test(reason))
      ) {
        throw usageError(
          `${verb}: --reason wants 1 to ${NOTICE_REASON_MAX} characters without control characters`,
          usage,
        );
      }
      return withAdmin(io, (opts) => {
        const name = requireUser(positionals, `${verb} USER`);
        const user = opts.dir.user(name);
        if (!user)
          throw new CellshError('no-such-user', `no user "${name}" on this host`, { exitCode: ExitCode.usage });
        stopContainer(opts.layout, user.uid, text.notice(reason ?? 'no reason given'));
        io.out.write(`stopped the container of ${name}${text.done}\n`);
        return ExitCode.ok;
      });
    },
  };
}

function requireUser(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw usageError('a user name is needed', usage);
  return positionals[0]!;
}

/** Run an admin verb as root with the real layout, accounts and audit log. */
function withAdmin(io: Io, fn: (opts: EnrollOptions) => number): number {
  const layout = loadLayout();
  requireRoot('this command must run as root');
  const audit = openAuditLog(layout.logFile);
  const dir = nssDirectory();
  const byUid = process.getuid?.() ?? -1;
  try {
    const apply = (): number =>
      runApply({ layout, env: policyEnv(layout, nssDirectory()), log: audit.log, ...io, euid: 0, byUid });
    return fn({ layout, dir, log: audit.log, out: io.out, byUid, apply });
  } finally {
    audit.close();
  }
}

/** The images the applied policy gives, by user. */
function appliedImages(layout: Layout): Array<{ user: string; name: string; id: string }> {
  let users: CompiledUser[] = [];
  try {
    users = parseCompiled(readFileSync(layout.compiledPolicy));
  } catch {
    // none applied
  }
  return users.flatMap((u) => (u.image === 'host' ? [] : [{ user: u.name, name: u.image.name, id: u.image.id }]));
}

/** The layer lists running containers were made from (their records' "image"). */
function runningImages(layout: Layout): string[] {
  const ids: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(layout.stateDir).filter((n) => n.endsWith('.state'));
  } catch {
    return ids;
  }
  for (const n of names) {
    try {
      const m = /^image [a-z0-9][a-z0-9._-]* ([0-9a-f]{64})$/m.exec(readFileSync(join(layout.stateDir, n), 'utf8'));
      if (m) ids.push(m[1]!);
    } catch {
      // gone meanwhile
    }
  }
  return ids;
}

/** Users whose applied or installed policy names each image. */
function imageUsers(layout: Layout): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (image: string, user: string): void => {
    const list = out.get(image) ?? [];
    if (!list.includes(user)) out.set(image, [...list, user]);
  };
  for (const u of appliedImages(layout)) add(u.name, u.user);
  const { files } = policyFiles(layout.policyFile, layout.policyDir);
  const built = buildPolicy(
    files.map((file) => ({ file, trustedIn: policyFolder(layout) })),
    policyEnv(layout, nssDirectory()),
  );
  for (const u of built.users) if (u.image !== 'host') add(u.image.name, u.name);
  return out;
}

function requireRoot(message: string): void {
  if (process.geteuid?.() !== 0)
    throw new CellshError('not-root', message, { hint: 'run it with sudo', exitCode: ExitCode.refused });
}

function topHelp(): string {
  const width = Math.max(...Object.values(VERBS).map((v) => v.usage.length));
  const rows = Object.values(VERBS).map((v) => `  ${v.usage.padEnd(width)}  ${v.summary}`);
  return (
    [
      `usage: ${PROG} <command> [options]`,
      '',
      'commands:',
      ...rows,
      '',
      `Run "${PROG} <command> --help" for a command's details.`,
    ].join('\n') + '\n'
  );
}

function usageError(message: string, usage: string): CellshError {
  return new CellshError('usage', message, { hint: `usage: ${PROG} ${usage}`, exitCode: ExitCode.usage });
}

/** Run one command line (without node and the script); returns the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined) throw usageError('no command given', '<command> [options]; see --help');
    if (name === '--help' || name === '-h' || name === 'help') {
      io.out.write(topHelp());
      return ExitCode.ok;
    }
    const verb = Object.hasOwn(VERBS, name) ? VERBS[name] : undefined;
    if (!verb) {
      const near = closestWord(name, Object.keys(VERBS));
      throw usageError(
        `unknown command "${name}"${near ? `; did you mean "${near}"?` : ''}`,
        '<command> [options]; see --help',
      );
    }
    let parsed: { values: Record<string, unknown>; positionals: string[] };
    try {
      parsed = parseArgs({
        args: [...rest],
        options: { ...verb.options, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      throw usageError(`${name}: ${(err as Error).message.split('. ')[0]}`, verb.usage);
    }
    if (parsed.values['help'] === true) {
      io.out.write(`usage: ${PROG} ${verb.usage}\n\n${verb.summary}.\n\n${verb.help}\n`);
      return ExitCode.ok;
    }
    if (parsed.positionals.length > verb.maxArgs) throw usageError(`${name}: too many arguments`, verb.usage);
    return await verb.run(parsed, io);
  } catch (err) {
    // An image's names and a registry's words reach these messages: escaped.
    io.err.write(
      describeError(PROG, err)
        .split('\n')
        .map((line) => escapeUnsafe(line))
        .join('\n'),
    );
    return exitCodeOf(err);
  }
}

// Run only when this file is the program (not when a test imports it).
if (require.main === module) {
  void main(process.argv.slice(2), { out: process.stdout, err: process.stderr }).then((code) => {
    process.exitCode = code;
  });
}
