#!/usr/bin/python3
"""Write a corpus of small hostile tar files for testing the layer unpacker.

    hostile-tars.py OUTDIR [CASE...]
    hostile-tars.py --list

writes OUTDIR/<case>.tar for every case (or only the ones named) and prints
the case names one per line, in table order; --list only prints them. Each case models one attack a
container-image layer can make on whatever unpacks it: paths that leave the
layer root, links that point out of it, devices, whiteouts and xattrs that the
overlay would honour, and headers that lie about sizes or disagree with
themselves so that two tar readers see two different archives. A few controls
(names ending in -ok, setuid-root, fifo) must unpack.

Headers come from tarfile.TarInfo.tobuf where tarfile can say the thing, and
from raw 512-byte blocks built here where it refuses, normalises, or where the
exact bytes are the point. The corpus is reproducible: every mtime is MTIME.

size-bomb is always written: its 64 MiB of zeros are a hole in the .tar, so
the file reads back as 64 MiB but takes a few KiB on disk (tmpfs and ext4 both
keep holes). Everything else is at most a few KiB, except many-entries
(MANY_ENTRIES headers, about 2.5 MiB).

Python 3 standard library only; runs with Debian 12's /usr/bin/python3 (3.11).
"""
import os
import sys
import tarfile

BLOCK = 512
MTIME = 1_700_000_000  # 2023-11-14; fixed so the corpus is byte-for-byte reproducible
TIB = 1 << 40
BOMB_SIZE = 64 << 20
MANY_ENTRIES = 5000
DEEP_PATH_LEN = 4000

USTAR_MAGIC = b"ustar\x0000"  # POSIX: magic "ustar\0", version "00"
GNU_MAGIC = b"ustar  \x00"  # GNU (oldgnu): magic "ustar ", version " \0"

# Offsets into a ustar header block (POSIX.1-2017, pax "ustar Interchange Format").
NAME, MODE, UID, GID, SIZE, MTIME_FIELD, CHKSUM, TYPEFLAG = 0, 100, 108, 116, 124, 136, 148, 156
LINKNAME, MAGIC, DEVMAJOR, DEVMINOR, PREFIX = 157, 257, 329, 337, 345
# GNU oldgnu header fields that overlay PREFIX (GNU tar's src/tar.h, struct oldgnu_header).
GNU_SPARSE, GNU_ISEXTENDED, GNU_REALSIZE = 386, 482, 483


def raw_bytes(value):
    """str or bytes as bytes; str keeps undecodable bytes (surrogateescape)."""
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value


def number(value, width):
    """A numeric header field: octal + NUL when it fits, else GNU base-256
    (two's complement with the top bit set); bytes are placed as given."""
    if isinstance(value, bytes):
        return value.ljust(width, b"\0")
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    if value >= 0:
        return bytes([0x80]) + value.to_bytes(width - 1, "big")
    return (256**width + value).to_bytes(width, "big")


def put(block, offset, width, value):
    """Place value at offset; it must fit the field."""
    if len(value) > width:
        raise ValueError(f"{value!r} does not fit a {width}-byte field")
    block[offset : offset + len(value)] = value


def header(name, typeflag=b"0", *, size=0, mode=0o644, uid=0, gid=0, linkname=b"",
           major=0, minor=0, gnu=False, fields=(), checksum_error=0):
    """One raw header block. fields are extra (offset, bytes) pairs written
    last; checksum_error is added to the correct checksum."""
    block = bytearray(BLOCK)
    put(block, NAME, 100, raw_bytes(name))
    put(block, MODE, 8, number(mode, 8))
    put(block, UID, 8, number(uid, 8))
    put(block, GID, 8, number(gid, 8))
    put(block, SIZE, 12, number(size, 12))
    put(block, MTIME_FIELD, 12, number(MTIME, 12))
    put(block, TYPEFLAG, 1, typeflag)
    put(block, LINKNAME, 100, raw_bytes(linkname))
    put(block, MAGIC, 8, GNU_MAGIC if gnu else USTAR_MAGIC)
    put(block, DEVMAJOR, 8, number(major, 8))
    put(block, DEVMINOR, 8, number(minor, 8))
    for offset, value in fields:
        put(block, offset, len(value), value)
    # The checksum is the byte sum with the checksum field read as eight spaces,
    # written as six octal digits, NUL, space (what GNU tar writes).
    put(block, CHKSUM, 8, b" " * 8)
    put(block, CHKSUM, 8, b"%06o\0 " % (sum(block) + checksum_error))
    return bytes(block)


