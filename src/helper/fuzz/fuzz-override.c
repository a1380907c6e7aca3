/* The user's own settings (policy_override): "--set KEY=VALUE" words that any
 * user can pass to the setuid helper, applied on top of the admin's record.
 * The first input byte picks one of two fixed admin records (one with limits
 * and every key user-settable, one unlimited with some keys locked); the rest,
 * split on NUL bytes, are the settings, applied in order as main.c does.
 *
 * Invariants: a refused setting changes nothing and its reason has no control
 * byte (it may reach a terminal); an accepted one changes only its own key, and
 * only a key the admin's user_may lists; in the end no limit is above the
 * admin's (0 = none), network is "host" only if the admin's is, every admin
 * variable is still set, and the record meets policy.h's bounds. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../args.h"
#include "../policy-build.h"
#include "fuzz.h"

/* Two records as cellsh-admin apply writes them (src/policy/compiled.ts). */
static const char admin_text[] =
    "user 1001\nname alice\ngid 1001\ngroup alice\ngroups 1001 27 100\nhome /home/alice\nshell /bin/bash\n"
    "hostname alice-box\nnetwork none\nmemory 2147483648\nmemory_high 1073741824\nswap 536870912\npids 512\n"
    "cpu 1500\nio_weight 50\nio 8:0 1048576 0 0 100\nnofile 1024 524288\nnproc 100 200\ncore 0 max\n"
    "env http_proxy=http://proxy:3128 GREETING=gr%C3%BC%C3%9F%20dich\nrestart manual\n"
    "user_may shell hostname env network memory memory_high swap pids cpu io_weight nofile nproc core\n"
    "seccomp strict\nnested_userns false\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\nend\n"
    "user 1002\nname bob.smith\ngid 100\ngroup users\ngroups \nhome /srv/home/bob.smith\nshell /usr/bin/zsh\n"
    "hostname bob\nnetwork host\nmemory 0\nmemory_high 0\nswap max\npids 0\ncpu 0\nio_weight 0\nio \n"
    "nofile 64 64\nnproc max max\ncore max max\nenv EDITOR=vim\nrestart idle\n"
    "user_may hostname env network memory swap pids cpu io_weight nproc\nseccomp default\nnested_userns true\nudp_ports 0 0\nimage host\nlayer temporary 0\nroot none\nend\n";

static void load_admin(uid_t uid, struct user_policy *out) {
  static char *file;
  static size_t len;
  if (!file)
    file = policy_build(admin_text, sizeof admin_text - 1, &len);
  char err[256];
  CHECK(policy_lookup(file, len, uid, out, err, sizeof err) == 1, "the fixed admin record does not parse: %s", err);
}

static bool env_same(const struct user_policy *a, const struct user_policy *b) {
  if (a->n_env != b->n_env)
    return false;
  for (unsigned i = 0; i < a->n_env; i++)
    if (strcmp(a->env[i].name, b->env[i].name) || strcmp(a->env[i].value, b->env[i].value))
      return false;
  return true;
}

static bool rl_same(const struct rlimit *a, const struct rlimit *b) {
  return a->rlim_cur == b->rlim_cur && a->rlim_max == b->rlim_max;
}

/* Is every field of b but the one of user-settable key m as in a? */
static void check_only_changed(const struct user_policy *a, const struct user_policy *b, int m) {
  const struct cg_limits *x = &a->limits, *y = &b->limits;
  CHECK(a->uid == b->uid && a->gid == b->gid && !strcmp(a->name, b->name) && !strcmp(a->group, b->group) &&
            a->n_groups == b->n_groups && !memcmp(a->groups, b->groups, a->n_groups * sizeof *a->groups) &&
            !strcmp(a->home, b->home) && a->restart == b->restart && a->user_may == b->user_may &&
            a->seccomp == b->seccomp && a->nested_userns == b->nested_userns &&
            a->record_hash == b->record_hash,
        "a --set of %s changed an identity field", user_may_key[m]);
  CHECK(x->n_io == y->n_io && !memcmp(x->io, y->io, x->n_io * sizeof *x->io), "a --set changed io");
  bool same[MAY_COUNT] = {
      [MAY_SHELL] = !strcmp(a->shell, b->shell),
      [MAY_HOSTNAME] = !strcmp(a->hostname, b->hostname),
      [MAY_ENV] = env_same(a, b),
      [MAY_NETWORK] = a->network == b->network,
      [MAY_MEMORY] = x->memory == y->memory,
      [MAY_MEMORY_HIGH] = x->memory_high == y->memory_high,
      [MAY_SWAP] = x->swap == y->swap,
      [MAY_PIDS] = x->pids == y->pids,
      [MAY_CPU] = x->cpu == y->cpu,
      [MAY_IO_WEIGHT] = x->io_weight == y->io_weight,
      [MAY_NOFILE] = rl_same(&a->rlimits[RL_NOFILE], &b->rlimits[RL_NOFILE]),
      [MAY_NPROC] = rl_same(&a->rlimits[RL_NPROC], &b->rlimits[RL_NPROC]),
      [MAY_CORE] = rl_same(&a->rlimits[RL_CORE], &b->rlimits[RL_CORE]),
  };
  for (int k = 0; k < MAY_COUNT; k++)
    CHECK(k == m || same[k], "a --set of %s changed %s", user_may_key[m], user_may_key[k]);
}

