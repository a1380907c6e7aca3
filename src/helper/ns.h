/* Creating a container: its pid 1, namespaces, id maps and limits. */
#ifndef CELLSH_NS_H
#define CELLSH_NS_H

#include "cgroup.h"
#include "policy.h"
#include "state.h"

/* Start uid's container and fill rec with its identity. Returns a pidfd for its
 * init. The init is fully confined (no privileges, no_new_privs, in the cgroup)
 * before this returns, but dies with the caller until container_commit(*commit)
 * is called, once rec is published. */
int container_create(const struct user_policy *u, const struct cg_backend *cg, struct container_record *rec, int *commit);

/* Let the init live on by itself (the record naming it is written). */
void container_commit(int commit);

/* Write pid's id maps: uid and gid, each to itself (or to root inside, with
 * as_root), setgroups denied. The container's are the user's own; nat.c's the
 * NAT's account, as root inside, which slirp4netns's sandbox needs. With root
 * (non-NULL, its sub_uid set): ids 0..ID_RANGE-1 inside onto the user's
 * subordinate ones, their own uid and gid to themselves, setgroups allowed. */
void write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool as_root, const struct root_ids *root);

/* An fd of a new user namespace with these maps ("INSIDE OUTSIDE COUNT"
 * lines), for an idmapped mount: a file whose id is INSIDE + n on disk shows as
 * OUTSIDE + n, and an id no line maps can't be given. Made in the caller's pid
 * namespace (its /proc). */
int idmap_userns(const char *uid_map, const char *gid_map);

/* An fd of the host's network namespace, or die. */
int host_netns(void);

/* Bring up "lo" in the current network namespace; false if not allowed (EPERM). */
bool loopback_up(void);

/* argv of main, so the init can rename itself in ps (cmdline) as well as comm. */
extern char **helper_argv;

#endif
