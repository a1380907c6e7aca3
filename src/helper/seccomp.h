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

/* The NAT's confinement (nat.c): a filter allowing sockets of IPv4 and IPv6
 * only, and Unix sockets too where api is set (its API socket publishes
 * ports); and, where the kernel has Landlock's scopes (Linux 6.12), a domain
 * that reaches no abstract Unix socket and signals no process made outside
 * it. Sets no_new_privs. Returns whether the Landlock scopes are in place. */
bool seccomp_confine_nat(bool api);

#endif
