/* Test-only, never installed: run a command under one of the helper's seccomp
 * profiles, installed by the real seccomp_confine, as the helper would.
 *
 *   test-seccomp [--keep-privs] PROFILE NESTED COMMAND [ARG...]
 *
 * PROFILE is default, strict or unconfined; NESTED is true or false (the
 * policy's nested_userns). no_new_privs is set first, as the helper has set it
 * by the time it confines; --keep-privs leaves it unset, to see the refusal
 * an unprivileged caller then gets.
 *
 *   test-seccomp nat|nat-api COMMAND [ARG...]
 *
 * runs COMMAND confined as the NAT is (seccomp_confine_nat; nat-api: with its
 * API socket), after printing "landlock scopes: yes|no" on stderr. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "seccomp.h"
#include "util.h"

static const char *const profiles[] = {"default", "strict", "unconfined"}; /* enum seccomp_profile */

int main(int argc, char **argv) {
  prog_name = "test-seccomp";
  if (argc > 2 && (!strcmp(argv[1], "nat") || !strcmp(argv[1], "nat-api"))) {
    bool scoped = seccomp_confine_nat(!strcmp(argv[1], "nat-api"));
    fprintf(stderr, "landlock scopes: %s\n", scoped ? "yes" : "no");
    execvp(argv[2], argv + 2);
    die_errno(127, "can't run %s", argv[2]);
  }
  int i = 1;
  bool keep_privs = argc > 1 && !strcmp(argv[1], "--keep-privs");
  i += keep_privs;
  if (argc - i < 3)
    die(EXIT_USAGE, "usage: test-seccomp [--keep-privs] default|strict|unconfined true|false COMMAND [ARG...]");
  int p = 0;
  while (p < 3 && strcmp(argv[i], profiles[p]))
    p++;
  if (p == 3 || (strcmp(argv[i + 1], "true") && strcmp(argv[i + 1], "false")))
    die(EXIT_USAGE, "unknown profile \"%s\" or nested \"%s\"", argv[i], argv[i + 1]);
  if (!keep_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    die_errno(EXIT_INTERNAL, "can't set no_new_privs");
  seccomp_confine((enum seccomp_profile)p, !strcmp(argv[i + 1], "true"));
  execvp(argv[i + 2], argv + i + 2);
  die_errno(127, "can't run %s", argv[i + 2]);
}
