/* network: private. The container gets a network namespace of its own, with a
 * user-mode NAT to the host's network: slirp4netns (Debian's package), which
 * opens the container's connections as sockets of its own on the host.
 *
 * What keeps it from the host (docs/design.md, "A private network"):
 * - It runs as NAT_USER, a system account, never as the user or root, so the
 *   user can't signal or trace it and a host firewall rule can name it.
 * - The helper puts that rule in place (nftables, table NAT_TABLE) before each
 *   NAT starts: NAT_USER's sockets may not reach any address of the host's own
 *   (loopback or any other interface's) nor link-local ones, but for a DNS
 *   server on the host's loopback, which the NAT's DNS forwarder asks.
 * - slirp4netns runs with --disable-host-loopback (its gateway address is not
 *   the host's loopback), in its own sandbox and seccomp filter.
 * - Every container's network is another namespace: nothing routes between
 *   them, and the host ports a NAT opens are on the host's addresses, which
 *   other NATs may not reach.
 *
 * The NAT must be able to join the namespace, so the namespace is made in a
 * user namespace NAT_USER owns (a sibling of the container's, which root owns:
 * nothing in the container gains any capability over it). Both are bound to
 * files in NAT_DIR, named after the uid and the container's id. The NAT lives
 * in the container's cgroup (its memory is the user's) and ends when the
 * container's init does: the init holds the write end of the pipe the NAT
 * watches (--exit-fd). */
#ifndef CELLSH_NAT_H
#define CELLSH_NAT_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "policy.h"
#include "port-guard.h"

/* The folder of the namespaces' files: root's, searchable but not listable. */
#define NAT_DIR CELLSH_STATE_DIR "-nat"
/* The account the NAT runs as (install.sh creates it). */
#define NAT_USER "cellsh-nat"
/* The host firewall's table of cellsh (nftables, family inet). */
#define NAT_TABLE "cellsh"
/* The DNS server the container's resolv.conf names: slirp4netns's forwarder. */
#define NAT_DNS "10.0.2.3"

/* A NAT being set up: its account, and the pipe that ends it. */
struct nat {
  uid_t uid;
  gid_t gid;
  int exit_r, exit_w; /* the init keeps exit_w; the NAT watches exit_r */
};

/* Check the host can give uid a private network (the NAT's account, the
 * firewall rule, put in place now), make the network namespace of a new
 * container (id: its id) with loopback up, bound to NAT_DIR, and return an fd
 * of it, for the init to join. Old files of the uid go first. Dies on failure,
 * saying what the administrator must do. */
int nat_prepare(const struct user_policy *u, const char *id, struct nat *nat);

/* Start the NAT on that namespace, in uid's cgroup, and wait until it has
 * configured it (it then goes on by itself). Closes both ends of nat's pipe.
 * Dies, with what the NAT said, on failure. */
void nat_start(const struct user_policy *u, const struct cg_backend *cg, const char *id, struct nat *nat);

/* Keep the ports of want for NAT_USER's sockets alone (port-guard.h; exact:
 * and no others of this install's). Dies, saying why, if the host can't. */
void nat_keep_ports(const struct port_set *want, bool exact);
/* The same for one user's ports (policy.h's LO << 16 | HI), added. */
void nat_keep_published(uint32_t ports);

/* Remove the uid's files in NAT_DIR; quiet if there are none. */
void nat_remove(uid_t uid);

#endif