/* want no more than have, where 0 means no limit. */
static bool within(uint64_t want, uint64_t have) {
  return have == 0 || (want != 0 && want <= have);
}

/* The end result against the admin's record a. */
static void check_bounds(const struct user_policy *a, const struct user_policy *u) {
  const struct cg_limits *x = &a->limits, *y = &u->limits;
  check_record(u);
  CHECK(u->network == NETWORK_NONE || a->network == NETWORK_HOST, "network host, the admin's is none");
  CHECK(within(y->memory, x->memory) && (y->memory == x->memory || y->memory >= MEMORY_MIN), "memory %" PRIu64, y->memory);
  CHECK(within(y->memory_high, x->memory_high) && (y->memory_high == x->memory_high || y->memory_high >= MEMORY_MIN),
        "memory_high %" PRIu64, y->memory_high);
  CHECK(x->swap == SWAP_ANY || (y->swap != SWAP_ANY && y->swap <= x->swap), "swap %" PRIu64, y->swap);
  CHECK(within(y->pids, x->pids) && within(y->cpu, x->cpu), "pids %u cpu %u", y->pids, y->cpu);
  CHECK((y->io_weight ? y->io_weight : 100) <= (x->io_weight ? x->io_weight : 100), "io_weight %u", y->io_weight);
  for (int r = 0; r < RL_COUNT; r++)
    CHECK(u->rlimits[r].rlim_max <= a->rlimits[r].rlim_max, "%s hard limit above the admin's", rlimit_key[r]);
  for (unsigned i = 0; i < a->n_env; i++) {
    unsigned j = 0;
    while (j < u->n_env && strcmp(u->env[j].name, a->env[i].name))
      j++;
    CHECK(j < u->n_env, "the admin's %s is gone", a->env[i].name);
  }
}

/* The user-settable key a setting names, or -1. */
static int key_of(const char *set) {
  size_t len = strcspn(set, "=");
  for (int m = 0; m < MAY_COUNT; m++)
    if (strlen(user_may_key[m]) == len && !strncmp(set, user_may_key[m], len))
      return set[len] == '=' ? m : -1;
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  struct user_policy admin, u;
  load_admin(data[0] & 1 ? 1002 : 1001, &admin);
  u = admin;
  char *sets[MAX_SETS + 1];
  size_t n = fuzz_strings(data + 1, size - 1, sets, MAX_SETS);
  for (size_t i = 0; i < n; i++) {
    struct user_policy before = u;
    char err[256] = "";
    if (!policy_override(&u, sets[i], err, sizeof err)) {
      CHECK(!memcmp(&before, &u, sizeof u), "a refused setting changed the record");
      CHECK(err[0] != '\0', "refused without a reason");
      for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        CHECK(*p >= 0x20 && *p != 0x7f, "the reason has control byte 0x%02x", *p);
      continue;
    }
    int m = key_of(sets[i]);
    CHECK(m >= 0, "accepted \"%s\", which names no user-settable key", shown(sets[i]));
    CHECK(admin.user_may & (1u << m), "accepted a setting of %s, which the admin does not allow", user_may_key[m]);
    check_only_changed(&before, &u, m);
  }
  check_bounds(&admin, &u);
  fuzz_strings_free(sets);
  return 0;
}
