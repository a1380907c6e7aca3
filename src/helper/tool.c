/* Running root's own tools (tool.h). */
#define _GNU_SOURCE
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define TOOL_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

bool tool_wait(pid_t pid, int err, int wait_ms, char *out, size_t out_size) {
  cleanup_fd int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  if (pidfd < 0 || RETRY(poll(&p, 1, wait_ms)) != 1)
    kill(pid, SIGKILL);
  int status;
  bool ok = RETRY(waitpid(pid, &status, 0)) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  ssize_t n = RETRY(read(err, out, out_size - 1));
  close(err);
  out[n > 0 ? n : 0] = '\0';
  char *nl = strchr(out, '\n');
  if (nl)
    *nl = '\0';
  return ok;
}

bool tool_run(char *const argv[], int netns, const char *input, int wait_ms, char *out, size_t out_size) {
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0) {
    if ((netns >= 0 && setns(netns, CLONE_NEWNET) < 0) || dup2(in[0], 0) < 0 || dup2(err[1], 1) < 0 ||
        dup2(err[1], 2) < 0)
      _exit(EXIT_INTERNAL);
    close_range(3, ~0U, 0);
    char *envp[] = {TOOL_PATH, NULL};
    execve(argv[0], argv, envp);
    dprintf(2, "%s: %s", argv[0], strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  bool wrote = !input || write_all(in[1], input, strlen(input)); /* far below a pipe's buffer */
  close(in[1]);
  return tool_wait(pid, err[0], wait_ms, out, out_size) && wrote;
}
