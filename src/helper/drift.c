#define _GNU_SOURCE
#include "drift.h"

#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "util.h"

void drift_list_add(char *out, size_t len, const char *what) {
  size_t n = strlen(out);
  snprintf(out + n, len - n, "%s%s", n ? ", " : "", what);
}

void drift_fields(const struct container_record *rec, const struct user_policy *u, char *out, size_t len) {
  out[0] = '\0';
  if (rec->name[0] && strcmp(rec->name, u->name))
    drift_list_add(out, len, "user name");
  if (rec->gid != u->gid)
    drift_list_add(out, len, "group id");
  if (rec->group[0] && strcmp(rec->group, u->group))
    drift_list_add(out, len, "group name");
  if (rec->home[0] && strcmp(rec->home, u->home))
    drift_list_add(out, len, "home");
  if (rec->hostname[0] && strcmp(rec->hostname, u->hostname))
    drift_list_add(out, len, "hostname");
  if (rec->network != u->network)
    drift_list_add(out, len, "network");
  if (seccomp_strength(u) > rec->seccomp_floor)
    drift_list_add(out, len, "seccomp filter");
}

unsigned seccomp_strength(const struct user_policy *u) {
  switch (u->seccomp) {
  case SECCOMP_PROFILE_UNCONFINED: return 0;
  case SECCOMP_PROFILE_DEFAULT: return u->nested_userns ? 1 : 2;
  case SECCOMP_PROFILE_STRICT: return 3;
  case SECCOMP_PROFILE_COUNT:
  default: return 0;
  }
}

bool drift_takes_access(const struct container_record *rec, const struct user_policy *u) {
  return rec->gid != u->gid || (rec->home[0] && strcmp(rec->home, u->home)) ||
         (rec->network == NETWORK_HOST && u->network != NETWORK_HOST) || seccomp_strength(u) > rec->seccomp_floor;
}

void drift_adopt(const struct container_record *rec, struct user_policy *u) {
  u->gid = rec->gid;
  u->network = rec->network;
  if (rec->name[0])
    strcpy(u->name, rec->name);
  if (rec->group[0])
    strcpy(u->group, rec->group);
  if (rec->home[0])
    strcpy(u->home, rec->home);
  if (rec->hostname[0])
    strcpy(u->hostname, rec->hostname);
}

void drift_record(struct container_record *rec, const struct user_policy *u) {
  strcpy(rec->name, u->name);
  strcpy(rec->group, u->group);
  strcpy(rec->home, u->home);
  strcpy(rec->hostname, u->hostname);
  rec->policy_hash = u->record_hash;
  rec->limits = u->limits;
  rec->limits_known = true;
  rec->host_swapped = cg_host_has_swap();
  rec->seccomp_floor = seccomp_strength(u);
  rec->pending[0] = '\0';
}
