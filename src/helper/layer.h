/* An image container's writable layer: the folder its overlay writes into.
 *
 * "layer temporary BYTES": a tmpfs of the container's own, BYTES big (0: the
 * kernel's default, half the memory), gone with the container; its pages
 * count against the container's memory limit.
 *
 * "layer persistent BYTES": an ext4 file system in a root-only file of its own,
 * CELLSH_LAYER_DIR/UID.ext4, BYTES big, made at the first start (mkfs.ext4) and
 * resized when BYTES changes. It is mounted through a loop device that frees
 * itself at the last unmount (LO_FLAGS_AUTOCLEAR), in the container's own mount
 * namespace only. The kernel stops writes at its size: ENOSPC inside, nothing
 * on the host. No one but root ever sees the file, so the file system the
 * kernel mounts was only ever written by the kernel itself. Before it is
 * mounted again, no loop device may still be bound to it (an old container's,
 * kept by a process that outlived it): two mounts of one ext4 would corrupt it.
 * (SA-45) */
#ifndef CELLSH_LAYER_H
#define CELLSH_LAYER_H

#include "policy.h"

/* Mount u's writable layer at target (a folder in a private mount namespace,
 * as real root, before the user namespace). Dies saying why if it can't. */
void layer_mount(const struct user_policy *u, const char *target);

#endif
