/* The seccomp filter every process in a container runs under (SA-29).
 *
 * The programs are generated at build time by seccomp-gen.c (libseccomp) into
 * $(OUT)/seccomp-filters.h and embedded here: the helper neither links
 * libseccomp nor parses a filter at run time. docs/seccomp.md lists what each
 * profile denies and why. */
#ifndef CELLSH_SECCOMP_H
#define CELLSH_SECCOMP_H

#include <stdbool.h>

#include "policy.h"

/* Install the program of profile (the policy's "seccomp") on the calling
 * process; everything it forks and execs keeps it. nested_userns (the policy's
 * "nested_userns") picks, under default, the program that lets the user create
 * user namespaces, join them and mount inside them; strict and unconfined
 * ignore it. unconfined installs nothing. The caller has set no_new_privs (or
 * holds CAP_SYS_ADMIN) and runs a single thread. Checked after it runs; dies
 * with EXIT_INTERNAL if the kernel refuses. */
void seccomp_confine(enum seccomp_profile profile, bool nested_userns);

/* The NAT's filter (nat.c): sockets of IPv4 and IPv6 only, and Unix sockets
 * too where api is set (its API socket publishes ports). Sets no_new_privs. */
void seccomp_confine_nat(bool api);

#endif
