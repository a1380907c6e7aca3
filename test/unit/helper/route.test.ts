// The launcher's reading of an invocation (route_of in src/helper/launcher.c,
// run through build/test-route) held against Node's (parseInvocation in
// src/session/invocation.ts): wherever the launcher skips Node, it must run
// what Node would have run, and it may leave to Node only what it must.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { packageRoot } from '../../helpers/fixtures.js';
import { parseInvocation, type Invocation } from '../../../src/session/invocation.js';

const binary = join(packageRoot(), 'build', 'test-route');
const skip = existsSync(binary) ? false : 'build/test-route is not built (test/run.sh builds it)';
/** The launcher's path in a build with the default layout (config.h). */
const SELF = '/usr/local/bin/cellsh';

interface Case {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A small seeded generator (mulberry32): the same cases on every run. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const SPACES = [' ', '  ', '\t', '\n', '\v', '\f', '\r', '\u00a0', '\u2028', '\ufeff', '\u3000', '\x1c', '\x85'];
const WORDS = [
  'internal-sftp',
  'internal-sftp',
  'internal-sftpx',
  'xinternal-sftp',
  '-e',
  '-l',
  'VERBOSE',
  '-d',
  '/srv',
  'echo',
  'hi',
  'true',
  'cellsh',
  SELF,
  '/opt/bin/cellsh',
  '',
  '-c',
  '-lc',
  '-cl',
  '--login',
  'é',
  '$HOME',
  ';',
  "'",
];
const FLAGS = ['-c', '-c', '-l', '-lc', '-cl', '--login', '-x', SELF, 'cellsh'];

function cases(count: number): Case[] {
  const r = random(12);
  const pick = <T>(a: readonly T[]): T => a[r(a.length)]!;
  const text = (): string => {
    let s = '';
    for (let i = r(6); i > 0; i--) s += (r(2) ? pick(SPACES) : '') + pick(WORDS);
    return r(4) ? s : s + pick(SPACES);
  };
  return Array.from({ length: count }, () => {
    const args = Array.from({ length: r(4) }, () => (r(2) ? pick(FLAGS) : text()));
    const env: Record<string, string> = {};
    if (r(4)) env['SSH_ORIGINAL_COMMAND'] = r(6) ? text() : '';
    if (!r(10)) env['SSH_AUTH_SOCK'] = pick(['', '/tmp/ssh-x/agent.1']);
    return { args, env };
  });
}

/** The launcher's answers: "node", "login" or the command it would run. */
function launcherRoutes(all: readonly Case[]): string[] {
  const words: string[] = [];
  for (const c of all) {
    const env = Object.entries(c.env).map(([k, v]) => `${k}=${v}`);
    words.push(String(c.args.length + 1), String(env.length), '-cellsh', ...c.args, ...env);
  }
  const r = spawnSync(binary, [], {
    input: Buffer.from(words.map((w) => `${w}\0`).join('')),
    maxBuffer: 1 << 28,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => (l.startsWith('command ') ? Buffer.from(l.slice(8), 'hex').toString('utf8') : `<${l}>`));
}

function nodeReading(c: Case): Invocation | 'usage error' {
  try {
    return parseInvocation(c.args, { self: SELF, originalCommand: c.env['SSH_ORIGINAL_COMMAND'] });
  } catch {
    return 'usage error';
  }
}

test("where the launcher skips Node it runs what Node would, and it leaves to Node only a usage error, a command named cellsh or a request it can't word alike (an agent too is relayed without Node)", {
  skip,
}, () => {
  const all = cases(40_000);
  const routes = launcherRoutes(all);
  assert.equal(routes.length, all.length);
  const seen = { node: 0, login: 0, command: 0, forced: 0 };
  all.forEach((c, i) => {
    const got = routes[i]!;
    const node = nodeReading(c);
    const where = JSON.stringify(c);
    const at = c.args.findIndex((a) => ['-c', '-lc', '-cl'].includes(a));
    const cmdWord = at < 0 ? undefined : c.args[at + 1];
    const request = c.env['SSH_ORIGINAL_COMMAND'];
    if (got === '<node>') {
      seen.node++;
      const allowed =
        node === 'usage error' ||
        (cmdWord !== undefined && cmdWord !== SELF && /(^|\/)cellsh$/.test(cmdWord)) ||
        (request?.includes('internal-sftp') && /[^\x00-\x7f]/.test(request));
      assert.ok(allowed, `left to Node for no reason: ${where}`);
      return;
    }
    assert.notEqual(node, 'usage error', `skipped Node where it would refuse: ${where}`);
    if (got === '<login>') {
      seen.login++;
      assert.deepEqual(node, { kind: 'login' }, where);
    } else {
      seen.command++;
      if (cmdWord === SELF || (at < 0 && request !== undefined)) seen.forced++;
      assert.deepEqual(node, { kind: 'command', command: got }, where);
    }
  });
  // Every kind of answer was met, forced sessions among them.
  for (const [kind, n] of Object.entries(seen)) assert.ok(n > 500, `${kind}: ${n} of ${all.length}`);
});
