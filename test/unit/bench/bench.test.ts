// The benchmark's arithmetic and its stopwatch's input: a wrong median or a
// mangled argument would print plausible but false tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, stats } from '../../../bench/stats.js';
import { specText } from '../../../bench/timer.js';
import { fmtRatio } from '../../../bench/report.js';

test('bench: median, min, max and nearest-rank percentiles', () => {
  assert.equal(stats([]), undefined);
  const s = stats([5, 1, 4, 2, 3])!;
  assert.deepEqual([s.n, s.median, s.min, s.max], [5, 3, 1, 5]);
  assert.equal(stats([4, 1, 3, 2])!.median, 2.5);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile(hundred, 90), 90);
  assert.equal(percentile([7], 99), 7);
});

test('bench: ratios are a over b, and say so when b is missing', () => {
  assert.equal(fmtRatio(3, 2), '1.50×');
  assert.equal(fmtRatio(1, 0), '–');
});

test('bench: the stopwatch spec escapes what would end or split a line', () => {
  const text = specText([
    {
      name: 'a\tb',
      argv: ['/bin/sh', '-c', 'echo "x\ny" \\ z'],
      uid: 1000,
      pty: true,
      until: '$ ',
      send: 'exit\n',
      env: { SHELL: '/bin/sh' },
      pre: ['/bin/true'],
    },
  ]);
  assert.deepEqual(text.split('\n'), [
    'cmd a\\x09b',
    'uid 1000',
    'pty',
    'until $ ',
    'send exit\\x0a',
    'env SHELL=/bin/sh',
    'pre /bin/true',
    'arg /bin/sh',
    'arg -c',
    'arg echo "x\\x0ay" \\\\ z',
    '',
  ]);
});
