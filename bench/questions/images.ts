// What images cost, side by side in one run on one Debian 12 image
// (debootstrap minbase, the quick-start harness's, packed as a gzipped OCI
// archive): importing it with `cellsh-admin image import` against extracting
// the same archive and `umoci unpack`-ing it (the store emptied, and the
// bundle removed, before each run, untimed); a first login into a container
// made from it (`cellsh -c true`, the container stopped before each run),
// with a throw-away layer, a kept one, and a kept one made anew, against
// `crun run` of the unpacked bundle; and what a second user of the image costs
// on disk.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustApply } from '../../test/helpers/install.js';
import { packageRoot } from '../../test/helpers/fixtures.js';
import { tarOf, writeLayout } from '../../test/helpers/images.js';
import type { Bench } from '../context.js';
import { fmtBytes, fmtMs, fmtRatio, sampleStats, type Table } from '../report.js';
import { LOGIN_TRUE, ociConfig } from '../setup/baselines.js';
import { timeRuns, type Command } from '../timer.js';

export interface ImageResults {
  readonly table: Table;
  /** Median import / median extract + umoci unpack. */
  readonly importRatio: number | undefined;
  /** Median first login / median crun run. */
  readonly loginRatio: number | undefined;
}

const NAME = 'bench-debian';

