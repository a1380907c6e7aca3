/* cellsh-unpack: unpacks one image layer, an uncompressed tar on stdin, into
 * an empty folder of the image store. `cellsh-admin image` runs it as root
 * (it is not setuid) and checks the stream's digests; the tar itself is
 * untrusted, and no code that reads it runs as root:
 *
 *   cellsh-unpack [--lower DIR]... [--max-bytes N] [--max-entries N] UIDBASE GIDBASE LAYER
 *
 * LAYER must be an empty folder owned by UIDBASE:GIDBASE. The work is done by
 * a child in new user, mount, pid, network, ipc and uts namespaces whose ids
 * 0..65535 are UIDBASE.. and GIDBASE.. on the host (the store's own range),
 * pivoted into LAYER with nothing else mounted. As root there it can give any
 * owner in that range, setuid bits, whiteouts (char 0:0) and user.* xattrs, but
 * no device node, no trusted.* xattr and no file anywhere but LAYER. On top of
 * that every name is resolved inside the layer (openat2 RESOLVE_IN_ROOT) and
 * the last part is never followed; unpack's rules (which entries are refused,
 * which dropped with a note) are in docs/images.md.
 *
 * The lower layers (--lower, the one just below first) are read for a hard
 * link whose target is below this layer (copied in: overlay can't share an
 * inode across layers) and for the owner and mode of a folder this layer only
 * implies.
 *
 * After the child has exited (and with it its pid namespace, so nothing of it
 * runs), the parent, root, walks the layer without following links: it checks
 * every owner is in the range and every device a whiteout, and marks the
 * folders the child marked user.overlay.opaque as trusted.overlay.opaque too,
 * for overlays mounted in trusted mode (Debian 12's tmpfs has no user.*).
 *
 * stdout: "note: ..." lines for what was dropped, then "done entries=N bytes=N".
 * Exit: 0; 77 the layer is refused (one line on stderr says which entry and
 * why); 64 usage; 70 anything else. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <poll.h>

#include "tar.h"
#include "util.h"

#define RANGE 65536u
#define MAX_LOWERS 128
#define MAX_NOTES 50
/* Where the parent binds the layers below, in its own mount namespace. */
#define LOWERS_AT "/tmp"
#define DIR_TIMES_MAX (64u << 20)
/* The longest name an entry may have: with the store's own path in front it
 * stays below PATH_MAX, so the store's tools can always remove it. */
#define ENTRY_NAME_MAX 3840
/* The most parts a name may have: deeper than any real tree, and few enough
 * for the walks below to hold an fd per level. */
#define MAX_DEPTH 512
#define OPAQUE_USER "user.overlay.opaque"
#define OPAQUE_TRUSTED "trusted.overlay.opaque"
#define WHITEOUT ".wh."
#define OPAQUE_MARK ".wh..wh..opq"

struct options {
  uint32_t uid_base, gid_base;
  const char *layer;
  const char *lowers[MAX_LOWERS];
  size_t nlowers;
  uint64_t max_bytes, max_entries;
};

/* A folder's mtime, set once everything in it is made. */
struct dir_time {
  char *name;
  int64_t mtime;
};

/* The child's state while it unpacks. */
struct unpack {
  int root;
  int lowers[MAX_LOWERS];
  size_t nlowers;
  const struct options *o;
  const char *entry; /* the entry being made, for messages */
  uint64_t bytes, entries, notes;
  struct dir_time *dirs;
  size_t ndirs, cap, dir_bytes; /* dir_bytes: of the names kept in dirs */
};

NORETURN static void usage(void) {
  die(EXIT_USAGE, "usage: cellsh-unpack [--lower DIR]... [--max-bytes N] [--max-entries N] UIDBASE GIDBASE LAYER");
}

/* A name from the archive, fit to print: at most 200 bytes, anything but
 * printable ASCII as \xNN (a hostile name may carry terminal escapes). */
