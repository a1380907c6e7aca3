/* cgroup v2 backend: /sys/fs/cgroup/<CELLSH_CGROUP_NAME>/u<uid>, with the
 * controllers enabled down the path (v2 puts limits only on nodes whose parent
 * enables the controller, and processes only in leaves). Delegation under a
 * systemd slice is left to the install (issue: cgroup v2 and delegation). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "util.h"

#define CGROUP2_SUPER_MAGIC 0x63677270
#define CPU_PERIOD_US 100000u
#define ROOT "/sys/fs/cgroup"

static int open_leaf(uid_t uid) {
  char rel[96];
  xsnprintf(rel, sizeof rel, ROOT "/%s/u%u", CELLSH_CGROUP_NAME, (unsigned)uid);
  return RETRY(open(rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

/* Enable in dir's children every controller of want that dir offers; die if a
 * wanted one is not offered. */
static void enable_controllers(int dir, const struct cg_limits *l, const char *what) {
  cleanup_free char *have = read_small_at(dir, "cgroup.controllers", 4096, NULL);
  const char *names[3] = {"memory", "pids", "cpu"};
  bool want[3] = {l->memory > 0, l->pids > 0, l->cpu > 0};
  for (int i = 0; i < 3; i++) {
    if (!want[i])
      continue;
    char pat[16], padded[4200];
    xsnprintf(pat, sizeof pat, " %s ", names[i]);
    xsnprintf(padded, sizeof padded, " %s ", have ? have : "");
    for (char *p = padded; *p; p++)
      if (*p == '\n')
        *p = ' ';
    if (!strstr(padded, pat))
      die(EXIT_REFUSED, "can't apply the %s limit: the %s controller is not available in the "
          "cgroup %s; ask your administrator to run \"cellsh-admin doctor\"", names[i], names[i], what);
    char op[16];
    xsnprintf(op, sizeof op, "+%s", names[i]);
    cg_write(dir, "cgroup.subtree_control", op, what);
  }
}

static void v2_destroy(uid_t uid) {
  cleanup_fd int leaf = open_leaf(uid);
  if (leaf < 0)
    return;
  if (faccessat(leaf, "cgroup.kill", F_OK, 0) == 0) {
    cg_write(leaf, "cgroup.kill", "1", "of the container");
    for (int i = 0; i < 200; i++) {
      cleanup_free char *ev = read_small_at(leaf, "cgroup.events", 4096, NULL);
      if (ev && strstr(ev, "populated 0"))
        break;
      nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
  }
  char member[96];
  xsnprintf(member, sizeof member, ":/%s/u%u", CELLSH_CGROUP_NAME, (unsigned)uid);
  cg_kill_procs(leaf, member, "of the container");
  char rel[96];
  xsnprintf(rel, sizeof rel, ROOT "/%s/u%u", CELLSH_CGROUP_NAME, (unsigned)uid);
  if (rmdir(rel) < 0 && errno != ENOENT)
    die_errno(EXIT_INTERNAL, "can't remove the cgroup \"%s\"", rel);
}

static void v2_create(uid_t uid, const struct cg_limits *l) {
  v2_destroy(uid);
  cleanup_fd int root = cg_open_root(ROOT, CGROUP2_SUPER_MAGIC);
  enable_controllers(root, l, ROOT);
  cleanup_fd int parent = cg_subdir(root, CELLSH_CGROUP_NAME, ROOT);
  enable_controllers(parent, l, CELLSH_CGROUP_NAME);
  char leafname[32], v[48];
  xsnprintf(leafname, sizeof leafname, "u%u", (unsigned)uid);
  cleanup_fd int leaf = cg_subdir(parent, leafname, CELLSH_CGROUP_NAME);
  if (l->memory) {
    xsnprintf(v, sizeof v, "%" PRIu64, l->memory);
    cg_write(leaf, "memory.max", v, leafname);
    if (faccessat(leaf, "memory.swap.max", F_OK, 0) == 0)
      cg_write(leaf, "memory.swap.max", "0", leafname);
  }
  if (l->pids) {
    xsnprintf(v, sizeof v, "%" PRIu32, l->pids);
    cg_write(leaf, "pids.max", v, leafname);
  }
  if (l->cpu) {
    xsnprintf(v, sizeof v, "%" PRIu64 " %u", (uint64_t)l->cpu * CPU_PERIOD_US / 1000u, CPU_PERIOD_US);
    cg_write(leaf, "cpu.max", v, leafname);
  }
}

/* Does the leaf enforce at least the policy's limits? */
static bool enforces(int leaf, const struct cg_limits *l) {
  uint64_t v, quota = 0;
  bool unlimited;
  if (l->memory && !(cg_read_limit(leaf, "memory.max", 0, &v, &unlimited) && !unlimited && v <= l->memory))
    return false;
  if (l->pids && !(cg_read_limit(leaf, "pids.max", 0, &v, &unlimited) && !unlimited && v <= l->pids))
    return false;
  if (l->cpu) { /* cpu.max: "QUOTA PERIOD" or "max PERIOD" */
    cleanup_free char *text = read_small_at(leaf, "cpu.max", 128, NULL);
    unsigned long long q, p;
    if (!text || sscanf(text, "%llu %llu", &q, &p) != 2 || p == 0)
      return false;
    quota = (uint64_t)q * CPU_PERIOD_US / p;
    if (quota > (uint64_t)l->cpu * CPU_PERIOD_US / 1000u)
      return false;
  }
  return true;
}

static int v2_open_entry(uid_t uid, const struct cg_limits *l, struct cg_entry *e) {
  e->n = 0;
  cleanup_fd int leaf = open_leaf(uid);
  if (leaf < 0 || !enforces(leaf, l))
    return -1;
  int fd = RETRY(openat(leaf, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0)
    return -1;
  e->fds[e->n++] = fd;
  return 0;
}

const struct cg_backend cg_v2 = {
  .name = "v2", .create = v2_create, .open_entry = v2_open_entry, .destroy = v2_destroy,
};
