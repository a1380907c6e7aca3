#define _GNU_SOURCE
#include "monitor.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "state.h"
#include "privs.h"

#define NOTICE_EVERY_MS 30000 /* repeats of one kind of notice, at most this often */

static pid_t child_pid;

static void forward_signal(int sig) {
  if (child_pid > 0)
    kill(child_pid, sig);
}

/* What the monitor has told so far, per kind of limit. */
struct notices {
  struct cg_events told; /* counters as of the last notice (or the start) */
  uint64_t told_ms[2];   /* when each kind was last told; 0 = never */
};

/* "512M", "2G", or bytes. */
static void format_size(char *buf, size_t len, uint64_t bytes) {
  static const char units[] = "TGMK";
  for (int i = 0; i < 4; i++) {
    uint64_t unit = 1ull << (10 * (4 - i));
    if (bytes >= unit && bytes % unit == 0) {
      xsnprintf(buf, len, "%" PRIu64 "%c", bytes / unit, units[i]);
      return;
    }
  }
  xsnprintf(buf, len, "%" PRIu64 " bytes", bytes);
}

static int state_dir_fd = -1; /* opened as root, for limit_log_claim */

/* One line to the person (their terminal is raw while cellsh relays a pty),
 * and one event in the log, if this session is the one to log it. */
static void tell(const struct session *s, const char *event, int kind, const char *limit, uint64_t counter,
                 const char *line, bool final) {
  say("%scellsh: %s%s", s->req->pty_mask ? "\r\n" : "", line, tell_nl(s));
  /* At a session's end, what no session logged yet is logged (once). */
  uint64_t count = limit_log_claim(state_dir_fd, s->user->uid, s->container->id, kind, counter, final ? 0 : NOTICE_EVERY_MS);
  if (count == 0)
    return;
  struct log_fields f = {0};
  log_session_fields(&f, s, true);
  log_str(&f, "limit", limit);
  log_num(&f, "count", (int64_t)count);
  log_event(event, &f);
}

/* If root stopped the container with a notice, say it as the session ends. */
static void tell_stop_notice(const struct session *s, int notice) {
  char line[NOTICE_MAX + 1];
  if (notice_read(notice, s->container->id, line, sizeof line))
    say("%scellsh: %s%s", s->req->pty_mask ? "\r\n" : "", line, tell_nl(s));
}

/* Compare the counters with what was told; tell what is new, unless the same
 * kind was told less than NOTICE_EVERY_MS ago (a fork bomb counts thousands). */
static void check_limits(const struct session *s, const struct cg_watch *w, struct notices *n, bool final) {
  struct cg_events now;
  s->cg->events(w, &now);
  const struct cg_limits *l = &s->user->limits;
  uint64_t t = now_ms();
  char line[256], value[32];
  if (now.oom_kills > n->told.oom_kills && (!n->told_ms[0] || (!final && t - n->told_ms[0] >= NOTICE_EVERY_MS))) {
    uint64_t k = now.oom_kills - n->told.oom_kills;
    format_size(value, sizeof value, l->memory);
    if (l->memory)
      xsnprintf(line, sizeof line, "your container reached its memory limit (%s): the kernel ended %" PRIu64 " process%s to free memory",
                value, k, k == 1 ? "" : "es");
    else
      xsnprintf(line, sizeof line, "memory ran out: the kernel ended %" PRIu64 " process%s in your container", k, k == 1 ? "" : "es");
    tell(s, EVENT_OOM, LIMIT_OOM, l->memory ? value : "none", now.oom_kills, line, final);
    n->told.oom_kills = now.oom_kills;
    n->told_ms[0] = t;
  }
  if (now.pids_max > n->told.pids_max && (!n->told_ms[1] || (!final && t - n->told_ms[1] >= NOTICE_EVERY_MS))) {
    xsnprintf(value, sizeof value, "%" PRIu32, l->pids);
    xsnprintf(line, sizeof line, "your container reached its limit of %s processes and threads: "
                                 "some could not start",
              value);
    tell(s, EVENT_PIDS_LIMIT, LIMIT_PIDS, value, now.pids_max, line, final);
    n->told.pids_max = now.pids_max;
    n->told_ms[1] = t;
  }
}