static const char *shown_name(const char *s) {
  static char out[4 * 200 + 4];
  size_t n = 0;
  for (size_t i = 0; s[i] && n + 5 < sizeof out; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == 200) {
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      n += (size_t)snprintf(out + n, sizeof out - n, "\\x%02x", c);
    else
      out[n++] = (char)c;
  }
  out[n] = '\0';
  return out;
}

/* Refuse the whole layer, naming the entry. */
NORETURN PRINTF(2, 3) static void refuse(const struct unpack *u, const char *fmt, ...) {
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (u && u->entry)
    die(EXIT_REFUSED, "refused: entry \"%s\": %s", shown_name(u->entry), why);
  die(EXIT_REFUSED, "refused: %s", why);
}

PRINTF(2, 3)
static void note(struct unpack *u, const char *fmt, ...) {
  if (++u->notes > MAX_NOTES)
    return;
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  printf("note: \"%s\": %s\n", shown_name(u->entry ? u->entry : ""), what);
}

/* Each inode the layer gets costs a header's worth of the byte budget (a
 * folder a block's), and counts as an entry: a layer of empty files or of
 * folders its names only imply is bounded like one of data. */
static void charge(struct unpack *u, bool dir) {
  u->bytes += dir ? 4096 : 512;
  if (u->bytes > u->o->max_bytes)
    refuse(u, "the layer is larger than the limit of %llu bytes", (unsigned long long)u->o->max_bytes);
}

static void count_implied(struct unpack *u) {
  if (++u->entries > u->o->max_entries)
    refuse(u, "the layer has more than %llu entries", (unsigned long long)u->o->max_entries);
  charge(u, true);
}

/* name inside the layer, never leaving it, never through a magic link. */
static int resolve(int root, const char *name, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  for (int tries = 0; tries < 16; tries++) { /* EAGAIN: a rename raced a ".." (none runs here) */
    long fd = syscall(SYS_openat2, root, name[0] ? name : ".", &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN)
      return (int)fd;
  }
  return -1;
}

/* A folder this layer implies (a/b/c without a/b) takes its owner and mode
 * from the layer below that has it, else root's 0755. */
static void implied_dir(struct unpack *u, int parent, const char *part, const char *path) {
  for (size_t i = 0; i < u->nlowers; i++) {
    cleanup_fd int fd = resolve(u->lowers[i], path, O_PATH | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
      continue;
    if (!S_ISDIR(st.st_mode))
      break;
    if (fchownat(parent, part, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(parent, part, st.st_mode & 07777, 0) < 0)
      refuse(u, "can't set up the folder %s: %s", shown_name(path), strerror(errno));
    return;
  }
}

/* An O_PATH fd of the folder holding name's last part (*base), made where
 * the layer only implies it. */
static int parent_of(struct unpack *u, const char *name, const char **base) {
  const char *slash = strrchr(name, '/');
  *base = slash ? slash + 1 : name;
  char dir[TAR_NAME_MAX];
  size_t dlen = slash ? (size_t)(slash - name) : 0;
  memcpy(dir, name, dlen);
  dir[dlen] = '\0';
  int fd = resolve(u->root, dir, O_PATH | O_DIRECTORY);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    refuse(u, "its folder can't be used: %s", strerror(errno));
  /* Make the missing folders, one part at a time, each resolved anew. */
  int cur = resolve(u->root, "", O_PATH | O_DIRECTORY);
  for (size_t end = 0; cur >= 0 && end < dlen;) {
    size_t start = end ? end + 1 : 0;
    end = start;
    while (end < dlen && dir[end] != '/')
      end++;
    char prefix[TAR_NAME_MAX];
    memcpy(prefix, dir, end);
    prefix[end] = '\0';
    int next = resolve(u->root, prefix, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      const char *part = prefix + start;
      count_implied(u);
      if (mkdirat(cur, part, 0755) < 0)
        refuse(u, "its folder %s can't be made: %s", shown_name(prefix),
               errno == EEXIST ? "something that is not a folder is in the way" : strerror(errno));
      implied_dir(u, cur, part, prefix);
      next = openat(cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0)
      refuse(u, "its folder %s can't be used: %s", shown_name(prefix), strerror(errno));
    close(cur);
    cur = next;
  }
  if (cur < 0)
    refuse(u, "the layer's root can't be opened: %s", strerror(errno));
  return cur;
}

/* Delete the folder base in parent with all it holds (never following). */
static void remove_tree(struct unpack *u, int parent, const char *base, int depth) {
  if (depth > MAX_DEPTH)
    refuse(u, "it replaces folders nested more than %d deep", MAX_DEPTH);
  int fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (!d)
    refuse(u, "it replaces a folder that can't be read: %s", strerror(errno));
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    struct stat st;
    bool is_dir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      is_dir = S_ISDIR(st.st_mode);
    if (is_dir)
      remove_tree(u, fd, de->d_name, depth + 1);
    else if (unlinkat(fd, de->d_name, 0) < 0)
      refuse(u, "it replaces a folder whose contents can't be removed: %s", strerror(errno));
  }
  closedir(d);
  if (unlinkat(parent, base, AT_REMOVEDIR) < 0)
    refuse(u, "it replaces a folder that can't be removed: %s", strerror(errno));
}

/* Make room for a new entry at base: whatever is there goes, as tar does
 * (the later entry of a name wins), a folder with all it holds. */
static void clear_slot(struct unpack *u, int parent, const char *base) {
  struct stat st;
  if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT)
      refuse(u, "%s", strerror(errno));
    return;
  }
  if (S_ISDIR(st.st_mode))
    remove_tree(u, parent, base, 0);
  else if (unlinkat(parent, base, 0) < 0)
    refuse(u, "the entry it replaces can't be removed: %s", strerror(errno));
}

