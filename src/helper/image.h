/* A container's root made from an image of the store: the image's layers
 * (read-only, owned by the store's range, so nobody's inside) under a writable
 * layer of the container's own, stacked by overlayfs. Mounted by real root in
 * the container's private mount namespace before its user namespace exists,
 * like everything in rootfs.c. */
#ifndef CELLSH_IMAGE_H
#define CELLSH_IMAGE_H

#include "policy.h"

/* Mount u's image at target, with the writable layer in upper and overlay's
 * work folder in work (both empty folders on a file system of their own).
 * The layer list is CELLSH_IMAGE_STORE/refs/<u->image_id>, written by
 * cellsh-admin: it and the folders above it must be root's alone. Dies with
 * EXIT_CONFIG (the store is not as it must be) or EXIT_INTERNAL. With idmap
 * (a user namespace fd, ns.h's idmap_userns; -1 for none) the layers are seen
 * through a mount idmapped by it: root inside owns the image's root files. */
void image_mount(const struct user_policy *u, const char *target, const char *upper, const char *work, int idmap);

/* The image's WorkingDir as its layer list in the store has it (an absolute
 * path policy.c's valid_abs_path takes), or "" in out. Dies as image_mount. */
void image_workdir(const struct user_policy *u, char *out, size_t size);

/* A file of the image's /etc (etc, name) for the new one rootfs.c writes: at
 * most max bytes of a regular file, not followed through a link; "" if it is
 * missing or anything else. The caller frees it. */
char *image_read_etc(int etc, const char *name, size_t max);

#endif
