/* An image container's writable layer (layer.h). */
#define _GNU_SOURCE
#include "layer.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tool.h"
#include "trust.h"
#include "util.h"

/* e2fsprogs, priority "required" on Debian (/sbin is /usr/sbin where usr is merged). */
#define MKFS "/sbin/mkfs.ext4"
#define E2FSCK "/sbin/e2fsck"
#define RESIZE2FS "/sbin/resize2fs"
#define TOOL_WAIT_MS 120000
#define BLOCK 4096
/* How long a loop device an old container left bound may take to free itself:
 * the kernel ends a container's mounts a moment after its last process. */
#define DETACH_WAIT_MS 3000
#define LOOP_TRIES 32

/* The tools get the layer's file as their fd 3, never by name: they act on
 * the very file that is then mounted. */
#define FD_PATH "/proc/self/fd/3"

static void run(const char *what, int fd, char *const argv[]) {
  char out[256];
  if (!tool_run(argv, -1, fd, NULL, TOOL_WAIT_MS, out, sizeof out))
    die(EXIT_INTERNAL, "can't %s your writable layer (%s): ask your administrator", what, out[0] ? out : argv[0]);
}

/* e2fsck -p exits 1 when it repaired something: a second run then finds it clean. */
static void check(int fd) {
  char *fsck[] = {E2FSCK, "-f", "-p", FD_PATH, NULL}, out[256];
  if (!tool_run(fsck, -1, fd, NULL, TOOL_WAIT_MS, out, sizeof out))
    run("check", fd, fsck);
}

/* Take size bytes of the host's disk for the file now (from..size), so that
 * a full host disk refuses this start instead of failing writes of a mounted
 * layer later, and one user's layer can't eat the room of another's. */
static void reserve(int fd, uint64_t from, uint64_t size) {
  int e = size > from ? posix_fallocate(fd, (off_t)from, (off_t)(size - from)) : 0;
  if (e == ENOSPC || e == EDQUOT)
    die(EXIT_CONFIG, "the host has no room for your writable layer of %" PRIu64 " MiB: ask your administrator",
        size >> 20);
  if (e != 0) {
    errno = e;
    die_errno(EXIT_INTERNAL, "can't reserve the room of your writable layer");
  }
}

