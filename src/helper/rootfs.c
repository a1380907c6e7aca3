/* Runs in the container's pid 1 while it is still real root in a private mount
 * namespace and before the user namespace exists, so every mount here belongs
 * to the host's user namespace: nothing in the container can undo ro, nosuid or
 * nodev later (SA-20). Targets live in a tmpfs created here, which no user can
 * have shaped; the only user-controlled source, the home, arrives as an fd. */
#define _GNU_SOURCE
#include "rootfs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config.h"
#include "image.h"
#include "layer.h"
#include "nat.h"
#include "privs.h"
#include "trust.h"
#include "util.h"

/* The new root is assembled on top of the state folder's path: it exists and is
 * root's, and this mount namespace is private, so the host never sees it. For
 * an image, a tmpfs there holds the writable layer and the overlay's work
 * folder beside the root, which is then STAGE/root. */
#define STAGE CELLSH_STATE_DIR
#define IMAGE_ROOT STAGE "/root"

/* Where the root being built is: STAGE or IMAGE_ROOT. */
static const char *base = STAGE;
/* With root inside: the host ids of root there (policy.h's root_ids), who owns
 * the root folder, /root and the files written into /etc. */
static struct root_ids root_ids;
static bool root_inside;

/* Give dir/name (made here just now, not a link) to root inside, if there is one. */
static void give_root(int dir, const char *name) {
  if (root_inside && fchownat(dir, name, root_ids.sub_uid, root_ids.sub_gid, AT_SYMLINK_NOFOLLOW) < 0)
    die_errno(EXIT_INTERNAL, "can't give \"%s\" to root inside", name);
}

/* base/rel, in one of a few buffers used in turn (for mount targets). */
static const char *at(const char *rel) {
  static char buf[4][PATH_MAX_LEN + 64];
  static unsigned next;
  char *out = buf[next++ % 4];
  xsnprintf(out, sizeof buf[0], "%s/%s", base, rel);
  return out;
}

static const char *const usr_links[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

/* Host /etc entries the container must not see: other users, their hashes,
 * subordinate ids, sudo rules and cellsh's own policy. */
static const char *const etc_hidden[] = {
    "passwd-",
    "group-",
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "subuid",
    "subuid-",
    "subgid",
    "subgid-",
    "sudoers",
    "sudoers.d",
    "cellsh",
    ".pwd.lock",
    "security",
};

static void mnt(const char *src, const char *target, const char *type, unsigned long flags, const char *data) {
  if (mount(src, target, type, flags, data) < 0)
    die_errno(EXIT_INTERNAL, "can't mount %s on \"%s\"", type ? type : src ? src
                                                                           : "(remount)",
              target);
}

static void setattr(const char *target, unsigned int flags, uint64_t set) {
  struct mount_attr a = {.attr_set = set};
  if (mount_setattr(AT_FDCWD, target, flags, &a, sizeof a) < 0)
    die_errno(EXIT_INTERNAL, "can't make \"%s\" read-only", target);
}

static void bind_ro(const char *src, const char *target) {
  mnt(src, target, NULL, MS_BIND | MS_REC, NULL);
  setattr(target, AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
}

/* Make dir/name a real folder with mode, each part of name too: whatever else
 * is in the way (an image's symlink, file or device) is removed first, so no
 * path built from it later leads anywhere else. Nothing else writes here yet. */
static void make_dir(int dir, const char *name, mode_t mode) {
  char rel[PATH_MAX_LEN + 1];
  xsnprintf(rel, sizeof rel, "%s", name);
  cleanup_fd int cur = RETRY(openat(dir, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (char *part = rel, *next; part; part = next) {
    next = strchr(part, '/');
    if (next)
      *next++ = '\0';
    struct stat st;
    if (fstatat(cur, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) && unlinkat(cur, part, 0) < 0)
      die_errno(EXIT_INTERNAL, "can't clear the way for \"%s\"", name);
    if (mkdirat(cur, part, next ? 0755 : mode) < 0 && errno != EEXIST)
      die_errno(EXIT_INTERNAL, "can't create \"%s\" in the container", name);
    if (!next && fchmodat(cur, part, mode, 0) < 0) /* a folder, checked above: not followed anywhere */
      die_errno(EXIT_INTERNAL, "can't set the mode of \"%s\"", name);
    int sub = RETRY(openat(cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub < 0)
      die_errno(EXIT_INTERNAL, "can't open \"%s\" in the container", name);
    close(cur);
    cur = sub;
  }
}

/* Clear dir/name out of the way, whatever it is, following nothing: a folder
 * with something in it (root inside may make one where a file goes) is moved
 * aside within the folder, for its owner to remove. */
static void clear_entry(int dir, const char *name) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || unlinkat(dir, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0)
    return;
  char hex[13], aside[64];
  random_hex(hex, 6);
  xsnprintf(aside, sizeof aside, ".cellsh-moved-%s", hex);
  if ((errno != ENOTEMPTY && errno != EEXIST) || renameat(dir, name, dir, aside) < 0)
    die_errno(EXIT_INTERNAL, "can't replace /etc/%s for the container", name);
}

static void make_file(int dir, const char *name, const char *content) {
  clear_entry(dir, name);
  cleanup_fd int fd = RETRY(openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd < 0 || !write_all(fd, content, strlen(content)))
    die_errno(EXIT_INTERNAL, "can't write /etc/%s for the container", name);
}

static void make_link(int dir, const char *target, const char *name) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode))
      return; /* an image's own folder: kept */
    if (unlinkat(dir, name, 0) < 0)
      die_errno(EXIT_INTERNAL, "can't replace \"%s\"", name);
  }
  if (symlinkat(target, dir, name) < 0)
    die_errno(EXIT_INTERNAL, "can't create the link \"%s\"", name);
}

