/* The host UDP ports publish.udp gives users' NATs, kept for the NAT's account.
 *
 * libslirp binds a published port with SO_REUSEADDR, and for UDP the kernel
 * lets any socket with SO_REUSEADDR share such a port: without this guard,
 * any local account could bind a user's mosh port and take its traffic, or
 * hold it first and so refuse the user's login. Two things keep the ports:
 *
 * - A BPF program on the cgroup v2 root (attached with BPF_F_ALLOW_MULTI, so
 *   it runs for every process of the host and no one below can take it
 *   off), for bind(2) on IPv4 and IPv6 in the host's network namespace: a
 *   UDP bind to a kept port fails with EPERM unless the caller's real uid is
 *   the NAT's. Its array map (one entry per port: 0, or the tag of the cellsh
 *   install that keeps it and the uid that may bind it) is mapped into the
 *   helper's memory, found again through the program's own map ids.
 * - The ports are added to net.ipv4.ip_local_reserved_ports of the host's
 *   network namespace, so no socket is given one by an implicit bind (the
 *   BPF hook sees only bind(2)).
 *
 * Both live until the host reboots: the cellsh unit (install.sh) keeps the
 * ports again at boot, before sshd starts; `cellsh-admin apply` makes the
 * kept set the policy's own plus what running containers still publish. */
#ifndef CELLSH_PORT_GUARD_H
#define CELLSH_PORT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A set of ports, one bit each. */
struct port_set {
  uint64_t bits[65536 / 64];
};

static inline void port_set_add(struct port_set *s, unsigned lo, unsigned hi) {
  for (unsigned p = lo; p <= hi && p < 65536; p++)
    s->bits[p / 64] |= 1ull << (p % 64);
}

static inline bool port_set_empty(const struct port_set *s) {
  for (size_t i = 0; i < sizeof s->bits / sizeof s->bits[0]; i++)
    if (s->bits[i])
      return false;
  return true;
}

static inline bool port_set_has(const struct port_set *s, unsigned p) {
  return p < 65536 && (s->bits[p / 64] >> (p % 64)) & 1;
}

/* Keep the ports of want for nat_uid's sockets, in the host's network
 * namespace (host: an fd of it). exact: this install keeps
 * these and no others (the ones it kept before and that want lacks are
 * freed); otherwise want is added to what it keeps. Returns false with the
 * reason in err if the host can't (no cgroup v2 mount, no BPF) or another
 * install keeps one of them. Every install on the host takes one lock
 * (/run/cellsh-port-guard.lock) while it works. */
bool port_guard_keep(uid_t nat_uid, const struct port_set *want, bool exact, int host, char *err, size_t errlen);

#endif
