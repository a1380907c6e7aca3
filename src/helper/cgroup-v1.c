/* cgroup v1 backend: one node per controller hierarchy, at
 * /sys/fs/cgroup/<controller>/<CELLSH_CGROUP_NAME>/u<uid>. The pids node always
 * exists (with "max" if the policy sets no limit), so every container's
 * processes can be found and killed. The container never mounts a v1
 * hierarchy, so release_agent and notify_on_release are out of its reach
 * (CVE-2022-0492). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "config.h"
#include "util.h"

#define CGROUP_SUPER_MAGIC 0x27e0eb
#define CPU_PERIOD_US 100000u
#define MEMORY_UNLIMITED 9223372036854771712ull /* what v1 reports for "no limit" */
#define PAGE_MASK (~4095ull)                    /* v1 rounds memory limits down to pages */

enum { C_MEMORY, C_PIDS, C_CPU, C_COUNT };
static const char *const controllers[C_COUNT] = {"memory", "pids", "cpu"};

/* The leaf for uid under one controller, or -1 if that hierarchy or node is missing. */
static int open_leaf(int c, uid_t uid, bool create) {
  char root[64], leaf[32];
  xsnprintf(root, sizeof root, "/sys/fs/cgroup/%s", controllers[c]);
  xsnprintf(leaf, sizeof leaf, "u%u", (unsigned)uid);
  if (access(root, F_OK) < 0)
    return -1;
  cleanup_fd int base = cg_open_root(root, CGROUP_SUPER_MAGIC);
  if (create) {
    cleanup_fd int parent = cg_subdir(base, CELLSH_CGROUP_NAME, root);
    return cg_subdir(parent, leaf, root);
  }
  char rel[96];
  xsnprintf(rel, sizeof rel, "%s/%s", CELLSH_CGROUP_NAME, leaf);
  return RETRY(openat(base, rel, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

static void v1_destroy(uid_t uid) {
  /* Every process of the container is in the pids node: kill them there. */
  char member[96];
  xsnprintf(member, sizeof member, "pids:/%s/u%u", CELLSH_CGROUP_NAME, (unsigned)uid);
  {
    cleanup_fd int pids = open_leaf(C_PIDS, uid, false);
    if (pids >= 0)
      cg_kill_procs(pids, member, "pids");
  }
  for (int c = 0; c < C_COUNT; c++) {
    char path[128];
    xsnprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s/u%u", controllers[c], CELLSH_CGROUP_NAME, (unsigned)uid);
    if (rmdir(path) < 0 && errno != ENOENT)
      die_errno(EXIT_INTERNAL, "can't remove the cgroup \"%s\"", path);
  }
}

static bool wanted(int c, const struct cg_limits *l) {
  return c == C_MEMORY ? l->memory > 0 : c == C_PIDS ? true : l->cpu > 0;
}

static void v1_create(uid_t uid, const struct cg_limits *l) {
  v1_destroy(uid);
  char v[32];
  for (int c = 0; c < C_COUNT; c++) {
    if (!wanted(c, l))
      continue;
    cleanup_fd int leaf = open_leaf(c, uid, true);
    if (leaf < 0)
      die(EXIT_REFUSED, "can't apply the %s limit: the %s cgroup controller is not mounted; "
          "ask your administrator to run \"cellsh-admin doctor\"", controllers[c], controllers[c]);
    switch (c) {
    case C_MEMORY:
      xsnprintf(v, sizeof v, "%" PRIu64, l->memory);
      cg_write(leaf, "memory.limit_in_bytes", v, "memory");
      /* Memory plus swap capped at the same value: no swap beyond the limit. */
      if (faccessat(leaf, "memory.memsw.limit_in_bytes", F_OK, 0) == 0)
        cg_write(leaf, "memory.memsw.limit_in_bytes", v, "memory");
      break;
    case C_PIDS:
      if (l->pids)
        xsnprintf(v, sizeof v, "%" PRIu32, l->pids);
      cg_write(leaf, "pids.max", l->pids ? v : "max", "pids");
      break;
    default:
      xsnprintf(v, sizeof v, "%u", CPU_PERIOD_US);
      cg_write(leaf, "cpu.cfs_period_us", v, "cpu");
      xsnprintf(v, sizeof v, "%" PRIu64, (uint64_t)l->cpu * CPU_PERIOD_US / 1000u);
      cg_write(leaf, "cpu.cfs_quota_us", v, "cpu");
      break;
    }
  }
}

/* Does controller c of this leaf enforce at least the policy's limit? */
static bool enforces(int c, int leaf, const struct cg_limits *l) {
  uint64_t v;
  bool unlimited;
  switch (c) {
  case C_MEMORY:
    return !l->memory || (cg_read_limit(leaf, "memory.limit_in_bytes", MEMORY_UNLIMITED, &v, &unlimited) &&
                          !unlimited && v <= (l->memory & PAGE_MASK));
  case C_PIDS:
    return !l->pids || (cg_read_limit(leaf, "pids.max", 0, &v, &unlimited) && !unlimited && v <= l->pids);
  default:
    return !l->cpu || (cg_read_limit(leaf, "cpu.cfs_quota_us", 0, &v, &unlimited) && !unlimited &&
                       v <= (uint64_t)l->cpu * CPU_PERIOD_US / 1000u);
  }
}

static int v1_open_entry(uid_t uid, const struct cg_limits *l, struct cg_entry *e) {
  e->n = 0;
  for (int c = 0; c < C_COUNT; c++) {
    cleanup_fd int leaf = open_leaf(c, uid, false);
    if (leaf < 0 && !wanted(c, l))
      continue;
    int fd = leaf < 0 || !enforces(c, leaf, l) ? -1 : RETRY(openat(leaf, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0) {
      for (int i = 0; i < e->n; i++)
        close(e->fds[i]);
      e->n = 0;
      return -1;
    }
    e->fds[e->n++] = fd;
  }
  return 0;
}

const struct cg_backend cg_v1 = {
  .name = "v1", .create = v1_create, .open_entry = v1_open_entry, .destroy = v1_destroy,
};