int open_home(const struct user_policy *u) {
  const char *slash = strrchr(u->home, '/');
  char parent[PATH_MAX_LEN + 1];
  xsnprintf(parent, sizeof parent, "%.*s", (int)(slash - u->home), u->home);
  cleanup_fd int up = trusted_dir(parent[0] ? parent : "/");
  fs_as_user(u->uid, u->gid);
  int fd = RETRY(openat(up, slash + 1, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  int saved = errno;
  fs_as_root();
  errno = saved;
  if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
    die(EXIT_REFUSED, "your home \"%s\" is a symlink or not a folder; cellsh binds only a real "
                      "folder: ask your administrator",
        u->home);
  if (fd < 0)
    die_errno(EXIT_REFUSED, "can't open your home \"%s\"", u->home);
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_uid != u->uid)
    die(EXIT_REFUSED, "your home \"%s\" does not belong to you (owner %u); ask your administrator",
        u->home, (unsigned)st.st_uid);
  return fd;
}

/* The container's /etc folder, made a real folder first. */
static int open_etc(int root) {
  make_dir(root, "etc", 0755);
  int etc = RETRY(openat(root, "etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (etc < 0)
    die_errno(EXIT_INTERNAL, "can't open the container's /etc");
  return etc;
}

/* The container's own names: hostname, hosts, and the NAT's DNS forwarder
 * (nat.h) for a private network. */
static void write_names(int etc, const struct user_policy *u) {
  char buf[512];
  xsnprintf(buf, sizeof buf, "%s\n", u->hostname);
  make_file(etc, "hostname", buf);
  xsnprintf(buf, sizeof buf, "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            u->hostname);
  make_file(etc, "hosts", buf);
  if (u->network == NETWORK_PRIVATE)
    make_file(etc, "resolv.conf", "nameserver " NAT_DNS "\n");
}

/* /etc: the host's, read-only, through an overlay whose upper lower layer holds
 * the synthesized files and whiteouts (0/0 character devices) for hidden ones. */
static void build_etc(int root, const struct user_policy *u) {
  cleanup_fd int etc = open_etc(root);
  char buf[4 * PATH_MAX_LEN + 512];
  xsnprintf(buf, sizeof buf,
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            "%s:x:%u:%u:%s:%s:%s\n",
            u->name, (unsigned)u->uid, (unsigned)u->gid, u->name, u->home, u->shell);
  make_file(etc, "passwd", buf);
  xsnprintf(buf, sizeof buf, "root:x:0:\nnogroup:x:65534:\n");
  if (u->gid != 0 && u->gid != 65534)
    xsnprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s:x:%u:\n", u->group, (unsigned)u->gid);
  make_file(etc, "group", buf);
  write_names(etc, u);
  make_file(etc, "nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
                                  "networks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n");
  for (size_t i = 0; i < sizeof etc_hidden / sizeof *etc_hidden; i++)
    if (mknodat(etc, etc_hidden[i], S_IFCHR | 0000, makedev(0, 0)) < 0)
      die_errno(EXIT_INTERNAL, "can't hide /etc/%s", etc_hidden[i]);
  mnt("overlay", STAGE "/etc", "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV,
      "lowerdir=" STAGE "/etc:/etc");
}

/* /usr read-only, and bin, sbin, lib... as the host has them: links on a
 * usr-merged host, read-only binds where they are real folders. */
static void build_usr(int root) {
  make_dir(root, "usr", 0755);
  bind_ro("/usr", STAGE "/usr");
  for (size_t i = 0; i < sizeof usr_links / sizeof *usr_links; i++) {
    char host[16], target[PATH_MAX_LEN + 1], stage[64];
    xsnprintf(host, sizeof host, "/%s", usr_links[i]);
    struct stat st;
    if (lstat(host, &st) < 0)
      continue;
    if (S_ISLNK(st.st_mode)) {
      ssize_t n = readlink(host, target, sizeof target - 1);
      if (n <= 0)
        die_errno(EXIT_INTERNAL, "can't read the link \"%s\"", host);
      target[n] = '\0';
      make_link(root, target, usr_links[i]);
    } else if (S_ISDIR(st.st_mode)) {
      make_dir(root, usr_links[i], 0755);
      xsnprintf(stage, sizeof stage, STAGE "/%s", usr_links[i]);
      bind_ro(host, stage);
    }
  }
}

static void build_dev(int root) {
  make_dir(root, "dev", 0755);
  mnt("tmpfs", at("dev"), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
  cleanup_fd int dev = RETRY(openat(root, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  static const struct {
    const char *name;
    unsigned maj, min;
  } nodes[] = {
      {"null", 1, 3},
      {"zero", 1, 5},
      {"full", 1, 7},
      {"random", 1, 8},
      {"urandom", 1, 9},
      {"tty", 5, 0},
  };
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++)
    if (dev < 0 || mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0)
      die_errno(EXIT_INTERNAL, "can't create /dev/%s for the container", nodes[i].name);
  make_link(dev, "/proc/self/fd", "fd");
  make_link(dev, "/proc/self/fd/0", "stdin");
  make_link(dev, "/proc/self/fd/1", "stdout");
  make_link(dev, "/proc/self/fd/2", "stderr");
  make_link(dev, "pts/ptmx", "ptmx");
  make_dir(dev, "pts", 0755);
  make_dir(dev, "shm", 01777);
  /* Its own devpts instance: the container's terminals are invisible outside
   * and outside terminals are invisible in it (SA-31). */
  mnt("devpts", at("dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  mnt("tmpfs", at("dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  setattr(at("dev"), 0, MOUNT_ATTR_RDONLY);
}

/* /run as a login on a Debian host finds it: /run/lock and /run/screen for
 * everyone (Debian's screen is not setuid, so it wants its folder 1777), and
 * the user's runtime folder, XDG_RUNTIME_DIR (gpg-agent, dbus --session), a
 * tmpfs of its own as logind makes it. Written pages count against the
 * user's memory limit. Then /run/cellsh/agents, the user's own, for the SSH
 * agent sockets of sessions. */
static void build_run(int root, const struct user_policy *u) {
  make_dir(root, "run", 0755);
  mnt("tmpfs", at("run"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
  make_dir(root, "run/lock", 01777);
  make_dir(root, "run/screen", 01777);
  make_dir(root, "run/user", 0755);
  char runtime[32], target[PATH_MAX_LEN + 64];
  xsnprintf(runtime, sizeof runtime, RUNTIME_DIR_FMT, (unsigned)u->uid);
  xsnprintf(target, sizeof target, "%s%s", base, runtime);
  make_dir(root, runtime + 1, 0700);
  mnt("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=10%");
  if (fchownat(root, runtime + 1, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) < 0)
    die_errno(EXIT_INTERNAL, "can't give %s to the user", runtime);
  make_dir(root, "run/cellsh", 0755);
  make_dir(root, AGENTS_DIR + 1, 0700);
  if (fchownat(root, AGENTS_DIR + 1, u->uid, u->gid, AT_SYMLINK_NOFOLLOW) < 0)
    die_errno(EXIT_INTERNAL, "can't give %s to the user", AGENTS_DIR);
}

static void bind_home(int root, int home_fd, const struct user_policy *u, int idmap) {
  make_dir(root, u->home + 1, 0755);
  cleanup_fd int tree = (int)syscall(SYS_open_tree, home_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0)
    die_errno(EXIT_INTERNAL, "can't bind your home \"%s\"", u->home);
  struct mount_attr a = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
  if (idmap >= 0) { /* root inside: the user's own ids alone (ns.c) */
    struct mount_attr m = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)idmap};
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &m, sizeof m) < 0)
      die_errno(EXIT_CONFIG, "root inside needs your home \"%s\" on a file system that takes idmapped mounts "
                             "(ext4, xfs, btrfs); ask your administrator",
                u->home);
  }
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof a) < 0 ||
      move_mount(tree, "", root, u->home + 1, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    die_errno(EXIT_INTERNAL, "can't bind-mount your home \"%s\"", u->home);
}

/* The lines of an image's passwd or group file but those naming the user's
 * name or id (field 1 or 3), then the user's own line. */
static char *with_own_line(const char *file, const char *name, unsigned id, const char *own) {
  size_t cap = strlen(file) + strlen(own) + 2, n = 0;
  char *out = malloc(cap);
  if (!out)
    die(EXIT_INTERNAL, "out of memory");
  char idtext[16];
  xsnprintf(idtext, sizeof idtext, "%u", id);
  for (const char *l = file; *l;) {
    const char *end = strchrnul(l, '\n');
    size_t len = (size_t)(end - l), nlen = strlen(name), ilen = strlen(idtext);
    const char *c1 = memchr(l, ':', len), *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
    const char *c3 = c2 ? memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) : NULL;
    bool same_name = c1 && (size_t)(c1 - l) == nlen && !memcmp(l, name, nlen);
    bool same_id = c2 && (c3 ? (size_t)(c3 - c2 - 1) : (size_t)(end - c2 - 1)) == ilen && !memcmp(c2 + 1, idtext, ilen);
    if (len > 0 && !same_name && !same_id) {
      memcpy(out + n, l, len);
      n += len;
      out[n++] = '\n';
    }
    l = *end ? end + 1 : end;
  }
  memcpy(out + n, own, strlen(own) + 1);
  return out;
}

/* /etc of an image: the image's own, with passwd and group naming the user
 * (any entry of theirs replaced), and the container's hostname, hosts and DNS.
 * Written into the container's writable layer at each start. */
static void build_image_etc(int root, const struct user_policy *u) {
  cleanup_fd int etc = open_etc(root);
  char own[4 * PATH_MAX_LEN + 512];
  xsnprintf(own, sizeof own, "%s:x:%u:%u:%s:%s:%s\n", u->name, (unsigned)u->uid, (unsigned)u->gid, u->name, u->home,
            u->shell);
  cleanup_free char *passwd = image_read_etc(etc, "passwd", 1u << 20);
  cleanup_free char *new_passwd = with_own_line(passwd, u->name, (unsigned)u->uid, own);
  make_file(etc, "passwd", new_passwd);
  xsnprintf(own, sizeof own, "%s:x:%u:\n", u->group, (unsigned)u->gid);
  cleanup_free char *group = image_read_etc(etc, "group", 1u << 20);
  cleanup_free char *new_group = with_own_line(group, u->group, (unsigned)u->gid, own);
  make_file(etc, "group", new_group);
  write_names(etc, u);
  if (u->network == NETWORK_HOST) {
    cleanup_free char *host = read_small_at(AT_FDCWD, "/etc/resolv.conf", 64 * 1024, NULL);
    make_file(etc, "resolv.conf", host ? host : "");
  }
  static const char *const written[] = {"passwd", "group", "hostname", "hosts", "resolv.conf"};
  for (size_t i = 0; i < sizeof written / sizeof *written; i++)
    if (i < 4 || u->network != NETWORK_NONE)
      give_root(etc, written[i]);
}

/* /etc/passwd and /etc/group as the last start wrote them into a kept layer
 * go before the overlay is mounted, so the image's own, as it is now, show
 * through again: a user can't change them (/etc is root's), and an updated
 * or other image must not meet the old image's accounts. */
static void forget_etc_copies(int stage) {
  cleanup_fd int etc = RETRY(openat(stage, "upper/etc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  static const char *const names[] = {"passwd", "group"};
  for (size_t i = 0; etc >= 0 && i < sizeof names / sizeof *names; i++)
    clear_entry(etc, names[i]);
}

void rootfs_build(const struct user_policy *u, int home_fd, struct idmaps idmaps) {
  umask(0);
  bool image = strcmp(u->image, "host") != 0, valid;
  root_inside = image && root_parse(u->root, u->uid, u->gid, &root_ids, &valid);
  /* First act in the new namespace: nothing mounted here reaches the host (SA-20). */
  mnt(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  if (image) {
    layer_mount(u, STAGE); /* its root is root's: the user writes only below upper */
    cleanup_fd int stage = RETRY(open(STAGE, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (stage < 0)
      die_errno(EXIT_INTERNAL, "can't open the container's writable layer");
    make_dir(stage, "upper", 0755);
    if (root_inside) /* the root folder is root's inside, and /etc/passwd theirs to change */
      give_root(stage, "upper");
    else
      forget_etc_copies(stage);
    make_dir(stage, "work", 0700);
    make_dir(stage, "root", 0755);
    image_mount(u, IMAGE_ROOT, STAGE "/upper", STAGE "/work", idmaps.layers);
    base = IMAGE_ROOT;
  } else
    mnt("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m");
  cleanup_fd int root = RETRY(open(base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (root < 0)
    die_errno(EXIT_INTERNAL, "can't open the new root");
  if (image)
    build_image_etc(root, u);
  else {
    build_usr(root);
    build_etc(root, u);
  }
  build_dev(root);
  make_dir(root, "proc", 0555);
  mnt("proc", at("proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  make_dir(root, "sys", 0555);
  if (mount("sysfs", at("sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    bind_ro("/sys", at("sys")); /* e.g. inside systemd-nspawn, where sysfs can't be mounted anew */
  make_dir(root, "tmp", 01777);
  mnt("tmpfs", at("tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  make_dir(root, "var/tmp", 01777);
  mnt("tmpfs", at("var/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  make_link(root, "../run", "var/run");
  build_run(root, u);
  make_dir(root, "root", 0700);
  give_root(root, "root");
  bind_home(root, home_fd, u, idmaps.home);
  if (!image) /* an image's root is its writable layer */
    setattr(STAGE, 0, MOUNT_ATTR_RDONLY);
  /* pivot_root(".", ".") stacks the old root under the new one; detach it at
   * once so no path leads back to the host (SA-06). */
  if (fchdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't switch to the container's root");
}
