// Hostile payloads for tests: a shared object whose constructor leaves a
// marker file, and a Node script that does the same. Where a marker appears,
// the payload ran; the folder is world-writable so any user's process can
// leave one. Removed after the test.
import type { TestContext } from 'node:test';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { must } from './system.js';

/** Paths of the payloads and of the markers they leave. */
export interface Payloads {
  readonly dir: string;
  readonly so: string;
  readonly js: string;
  readonly soMarker: string;
  readonly jsMarker: string;
}

/** Build the payloads in a fresh folder under /tmp. */
export function markerPayloads(t: TestContext): Payloads {
  const dir = mkdtempSync('/tmp/cellsh-t-payload-');
  const soMarker = join(dir, 'so-ran');
  const jsMarker = join(dir, 'js-ran');
  writeFileSync(
    join(dir, 'evil.c'),
    `#include <stdio.h>\n__attribute__((constructor)) static void f(void) { FILE *p = fopen("${soMarker}", "w"); if (p) fclose(p); }\n`,
  );
  must('gcc', ['-shared', '-fPIC', '-o', join(dir, 'evil.so'), join(dir, 'evil.c')]);
  writeFileSync(join(dir, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(jsMarker)}, 'x');\n`);
  chmodSync(dir, 0o777);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, so: join(dir, 'evil.so'), js: join(dir, 'evil.js'), soMarker, jsMarker };
}
