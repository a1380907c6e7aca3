/* Opening root's own files without trusting anything a user could have shaped.
 * (sudo's secure_path model, applied to the whole ancestor chain; SA-08, SA-18.) */
#ifndef CELLSH_TRUST_H
#define CELLSH_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/* Open the absolute path as a directory after walking it from "/" without
 * following symlinks, checking that it and each folder above it belong to root
 * and are writable by no one else. Dies with EXIT_CONFIG naming the offending
 * folder. Returns an O_PATH|O_DIRECTORY fd. */
int trusted_dir(const char *path);

/* trusted_dir, after creating the last folder of path (mode) if it is missing:
 * the folders above it must pass the same checks first. */
int trusted_mkdir(const char *path, mode_t mode);

/* Same walk for the folders above path; the file itself must be a regular file
 * owned by root and not writable by group or others. Returns an O_RDONLY fd. */
int trusted_open(const char *path);

/* The same checks, for a program to execveat(2) once the process is the
 * user's: an O_PATH fd, which can neither read nor write the file. The file
 * must not be readable by group or others either: the kernel lets no one trace
 * a process that runs a file it may not read (see inside.c). */
int trusted_exec_fd(const char *path);

/* Check an already-open fd the same way (owner root, no group/other write). */
void trusted_check_fd(int fd, const char *what);

#endif
