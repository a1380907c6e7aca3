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

/* argv of main, so the init can rename itself in ps (cmdline) as well as comm. */
extern char **helper_argv;

#endif
