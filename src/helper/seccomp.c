#define _GNU_SOURCE
#include "seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "seccomp-filters.h" /* generated: seccomp_default, seccomp_default_nested, seccomp_strict */
#include "util.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

/* The kernel only reads the program, but sock_fprog's pointer is not const;
 * the cast through uintptr_t says so without -Wcast-qual's complaint. */
#define PROG(a) \
  { .len = (unsigned short)LEN(a), .filter = (struct sock_filter *)(uintptr_t)(a) }

static const char *profile_name(enum seccomp_profile p) {
  switch (p) {
  case SECCOMP_PROFILE_DEFAULT: return "default";
  case SECCOMP_PROFILE_STRICT: return "strict";
  case SECCOMP_PROFILE_UNCONFINED: return "unconfined";
  case SECCOMP_PROFILE_COUNT:
  default: return "unknown";
  }
}

/* Landlock's scopes (ABI 6, Linux 6.12): Debian 12's headers predate them. */
#define LANDLOCK_ABI_SCOPES 6
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ull << 1)
#define LANDLOCK_CREATE_RULESET_VERSION (1u << 0)
struct landlock_scoped_attr {
  uint64_t handled_access_fs, handled_access_net, scoped;
};

/* Scope the caller (no_new_privs set) to its own Landlock domain: abstract
 * Unix sockets and signals outside it are refused. false where the kernel
 * has no scopes; dies if it has them and refuses. */
static bool landlock_scope(void) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < LANDLOCK_ABI_SCOPES)
    return false;
  struct landlock_scoped_attr attr = {.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL};
  int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0 || syscall(SYS_landlock_restrict_self, fd, 0) != 0)
    die_errno(EXIT_INTERNAL, "can't put the NAT in a Landlock domain of its own");
  close(fd);
  return true;
}

bool seccomp_confine_nat(bool api) {
  struct sock_fprog prog = api ? (struct sock_fprog)PROG(seccomp_nat_api) : (struct sock_fprog)PROG(seccomp_nat);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    die_errno(EXIT_INTERNAL, "can't set no_new_privs");
  bool scoped = landlock_scope();
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0 || prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER)
    die_errno(EXIT_INTERNAL, "can't install the NAT's seccomp filter");
  return scoped;
}

void seccomp_confine(enum seccomp_profile profile, bool nested_userns) {
  struct sock_fprog prog;
  switch (profile) {
  case SECCOMP_PROFILE_UNCONFINED:
    return;
  case SECCOMP_PROFILE_DEFAULT:
    prog = nested_userns ? (struct sock_fprog)PROG(seccomp_default_nested) : (struct sock_fprog)PROG(seccomp_default);
    break;
  case SECCOMP_PROFILE_STRICT:
    prog = (struct sock_fprog)PROG(seccomp_strict);
    break;
  case SECCOMP_PROFILE_COUNT:
  default:
    /* policy.c never yields another value; refuse rather than run unfiltered. */
    die(EXIT_INTERNAL, "unknown seccomp profile %d", (int)profile);
  }
  /* seccomp(2) rather than prctl(PR_SET_SECCOMP): the same filter, and the
   * call that takes flags should one be needed (none is: a single thread). */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    die_errno(EXIT_INTERNAL, "can't install the \"%s\" seccomp filter", profile_name(profile));
  /* Checked after it runs: the process is now in filter mode. */
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER)
    die(EXIT_INTERNAL, "the \"%s\" seccomp filter did not take effect", profile_name(profile));
}