function run(argv: readonly string[], timeoutMs = 600_000): { ok: boolean; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Bytes under a folder, as du counts them (blocks used). */
function diskBytes(dir: string): number {
  return Number(run(['du', '-sB1', dir]).out.split(/\s/)[0] ?? 0);
}

export function measureImages(bench: Bench, policy: string): ImageResults {
  try {
    return measure(bench, policy);
  } catch (err) {
    return notHere(`it failed: ${(err as Error).message.split('\n')[0]}`);
  }
}

function notHere(why: string): ImageResults {
  return {
    table: { title: 'Images', head: ['what', 'result'], rows: [['images', `not here: ${why}`]], notes: [] },
    importRatio: undefined,
    loginRatio: undefined,
  };
}

function measure(bench: Bench, policy: string): ImageResults {
  const { inst, work, users } = bench;
  const none = notHere;
  const base = run([join(packageRoot(), 'test', 'harness', 'fresh-debian.sh'), '--base'], 900_000);
  if (!base.ok) return none(`no Debian base (${base.out.split('\n').at(-1)})`);
  const umoci = '/usr/bin/umoci';
  const dir = join(work, 'images');
  const archive = join(dir, 'debian.oci.tar');
  const extracted = join(dir, 'extracted');
  const bundle = join(dir, 'bundle');
  const { imageStore: store, layerDir } = JSON.parse(readFileSync(join(inst.libDir, 'layout.json'), 'utf8')) as {
    imageStore: string;
    layerDir: string;
  };
  const [first, second] = users.pool as [(typeof users.pool)[0], (typeof users.pool)[0]];
  mkdirSync(dir, { recursive: true });
  bench.progress('images: packing the Debian base as a gzipped OCI archive');
  writeLayout(join(dir, 'layout'), [
    { tag: 'debian', layers: [tarOf(base.out)], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
  ]);
  const packed = run([
    '/usr/bin/skopeo',
    'copy',
    '--quiet',
    `oci:${join(dir, 'layout')}:debian`,
    `oci-archive:${archive}:debian`,
  ]);
  if (!packed.ok) return none(`skopeo could not pack the image (${packed.out})`);
  const archiveBytes = Number(run(['stat', '-c', '%s', archive]).out);
  const forget = `${inst.admin} image rm ${NAME} >/dev/null 2>&1; ${inst.admin} image gc >/dev/null 2>&1; true`;
  try {
    const sizes = { runs: bench.sizes.imageRuns, warmup: 0 };
    bench.progress(`images: import against extract + umoci unpack, ${sizes.runs} runs each, interleaved`);
    const imports: Command[] = [
      {
        name: 'import',
        argv: [inst.admin, 'image', 'import', archive, '--name', NAME],
        pre: ['/bin/sh', '-c', forget],
      },
      {
        name: 'umoci',
        argv: [
          '/bin/sh',
          '-c',
          `mkdir ${extracted} && tar -xf ${archive} -C ${extracted} && ${umoci} --log error unpack --image ${extracted}:debian ${bundle}`,
        ],
        pre: ['/bin/rm', '-rf', extracted, bundle],
      },
    ];
    const importRuns = timeRuns(bench.timer, imports, { ...sizes, timeoutS: 600 });
    for (const k of ['import', 'umoci'])
      if (!sampleStats(importRuns.get(k)))
        return none(`the ${k} runs failed: ${importRuns.get(k)?.error ?? 'no result'}`);
    // The image stays for the logins; the bundle for crun, whose container (ids shifted,
    // as the baselines') must reach its root through umoci's 0700 folders.
    writeFileSync(join(bundle, 'config.json'), ociConfig(join(bundle, 'rootfs'), LOGIN_TRUE, 'images'));
    chmodSync(bundle, 0o755);
    chmodSync(join(bundle, 'rootfs'), 0o755);
    chmodSync(dir, 0o755);
    mustApply(
      inst,
      `${policy}  ${first.name}:\n    image: ${NAME}\n    shell: /bin/bash\n  ${second.name}:\n    image: ${NAME}\n    shell: /bin/bash\n    persist: true\n    limits: {disk: 1G}\n`,
    );
    // Disk: the store before and after a second user's first login, and their
    // kept layer: the file on the host, and what it holds (df inside).
    const kept = join(layerDir, `${second.uid}.ext4`);
    run(['rm', '-f', kept]);
    const before = diskBytes(store);
    const used = spawnSync('su', ['-', second.name, '-c', 'df -B1 / | tail -1'], { encoding: 'utf8' }).stdout ?? '';
    const after = diskBytes(store);
    const upper = Number(used.trim().split(/\s+/)[2] ?? Number.NaN);
    const layerFile = diskBytes(kept);
    bench.progress(`images: first logins into the image's containers against crun run, ${bench.sizes.runs} runs each`);
    const logins: Command[] = [
      {
        name: 'image-cold',
        file: inst.launcher,
        argv: ['cellsh', '-c', 'true'],
        uid: first.uid,
        pre: [inst.helper, 'stop', String(first.uid)],
      },
      {
        name: 'image-kept',
        file: inst.launcher,
        argv: ['cellsh', '-c', 'true'],
        uid: second.uid,
        pre: [inst.helper, 'stop', String(second.uid)],
      },
      {
        name: 'image-new-layer',
        file: inst.launcher,
        argv: ['cellsh', '-c', 'true'],
        uid: second.uid,
        pre: ['/bin/sh', '-c', `${inst.helper} stop ${second.uid} && rm -f ${kept}`],
      },
      {
        name: 'crun-image',
        legacy: bench.baselines.legacyNote !== undefined,
        argv: ['/usr/bin/crun', 'run', '--bundle', bundle, 'cellsh-bench-image'],
      },
    ];
    const loginRuns = timeRuns(bench.timer, logins, { runs: bench.sizes.runs, warmup: bench.sizes.warmup });

    const st = (m: ReturnType<typeof timeRuns>, k: string) => sampleStats(m.get(k));
    const [imp, umo, cold, keptLogin, newLayer, crun] = [
      st(importRuns, 'import'),
      st(importRuns, 'umoci'),
      st(loginRuns, 'image-cold'),
      st(loginRuns, 'image-kept'),
      st(loginRuns, 'image-new-layer'),
      st(loginRuns, 'crun-image'),
    ];
    const row = (label: string, s: typeof imp, vs: typeof imp, vsLabel: string, target: string): string[] =>
      s
        ? [
            label,
            fmtMs(s.median),
            fmtMs(s.min),
            fmtMs(s.max),
            String(s.n),
            vs ? `${fmtRatio(s.median, vs.median)} ${vsLabel}` : '',
            target,
          ]
        : [label, 'failed', '', '', '0', '', target];
    const importRatio = imp && umo ? imp.median / umo.median : undefined;
    const loginRatio = cold && crun ? cold.median / crun.median : undefined;
    return {
      importRatio,
      loginRatio,
      table: {
        title: `Images: one Debian 12 minbase image, a ${fmtBytes(archiveBytes)} gzipped OCI archive`,
        head: ['what', 'median ms', 'min ms', 'max ms', 'runs', 'ratio (medians)', 'target'],
        rows: [
          row(
            '`cellsh-admin image import` of the archive (digests checked, unpacked confined)',
            imp,
            umo,
            'extract + umoci',
            `within 1.5× (${importRatio !== undefined && importRatio <= 1.5 ? 'met' : 'not met'})`,
          ),
          row('`tar -x` of the archive, then `umoci unpack` (as root)', umo, undefined, '', ''),
          row(
            "launcher alone: `cellsh -c true`, first login into the image's container (throw-away layer)",
            cold,
            crun,
            'crun run',
            `at most 1× (${loginRatio !== undefined && loginRatio <= 1 ? 'met' : 'not met'})`,
          ),
          row(
            'the same with a kept 1 GiB layer (persist: true): loop device, ext4 mount',
            keptLogin,
            cold,
            'throw-away',
            '',
          ),
          row('the same, the kept layer made anew (mkfs.ext4 first)', newLayer, cold, 'throw-away', ''),
          row('`crun run` of the unpacked bundle, `bash -c true` (as root)', crun, undefined, '', ''),
          [
            "a second user's first login: the store",
            fmtBytes(after - before),
            '',
            '',
            '1',
            `store ${fmtBytes(after)}`,
            'only their writable layer',
          ],
          [
            "a second user's first login: their kept layer's file on the host (limits.disk 1G, taken whole)",
            fmtBytes(layerFile),
            '',
            '',
            '1',
            Number.isFinite(upper) ? `${fmtBytes(upper)} used inside` : '',
            '',
          ],
        ],
        notes: [
          'The import row runs `cellsh-admin` (Node) as an admin does; its store is emptied (`image rm`, `image gc`) before each run, untimed. The umoci row extracts the same archive and unpacks its layout into a bundle, removed before each run, untimed.',
          "The login rows start a container each run: cellsh's mounts the image's layers under a writable layer (a tmpfs, or the user's ext4 file on a loop device) and builds /etc; crun's runs in the bundle's root, read-only, with ids shifted by 100000 and memory/pids/cpu limits. The made-anew row deletes the layer's file before each run, untimed.",
          "The second user (persist: true, limits.disk 1G) logs in once through `su -`; the store is measured with `du` before and after, their layer's file with `du`, and what it holds with `df` inside.",
        ],
      },
    };
  } finally {
    mustApply(inst, policy);
    for (const u of [first, second]) run([inst.helper, 'stop', String(u.uid)]);
    run(['rm', '-f', join(layerDir, `${second.uid}.ext4`)]);
    run(['/bin/sh', '-c', forget]);
    rmSync(dir, { recursive: true, force: true });
  }
}
