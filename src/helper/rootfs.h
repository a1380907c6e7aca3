/* The container's file system. For the built-in "host" image: a fresh tmpfs
 * root holding the host's /usr (and the usr-merged links) read-only, and a
 * filtered read-only /etc with a passwd and group that name only root, nobody
 * and the user. For an image of the store: its layers under a writable tmpfs
 * layer (image.h), with the image's /etc plus the user. Both: the home
 * bind-mounted at its host path, and private /tmp, /run, /proc, /sys
 * (read-only) and a minimal /dev with its own devpts instance. */
#ifndef CELLSH_ROOTFS_H
#define CELLSH_ROOTFS_H

#include "policy.h"

/* Inside the container: the folder of SSH agent sockets (the user's, 0700) and
 * the stable name programs use (SSH_AUTH_SOCK), kept up to date by the relays. */
#define AGENTS_DIR "/run/cellsh/agents"
#define AGENT_SOCK AGENTS_DIR "/current"
/* The user's runtime folder, XDG_RUNTIME_DIR, by uid. */
#define RUNTIME_DIR_FMT "/run/user/%u"

/* Open the user's home for binding, with the user's file-system rights and
 * without following symlinks (SA-13); dies with EXIT_REFUSED if it is a
 * symlink, not a folder, or not the user's. */
int open_home(const struct user_policy *u);

/* With root inside: user namespace fds (ns.h's idmap_userns) the image's
 * layers (image.h) and the home are mounted through; -1 each for none. */
struct idmaps {
  int layers, home;
};

/* Build the root in the calling process's fresh mount namespace, pivot into it
 * and drop the old root. home_fd comes from open_home. */
void rootfs_build(const struct user_policy *u, int home_fd, struct idmaps idmaps);

#endif