static bool xattr_allowed(const char *name) {
  if (!strncmp(name, "user.", 5))
    return strncmp(name, "user.overlay.", 13) != 0; /* overlay would read those as its own */
  return !strcmp(name, "security.capability");      /* the kernel stores it for this range */
}

/* Owner, mode (after the owner: chown clears setuid bits) and xattrs of a file
 * or folder, on its fd. */
static void set_attrs(struct unpack *u, int fd, const struct tar_entry *e) {
  if (fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0 || fchmod(fd, e->mode) < 0)
    refuse(u, "can't set its owner or mode: %s", strerror(errno));
  for (size_t i = 0; i < e->nxattrs; i++) {
    const struct tar_xattr *x = &e->xattrs[i];
    if (!xattr_allowed(x->name))
      note(u, "dropped the xattr %s (only user.* but user.overlay.*, and security.capability, are kept)",
           shown_name(x->name));
    else if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0)
      note(u, "dropped the xattr %s: %s", shown_name(x->name), strerror(errno));
  }
}

static void set_mtime(struct unpack *u, int dirfd, const char *base, int64_t mtime, int flags) {
  struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = mtime}};
  if (utimensat(dirfd, base, t, flags) < 0)
    refuse(u, "can't set its time: %s", strerror(errno));
}

/* Copy n bytes from in (or the archive, in < 0) to out, within the layer's size bound. */
static void copy_data(struct unpack *u, struct tar_reader *r, int in, int out, uint64_t n) {
  static char buf[1 << 16];
  while (n > 0) {
    size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
    ssize_t got = in < 0 ? tar_read(r, buf, want) : RETRY(read(in, buf, want));
    if (got <= 0)
      refuse(u, "%s", got == 0 || errno == EIO ? "the archive ends inside it" : strerror(errno));
    u->bytes += (uint64_t)got;
    if (u->bytes > u->o->max_bytes)
      refuse(u, "the layer is larger than the limit of %llu bytes", (unsigned long long)u->o->max_bytes);
    if (!write_all(out, buf, (size_t)got))
      refuse(u, "can't write it: %s", strerror(errno));
    n -= (uint64_t)got;
  }
}

