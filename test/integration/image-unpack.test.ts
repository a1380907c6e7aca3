// cellsh-unpack, the program that unpacks an image layer, fed crafted hostile
// tars (test/helpers/hostile-tars.py): each is refused whole or made inside
// the layer's folder, never anything outside it, and what it makes is owned by
// the store's range. Also: the sandbox it runs in, and layers over layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../helpers/fixtures.js';
import { skipReason, testInstall } from '../helpers/install.js';
import { must, type Result } from '../helpers/system.js';

const inst = testInstall();
const skip = skipReason(inst);
/** A range no account uses: the tests' own "store". */
const BASE = 3_900_000_000;
const RANGE = 65536;
const PYTHON = '/usr/bin/python3';

/** A scratch area: root's 0700 folder holding the layer and a sentinel beside it. */
function scratch(t: { after(fn: () => void): void }): { dir: string; layer: string; outside: string } {
  const dir = mkdtempSync(join(inst!.root, 'unpack-'));
  const layer = join(dir, 'layer');
  const outside = join(dir, 'outside');
  mkdirSync(layer);
  chownSync(layer, BASE, BASE);
  mkdirSync(outside);
  writeFileSync(join(outside, 'sentinel'), 'untouched\n');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, layer, outside };
}

function unpacker(): string {
  return join(inst!.libDir, 'cellsh-unpack');
}

/** Run cellsh-unpack with input as its stdin (a file: it may stop reading early). */
function unpack(layer: string, input: Buffer, extra: string[] = [], base = String(BASE)): Result {
  const file = join(layer, '..', 'input.tar');
  writeFileSync(file, input);
  const fd = openSync(file, 'r');
  try {
    const r = spawnSync(unpacker(), [...extra, base, base, layer], { stdio: [fd, 'pipe', 'pipe'], timeout: 60_000 });
    const [stdout, stderr] = [r.stdout ?? Buffer.alloc(0), r.stderr ?? Buffer.alloc(0)];
    return { status: r.status ?? 128, stdout, stderr, out: stdout.toString(), err: stderr.toString() };
  } finally {
    closeSync(fd);
    rmSync(file);
  }
}

/** Every path under dir with its mode and owner ("owner" last), for comparisons. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: Buffer, rel: string): void => {
    for (const name of readdirSync(d, { encoding: 'buffer' })) {
      const path = Buffer.concat([d, Buffer.from('/'), name]);
      const st = lstatSync(path);
      const r = `${rel}/${name.toString('latin1')}`;
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(path, r);
    }
  };
  walk(Buffer.from(dir), '');
  return out.sort();
}

/** Host paths the corpus aims at: none may exist after any case. */
const TARGETS = [
  '/pwned',
  '/tmp/pwned',
  '/escape',
  '/escape2',
  '/etc/cellsh-abs',
  '/etc/cellsh-abs2',
  '/global-escape',
  '/dup-escape',
  '/smuggled',
  '/x',
];

function xattrs(path: string): Record<string, string> {
  const r = must(PYTHON, [
    '-c',
    'import os,sys,json; p=sys.argv[1]; print(json.dumps({n: os.getxattr(p,n,follow_symlinks=False).hex() for n in os.listxattr(p,follow_symlinks=False)}))',
    path,
  ]);
  return JSON.parse(r.out) as Record<string, string>;
}

/** The corpus, written once for all cases. */
let corpusDir: string | undefined;
function corpus(name: string): Buffer {
  if (!corpusDir) {
    corpusDir = mkdtempSync(join(inst!.root, 'corpus-'));
    must(PYTHON, [join(packageRoot(), 'test', 'helpers', 'hostile-tars.py'), corpusDir]);
  }
  return readFileSync(join(corpusDir, `${name}.tar`));
}

type Check = (layer: string, r: Result) => void;
const refused =
  (why: RegExp): Check =>
  (_layer, r) => {
    assert.equal(r.status, 77, `refused (77), got ${r.status}: ${r.err}`);
    assert.match(r.err, /^cellsh-unpack: refused: /);
    assert.match(r.err, why);
  };