def pax_record(key, value):
    """One pax record "LEN KEY=VALUE\\n", where LEN counts its own digits."""
    payload = b" " + raw_bytes(key) + b"=" + raw_bytes(value) + b"\n"
    length = len(payload)
    while len(str(length)) + len(payload) != length:
        length = len(str(length)) + len(payload)
    return str(length).encode() + payload


def padded(data):
    """data followed by NULs up to the next block boundary."""
    return data + b"\0" * (-len(data) % BLOCK)


def entry(name, type=tarfile.REGTYPE, **attrs):
    """A TarInfo with explicit type, mode, owner and mtime; attrs override."""
    info = tarfile.TarInfo(name)
    info.type = type
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = {tarfile.DIRTYPE: 0o755, tarfile.SYMTYPE: 0o777}.get(type, 0o644)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


class Tar:
    """Writes one archive as a stream of blocks: tarfile-made headers, raw
    headers and bodies, then the two-zero-block trailer unless a case clears
    `trailer` to model a stream that just stops."""

    def __init__(self, f):
        self.f = f
        self.trailer = True

    def add(self, info, data=b"", fmt=tarfile.PAX_FORMAT):
        """A tarfile-made entry; a regular file's size is len(data)."""
        if info.isreg():
            info.size = len(data)
        self.head(info, fmt)
        self.f.write(padded(data))

    def head(self, info, fmt=tarfile.PAX_FORMAT):
        """Only the header(s) tarfile makes for info, size as set."""
        self.f.write(info.tobuf(fmt, "utf-8", "surrogateescape"))

    def raw(self, block, data=b""):
        """A hand-made header block and its body."""
        self.f.write(block)
        self.f.write(padded(data))

    def pax(self, records, typeflag=b"x", name="PaxHeaders/entry"):
        """A raw pax extended (x) or global (g) header holding records as given."""
        self.raw(header(name, typeflag, size=len(records)), records)

    def gnu_long(self, typeflag, value):
        """A raw GNU ././@LongLink entry: L (next name) or K (next link target)."""
        value = raw_bytes(value) + b"\0"
        self.raw(header("././@LongLink", typeflag, size=len(value), gnu=True), value)

    def file(self, name, data=b"", **attrs):
        self.add(entry(name, **attrs), raw_bytes(data))

    def dir(self, name, **attrs):
        self.add(entry(name, tarfile.DIRTYPE, **attrs))

    def symlink(self, name, target, **attrs):
        self.add(entry(name, tarfile.SYMTYPE, linkname=target, **attrs))

    def hardlink(self, name, target, **attrs):
        self.add(entry(name, tarfile.LNKTYPE, linkname=target, **attrs))

    def zeros(self, count):
        """count zero bytes of body, left as a hole rather than written."""
        self.f.seek(count + (-count % BLOCK), os.SEEK_CUR)

    def close(self):
        if self.trailer:
            self.f.write(b"\0" * (2 * BLOCK))
        self.f.truncate(self.f.tell())


# --- Paths that leave the layer root ----------------------------------------


def dotdot_name(t):
    """Member names with `..` components that climb out of the layer root."""
    t.raw(header("../escape", size=7), b"escape\n")
    t.raw(header("a/../../escape2", size=8), b"escape2\n")


