#define _GNU_SOURCE
#include "drift.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

void drift_list_add(char *out, size_t len, const char *what) {
  size_t n = strlen(out);
  snprintf(out + n, len - n, "%s%s", n ? ", " : "", what);
}

/* Does a restart key differ between the container and the policy? A string
 * the record does not know (a version-1 record's: "") counts as unchanged. */
static bool str_differs(const char *was, const char *now) {
  return was[0] && strcmp(was, now);
}
static bool num_differs(uint64_t was, uint64_t now) {
  return was != now;
}
/* clang-format off */
#define DIFFERS(was, now) _Generic((was), char *: str_differs, const char *: str_differs, default: num_differs)(was, now)
/* clang-format on */

void drift_fields(const struct container_record *rec, const struct user_policy *u, char *out, size_t len) {
  out[0] = '\0';
#define X(key, label, takes_access) \
  if (DIFFERS(rec->key, u->key))    \
    drift_list_add(out, len, label);
  RESTART_KEYS(X)
#undef X
  if (seccomp_strength(u) > rec->seccomp_floor)
    drift_list_add(out, len, SECCOMP_CHANGE_LABEL);
}

unsigned seccomp_strength(const struct user_policy *u) {
  static const unsigned strength[SECCOMP_PROFILE_COUNT] = SECCOMP_STRENGTHS;
  if (u->seccomp == SECCOMP_PROFILE_DEFAULT && u->nested_userns)
    return SECCOMP_STRENGTH_NESTED;
  return u->seccomp < SECCOMP_PROFILE_COUNT ? strength[u->seccomp] : 0;
}

bool drift_takes_access(const struct container_record *rec, const struct user_policy *u) {
  static const int openness[NETWORK_COUNT] = NETWORK_OPENNESS;
  bool taken = openness[u->network] < openness[rec->network] || seccomp_strength(u) > rec->seccomp_floor;
#define X(key, label, takes_access) taken = taken || (takes_access && DIFFERS(rec->key, u->key));
  RESTART_KEYS(X)
#undef X
  return taken;
}

/* The same field in both structs, of the same size. */
#define SAME_FIELD(key) \
  _Static_assert(sizeof((struct user_policy *)0)->key == sizeof((struct container_record *)0)->key, #key)

void drift_adopt(const struct container_record *rec, struct user_policy *u) {
#define X(key, label, takes_access) \
  SAME_FIELD(key);                  \
  if (DIFFERS(rec->key, u->key))    \
    memcpy(&u->key, &rec->key, sizeof u->key);
  RESTART_KEYS(X)
#undef X
}

void drift_record(struct container_record *rec, const struct user_policy *u) {
#define X(key, label, takes_access) memcpy(&rec->key, &u->key, sizeof rec->key);
  RESTART_KEYS(X)
#undef X
  rec->policy_hash = u->record_hash;
  rec->seccomp_floor = seccomp_strength(u);
  rec->pending[0] = '\0';
}
