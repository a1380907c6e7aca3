/* The bounds policy.h documents for a parsed record, restated here rather than
 * calling policy.c's validators, so a harness checks the parser against the
 * header and not against itself. */
#define _GNU_SOURCE
#include <string.h>

#include "fuzz.h"

static bool in_set(char c, const char *extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr(extra, c));
}

static bool all_in(const char *s, const char *extra) {
  for (; *s; s++)
    if (!in_set(*s, extra))
      return false;
  return true;
}

bool fuzz_is_name(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= NAME_MAX_LEN && s[0] != '-' && s[0] != '.' && all_in(s, "_-.");
}

bool fuzz_is_hostname(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= HOSTNAME_MAX_LEN && s[0] != '-' && s[0] != '.' && all_in(s, "-.");
}

/* Absolute and canonical: "/a/b", every component non-empty and not "." or "..". */
bool fuzz_is_abs_path(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > PATH_MAX_LEN || s[0] != '/' || !all_in(s, "_-./+@"))
    return false;
  for (const char *c = s + 1;; c++) {
    size_t len = strcspn(c, "/");
    if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
      return false;
    c += len;
    if (*c == '\0')
      return true;
  }
}

bool fuzz_is_env_name(const char *s) {
  static const char *const cellsh_sets[] = {"HOME", "USER", "LOGNAME", "SHELL", "TERM", "SSH_AUTH_SOCK",
                                            "SSH_TTY", "SSH_CONNECTION", "SSH_CLIENT", "SSH_ORIGINAL_COMMAND"};
  size_t n = strlen(s);
  if (n < 1 || n > ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9') || !all_in(s, "_"))
    return false;
  for (size_t i = 0; i < sizeof cellsh_sets / sizeof *cellsh_sets; i++)
    if (!strcmp(s, cellsh_sets[i]))
      return false;
  return true;
}

/* A fixed-size char field holds a NUL within its size. */
#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void check_env(const struct user_policy *u) {
  CHECK(u->n_env <= ENV_MAX, "%u env variables", u->n_env);
  for (unsigned i = 0; i < u->n_env; i++) {
    const struct env_var *e = &u->env[i];
    CHECK(TERMINATED(e->name) && TERMINATED(e->value), "env %u not terminated", i);
    CHECK(fuzz_is_env_name(e->name), "env name \"%s\" is not one the policy may set", shown(e->name));
    CHECK(strlen(e->value) <= ENV_VALUE_MAX, "env %s value too long", e->name);
    for (const unsigned char *p = (const unsigned char *)e->value; *p; p++)
      CHECK(*p >= 0x20 && *p != 0x7f, "env %s has control byte 0x%02x", e->name, *p);
    for (unsigned j = 0; j < i; j++)
      CHECK(strcmp(u->env[j].name, e->name), "env %s twice", e->name);
  }
}

static void check_limits(const struct cg_limits *l) {
  CHECK(l->memory < SIZE_LIMIT && l->memory_high < SIZE_LIMIT, "memory beyond SIZE_LIMIT");
  CHECK(l->swap < SIZE_LIMIT || l->swap == SWAP_ANY, "swap %llu", (unsigned long long)l->swap);
  CHECK(l->pids <= PIDS_MAX, "pids %u", l->pids);
  CHECK(l->cpu == 0 || (l->cpu >= 10 && l->cpu <= 1024000), "cpu %u", l->cpu);
  CHECK(l->io_weight <= IO_WEIGHT_MAX, "io_weight %u", l->io_weight);
  CHECK(l->n_io <= MAX_IO_DEVICES, "%u io devices", l->n_io);
  for (unsigned i = 0; i < l->n_io; i++) {
    const struct io_limit *d = &l->io[i];
    CHECK(d->major <= MAJOR_MAX && d->minor <= MINOR_MAX, "io device %u:%u", d->major, d->minor);
    CHECK(d->rbps < SIZE_LIMIT && d->wbps < SIZE_LIMIT && d->riops < SIZE_LIMIT && d->wiops < SIZE_LIMIT,
          "io value beyond SIZE_LIMIT");
    for (unsigned j = 0; j < i; j++)
      CHECK(l->io[j].major != d->major || l->io[j].minor != d->minor, "io device %u:%u twice", d->major, d->minor);
  }
}

void check_record(const struct user_policy *u) {
  CHECK(u->uid != 0 && u->uid != (uid_t)-1, "uid %u", (unsigned)u->uid);
  CHECK(u->gid != (gid_t)-1, "gid -1");
  CHECK(TERMINATED(u->name) && fuzz_is_name(u->name), "name is not a valid name");
  CHECK(TERMINATED(u->group) && fuzz_is_name(u->group), "group is not a valid name");
  CHECK(u->n_groups <= MAX_GROUPS, "%u groups", u->n_groups);
  for (unsigned i = 0; i < u->n_groups; i++)
    CHECK(u->groups[i] != (gid_t)-1, "supplementary gid -1");
  CHECK(TERMINATED(u->home) && fuzz_is_abs_path(u->home), "home \"%s\" is not canonical and absolute", shown(u->home));
  CHECK(TERMINATED(u->shell) && fuzz_is_abs_path(u->shell), "shell \"%s\" is not canonical and absolute", shown(u->shell));
  CHECK(TERMINATED(u->hostname) && fuzz_is_hostname(u->hostname), "hostname \"%s\" is not valid", shown(u->hostname));
  CHECK(u->network == NETWORK_NONE || u->network == NETWORK_HOST, "network %d", (int)u->network);
  check_limits(&u->limits);
  for (int r = 0; r < RL_COUNT; r++)
    CHECK(u->rlimits[r].rlim_cur <= u->rlimits[r].rlim_max, "%s: soft above hard", rlimit_key[r]);
  CHECK(u->rlimits[RL_NOFILE].rlim_cur >= NOFILE_MIN, "nofile soft below %d", NOFILE_MIN);
  check_env(u);
  CHECK(u->restart == RESTART_IDLE || u->restart == RESTART_LOGIN || u->restart == RESTART_MANUAL,
        "restart %d", (int)u->restart);
  CHECK(u->user_may < (1u << MAY_COUNT), "user_may 0x%x", u->user_may);
}