static void make_dir(struct unpack *u, const struct tar_entry *e) {
  int fd;
  if (!e->name[0]) {
    fd = resolve(u->root, "", O_RDONLY | O_DIRECTORY);
  } else {
    const char *base;
    cleanup_fd int parent = parent_of(u, e->name, &base);
    struct stat st;
    if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
      clear_slot(u, parent, base);
    if (mkdirat(parent, base, 0700) < 0 && errno != EEXIST)
      refuse(u, "can't make the folder: %s", strerror(errno));
    fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0)
    refuse(u, "can't open the folder: %s", strerror(errno));
  set_attrs(u, fd, e);
  close(fd);
  /* Its time is set last; the names kept for that are bounded (past the
   * bound a folder keeps the time of its making). */
  u->dir_bytes += strlen(e->name) + 1 + sizeof *u->dirs;
  if (u->dir_bytes > DIR_TIMES_MAX)
    return;
  if (u->ndirs == u->cap) {
    u->cap = u->cap ? u->cap * 2 : 256;
    u->dirs = realloc(u->dirs, u->cap * sizeof *u->dirs);
    if (!u->dirs)
      die(EXIT_INTERNAL, "out of memory");
  }
  u->dirs[u->ndirs].name = strdup(e->name);
  u->dirs[u->ndirs++].mtime = e->mtime;
}

static void make_file(struct unpack *u, struct tar_reader *r, const struct tar_entry *e) {
  const char *base;
  cleanup_fd int parent = parent_of(u, e->name, &base);
  clear_slot(u, parent, base);
  cleanup_fd int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    refuse(u, "can't make the file: %s", strerror(errno));
  copy_data(u, r, -1, fd, e->size);
  set_attrs(u, fd, e);
  set_mtime(u, fd, "", e->mtime, AT_EMPTY_PATH);
}

