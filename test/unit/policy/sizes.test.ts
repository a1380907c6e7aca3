// Sizes and CPU amounts: exact conversion both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCpu, formatSize, parseCpuText, parseSizeText } from '../../../src/policy/sizes.js';

test('sizes use binary multiples with an optional i and B, any case', () => {
  const cases: Array<[string, bigint]> = [
    ['0', 0n],
    ['1', 1n],
    ['64k', 65536n],
    ['64K', 65536n],
    ['64KB', 65536n],
    ['64KiB', 65536n],
    ['64kib', 65536n],
    ['512M', 512n << 20n],
    ['2G', 2n << 30n],
    ['2GiB', 2n << 30n],
    ['2gb', 2n << 30n],
    ['1T', 1n << 40n],
    ['1.5G', 1610612736n],
    ['0.5M', 524288n],
    ['1 G', 1n << 30n],
    ['100B', 100n],
    ['1.1K', 1126n],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSizeText(text), bytes, text);
});

test('things that are not sizes', () => {
  for (const text of ['', 'lots', '1X', '1iB', '-1', '1.', '.5G', '1e3', '1GG', 'G', '1 2G']) {
    assert.equal(parseSizeText(text), undefined, text);
  }
});

test('formatSize picks the largest exact unit', () => {
  assert.equal(formatSize(2 * 2 ** 30), '2G');
  assert.equal(formatSize(1610612736), '1536M');
  assert.equal(formatSize(32 * 2 ** 20), '32M');
  assert.equal(formatSize(8191 * 2 ** 40), '8191T');
  assert.equal(formatSize(1000), '1000');
  assert.equal(formatSize(0), '0');
});

test('CPU amounts in thousandths, exactly', () => {
  const cases: Array<[string, number]> = [
    ['1.5', 1500],
    ['0.25', 250],
    ['2', 2000],
    ['0.001', 1],
    ['1.500', 1500],
    ['0.1', 100],
    ['1024', 1024000],
  ];
  for (const [text, millis] of cases) assert.equal(parseCpuText(text), millis, text);
  for (const text of ['0.0001', '1.2345', 'x', '-1', '1e3', '']) assert.equal(parseCpuText(text), undefined, text);
});

test('formatCpu writes the shortest decimal', () => {
  assert.equal(formatCpu(1500), '1.5');
  assert.equal(formatCpu(250), '0.25');
  assert.equal(formatCpu(2000), '2');
  assert.equal(formatCpu(1), '0.001');
});