/* Make dir/name (path) an empty ext4 of size bytes, whole or not at all. */
static void create(int dir, const char *name, const char *path, uint64_t size) {
  char tmp[64];
  xsnprintf(tmp, sizeof tmp, "%s.new", name);
  if (unlinkat(dir, tmp, 0) < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't clear \"%s.new\"", path);
  cleanup_fd int fd = RETRY(openat(dir, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't create your writable layer \"%s.new\"", path);
  reserve(fd, 0, size);
  char *mkfs[] = {MKFS, "-q", "-F", "-b", "4096", "-m", "0", "-L", "cellsh", "-E",
                  "root_owner=0:0,nodiscard,lazy_itable_init=1,lazy_journal_init=1", FD_PATH, NULL};
  run("create", fd, mkfs);
  cleanup_fd int sync_dir = RETRY(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fsync(fd) < 0 || renameat(dir, tmp, dir, name) < 0 || sync_dir < 0 || fsync(sync_dir) < 0)
    die_errno(EXIT_INTERNAL, "can't keep your writable layer \"%s\"", path);
}

/* Grow or shrink the ext4 in fd from have to want bytes, offline. */
static void resize(int fd, uint64_t have, uint64_t want) {
  char size[32], out[256];
  xsnprintf(size, sizeof size, "%" PRIu64 "K", want / 1024);
  char *resize2fs[] = {RESIZE2FS, FD_PATH, size, NULL};
  check(fd);
  if (want > have)
    reserve(fd, have, want);
  if (!tool_run(resize2fs, -1, fd, NULL, TOOL_WAIT_MS, out, sizeof out)) {
    if (want < have)
      die(EXIT_REFUSED, "your writable layer holds more than its new size of %" PRIu64 " MiB: ask your administrator "
                        "to raise limits.disk, or to reset your layer",
          want >> 20);
    die(EXIT_INTERNAL, "can't resize your writable layer (%s): ask your administrator", out);
  }
  if (ftruncate(fd, (off_t)want) < 0)
    die_errno(EXIT_INTERNAL, "can't shrink your writable layer");
}

/* Is some loop device still bound to the file (dev, ino)? */
static bool loop_bound(dev_t dev, ino_t ino) {
  DIR *d = opendir("/sys/block");
  if (!d)
    return false;
  bool found = false;
  for (struct dirent *e; !found && (e = readdir(d));) {
    unsigned n;
    char tail, bound[PATH_MAX_LEN], node[32];
    if (sscanf(e->d_name, "loop%u%c", &n, &tail) != 1)
      continue;
    xsnprintf(bound, sizeof bound, "/sys/block/%s/loop/backing_file", e->d_name);
    xsnprintf(node, sizeof node, "/dev/loop%u", n);
    if (access(bound, F_OK) < 0)
      continue;
    cleanup_fd int fd = RETRY(open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    struct loop_info64 info;
    found = fd >= 0 && ioctl(fd, LOOP_GET_STATUS64, &info) == 0 && info.lo_device == (uint64_t)dev &&
            info.lo_inode == (uint64_t)ino;
  }
  closedir(d);
  return found;
}

static void wait_unbound(const struct stat *st, const char *path) {
  uint64_t until = now_ms() + DETACH_WAIT_MS;
  while (loop_bound(st->st_dev, st->st_ino)) {
    if (now_ms() > until)
      die(EXIT_REFUSED, "your writable layer is still held by a process of your last container (losetup -j %s "
                        "shows it); try again in a moment, or ask your administrator",
          path);
    nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
  }
}

/* A free loop device bound to file, autoclearing; its path goes to node. */
static int loop_attach(int file, const char *path, char *node, size_t node_size) {
  cleanup_fd int ctl = RETRY(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
  if (ctl < 0)
    die_errno(EXIT_CONFIG, "a persistent writable layer needs loop devices, and /dev/loop-control can't be "
                           "opened: ask your administrator");
  for (int i = 0; i < LOOP_TRIES; i++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0)
      die_errno(EXIT_CONFIG, "no loop device is free for your writable layer: ask your administrator");
    xsnprintf(node, node_size, "/dev/loop%d", n);
    int loop = RETRY(open(node, O_RDWR | O_CLOEXEC));
    if (loop < 0)
      die_errno(EXIT_CONFIG, "can't open %s for your writable layer: ask your administrator", node);
    struct loop_config cfg = {.fd = (uint32_t)file, .info = {.lo_flags = LO_FLAGS_AUTOCLEAR}};
    xsnprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", path);
    if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0)
      return loop;
    int saved = errno;
    close(loop);
    if (saved != EBUSY) /* another attach took it first: take the next free one */
      die_errno(EXIT_INTERNAL, "can't bind %s to your writable layer", node);
  }
  die(EXIT_INTERNAL, "can't find a free loop device for your writable layer; try again");
}

static bool mount_ext4(int file, const char *path, const char *target) {
  char node[32];
  cleanup_fd int loop = loop_attach(file, path, node, sizeof node);
  return mount(node, target, "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro") == 0;
} /* the mount keeps the device; closing the fd here frees it if the mount failed */

/* The layer names the account it was made for in its root (which only root
 * reaches: the user writes below upper/): a uid the host gave to someone new
 * does not inherit the last owner's files. Written at the first mount. */
static void claim(const struct user_policy *u, const char *target, const char *path) {
  char want[NAME_MAX_LEN + 32];
  xsnprintf(want, sizeof want, "%u %s\n", (unsigned)u->uid, u->name);
  cleanup_fd int root = RETRY(open(target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  cleanup_free char *have = root < 0 ? NULL : read_small_at(root, "owner", 256, NULL);
  if (have && !strcmp(have, want))
    return;
  if (!have && errno == ENOENT) {
    cleanup_fd int fd = RETRY(openat(root, "owner", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd >= 0 && write_all(fd, want, strlen(want)) && fsync(fd) == 0)
      return;
  }
  umount2(target, MNT_DETACH);
  char *nl = have ? strchr(have, '\n') : NULL;
  if (nl)
    *nl = '\0';
  die(EXIT_CONFIG, "the writable layer \"%s\" was made for another account (%s): ask your administrator to reset or "
                   "remove it",
      path, have ? have : "unknown");
}

static void mount_persistent(const struct user_policy *u, uint64_t size, const char *target) {
  size &= ~(uint64_t)(BLOCK - 1);
  char name[32], path[PATH_MAX_LEN + 64];
  xsnprintf(name, sizeof name, "%u.ext4", (unsigned)u->uid);
  xsnprintf(path, sizeof path, "%s/%s", CELLSH_LAYER_DIR, name);
  cleanup_fd int dir = trusted_mkdir(CELLSH_LAYER_DIR, 0700);
  int fd = RETRY(openat(dir, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd < 0 && errno == ENOENT) {
    create(dir, name, path, size);
    fd = RETRY(openat(dir, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  }
  if (fd < 0)
    die_errno(EXIT_CONFIG, "can't open your writable layer \"%s\": ask your administrator", path);
  cleanup_fd int file = fd;
  struct stat st;
  if (fstat(file, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) || st.st_nlink != 1)
    die(EXIT_CONFIG, "your writable layer \"%s\" is not root's own file: ask your administrator", path);
  wait_unbound(&st, path);
  if ((uint64_t)st.st_size != size)
    resize(file, (uint64_t)st.st_size, size);
  if (!mount_ext4(file, path, target)) {
    /* Damaged (a host that went down mid-write and a journal that could not
     * mend it): e2fsck repairs what it safely can, once. */
    check(file);
    if (!mount_ext4(file, path, target))
      die_errno(EXIT_INTERNAL, "can't mount your writable layer \"%s\": ask your administrator", path);
  }
  claim(u, target, path);
}

void layer_mount(const struct user_policy *u, const char *target) {
  enum layer_mode mode;
  uint64_t size;
  if (!layer_parse(u->layer, &mode, &size)) /* policy.c checked it */
    die(EXIT_CONFIG, "the policy's writable layer \"%s\" is invalid", u->layer);
  if (mode == LAYER_PERSISTENT) {
    mount_persistent(u, size, target);
    return;
  }
  char opts[64] = "mode=0700";
  if (size)
    xsnprintf(opts, sizeof opts, "mode=0700,size=%" PRIu64, size);
  if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    die_errno(EXIT_INTERNAL, "can't mount your writable layer");
}
