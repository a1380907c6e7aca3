// The route table (src/contract/index.ts): every combination of conditions
// picks the same route in C (the launcher's choose_route, through
// build/test-route) and in TypeScript (chooseRoute); the launcher looks the
// record and the helper up only when a row needs them; docs/routes.md shows
// the table as it stands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { INVOCATIONS, ROUTES, TERMINALS } from '../../../src/contract/index.js';
import { chooseRoute, renderRouteTable, type RouteFacts } from '../../../src/session/route.js';
import { packageRoot } from '../../helpers/fixtures.js';

const binary = join(packageRoot(), 'build', 'test-route');
const skip = existsSync(binary) ? false : 'build/test-route is not built (npm test and test/run.sh build it)';

/** Every combination of the table's conditions. */
function everyFact(): RouteFacts[] {
  const out: RouteFacts[] = [];
  for (const invocation of INVOCATIONS) {
    for (const terminals of TERMINALS) {
      for (const plainRecord of [false, true]) {
        for (const helperRunnable of [false, true]) out.push({ invocation, terminals, plainRecord, helperRunnable });
      }
    }
  }
  return out;
}

test('the routes are the ones the sessions take: a command without terminals skips Node, a terminal session starts early', () => {
  const base: RouteFacts = { invocation: 'command', terminals: 'none', plainRecord: true, helperRunnable: true };
  assert.equal(chooseRoute(base), 'fast');
  assert.equal(
    chooseRoute({ ...base, helperRunnable: false }),
    'fast',
    'the launcher tries, and Node explains if it fails',
  );
  assert.equal(chooseRoute({ ...base, plainRecord: false }), 'node', 'settings of their own: Node reads them');
  assert.equal(chooseRoute({ ...base, terminals: 'interactive' }), 'early');
  assert.equal(chooseRoute({ ...base, invocation: 'login', terminals: 'interactive' }), 'early');
  assert.equal(chooseRoute({ ...base, invocation: 'login' }), 'node', 'a login without a terminal');
  assert.equal(chooseRoute({ ...base, terminals: 'interactive', helperRunnable: false }), 'node');
  assert.equal(chooseRoute({ ...base, terminals: 'closed' }), 'node');
  assert.equal(chooseRoute({ ...base, terminals: 'other' }), 'node');
  assert.equal(chooseRoute({ ...base, invocation: 'other' }), 'node');
});

test('every combination of conditions picks the same route in the launcher as in TypeScript', { skip }, () => {
  const facts = everyFact();
  const input = facts
    .map(
      (f) =>
        `${INVOCATIONS.indexOf(f.invocation)} ${TERMINALS.indexOf(f.terminals)} ${+f.plainRecord} ${+f.helperRunnable}\n`,
    )
    .join('');
  const lines = execFileSync(binary, ['choose'], { input, encoding: 'utf8' }).trimEnd().split('\n');
  assert.equal(lines.length, facts.length);
  const seen = new Set<string>();
  facts.forEach((f, i) => {
    const [route, askedPlain, askedRunnable] = lines[i]!.split(' ').map(Number);
    const ts = chooseRoute(f);
    seen.add(ts);
    assert.equal(ROUTES[route!], ts, JSON.stringify(f));
    // The record is read only for a command without terminals or a terminal session, the helper only for the latter.
    const needsRecord =
      f.invocation !== 'other' &&
      (f.terminals === 'interactive' || (f.invocation === 'command' && f.terminals === 'none'));
    assert.equal(askedPlain, needsRecord ? 1 : 0, `the record looked up: ${JSON.stringify(f)}`);
    assert.equal(
      askedRunnable,
      needsRecord && f.terminals === 'interactive' && f.plainRecord ? 1 : 0,
      `the helper looked at: ${JSON.stringify(f)}`,
    );
  });
  assert.deepEqual([...seen].sort(), [...ROUTES].sort(), 'every route is reachable');
});

test('docs/routes.md shows the route table as the contract has it', () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'routes.md'), 'utf8');
  assert.ok(doc.includes(renderRouteTable()), 'paste renderRouteTable() (src/session/route.ts) into docs/routes.md');
});