static void drain(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0)
    ;
}

/* Wait for the program, waking for limit events (the wake fds) on the way. */
static int wait_watching(const struct session *s, pid_t child, const struct cg_watch *w, struct notices *n) {
  int pidfd = (int)pidfd_open(child, 0);
  struct pollfd p[3] = {{.fd = pidfd, .events = POLLIN}, {.fd = w->wake[0], .events = POLLIN}, {.fd = w->wake[1], .events = POLLIN}};
  while (pidfd >= 0 && !(p[0].revents & POLLIN)) {
    int ready = poll(p, 3, w->poll_ms ? w->poll_ms : -1);
    if (ready < 0 && errno != EINTR)
      break;
    if (ready == 0 || (p[1].revents | p[2].revents) & POLLIN) {
      for (int i = 1; i < 3; i++)
        if (p[i].revents & POLLIN)
          drain(p[i].fd);
      check_limits(s, w, n, false);
    }
  }
  int status;
  if (RETRY(waitpid(child, &status, 0)) != child)
    die_errno(EXIT_INTERNAL, "can't wait for your program");
  return status;
}

/* What the child said before it failed, if anything: "CODE REASON". */
static void log_child_failure(const struct session *s, int reports) {
  char buf[640];
  ssize_t n = read(reports, buf, sizeof buf - 1);
  uint32_t code;
  if (n <= 0)
    return;
  buf[n] = '\0';
  char *sp = strchr(buf, ' ');
  if (!sp)
    return;
  *sp = '\0';
  if (!parse_u32(buf, &code))
    return;
  struct log_fields f = {0};
  log_session_fields(&f, s, false);
  log_num(&f, "code", code);
  log_str(&f, "reason", sp + 1);
  log_event(code == EXIT_REFUSED || code == EXIT_USAGE ? EVENT_DENIED : EVENT_ERROR, &f);
}

void monitor(const struct session *s, pid_t child, int reports) {
  const struct user_policy *u = s->user;
  struct log_fields f = {0};
  log_session_fields(&f, s, true);
  if (!s->created)
    log_event(EVENT_CONTAINER_JOIN, &f);
  struct cg_watch w;
  s->cg->watch(u->uid, &w); /* as root: v1 registers its OOM eventfd with a root-only write */
  struct notices n = {0};
  s->cg->events(&w, &n.told);
  int notice = notice_open_for_reading(u->uid); /* as root: the state folder is root's */
  state_dir_fd = RETRY(open(CELLSH_STATE_DIR, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  confine_monitor();
  child_pid = child;
  static const int forwarded[] = PASSED_ON_SIGNALS;
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
    sigaction(forwarded[i], &(struct sigaction){.sa_handler = forward_signal, .sa_flags = SA_RESTART}, NULL);
  /* Held since entry (caller.c): what came meanwhile goes to the program now. */
  sigset_t held;
  caller_passed_on(&held);
  sigprocmask(SIG_UNBLOCK, &held, NULL);
  /* SIGPIPE stays ignored (caller.c): a reader of stderr that went away must
   * not kill the monitor, or the exit status and the exit event would be lost. */
  if (s->channel >= 0)
    close(s->channel);
  int status = wait_watching(s, child, &w, &n);
  check_limits(s, &w, &n, true);
  tell_stop_notice(s, notice);
  log_child_failure(s, reports);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  log_num(&f, "status", code);
  if (WIFSIGNALED(status))
    log_num(&f, "signal", WTERMSIG(status));
  log_num(&f, "duration_ms", (int64_t)(now_ms() - s->started_ms));
  log_event(EVENT_EXIT, &f);
  _exit(code);
}
