/* Resource limits of a container, behind one narrow interface with a cgroup v2
 * and a cgroup v1 backend (crun's four-function table is the model). Every
 * node is root's, named from the numeric uid only, and created before any of
 * the user's code runs; if a limit can't be applied the login is refused,
 * never run unlimited (SA-30). */
#ifndef CELLSH_CGROUP_H
#define CELLSH_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cg_limits {
  uint64_t memory; /* bytes, 0 = none */
  uint32_t pids;   /* tasks, 0 = none */
  uint32_t cpu;    /* thousandths of a CPU, 0 = none */
};

#define CG_MAX_FDS 3

/* Open handles on the cgroup.procs files of one container's cgroup(s). */
struct cg_entry {
  int fds[CG_MAX_FDS];
  int n;
};

struct cg_backend {
  const char *name;
  /* Create uid's cgroup afresh (removing a stale one) with these limits. */
  void (*create)(uid_t uid, const struct cg_limits *limits);
  /* Open uid's cgroup.procs files; returns 0, or -1 if a node is missing or
   * enforces less than these limits (a policy made them stricter since the
   * container started): a join never runs with less than the policy says. */
  int (*open_entry)(uid_t uid, const struct cg_limits *limits, struct cg_entry *entry);
  /* Kill whatever still runs in uid's cgroup and remove it; missing is fine. */
  void (*destroy)(uid_t uid);
};

extern const struct cg_backend cg_v1, cg_v2;

/* The backend for this host's hierarchy. */
const struct cg_backend *cg_detect(void);

/* Move the calling process into the cgroup(s) of an opened entry, then close it. */
void cg_enter(struct cg_entry *entry);

/* Helpers shared by the backends (cgroup.c). */
int cg_open_root(const char *path, long magic);
int cg_subdir(int parent, const char *name, const char *what);
void cg_write(int dir, const char *file, const char *value, const char *what);
/* SIGKILL every process of dir/cgroup.procs whose /proc/PID/cgroup still has
 * the line member (e.g. "pids:/cellsh/u1001"), through a pidfd, until none is left. */
void cg_kill_procs(int dir, const char *member, const char *what);
/* A limit file's value: true with *v set, or true with *unlimited set for "max"
 * (or the given unlimited_value); false if it can't be read. */
bool cg_read_limit(int dir, const char *file, uint64_t unlimited_value, uint64_t *v, bool *unlimited);

#endif
