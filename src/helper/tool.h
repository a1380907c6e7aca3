/* Running one of root's own tools (nft, mkfs.ext4, resize2fs): a fixed path
 * and argv, a clean environment, nothing of the caller's inherited. */
#ifndef CELLSH_TOOL_H
#define CELLSH_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Wait at most wait_ms for child pid (killed past it); true if it exited 0.
 * The first line it wrote to err (its read end, read as it comes and closed
 * here) goes to out. */
bool tool_wait(pid_t pid, int err, int wait_ms, char *out, size_t out_size);

/* Run argv[0] (an absolute path) with PATH alone in its environment, input (or
 * nothing) on its stdin, in the network namespace netns (an fd; -1: this one),
 * with pass_fd (unless -1) as its fd 3 and no other fd past stdio; true if it
 * exits 0 within wait_ms. The first line it printed goes to out. */
bool tool_run(char *const argv[], int netns, int pass_fd, const char *input, int wait_ms, char *out,
              size_t out_size);

#endif
