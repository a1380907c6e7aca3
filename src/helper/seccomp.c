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

void seccomp_confine_nat(bool api) {
  struct sock_fprog prog = api ? (struct sock_fprog)PROG(seccomp_nat_api) : (struct sock_fprog)PROG(seccomp_nat);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0 ||
      prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != SECCOMP_MODE_FILTER)
    die_errno(EXIT_INTERNAL, "can't install the NAT's seccomp filter");
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