def absolute_name(t):
    """An absolute member name that would write to the host's /etc."""
    t.raw(header("/etc/cellsh-abs", size=4), b"abs\n")


def absolute_multi_slash(t):
    """Several leading slashes, for strippers that remove only one (node-tar CVE-2021-32804)."""
    t.raw(header("////etc/cellsh-abs2", size=4), b"abs\n")


def dotdot_dir_chmod(t):
    """A directory entry named `..` whose mode 0777 would be applied above the root."""
    t.raw(header("../", b"5", mode=0o777))


def empty_name(t):
    """A regular file with an empty name, i.e. the layer root itself."""
    t.raw(header("", size=6), b"empty\n")


def nul_in_name(t):
    """A name field `ok` NUL `/../../x`: only `ok` is the name; dropping the NUL escapes."""
    t.raw(header(b"ok\0/../../x", size=3), b"ok\n")


def non_utf8_name(t):
    """A name that is not UTF-8 (Latin-1 `cafe` with an acute e); must not be transcoded."""
    t.raw(header(b"caf\xe9", size=5), b"cafe\n")


def long_name_dotdot_pax(t):
    """A pax `path` with `..` over a harmless ustar name."""
    t.file("harmless", b"pax\n", pax_headers={"path": "a/../../escape"})


def long_name_dotdot_gnu(t):
    """A GNU L longname with `..` over a harmless ustar name."""
    t.gnu_long(b"L", "a/../../escape")
    t.raw(header("harmless", size=4, gnu=True), b"gnu\n")


def long_link_dotdot(t):
    """GNU K longlinks: a fine long symlink target, then a hardlink target with `../..`."""
    t.gnu_long(b"K", "a/" * 70 + "target")
    t.raw(header("ok-link", b"2", mode=0o777, linkname="harmless", gnu=True))
    t.gnu_long(b"K", "../../etc/passwd")
    t.raw(header("h", b"1", linkname="harmless", gnu=True))


def pax_hardlink_dotdot(t):
    """A pax `linkpath` with `..` over a harmless ustar hardlink target."""
    t.file("harmless", b"data\n")
    t.hardlink("h", "harmless", pax_headers={"linkpath": "../../etc/passwd"})


def pax_global_dotdot(t):
    """A pax global header whose `path` some readers apply to every later member."""
    t.pax(pax_record("path", "../global-escape"), b"g", "pax_global_header")
    t.file("harmless", b"global\n")


def pax_duplicate_path(t):
    """Two pax `path` records in one header; readers disagree on which wins."""
    t.pax(pax_record("path", "harmless") + pax_record("path", "../dup-escape"))
    t.raw(header("harmless", size=4), b"dup\n")


def pax_nul_in_path(t):
    """A pax `path` with an embedded NUL: C sees `ok`, length-aware readers see an escape."""
    t.pax(pax_record("path", b"ok\0/../../escape"))
    t.raw(header("harmless", size=4), b"nul\n")


