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
  uint64_t until = now_ms() + (uint64_t)wait_ms;
  size_t have = 0;
  bool open = fcntl(err, F_SETFL, O_NONBLOCK) == 0; /* a child of the tool may hold the pipe on */
  out[0] = '\0';
  /* Read as it writes: a tool that says more than a pipe holds must not
   * block on it (e2fsck -p on a damaged file system); the rest is dropped. */
  while (pidfd >= 0) {
    uint64_t now = now_ms();
    struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = open ? err : -1, .events = POLLIN}};
    if (now >= until || RETRY(poll(p, 2, (int)(until - now))) <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (p[1].revents) {
      char buf[4096];
      ssize_t n = RETRY(read(err, buf, sizeof buf));
      if (n == 0 || (n < 0 && errno != EAGAIN))
        open = false;
      for (ssize_t i = 0; i < n && have + 1 < out_size; i++)
        out[have++] = buf[i];
      out[have] = '\0';
    }
    if (p[0].revents)
      break;
  }
  int status;
  bool ok = RETRY(waitpid(pid, &status, 0)) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (open) { /* what it wrote as it ended */
    ssize_t n = RETRY(read(err, out + have, out_size - have - 1));
    out[have + (size_t)(n > 0 ? n : 0)] = '\0';
  }
  close(err);
  char *nl = strchr(out, '\n');
  if (nl)
    *nl = '\0';
  return ok;
}

bool tool_run(char *const argv[], int netns, int pass_fd, const char *input, int wait_ms, char *out, size_t out_size) {
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0) {
    if ((netns >= 0 && setns(netns, CLONE_NEWNET) < 0) || dup2(in[0], 0) < 0 || dup2(err[1], 1) < 0 ||
        dup2(err[1], 2) < 0 || (pass_fd >= 0 && dup2(pass_fd, 3) < 0))
      _exit(EXIT_INTERNAL);
    close_range(pass_fd >= 0 ? 4 : 3, ~0U, 0);
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
