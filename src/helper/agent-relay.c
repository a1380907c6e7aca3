#define _GNU_SOURCE
#include "agent-relay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define MAX_CONNS 32   /* agent connections relayed at once */
#define HALF_BUF 16384 /* bytes in flight per direction */
#define MAX_NAMES 1024 /* names looked at when handing "current" on */
#define NAME_LEN AGENT_NAME_MAX
#define CURRENT "current" /* AGENT_SOCK's name in the agents folder (rootfs.h) */
/* Where the relay keeps its fds (the rest are closed). */
#define RELAY_CHANNEL_FD 3
#define RELAY_HOST_FD 4

static bool all_of(const char *s, size_t n, const char *set) {
  return strspn(s, set) >= n;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define DIGITS "0123456789"
#define HEX "0123456789abcdef"

int agent_host_socket(const char *path, uid_t uid) {
  /* /tmp/ssh-XXXXXXXXXX/agent.N, as sshd names it (SSHD_AGENT_SOCKET in agent.ts). */
  size_t len = strlen(path);
  if (len < 27 || len > 40 || strncmp(path, "/tmp/ssh-", 9) || !all_of(path + 9, 10, ALNUM) ||
      strncmp(path + 19, "/agent.", 7) || strspn(path + 26, DIGITS) != len - 26)
    return -1;
  char dir_path[20];
  memcpy(dir_path, path, 19);
  dir_path[19] = '\0';
  int dir = open(dir_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat d, s;
  if (dir < 0)
    return -1;
  int sock = -1;
  if (fstat(dir, &d) == 0 && S_ISDIR(d.st_mode) && d.st_uid == uid && (d.st_mode & 077) == 0)
    sock = openat(dir, path + 20, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  close(dir);
  if (sock >= 0 && (fstat(sock, &s) < 0 || !S_ISSOCK(s.st_mode) || s.st_uid != uid)) {
    close(sock);
    sock = -1;
  }
  return sock;
}

/* A unix socket connected to the socket an O_PATH fd holds (through
 * /proc/self/fd, so no path is resolved anew); -1 with errno on failure. */
static int connect_fd(int path_fd, int flags) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", path_fd);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

/* ---- handing "current" on (AgentRelay.handOver in agent.ts) ---------------- */

/* "<digits>-<session id>.sock": a session's socket as the helper names it. */
static bool session_socket_name(const char *n) {
  size_t d = strspn(n, DIGITS);
  return d > 0 && n[d] == '-' && all_of(n + d + 1, STARTED_ID_LEN, HEX) && !strcmp(n + d + 1 + STARTED_ID_LEN, AGENT_SOCKET_SUFFIX);
}

enum liveness { LIVE,
                DEAD,
                UNKNOWN };

/* Does a session still accept on this name? A name that is not a socket (a
 * link planted there, say) is dead; it is never followed. */
static enum liveness probe(int dir, const char *name) {
  int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0)
    return UNKNOWN;
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    close(fd);
    return DEAD;
  }
  int s = connect_fd(fd, SOCK_NONBLOCK);
  int e = errno;
  close(fd);
  if (s >= 0) {
    close(s);
    return LIVE;
  }
  return e == ECONNREFUSED ? DEAD : UNKNOWN;
}

static int newest_first(const void *a, const void *b) {
  return strcmp(*(char *const *)b, *(char *const *)a);
}

/* Remove this session's socket; if "current" named it, point it at the
 * newest other session's socket that still accepts, or remove it. Every name
 * is looked at relative to the folder's fd, without following links. */
static void hand_over(int dir, const char *mine, const char *session) {
  unlinkat(dir, mine, 0);
  char target[NAME_LEN];
  ssize_t n = readlinkat(dir, CURRENT, target, sizeof target - 1);
  if (n < 0 || (size_t)n != strlen(mine) || memcmp(target, mine, (size_t)n))
    return;
  static char names[MAX_NAMES][NAME_LEN];
  char *sorted[MAX_NAMES];
  size_t count = 0;
  int rd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = rd < 0 ? NULL : fdopendir(rd);
  for (struct dirent *e; d && count < MAX_NAMES && (e = readdir(d));)
    if (strlen(e->d_name) < NAME_LEN && session_socket_name(e->d_name) && strcmp(e->d_name, mine)) {
      strcpy(names[count], e->d_name);
      sorted[count] = names[count];
      count++;
    }
  if (d)
    closedir(d);
  else if (rd >= 0)
    close(rd);
  qsort(sorted, count, sizeof *sorted, newest_first);
  for (size_t i = 0; i < count; i++) {
    enum liveness l = probe(dir, sorted[i]);
    if (l == LIVE) {
      char tmp[NAME_LEN];
      snprintf(tmp, sizeof tmp, ".current.%s", session);
      unlinkat(dir, tmp, 0);
      if (symlinkat(sorted[i], dir, tmp) == 0)
        renameat(dir, tmp, dir, CURRENT);
      return;
    }
    if (l == DEAD)
      unlinkat(dir, sorted[i], 0);
  }
  unlinkat(dir, CURRENT, 0);
}

/* ---- relaying connections ------------------------------------------------- */

/* One agent connection: fd[0] inside the container, fd[1] sshd's agent.
 * Direction d copies fd[d] to fd[1 - d] through buf[d]. */
struct conn {
  int fd[2];
  char buf[2][HALF_BUF];
  size_t len[2], off[2];
  bool eof[2], done[2];
};

static struct conn *conns[MAX_CONNS];

static void conn_close(int i) {
  close(conns[i]->fd[0]);
  close(conns[i]->fd[1]);
  free(conns[i]);
  conns[i] = NULL;
}

/* A new connection from inside: connect it to sshd's agent. False when none
 * could be accepted for want of resources (the connection is still queued, so
 * the listener stays readable: it is left out of the poll set for a while). */
static bool conn_accept(int listener, int host) {
  int in = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (in < 0)
    return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED;
  int slot = 0;
  while (slot < MAX_CONNS && conns[slot])
    slot++;
  int out = slot < MAX_CONNS ? connect_fd(host, 0) : -1;
  struct conn *c = out < 0 ? NULL : calloc(1, sizeof *c);
  if (!c) {
    close(in);
    if (out >= 0)
      close(out);
    return true;
  }
  fcntl(out, F_SETFL, O_NONBLOCK);
  c->fd[0] = in;
  c->fd[1] = out;
  conns[slot] = c;
  return true;
}

/* Move what can be moved in direction d; false when the connection is over. */
static bool conn_step(struct conn *c, int d, short src_events, short dst_events) {
  if (c->len[d] == 0 && !c->eof[d] && (src_events & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = read(c->fd[d], c->buf[d], sizeof c->buf[d]);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return false;
    if (n == 0)
      c->eof[d] = true;
    if (n > 0) {
      c->len[d] = (size_t)n;
      c->off[d] = 0;
    }
  }
  if (c->len[d] > 0 && (dst_events & (POLLOUT | POLLERR | POLLHUP))) {
    ssize_t n = send(c->fd[1 - d], c->buf[d] + c->off[d], c->len[d], MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return false;
    if (n > 0) {
      c->off[d] += (size_t)n;
      c->len[d] -= (size_t)n;
    }
  }
  if (c->eof[d] && c->len[d] == 0 && !c->done[d]) {
    shutdown(c->fd[1 - d], SHUT_WR);
    c->done[d] = true;
  }
  return !(c->done[0] && c->done[1]);
}

/* Step past word and the space after it at *p; false if they are not there. */
static bool take_word(const char **p, const char *word) {
  size_t n = strlen(word);
  if (strncmp(*p, word, n) || (*p)[n] != ' ')
    return false;
  *p += n + 1;
  return true;
}

/* Step past an id of STARTED_ID_LEN hex digits and a space, copying it to id. */
static bool take_id(const char **p, char *id) {
  if (!all_of(*p, STARTED_ID_LEN, HEX) || (*p)[STARTED_ID_LEN] != ' ')
    return false;
  memcpy(id, *p, STARTED_ID_LEN);
  id[STARTED_ID_LEN] = '\0';
  *p += STARTED_ID_LEN + 1;
  return true;
}

bool agent_parse_started(const char *m, char *session, char *name) {
  char container[STARTED_ID_LEN + 1];
  const char *p = m;
  if (!take_word(&p, STARTED_WORD) || !take_id(&p, session) || !take_id(&p, container) ||
      !(take_word(&p, STARTED_CREATED) || take_word(&p, STARTED_JOINED)))
    return false;
  if (strlen(p) >= NAME_LEN || !session_socket_name(p) || strncmp(p + strspn(p, DIGITS) + 1, session, STARTED_ID_LEN))
    return false;
  strcpy(name, p);
  return true;
}

static NORETURN void relay_main(void) {
  char text[256];
  int fds[4];
  size_t n_fds = 0;
  char cbuf[CMSG_SPACE(sizeof fds)] = {0};
  struct iovec iov = {text, sizeof text - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t got = recvmsg(RELAY_CHANNEL_FD, &msg, MSG_CMSG_CLOEXEC);
  /* Only what the kernel wrote is read (nothing when recvmsg failed). */
  for (struct cmsghdr *c = got < 0 ? NULL : CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0) &&
        c->cmsg_len <= CMSG_LEN(sizeof fds)) {
      n_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      memcpy(fds, CMSG_DATA(c), n_fds * sizeof(int));
    }
  close(RELAY_CHANNEL_FD);
  char session[STARTED_ID_LEN + 1], name[NAME_LEN];
  text[got > 0 ? got : 0] = '\0';
  if (got <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n_fds != 3 || !agent_parse_started(text, session, name))
    _exit(0); /* the helper refused, or said something this relay doesn't know */
  int pidfd = fds[0], listener = fds[1], dir = fds[2];
  fcntl(listener, F_SETFL, O_NONBLOCK);
  bool starved = false; /* accept failed for want of fds or memory: wait for a connection to end */
  for (;;) {
    struct pollfd p[2 + 2 * MAX_CONNS];
    int at[MAX_CONNS];
    nfds_t n = 0;
    p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    int free_slot = 0;
    for (int i = 0; i < MAX_CONNS; i++) {
      free_slot += !conns[i];
      if (!conns[i])
        continue;
      struct conn *c = conns[i];
      at[i] = (int)n;
      for (int side = 0; side < 2; side++) {
        /* side's fd: readable when its own direction has room, writable when the other has bytes. */
        short ev = (short)((c->len[side] == 0 && !c->eof[side] ? POLLIN : 0) | (c->len[1 - side] > 0 ? POLLOUT : 0));
        /* Nothing wanted of it now: left out, so a hang-up it reports can't spin the loop. */
        p[n++] = (struct pollfd){.fd = ev ? c->fd[side] : -1, .events = ev};
      }
    }
    nfds_t listen_at = n;
    if (free_slot && !starved)
      p[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
    /* Starved with no connection to end: try again in a second, not at once. */
    if (poll(p, n, starved && free_slot == MAX_CONNS ? 1000 : -1) < 0 && errno != EINTR)
      break;
    if (p[0].revents)
      break; /* the program ended */
    for (int i = 0; i < MAX_CONNS; i++) {
      if (!conns[i])
        continue;
      short in_ev = p[at[i]].revents, out_ev = p[at[i] + 1].revents;
      if ((in_ev | out_ev) & POLLNVAL)
        conn_close(i);
      else if (!conn_step(conns[i], 0, in_ev, out_ev) || !conn_step(conns[i], 1, out_ev, in_ev))
        conn_close(i);
      if (!conns[i])
        starved = false;
    }
    if (starved && free_slot == MAX_CONNS)
      starved = false;
    else if (free_slot && !starved && p[listen_at].revents)
      starved = !conn_accept(listener, RELAY_HOST_FD);
  }
  close(listener);
  for (int i = 0; i < MAX_CONNS; i++)
    if (conns[i])
      conn_close(i);
  hand_over(dir, name, session);
  _exit(0);
}

int agent_relay_start(int host_fd) {
  int ch[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0) {
    close(host_fd);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* Its own session, then a grandchild: not the helper's child (the helper
     * execs in this process's parent), not holding sshd's pipes, not in the
     * terminal's way; it ends when the program does. */
    setsid();
    if (fork() != 0)
      _exit(0);
    /* Above every fd that is about to be placed, then placed. */
    int chan = fcntl(ch[0], F_DUPFD_CLOEXEC, 10), host = fcntl(host_fd, F_DUPFD_CLOEXEC, 10);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (chan < 0 || host < 0 || null < 0 || dup2(chan, RELAY_CHANNEL_FD) < 0 || dup2(host, RELAY_HOST_FD) < 0 ||
        dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
      _exit(0);
    if (close_range(RELAY_HOST_FD + 1, ~0u, 0) < 0)
      _exit(0); /* it would hold its own channel's other end, and never see it close */
    /* Not dumpable: no other process of the user's may ptrace it or take its fds
     * (pidfd_getfd); /proc/self/fd stays its own to follow. Enough fds for every
     * connection, where the hard limit allows. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 2 * MAX_CONNS + 16) {
      nofile.rlim_cur = nofile.rlim_max < 2 * MAX_CONNS + 16 ? nofile.rlim_max : 2 * MAX_CONNS + 16;
      setrlimit(RLIMIT_NOFILE, &nofile);
    }
    signal(SIGPIPE, SIG_IGN);
    static const int dflt[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD};
    for (size_t i = 0; i < sizeof dflt / sizeof *dflt; i++)
      signal(dflt[i], SIG_DFL);
    relay_main();
  }
  close(ch[0]);
  close(host_fd);
  if (pid < 0) {
    close(ch[1]);
    return -1;
  }
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return ch[1];
}