static void make_symlink(struct unpack *u, const struct tar_entry *e) {
  const char *base;
  cleanup_fd int parent = parent_of(u, e->name, &base);
  clear_slot(u, parent, base);
  if (symlinkat(e->link, parent, base) < 0 ||
      fchownat(parent, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
    refuse(u, "can't make the symbolic link: %s", strerror(errno));
  set_mtime(u, parent, base, e->mtime, AT_SYMLINK_NOFOLLOW);
}

static void make_fifo(struct unpack *u, const struct tar_entry *e) {
  const char *base;
  cleanup_fd int parent = parent_of(u, e->name, &base);
  clear_slot(u, parent, base);
  if (mknodat(parent, base, S_IFIFO | 0600, 0) < 0 ||
      fchownat(parent, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
      fchmodat(parent, base, e->mode, 0) < 0) /* it is the fifo just made: nothing else runs here */
    refuse(u, "can't make the fifo: %s", strerror(errno));
  set_mtime(u, parent, base, e->mtime, AT_SYMLINK_NOFOLLOW);
}

/* A hard link whose target is in no layer so far above: copied from the
 * highest lower layer that has it, as a file of its own. */
static void copy_from_lower(struct unpack *u, int parent, const char *base, const struct tar_entry *e) {
  for (size_t i = 0; i < u->nlowers; i++) {
    cleanup_fd int in = resolve(u->lowers[i], e->link, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (in < 0)
      continue;
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
      refuse(u, "a hard link to %s, which is not a file in the layer below", shown_name(e->link));
    clear_slot(u, parent, base);
    cleanup_fd int out = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
      refuse(u, "can't make the file: %s", strerror(errno));
    copy_data(u, NULL, in, out, (uint64_t)st.st_size);
    if (fchown(out, st.st_uid, st.st_gid) < 0 || fchmod(out, st.st_mode & 07777) < 0)
      refuse(u, "can't set its owner or mode: %s", strerror(errno));
    set_mtime(u, out, "", st.st_mtim.tv_sec, AT_EMPTY_PATH);
    note(u, "a hard link to %s in a layer below: copied", shown_name(e->link));
    return;
  }
  refuse(u, "a hard link to %s, which is in no layer", shown_name(e->link));
}

static void make_hardlink(struct unpack *u, const struct tar_entry *e) {
  if (!strcmp(e->name, e->link))
    return; /* a link to itself: nothing to make */
  const char *base;
  cleanup_fd int parent = parent_of(u, e->name, &base);
  const char *slash = strrchr(e->link, '/');
  const char *tbase = slash ? slash + 1 : e->link;
  char tdir[TAR_NAME_MAX];
  size_t tlen = slash ? (size_t)(slash - e->link) : 0;
  memcpy(tdir, e->link, tlen);
  tdir[tlen] = '\0';
  cleanup_fd int tparent = resolve(u->root, tdir, O_PATH | O_DIRECTORY);
  struct stat st;
  if (tparent < 0 || fstatat(tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    copy_from_lower(u, parent, base, e);
    return;
  }
  if (S_ISDIR(st.st_mode))
    refuse(u, "a hard link to a folder");
  clear_slot(u, parent, base);
  if (linkat(tparent, tbase, parent, base, 0) < 0)
    refuse(u, "can't make the hard link to %s: %s", shown_name(e->link), strerror(errno));
}

/* ".wh.NAME" deletes NAME of the layers below: a char 0:0 device, overlay's
 * own whiteout. ".wh..wh..opq" hides everything below in its folder. */
static void whiteout(struct unpack *u, const struct tar_entry *e) {
  const char *base;
  cleanup_fd int parent = parent_of(u, e->name, &base);
  const char *target = base + strlen(WHITEOUT);
  if (!strcmp(base, OPAQUE_MARK)) {
    cleanup_fd int dir = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 || fsetxattr(dir, OPAQUE_USER, "y", 1, 0) < 0)
      refuse(u, "can't mark its folder opaque: %s", strerror(errno));
    return;
  }
  if (!strncmp(target, WHITEOUT, strlen(WHITEOUT))) {
    note(u, "dropped: an aufs metadata entry");
    return;
  }
  if (!target[0] || !strcmp(target, ".") || !strcmp(target, ".."))
    refuse(u, "a whiteout of \"%s\"", target);
  clear_slot(u, parent, target);
  if (mknodat(parent, target, S_IFCHR, makedev(0, 0)) < 0)
    refuse(u, "can't make the whiteout: %s", strerror(errno));
}

static void apply(struct unpack *u, struct tar_reader *r, const struct tar_entry *e) {
  if (e->uid >= RANGE || e->gid >= RANGE)
    refuse(u, "its owner %llu:%llu is outside the 65536 ids an image may use", (unsigned long long)e->uid,
           (unsigned long long)e->gid);
  size_t parts = 1;
  for (const char *c = e->name; *c; c++)
    parts += *c == '/';
  if (parts > MAX_DEPTH)
    refuse(u, "its name has more than %d parts", MAX_DEPTH);
  if (strlen(e->name) > ENTRY_NAME_MAX || strlen(e->link) > ENTRY_NAME_MAX)
    refuse(u, "its name or link is longer than %d bytes", ENTRY_NAME_MAX);
  charge(u, e->type == TAR_DIR);
  const char *slash = strrchr(e->name, '/');
  if (!strncmp(slash ? slash + 1 : e->name, WHITEOUT, strlen(WHITEOUT))) {
    whiteout(u, e);
    return;
  }
  if (!e->name[0] && e->type != TAR_DIR)
    refuse(u, "the layer's root is not a folder");
  switch (e->type) {
  case TAR_DIR:
    make_dir(u, e);
    break;
  case TAR_FILE:
    make_file(u, r, e);
    break;
  case TAR_SYMLINK:
    make_symlink(u, e);
    break;
  case TAR_HARDLINK:
    make_hardlink(u, e);
    break;
  case TAR_FIFO:
    make_fifo(u, e);
    break;
  case TAR_CHAR:
  case TAR_BLOCK:
    note(u, "dropped a device node (%s %u:%u): a container has its own /dev", e->type == TAR_CHAR ? "char" : "block",
         e->devmajor, e->devminor);
    break;
  default:
    refuse(u, "an entry of an unknown type");
  }
}

/* The child: into the sandbox, then every entry of stdin. */
NORETURN static void unpack_child(const struct options *o, int sync) {
  char go;
  if (RETRY(read(sync, &go, 1)) != 1)
    _exit(EXIT_INTERNAL); /* the parent could not write the id maps: it says why */
  if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't become the store's root in the unpacker's namespace");
  /* It dies with its parent (an import cut short), never working on alone:
   * set after the id change, which clears it, then checked against a parent
   * gone already (its end of the pipe, held until it has waited, closed). */
  struct pollfd alive = {.fd = sync, .events = POLLIN};
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || poll(&alive, 1, 0) != 0)
    _exit(EXIT_INTERNAL);
  close(sync);
  /* The layers below, as the parent bound them read-only: in this namespace,
   * which a less privileged user namespace owns, the kernel has locked them so. */
  int lowers[MAX_LOWERS];
  for (size_t i = 0; i < o->nlowers; i++) {
    char path[32];
    xsnprintf(path, sizeof path, LOWERS_AT "/%zu", i);
    if ((lowers[i] = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
      die_errno(EXIT_INTERNAL, "can't open a layer below in the unpacker");
  }
  /* Bind the layer (the cwd, which the parent chose) over /tmp, the one path
   * here sure to be reachable (it covers the layers below), and make it the
   * root with nothing beneath. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mount(".", "/tmp", NULL, MS_BIND, NULL) < 0 ||
      chdir("/tmp") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't confine the unpacker to the layer's folder");
  struct rlimit files = {1024, 1024}, fsize = {o->max_bytes, o->max_bytes};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || setrlimit(RLIMIT_NOFILE, &files) < 0 ||
      setrlimit(RLIMIT_FSIZE, &fsize) < 0)
    die_errno(EXIT_INTERNAL, "can't limit the unpacker");
  umask(0);
  close_all_but(lowers, o->nlowers);
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct unpack u = {.o = o, .nlowers = o->nlowers};
  memcpy(u.lowers, lowers, o->nlowers * sizeof *lowers);
  u.root = resolve(AT_FDCWD, "/", O_PATH | O_DIRECTORY);
  if (u.root < 0)
    die_errno(EXIT_INTERNAL, "can't open the layer's root");
  static struct tar_reader r;
  static struct tar_entry e;
  tar_init(&r, STDIN_FILENO);
  const char *why = NULL;
  int got;
  while ((got = tar_next(&r, &e, &why)) == 1) {
    u.entry = e.name[0] ? e.name : ".";
    if (++u.entries > o->max_entries)
      refuse(&u, "the layer has more than %llu entries", (unsigned long long)o->max_entries);
    apply(&u, &r, &e);
  }
  if (got < 0) {
    u.entry = NULL;
    refuse(&u, "at entry %llu (byte %llu): %s", (unsigned long long)u.entries + 1, (unsigned long long)r.offset, why);
  }
  /* Folders' times last: making what they hold changed them. */
  u.entry = NULL;
  for (size_t i = u.ndirs; i-- > 0;) {
    cleanup_fd int fd = resolve(u.root, u.dirs[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd >= 0) /* gone, or replaced later: nothing to set */
      set_mtime(&u, fd, "", u.dirs[i].mtime, AT_EMPTY_PATH);
  }
  /* What follows the end blocks is read (the caller's digest covers it), not used. */
  char sink[1 << 14];
  while (RETRY(read(STDIN_FILENO, sink, sizeof sink)) > 0)
    ;
  if (u.notes > MAX_NOTES)
    printf("note: and %llu more\n", (unsigned long long)(u.notes - MAX_NOTES));
  printf("done entries=%llu bytes=%llu\n", (unsigned long long)u.entries, (unsigned long long)u.bytes);
  if (fflush(stdout) != 0)
    _exit(EXIT_INTERNAL);
  _exit(0);
}

/* The parent's check and opaque pass over what the child made. */
struct walk {
  const struct options *o;
  uint64_t opaque;
};

static void check_node(const struct walk *w, const struct stat *st, const char *name) {
  if (st->st_uid - w->o->uid_base >= RANGE || st->st_gid - w->o->gid_base >= RANGE)
    die(EXIT_INTERNAL, "the layer holds %s, owned by %u:%u, outside the store's range", shown_name(name),
        st->st_uid, st->st_gid);
  if ((S_ISCHR(st->st_mode) && st->st_rdev != makedev(0, 0)) || S_ISBLK(st->st_mode))
    die(EXIT_INTERNAL, "the layer holds a device node %s", shown_name(name));
}

static void walk_dir(struct walk *w, int fd, const char *name, int depth) {
  if (depth > MAX_DEPTH)
    die(EXIT_INTERNAL, "the layer's folders are nested too deep to check");
  char value[2];
  ssize_t n = fgetxattr(fd, OPAQUE_USER, value, sizeof value);
  if (n == 1 && value[0] == 'y') {
    if (fsetxattr(fd, OPAQUE_TRUSTED, "y", 1, 0) < 0)
      die_errno(EXIT_INTERNAL, "can't mark %s opaque", shown_name(name));
    w->opaque++;
  }
  DIR *d = fdopendir(fd);
  if (!d)
    die_errno(EXIT_INTERNAL, "can't read the layer's folder %s", shown_name(name));
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      die_errno(EXIT_INTERNAL, "can't check %s", shown_name(de->d_name));
    check_node(w, &st, de->d_name);
    if (S_ISDIR(st.st_mode)) {
      int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0)
        die_errno(EXIT_INTERNAL, "can't open %s", shown_name(de->d_name));
      walk_dir(w, sub, de->d_name, depth + 1);
    }
  }
  closedir(d);
}

static void parse_options(int argc, char **argv, struct options *o) {
  o->max_bytes = 64ull << 30;
  o->max_entries = 4u << 20;
  int i = 1;
  for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (i + 1 >= argc)
      usage();
    if (!strcmp(argv[i], "--lower") && o->nlowers < MAX_LOWERS)
      o->lowers[o->nlowers++] = argv[i + 1];
    else if (!strcmp(argv[i], "--max-bytes") && parse_u64(argv[i + 1], &o->max_bytes) && o->max_bytes > 0)
      continue;
    else if (!strcmp(argv[i], "--max-entries") && parse_u64(argv[i + 1], &o->max_entries) && o->max_entries > 0)
      continue;
    else
      usage();
  }
  if (argc - i != 3 || !parse_u32(argv[i], &o->uid_base) || !parse_u32(argv[i + 1], &o->gid_base))
    usage();
  o->layer = argv[i + 2];
  /* Never a range holding root, and never one that wraps. */
  if (o->uid_base == 0 || o->gid_base == 0 || o->uid_base > UINT32_MAX - RANGE || o->gid_base > UINT32_MAX - RANGE)
    die(EXIT_USAGE, "the store's range must start above 0 and end below 2^32");
}

int main(int argc, char **argv) {
  prog_name = "cellsh-unpack";
  struct options o = {0};
  parse_options(argc, argv, &o);
  if (geteuid() != 0)
    die(EXIT_USAGE, "cellsh-unpack is run by cellsh-admin, as root");

  /* A mount namespace of its own, where the layers below are bound read-only
   * under LOWERS_AT: copied into the child's namespace, which a less privileged
   * user namespace owns, those mounts are locked read-only, so even a child
   * taken over can change nothing of layers other images share. */
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    die_errno(EXIT_INTERNAL, "can't make the unpacker's mount namespace");
  int below[MAX_LOWERS]; /* opened before anything is mounted over their paths */
  for (size_t i = 0; i < o.nlowers; i++)
    if ((below[i] = open(o.lowers[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
      die_errno(EXIT_USAGE, "can't open the lower layer %s", o.lowers[i]);

  cleanup_fd int layer = open(o.layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (layer < 0 || fstat(layer, &st) < 0)
    die_errno(EXIT_USAGE, "can't open the layer folder %s", o.layer);
  if (st.st_uid != o.uid_base || st.st_gid != o.gid_base)
    die(EXIT_USAGE, "the layer folder %s must be owned by %u:%u", o.layer, o.uid_base, o.gid_base);
  {
    DIR *d = fdopendir(openat(layer, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); /* not a dup: its offset would be shared */
    struct dirent *de;
    while (d && (de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
        die(EXIT_USAGE, "the layer folder %s is not empty", o.layer);
    if (!d)
      die_errno(EXIT_INTERNAL, "can't read %s", o.layer);
    closedir(d);
  }
  if (o.nlowers > 0 && mount("tmpfs", LOWERS_AT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") < 0)
    die_errno(EXIT_INTERNAL, "can't prepare the layers below");
  for (size_t i = 0; i < o.nlowers; i++) {
    char at[32], from[32];
    xsnprintf(at, sizeof at, LOWERS_AT "/%zu", i);
    xsnprintf(from, sizeof from, "/proc/self/fd/%d", below[i]);
    if (mkdir(at, 0755) < 0 || mount(from, at, NULL, MS_BIND, NULL) < 0 ||
        mount(NULL, at, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
      die_errno(EXIT_USAGE, "can't bind the lower layer %s read-only", o.lowers[i]);
    close(below[i]);
  }

  struct rlimit files; /* the walk below holds an fd per level */
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 2 * MAX_DEPTH && files.rlim_max >= 2 * MAX_DEPTH) {
    files.rlim_cur = 2 * MAX_DEPTH;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0 || fchdir(layer) < 0)
    die_errno(EXIT_INTERNAL, "can't prepare the unpacker");
  fflush(stdout);
  pid_t pid = (pid_t)syscall(SYS_clone,
                             CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                                 SIGCHLD,
                             NULL, NULL, NULL, 0);
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't start the unpacker in namespaces of its own");
  if (pid == 0) {
    close(sync[1]);
    unpack_child(&o, sync[0]);
  }
  close(sync[0]);
  if (chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "chdir /");
  char path[64], map[64];
  const struct {
    const char *file;
    uint32_t base;
  } maps[] = {{"uid_map", o.uid_base}, {"gid_map", o.gid_base}};
  for (size_t i = 0; i < 2; i++) {
    xsnprintf(path, sizeof path, "/proc/%d/%s", (int)pid, maps[i].file);
    xsnprintf(map, sizeof map, "0 %u %u\n", maps[i].base, RANGE);
    if (!write_file_at(AT_FDCWD, path, map)) {
      kill(pid, SIGKILL);
      die_errno(EXIT_INTERNAL, "can't map the store's range for the unpacker");
    }
  }
  if (write(sync[1], "g", 1) != 1)
    die_errno(EXIT_INTERNAL, "can't start the unpacker");
  int status; /* sync[1] stays open until then: the child's sign that its parent lives */
  if (RETRY(waitpid(pid, &status, 0)) < 0)
    die_errno(EXIT_INTERNAL, "waitpid");
  if (WIFSIGNALED(status))
    die(EXIT_INTERNAL, "the unpacker was killed by signal %d", WTERMSIG(status));
  if (WEXITSTATUS(status) != 0)
    return WEXITSTATUS(status);

  struct walk w = {.o = &o};
  struct stat root;
  if (fstat(layer, &root) < 0)
    die_errno(EXIT_INTERNAL, "can't check the layer");
  check_node(&w, &root, ".");
  walk_dir(&w, steal_fd(&layer), ".", 0);
  if (w.opaque)
    printf("opaque folders=%llu\n", (unsigned long long)w.opaque);
  return 0;
}