def deep_path(t):
    """A DEEP_PATH_LEN-byte path of `a/a/...` through pax, to bound depth and length."""
    path = "a/" * (DEEP_PATH_LEN // 2 - 1) + "ff"
    t.file("deep", b"deep\n", pax_headers={"path": path})


# --- Symbolic links ---------------------------------------------------------


def symlink_out_then_write(t):
    """A symlink to `../../../../..`, then a file written through it."""
    t.symlink("esc", "../../../../..")
    t.file("esc/pwned", b"pwned\n")


def symlink_abs_then_write(t):
    """A symlink to /tmp, then a file written through it."""
    t.symlink("abs", "/tmp")
    t.file("abs/pwned", b"pwned\n")


def symlink_chain(t):
    """A symlink to a symlink to /, then a file written through both."""
    t.symlink("l1", "l2")
    t.symlink("l2", "/")
    t.file("l1/tmp/pwned", b"pwned\n")


def symlink_loop(t):
    """Two symlinks naming each other, then a file written through them (ELOOP, no hang)."""
    t.symlink("l1", "l2")
    t.symlink("l2", "l1")
    t.file("l1/x", b"loop\n")


def symlink_replaces_dir_then_write(t):
    """A directory replaced by a symlink to /tmp, then a file under the old directory name."""
    t.dir("d")
    t.symlink("d", "/tmp")
    t.file("d/pwned", b"pwned\n")


def symlink_then_dir_same_name(t):
    """Symlink to /tmp, then a 0777 dir of its name (CVE-2021-32760 containerd, -32803 node-tar)."""
    t.symlink("x", "/tmp")
    t.dir("x", mode=0o777)
    t.file("x/pwned", b"pwned\n")


def last_component_symlink(t):
    """A symlink to /etc/passwd, then a regular file of its name: replace, never write through."""
    t.symlink("x", "/etc/passwd")
    t.file("x", b"replaced")


def root_symlink_dot(t):
    """A symlink named `.` that would replace the layer root with / (umoci CVE-2021-29136)."""
    t.symlink(".", "/")
    t.file("pwned", b"pwned\n")


def root_symlink_slash(t):
    """A symlink named `/` to /tmp, which strippers turn into the root itself."""
    t.raw(header("/", b"2", mode=0o777, linkname="/tmp"))
    t.file("pwned", b"pwned\n")


# --- Hard links -------------------------------------------------------------


def hardlink_dotdot(t):
    """A hardlink whose target climbs out of the layer."""
    t.hardlink("h", "../../etc/passwd")


def hardlink_absolute(t):
    """A hardlink to /etc/passwd, which is not in the archive."""
    t.hardlink("h", "/etc/passwd")


def hardlink_through_symlink(t):
    """A symlink to /etc, then a hardlink to a file through it."""
    t.symlink("s", "/etc")
    t.hardlink("h", "s/passwd")


def hardlink_to_missing(t):
    """A hardlink to a member that does not exist."""
    t.hardlink("h", "nothere")


def hardlink_to_symlink(t):
    """A hardlink to a symlink to /etc/passwd: linking must not follow the symlink."""
    t.symlink("s", "/etc/passwd")
    t.hardlink("h", "s")


def hardlink_to_dir(t):
    """A hardlink to a directory (EPERM on Linux)."""
    t.dir("d")
    t.hardlink("h", "d")


def hardlink_ok(t):
    """Control: a file and a hardlink to it."""
    t.file("f", b"data", mode=0o644)
    t.hardlink("g", "f")


def hardlink_then_overwrite(t):
    """A hardlink, then a regular file of the link's name: must not change the first file."""
    t.file("f", b"orig", mode=0o644)
    t.hardlink("g", "f")
    t.file("g", b"changed")


def hardlink_with_body(t):
    """Hardlink with a body, written through it (CVE-2016-5418) or read as header `../smuggled`."""
    # libarchive obeys a hardlink's size only after a pax header; GNU tar,
    # tarfile and Go's archive/tar never skip a hardlink body, so they parse
    # the body as the next header.
    t.file("f", b"data", mode=0o644)
    smuggled = header("../smuggled", size=0)
    t.pax(pax_record("path", "g"))
    t.raw(header("g", b"1", size=len(smuggled), linkname="f"), smuggled)


# --- Special files and ownership -------------------------------------------


def device_char(t):
    """A character device (1, 3), the host's /dev/null under another name."""
    t.dir("dev")
    t.add(entry("dev/null2", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666))


def device_block(t):
    """A block device (8, 0), the host's first disk."""
    t.add(entry("sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660))


def device_whiteout_overlay(t):
    """A (0, 0) character device, which overlayfs itself reads as a whiteout."""
    t.add(entry("hidden", tarfile.CHRTYPE, devmajor=0, devminor=0, mode=0o000))


def fifo(t):
    """Control: a FIFO."""
    t.add(entry("pipe", tarfile.FIFOTYPE, mode=0o644))


def setuid_root(t):
    """Control: a setuid-root file, kept (the rootfs is mounted nosuid)."""
    t.dir("bin")
    t.file("bin/su", b"#!/bin/sh\nexit 0\n", mode=0o4755, uid=0, gid=0)


def uid_too_big(t):
    """A file owned by uid 70000, beyond a 65536-id mapping."""
    t.file("f", b"uid\n", uid=70000)


def gid_too_big(t):
    """A file owned by gid 70000, beyond a 65536-id mapping."""
    t.file("f", b"gid\n", gid=70000)


def uid_negative(t):
    """A uid of -1 in GNU base-256 (a "keep owner" sentinel to chown)."""
    t.raw(header("f", size=4, uid=-1, gid=-1, gnu=True), b"neg\n")


def unknown_typeflag(t):
    """An unknown typeflag `Z`, which POSIX says to read as a regular file."""
    t.raw(header("odd", b"Z", size=4), b"odd\n")


# --- Whiteouts --------------------------------------------------------------


def whiteout_dotdot(t):
    """A whiteout `.wh...`, deleting `..`."""
    t.file(".wh...")


def whiteout_dot(t):
    """A whiteout `.wh..`, deleting `.`."""
    t.file(".wh..")


def whiteout_empty(t):
    """A whiteout `.wh.`, deleting the empty name (the directory itself)."""
    t.file(".wh.")


def whiteout_through_symlink(t):
    """A symlink to /, then a whiteout of `etc` through it."""
    t.symlink("esc", "/")
    t.file("esc/.wh.etc")


def opaque_ok(t):
    """Control: an opaque directory with a kept file."""
    t.dir("o")
    t.file("o/.wh..wh..opq")
    t.file("o/kept", b"kept\n")


def whiteout_ok(t):
    """Control: a whiteout of `gone`."""
    t.file(".wh.gone")


# --- Extended attributes ----------------------------------------------------


def xattr_trusted(t):
    """trusted.overlay.opaque on a directory, which a root overlay mount honours."""
    t.dir("t", pax_headers={"SCHILY.xattr.trusted.overlay.opaque": "y"})


def xattr_overlay_user(t):
    """user.overlay.redirect=/etc on a directory, which a userxattr overlay mount honours."""
    t.dir("r", pax_headers={"SCHILY.xattr.user.overlay.redirect": "/etc"})


def xattr_security_selinux(t):
    """A security.selinux label chosen by the image."""
    label = "system_u:object_r:shadow_t:s0"
    t.file("f", b"label\n", pax_headers={"SCHILY.xattr.security.selinux": label})


def xattr_file_capability(t):
    """security.capability granting CAP_SETUID, a setuid bit by another name."""
    # struct vfs_cap_data (linux/capability.h): magic_etc = VFS_CAP_REVISION_2 |
    # VFS_CAP_FLAGS_EFFECTIVE, then permitted/inheritable for caps 0-31 and 32-63.
    # The value is raw bytes, as GNU tar writes it; tarfile would add hdrcharset=BINARY.
    cap_setuid = 1 << 7
    blob = (0x02000001).to_bytes(4, "little") + cap_setuid.to_bytes(4, "little") + bytes(12)
    t.pax(pax_record("SCHILY.xattr.security.capability", blob))
    t.raw(header("f", size=5, mode=0o755), b"caps\n")


def xattr_user_ok(t):
    """Control: an ordinary user.* xattr."""
    t.file("f", b"note\n", pax_headers={"SCHILY.xattr.user.note": "hello"})


# --- Sizes ------------------------------------------------------------------


def sparse_gnu(t):
    """A GNU `S` sparse file of 512 stored bytes claiming a real size of 1 TiB."""
    sparse_map = number(0, 12) + number(BLOCK, 12) + number(TIB, 12) + number(0, 12)
    fields = ((GNU_SPARSE, sparse_map), (GNU_ISEXTENDED, b"\0"), (GNU_REALSIZE, number(TIB, 12)))
    t.raw(header("giant", b"S", size=BLOCK, gnu=True, fields=fields), b"x" * BLOCK)


def sparse_pax(t):
    """A pax GNU sparse 1.0 file of 512 stored bytes claiming a real size of 1 TiB."""
    # Format 1.0 (GNU tar manual, "Storing Sparse Files"): the body starts with
    # the map in decimal lines (count, then offset/size pairs), padded to a block.
    sparse_map = padded(b"2\n0\n512\n%d\n0\n" % TIB)
    pax = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "giant",
        "GNU.sparse.realsize": str(TIB),
    }
    t.file("GNUSparseFile.0/giant", sparse_map + b"x" * BLOCK, pax_headers=pax)


def huge_size_truncated(t):
    """A header claiming 1 TiB of data, then 1 KiB and the end of the stream."""
    t.raw(header("huge", size=TIB, gnu=True), b"x" * 1024)
    t.trailer = False


def size_bomb(t):
    """One valid file of BOMB_SIZE zeros (a hole on disk), to bound bytes per layer."""
    t.head(entry("bomb", size=BOMB_SIZE))
    t.zeros(BOMB_SIZE)


def size_negative(t):
    """A size of -1 in GNU base-256."""
    t.raw(header("neg", size=-1, gnu=True), b"neg\n")


def bad_octal_size(t):
    """A size field that is not octal."""
    t.raw(header("bad", size=b"00000000z12"), b"bad\n")


def gnu_longname_huge(t):
    """A GNU L longname claiming 1 GiB, for readers that allocate it up front."""
    t.raw(header("././@LongLink", b"L", size=1 << 30, gnu=True), b"a" * BLOCK)
    t.trailer = False


def pax_header_huge(t):
    """A pax header claiming 1 GiB of records, for readers that allocate it up front."""
    t.raw(header("PaxHeaders/huge", b"x", size=1 << 30), pax_record("path", "x"))
    t.trailer = False


def many_entries(t):
    """MANY_ENTRIES empty files, to bound the entry count."""
    t.dir("many")
    for i in range(MANY_ENTRIES):
        t.file(f"many/{i:05d}")


# --- Framing and header integrity -------------------------------------------


def pax_bad_length(t):
    """A pax record whose length field overflows 64 bits and the header."""
    t.pax(b"99999999999999999999 path=x\n")
    t.raw(header("harmless", size=4), b"len\n")


def pax_zero_length(t):
    """A pax record of length 0, the infinite loop of Python CVE-2019-20907."""
    t.pax(b"0 path=x\n")
    t.raw(header("harmless", size=4), b"len\n")


def pax_size_smuggle(t):
    """A pax `size` over a ustar size of 0; the 512-byte body is a header for `../smuggled`."""
    smuggled = header("../smuggled", size=0)
    t.pax(pax_record("size", str(len(smuggled))))
    t.raw(header("f", size=0), smuggled)


def bad_checksum(t):
    """A good file, then a header whose checksum is off by one."""
    t.file("ok", b"ok\n")
    t.raw(header("bad", size=4, checksum_error=1), b"bad\n")


# --- Names that collide -----------------------------------------------------


def name_collision(t):
    """The same path as `dup` and `./dup`, then as a directory with a child."""
    t.file("dup", b"one")
    t.file("./dup", b"two")
    t.dir("dup")
    t.file("dup/x", b"x\n")


def dir_replaced_by_file(t):
    """A directory with a child, then a regular file of the directory's name."""
    t.dir("d")
    t.file("d/x", b"x\n")
    t.file("d", b"file\n")


def file_then_child(t):
    """A regular file, then a member under it as though it were a directory."""
    t.file("f", b"file\n")
    t.file("f/child", b"child\n")


CASES = {
    "dotdot-name": dotdot_name,
    "absolute-name": absolute_name,
    "absolute-multi-slash": absolute_multi_slash,
    "dotdot-dir-chmod": dotdot_dir_chmod,
    "empty-name": empty_name,
    "nul-in-name": nul_in_name,
    "non-utf8-name": non_utf8_name,
    "long-name-dotdot-pax": long_name_dotdot_pax,
    "long-name-dotdot-gnu": long_name_dotdot_gnu,
    "long-link-dotdot": long_link_dotdot,
    "pax-hardlink-dotdot": pax_hardlink_dotdot,
    "pax-global-dotdot": pax_global_dotdot,
    "pax-duplicate-path": pax_duplicate_path,
    "pax-nul-in-path": pax_nul_in_path,
    "deep-path": deep_path,
    "symlink-out-then-write": symlink_out_then_write,
    "symlink-abs-then-write": symlink_abs_then_write,
    "symlink-chain": symlink_chain,
    "symlink-loop": symlink_loop,
    "symlink-replaces-dir-then-write": symlink_replaces_dir_then_write,
    "symlink-then-dir-same-name": symlink_then_dir_same_name,
    "last-component-symlink": last_component_symlink,
    "root-symlink-dot": root_symlink_dot,
    "root-symlink-slash": root_symlink_slash,
    "hardlink-dotdot": hardlink_dotdot,
    "hardlink-absolute": hardlink_absolute,
    "hardlink-through-symlink": hardlink_through_symlink,
    "hardlink-to-missing": hardlink_to_missing,
    "hardlink-to-symlink": hardlink_to_symlink,
    "hardlink-to-dir": hardlink_to_dir,
    "hardlink-ok": hardlink_ok,
    "hardlink-then-overwrite": hardlink_then_overwrite,
    "hardlink-with-body": hardlink_with_body,
    "device-char": device_char,
    "device-block": device_block,
    "device-whiteout-overlay": device_whiteout_overlay,
    "fifo": fifo,
    "setuid-root": setuid_root,
    "uid-too-big": uid_too_big,
    "gid-too-big": gid_too_big,
    "uid-negative": uid_negative,
    "unknown-typeflag": unknown_typeflag,
    "whiteout-dotdot": whiteout_dotdot,
    "whiteout-dot": whiteout_dot,
    "whiteout-empty": whiteout_empty,
    "whiteout-through-symlink": whiteout_through_symlink,
    "opaque-ok": opaque_ok,
    "whiteout-ok": whiteout_ok,
    "xattr-trusted": xattr_trusted,
    "xattr-overlay-user": xattr_overlay_user,
    "xattr-security-selinux": xattr_security_selinux,
    "xattr-file-capability": xattr_file_capability,
    "xattr-user-ok": xattr_user_ok,
    "sparse-gnu": sparse_gnu,
    "sparse-pax": sparse_pax,
    "huge-size-truncated": huge_size_truncated,
    "size-bomb": size_bomb,
    "size-negative": size_negative,
    "bad-octal-size": bad_octal_size,
    "gnu-longname-huge": gnu_longname_huge,
    "pax-header-huge": pax_header_huge,
    "many-entries": many_entries,
    "pax-bad-length": pax_bad_length,
    "pax-zero-length": pax_zero_length,
    "pax-size-smuggle": pax_size_smuggle,
    "bad-checksum": bad_checksum,
    "name-collision": name_collision,
    "dir-replaced-by-file": dir_replaced_by_file,
    "file-then-child": file_then_child,
}


def main(argv):
    if argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return
    if len(argv) < 2 or argv[1].startswith("-"):
        print(f"usage: {argv[0]} OUTDIR [CASE...] | --list", file=sys.stderr)
        sys.exit(2)
    outdir, names = argv[1], argv[2:] or list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        sys.exit(f"{argv[0]}: no such case: {', '.join(unknown)}")
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        with open(os.path.join(outdir, f"{name}.tar"), "wb") as f:
            tar = Tar(f)
            CASES[name](tar)
            tar.close()
        print(name)


if __name__ == "__main__":
    main(sys.argv)
