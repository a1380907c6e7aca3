// The relay entry of the launcher's early start (dist/src/cli/attached.js) run
// the wrong way: by hand, or with a channel that is not the helper's. Each
// must end with a plain message and exit code, never a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../helpers/fixtures.js';

const ENTRY = join(packageRoot(), 'dist', 'src', 'cli', 'attached.js');

test('attached.js run by hand (no channel on fd 3) says it belongs to the launcher, exit 64', () => {
  for (const args of [['--', '12345'], ['--', 'x'], []]) {
    const r = spawnSync(process.execPath, [ENTRY, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(r.status, 64, r.stderr);
    assert.equal(
      r.stderr,
      'cellsh: this part of cellsh is started by the cellsh launcher only\ncellsh: log in as usual (ssh, su -), or run cellsh\n',
    );
  }
});

test('attached.js with a channel but no helper child of its own ends with a plain message, not a stack trace', async () => {
  // fd 3 is a socket (Node makes "pipe" stdio a socketpair) closed without
  // "started", and the pid given is not its child, so waitpid fails.
  const child = spawn(process.execPath, [ENTRY, '--', String(process.pid)], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  (child.stdio[3] as NodeJS.WritableStream & { destroy(): void }).destroy(); // the "helper" is gone: EOF
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 70, err);
  assert.match(err, /^cellsh: lost track of the session: waitpid failed \(errno 10\)\n/);
  assert.doesNotMatch(err, /\n\s+at /, 'no stack trace');
});