const made =
  (check: (layer: string, r: Result) => void): Check =>
  (layer, r) => {
    assert.equal(r.status, 0, `unpacked (0), got ${r.status}: ${r.err}`);
    assert.match(r.out, /^done entries=\d+ bytes=\d+$/m);
    check(layer, r);
  };
const isFile = (p: string, content?: string): void => {
  assert.ok(lstatSync(p).isFile(), `${p} is a regular file`);
  if (content !== undefined) assert.equal(readFileSync(p, 'utf8'), content);
};
const isWhiteout = (p: string): void => {
  const st = lstatSync(p);
  assert.ok(st.isCharacterDevice() && st.rdev === 0, `${p} is a whiteout (char 0:0)`);
};

/** What each case of the corpus must come to. */
const CASES: Record<string, Check> = {
  'dotdot-name': refused(/a name has a "\.\." part/),
  'absolute-name': made((l) => isFile(join(l, 'etc/cellsh-abs'))),
  'absolute-multi-slash': made((l) => isFile(join(l, 'etc/cellsh-abs2'))),
  'dotdot-dir-chmod': refused(/a name has a "\.\." part/),
  'empty-name': refused(/the layer's root is not a folder/),
  'nul-in-name': made((l) => isFile(join(l, 'ok'))),
  'non-utf8-name': made((l) =>
    assert.ok(readdirSync(l, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from('caf\xe9', 'latin1')))),
  ),
  'long-name-dotdot-pax': refused(/a name has a "\.\." part/),
  'long-name-dotdot-gnu': refused(/a name has a "\.\." part/),
  'long-link-dotdot': refused(/hard link's target has a "\.\." part/),
  'pax-hardlink-dotdot': refused(/hard link's target has a "\.\." part/),
  'pax-global-dotdot': made((l) => isFile(join(l, 'harmless'))),
  'pax-duplicate-path': refused(/a name has a "\.\." part/),
  'pax-nul-in-path': refused(/a pax header is malformed/),
  'deep-path': refused(/more than 512 parts/),
  'symlink-out-then-write': made((l) => isFile(join(l, 'pwned'))),
  'symlink-abs-then-write': refused(/something that is not a folder is in the way/),
  'symlink-chain': made((l) => isFile(join(l, 'tmp/pwned'))),
  'symlink-loop': refused(/Too many levels of symbolic links/),
  'symlink-replaces-dir-then-write': refused(/something that is not a folder is in the way/),
  'symlink-then-dir-same-name': made((l) => {
    assert.ok(lstatSync(join(l, 'x')).isDirectory(), 'the link was replaced by a folder');
    isFile(join(l, 'x/pwned'));
  }),
  'last-component-symlink': made((l) => isFile(join(l, 'x'), 'replaced')),
  'root-symlink-dot': refused(/the layer's root is not a folder/),
  'root-symlink-slash': refused(/the layer's root is not a folder/),
  'hardlink-dotdot': refused(/hard link's target has a "\.\." part/),
  'hardlink-absolute': refused(/a hard link to etc\/passwd, which is in no layer/),
  'hardlink-through-symlink': refused(/a hard link to s\/passwd, which is in no layer/),
  'hardlink-to-missing': refused(/which is in no layer/),
  'hardlink-to-symlink': made((l) => {
    const [s, h] = [lstatSync(join(l, 's')), lstatSync(join(l, 'h'))];
    assert.ok(h.isSymbolicLink() && h.ino === s.ino, 'h is the link s itself, not what it points to');
  }),
  'hardlink-to-dir': refused(/a hard link to a folder/),
  'hardlink-ok': made((l) => {
    isFile(join(l, 'g'), 'data');
    assert.equal(lstatSync(join(l, 'g')).ino, lstatSync(join(l, 'f')).ino);
  }),
  'hardlink-then-overwrite': made((l) => {
    isFile(join(l, 'f'), 'orig');
    isFile(join(l, 'g'), 'changed');
  }),
  'hardlink-with-body': refused(/a link, folder or device entry carries data/),
  'device-char': made((l, r) => {
    assert.ok(!existsSync(join(l, 'dev/null2')));
    assert.match(r.out, /dropped a device node \(char 1:3\)/);
  }),
  'device-block': made((l, r) => {
    assert.ok(!existsSync(join(l, 'sda')));
    assert.match(r.out, /dropped a device node \(block 8:0\)/);
  }),
  'device-whiteout-overlay': made((l) => assert.ok(!existsSync(join(l, 'hidden')))),
  fifo: made((l) => assert.ok(lstatSync(join(l, 'pipe')).isFIFO())),
  'setuid-root': made((l) => {
    const st = lstatSync(join(l, 'bin/su'));
    assert.equal(st.mode & 0o7777, 0o4755, 'the setuid bit is kept (the store range owns it)');
    assert.deepEqual([st.uid, st.gid], [BASE, BASE]);
  }),
  'uid-too-big': refused(/owner 70000:0 is outside the 65536 ids/),
  'gid-too-big': refused(/owner 0:70000 is outside the 65536 ids/),
  'uid-negative': refused(/numbers are malformed/),
  'unknown-typeflag': refused(/an entry of a type this reader does not know/),
  'whiteout-dotdot': refused(/a whiteout of "\.\."/),
  'whiteout-dot': refused(/a whiteout of "\."/),
  'whiteout-empty': refused(/a whiteout of ""/),
  'whiteout-through-symlink': made((l) => isWhiteout(join(l, 'etc'))),
  'opaque-ok': made((l) => {
    isFile(join(l, 'o/kept'));
    assert.ok(!existsSync(join(l, 'o/.wh..wh..opq')));
    const x = xattrs(join(l, 'o'));
    assert.equal(x['user.overlay.opaque'], '79');
    assert.equal(x['trusted.overlay.opaque'], '79', 'marked for an overlay in trusted mode too');
  }),
  'whiteout-ok': made((l) => isWhiteout(join(l, 'gone'))),
  'xattr-trusted': made((l, r) => {
    assert.deepEqual(xattrs(join(l, 't')), {});
    assert.match(r.out, /dropped the xattr trusted\.overlay\.opaque/);
  }),
  'xattr-overlay-user': made((l) => assert.deepEqual(xattrs(join(l, 'r')), {})),
  'xattr-security-selinux': made((l) => assert.deepEqual(xattrs(join(l, 'f')), {})),
  'xattr-file-capability': made((l) => assert.ok(xattrs(join(l, 'f'))['security.capability'])),
  'xattr-user-ok': made((l) => assert.equal(xattrs(join(l, 'f'))['user.note'], Buffer.from('hello').toString('hex'))),
  'sparse-gnu': refused(/a sparse entry/),
  'sparse-pax': refused(/a sparse entry/),
  'huge-size-truncated': refused(/the archive ends inside it/),
  'size-bomb': made((l) => assert.equal(lstatSync(join(l, 'bomb')).size, 64 << 20)),
  'size-negative': refused(/size is malformed/),
  'bad-octal-size': refused(/size is malformed/),
  'gnu-longname-huge': refused(/header is too large/),
  'pax-header-huge': refused(/header is too large/),
  'many-entries': made((l) => assert.equal(readdirSync(join(l, 'many')).length, 5000)),
  'pax-bad-length': refused(/a pax header is malformed/),
  'pax-zero-length': refused(/a pax header is malformed/),
  'pax-size-smuggle': made((l) => assert.equal(lstatSync(join(l, 'f')).size, 512)),
  'bad-checksum': refused(/checksum is wrong/),
  'name-collision': made((l) => {
    assert.ok(lstatSync(join(l, 'dup')).isDirectory(), 'the later folder replaced the files');
    assert.ok(existsSync(join(l, 'dup/x')));
  }),
  'dir-replaced-by-file': made((l) => isFile(join(l, 'd'))),
  'file-then-child': refused(/Not a directory/),
};

test('every case of the hostile corpus has an expected outcome here, and each one here is in the corpus', {
  skip,
}, () => {
  const listed = must(PYTHON, [join(packageRoot(), 'test', 'helpers', 'hostile-tars.py'), '--list'])
    .out.trim()
    .split('\n');
  assert.deepEqual([...listed].sort(), Object.keys(CASES).sort());
});

test('a hostile layer is refused whole or made inside its folder, never outside, and owned by the store range', {
  skip,
}, (t) => {
  const passwd = readFileSync('/etc/passwd');
  for (const [name, check] of Object.entries(CASES)) {
    const { dir, layer, outside } = scratch(t);
    const before = tree(outside);
    const r = unpack(layer, corpus(name));
    try {
      check(layer, r);
      assert.deepEqual(tree(outside), before, 'nothing beside the layer changed');
      assert.deepEqual(readdirSync(dir).sort(), ['layer', 'outside'], 'nothing was made beside the layer');
      for (const p of TARGETS) assert.ok(!existsSync(p), `${p} was not made`);
      for (const line of tree(layer)) {
        const owner = line.split(' ').at(-1);
        const [uid, gid] = owner!.split(':').map(Number);
        assert.ok(uid! - BASE < RANGE && uid! >= BASE && gid! >= BASE && gid! - BASE < RANGE, `in the range: ${line}`);
      }
      assert.ok(
        !r.err.includes('\x1b') && !r.out.includes('\x1b'),
        'no raw control bytes from the archive reach a terminal',
      );
    } catch (err) {
      throw new Error(`case ${name}: ${(err as Error).message}\nstdout: ${r.out}\nstderr: ${r.err}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(readFileSync('/etc/passwd').equals(passwd), "the host's /etc/passwd is unchanged");
});

test('a layer past --max-bytes or --max-entries is refused', { skip }, (t) => {
  const big = scratch(t);
  const r1 = unpack(big.layer, corpus('size-bomb'), ['--max-bytes', String(1 << 20)]);
  assert.equal(r1.status, 77);
  assert.match(r1.err, /larger than the limit of 1048576 bytes/);
  const many = scratch(t);
  const r2 = unpack(many.layer, corpus('many-entries'), ['--max-entries', '100']);
  assert.equal(r2.status, 77);
  assert.match(r2.err, /more than 100 entries/);
});

test('cellsh-unpack refuses a layer folder that is not empty or not owned by the range, changing nothing', {
  skip,
}, (t) => {
  const s = scratch(t);
  writeFileSync(join(s.layer, 'already'), 'x');
  const r1 = unpack(s.layer, corpus('hardlink-ok'));
  assert.equal(r1.status, 64);
  assert.match(r1.err, /is not empty/);
  const s2 = scratch(t);
  chownSync(s2.layer, 0, 0);
  const r2 = unpack(s2.layer, corpus('hardlink-ok'));
  assert.equal(r2.status, 64);
  assert.match(r2.err, /must be owned by 3900000000:3900000000/);
  assert.deepEqual(readdirSync(s2.layer), []);
  const r3 = unpack(s2.layer, corpus('hardlink-ok'), [], '0');
  assert.equal(r3.status, 64, 'a range starting at host root is refused');
});

test('the unpacker runs as the store range with no_new_privs, only its layer mounted, the layers below read-only, and dies with its parent', {
  skip,
}, async (t) => {
  const s = scratch(t);
  const below = scratch(t);
  assert.equal(unpack(below.layer, pyTar([{ name: 'base', type: 'file', data: 'x' }])).status, 0);
  const child = spawn(unpacker(), ['--lower', below.layer, String(BASE), String(BASE), s.layer], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  child.stdin.write(corpus('hardlink-ok').subarray(0, 512)); // a header, then it waits for the data
  let inner = 0;
  for (let i = 0; i < 100 && !inner; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
    inner = kids ? Number(kids.split(' ')[0]) : 0;
  }
  assert.ok(inner, 'the sandboxed child started');
  const status = readFileSync(`/proc/${inner}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${BASE}\\s+${BASE}\\s+${BASE}\\s+${BASE}$`, 'm'));
  assert.match(status, new RegExp(`^Gid:\\s+${BASE}\\s+${BASE}\\s+${BASE}\\s+${BASE}$`, 'm'));
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  assert.equal(readFileSync(`/proc/${inner}/uid_map`, 'utf8').trim().split(/\s+/).join(' '), `0 ${BASE} ${RANGE}`);
  const mounts = readFileSync(`/proc/${inner}/mountinfo`, 'utf8').trim().split('\n');
  assert.equal(mounts.length, 1, `only the layer is mounted:\n${mounts.join('\n')}`);
  assert.equal(mounts[0]!.split(' ')[4], '/', 'and it is the root');
  const layerDev = lstatSync(s.layer).dev;
  let readOnly = 0;
  for (const fd of readdirSync(`/proc/${inner}/fd`).map(Number)) {
    const path = `/proc/${inner}/fd/${fd}`;
    const st = statSync(path);
    if (fd <= 2) assert.ok(st.isFIFO() || st.isSocket(), `fd ${fd} is one of its pipes`);
    else assert.ok(st.dev === layerDev && st.uid === BASE, `fd ${fd} is of a layer, not of the host`);
    if (st.ino === lstatSync(below.layer).ino) {
      const flags = must(PYTHON, ['-c', 'import os,sys; print(os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY)', path]);
      assert.notEqual(flags.out.trim(), '0', 'the layer below is a read-only mount in the unpacker');
      readOnly++;
    }
  }
  assert.equal(readOnly, 1, 'the layer below is open, once');
  assert.notEqual(readlinkSync(`/proc/${inner}/ns/user`), readlinkSync('/proc/self/ns/user'));
  assert.notEqual(readlinkSync(`/proc/${inner}/ns/net`), readlinkSync('/proc/self/ns/net'));
  // Its parent killed (an import cut short), it does not work on alone.
  process.kill(child.pid!, 'SIGKILL');
  await new Promise((r) => child.on('close', r));
  const gone = (): boolean => {
    try {
      return /^State:\s+Z/m.test(readFileSync(`/proc/${inner}/status`, 'utf8')); // dead, and not reaped yet
    } catch {
      return true;
    }
  };
  for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(gone(), 'the child died with it');
});

test('folders a layer only implies count as entries', { skip }, (t) => {
  const s = scratch(t);
  const deep = Array.from({ length: 50 }, (_, i) => `d${i}`).join('/');
  const r = unpack(s.layer, pyTar([{ name: `${deep}/f`, type: 'file', data: 'x' }]), ['--max-entries', '20']);
  assert.equal(r.status, 77);
  assert.match(r.err, /more than 20 entries/);
});

/** A tar made by python's tarfile from a JSON list of entries (test-only, trusted). */
function pyTar(entries: object[]): Buffer {
  const script = `
import io, json, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as tar:
    for e in json.loads(sys.argv[1]):
        ti = tarfile.TarInfo(e['name'])
        ti.type = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'link': tarfile.LNKTYPE}[e['type']]
        ti.mode = e.get('mode', 0o644)
        ti.uid = ti.gid = e.get('uid', 0)
        ti.linkname = e.get('link', '')
        data = e.get('data', '').encode()
        ti.size = len(data) if e['type'] == 'file' else 0
        tar.addfile(ti, io.BytesIO(data) if ti.size else None)
sys.stdout.buffer.write(out.getvalue())
`;
  return must(PYTHON, ['-c', script, JSON.stringify(entries)]).stdout;
}

test('over a lower layer, a hard link into it is copied and an implied folder takes its owner and mode', {
  skip,
}, (t) => {
  const lower = scratch(t);
  const r1 = unpack(
    lower.layer,
    pyTar([
      { name: 'srv', type: 'dir', mode: 0o750, uid: 1000 },
      { name: 'srv/data', type: 'file', data: 'below', mode: 0o640, uid: 1000 },
    ]),
  );
  assert.equal(r1.status, 0, r1.err);
  const upper = scratch(t);
  const r2 = unpack(
    upper.layer,
    pyTar([
      { name: 'srv/new', type: 'file', data: 'above' },
      { name: 'copy', type: 'link', link: 'srv/data' },
    ]),
    ['--lower', lower.layer],
  );
  assert.equal(r2.status, 0, r2.err);
  assert.match(r2.out, /a hard link to srv\/data in a layer below: copied/);
  isFile(join(upper.layer, 'copy'), 'below');
  const copy = lstatSync(join(upper.layer, 'copy'));
  assert.deepEqual([copy.uid, copy.mode & 0o7777], [BASE + 1000, 0o640]);
  const srv = lstatSync(join(upper.layer, 'srv'));
  assert.deepEqual([srv.uid, srv.mode & 0o7777], [BASE + 1000, 0o750], "the implied srv/ is the lower layer's");
  assert.equal(readFileSync(join(lower.layer, 'srv/data'), 'utf8'), 'below', 'the lower layer is unchanged');
});
