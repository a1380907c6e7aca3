#define _GNU_SOURCE
#include "ns.h"

#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "nat.h"
#include "privs.h"
#include "rootfs.h"
#include "seccomp.h"
#include "util.h"

char **helper_argv;

/* One byte of the create handshake; false if the other side is gone. */
static bool expect(int fd, char want) {
  char c;
  return RETRY(read(fd, &c, 1)) == 1 && c == want;
}

/* The child failed and said why on stderr: pass its exit code on. */
static NORETURN void child_failed(pid_t pid) {
  int status;
  if (RETRY(waitpid(pid, &status, 0)) == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0)
    _exit(WEXITSTATUS(status));
  die(EXIT_INTERNAL, "the container's init died while starting");
}

/* Write a uid_map, gid_map or setgroups file of the child and read it back:
 * the kernel accepts each only once, and only whole (user_namespaces(7)). */
static void write_map(int procfd, const char *file, const char *text) {
  if (!write_file_at(procfd, file, text))
    die_errno(EXIT_INTERNAL, "can't write %s of the container", file);
  cleanup_free char *back = read_small_at(procfd, file, 4096, NULL);
  bool same = back != NULL, groups = !strcmp(file, "setgroups");
  if (same && groups)
    same = !strncmp(back, text, strlen(text)) && back[strlen(text)] == '\n';
  for (const char *w = text, *g = back; same && !groups && *w;) { /* line by line, as numbers */
    unsigned a, b, c, want_a, want_b, want_c;
    int nw = 0, ng = 0;
    same = sscanf(w, "%u %u %u%n", &want_a, &want_b, &want_c, &nw) == 3 &&
           sscanf(g, "%u %u %u%n", &a, &b, &c, &ng) == 3 && a == want_a && b == want_b && c == want_c;
    w = strchr(w + nw, '\n');
    g = strchr(g + ng, '\n');
    same = same && w && g;
    if (same) {
      w++;
      g++;
      same = !*w == !*g;
    }
  }
  if (!same)
    die(EXIT_INTERNAL, "the container's %s did not take effect", file);
}

/* Ids 0..ID_RANGE-1 inside onto the range at sub, but id itself to itself:
 * "0 SUB ID", "ID ID 1", "ID+1 SUB+ID+1 REST" (or the range whole, then id,
 * when id is past it). */
static void root_map(char *out, size_t size, unsigned id, unsigned sub) {
  if (id >= ID_RANGE) {
    xsnprintf(out, size, "0 %u %u\n%u %u 1\n", sub, (unsigned)ID_RANGE, id, id);
    return;
  }
  size_t n = 0;
  if (id > 0)
    n += (size_t)snprintf(out, size, "0 %u %u\n", sub, id);
  n += (size_t)snprintf(out + n, size - n, "%u %u 1\n", id, id);
  if (id + 1 < ID_RANGE)
    xsnprintf(out + n, size - n, "%u %u %u\n", id + 1, sub + id + 1, (unsigned)ID_RANGE - id - 1);
}

/* Only the user's own uid and gid are mapped, each to itself, so files the
 * container makes in ~ are the user's on the host. setgroups is denied before
 * gid_map is written (CVE-2014-8989; shadow's fix for CVE-2018-7169), so no one
 * inside can shed a group that denies access. With root inside, the user's
 * subordinate ranges are mapped around their own ids, and setgroups stays
 * allowed (apt and every daemon that drops to an account of its own call it):
 * as with shadow's newgidmap, groups of the user's that deny access are not
 * mapped, and nothing inside holds them to shed. */
void write_id_maps(pid_t pid, uid_t uid, gid_t gid, bool as_root, const struct root_ids *root) {
  char path[32], map[256];
  xsnprintf(path, sizeof path, "/proc/%d", (int)pid);
  cleanup_fd int procfd = RETRY(open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (procfd < 0)
    die_errno(EXIT_INTERNAL, "can't open %s", path);
  if (root && root->sub_uid) {
    root_map(map, sizeof map, (unsigned)gid, root->sub_gid);
    write_map(procfd, "gid_map", map);
    root_map(map, sizeof map, (unsigned)uid, root->sub_uid);
    write_map(procfd, "uid_map", map);
    return;
  }
  write_map(procfd, "setgroups", "deny");
  xsnprintf(map, sizeof map, "%u %u 1\n", as_root ? 0 : (unsigned)gid, (unsigned)gid);
  write_map(procfd, "gid_map", map);
  xsnprintf(map, sizeof map, "%u %u 1\n", as_root ? 0 : (unsigned)uid, (unsigned)uid);
  write_map(procfd, "uid_map", map);
}

int idmap_userns(const char *uid_map, const char *gid_map) {
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  /* clone(2) with no new stack behaves like fork(2) here: one thread, no CLONE_VM. */
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't create the user namespace of the image's ids");
  if (pid == 0) { /* holds the namespace until the parent has opened it */
    char c;
    close(sync[1]);
    _exit(read(sync[0], &c, 1) < 0);
  }
  close(sync[0]);
  char path[48];
  xsnprintf(path, sizeof path, "/proc/%d", (int)pid);
  cleanup_fd int procfd = RETRY(open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (procfd >= 0) {
    write_map(procfd, "gid_map", gid_map);
    write_map(procfd, "uid_map", uid_map);
  }
  int fd = procfd < 0 ? -1 : RETRY(openat(procfd, "ns/user", O_RDONLY | O_CLOEXEC));
  int saved = errno;
  close(sync[1]);
  RETRY(waitpid(pid, NULL, 0));
  if (fd < 0) {
    errno = saved;
    die_errno(EXIT_INTERNAL, "can't open the user namespace of the image's ids");
  }
  return fd;
}

bool loopback_up(void) {
  cleanup_fd int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    die_errno(EXIT_INTERNAL, "can't read the container's loopback interface");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0)
    return true;
  if (errno != EPERM)
    die_errno(EXIT_INTERNAL, "can't bring up the container's loopback interface");
  return false;
}

/* Show "cellsh-init" in ps inside, instead of the first login's command line. */
static void rename_init(void) {
  prctl(PR_SET_NAME, "cellsh-init", 0, 0, 0);
  if (!helper_argv || !helper_argv[0])
    return;
  char *start = helper_argv[0], *end = start;
  for (char **a = helper_argv; *a; a++)
    end = *a + strlen(*a);
  memset(start, 0, (size_t)(end - start));
  if (end - start >= 12)
    memcpy(start, "cellsh-init", 11);
}

/* pid 1: reap orphans; stop everything on SIGTERM. Signals are blocked and
 * taken with sigwaitinfo, so pid 1 never runs a handler. */
static NORETURN void init_loop(void) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
    } else if (sig == SIGTERM) {
      kill(-1, SIGKILL);
      _exit(0);
    }
  }
}

/* An fd of the host's network namespace: pid 1's, or, where pid 1 is out of
 * root's reach, kthreadd's (pid 2 with no parent: a kernel thread, in the
 * kernel's first namespace). The helper itself may run in an old container's,
 * from an ssh connection pam_cellsh put there and kept open across a stop. */
int host_netns(void) {
  int fd = RETRY(open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC));
  if (fd >= 0)
    return fd;
  cleanup_free char *status = read_small_at(AT_FDCWD, "/proc/2/status", 4096, NULL);
  if (status && !strncmp(status, "Name:\tkthreadd\n", 15) && strstr(status, "\nPPid:\t0\n"))
    fd = RETRY(open("/proc/2/ns/net", O_RDONLY | O_CLOEXEC));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't open the host's network namespace");
  return fd;
}

/* Die with the helper until the container is committed (SA-25). The kernel
 * clears this on every credential change, setfsuid included (commit_creds in
 * kernel/cred.c), so it is armed again after each. */
static void die_with_parent(void) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't set the parent-death signal");
}

/* netns: the network namespace to join, or -1; nat_exit: the end of the NAT's
 * pipe the init holds for as long as it lives (nat.h), or -1. */
static NORETURN void init_child(const struct user_policy *u, struct cg_entry *entry, int netns, int nat_exit, int up,
                                int down, struct idmaps idmaps) {
  rename_init();
  die_with_parent();
  /* A session of its own: without one, /dev/tty would still reach the caller's
   * terminal (SA-31). */
  if (setsid() < 0)
    die_errno(EXIT_INTERNAL, "can't start a new session");
  cg_enter(entry); /* limits hold before anything else runs in the container */
  if (netns >= 0 && (setns(netns, CLONE_NEWNET) < 0 || close(netns) < 0))
    die_errno(EXIT_INTERNAL, "can't join the container's network namespace");
  if (unshare(CLONE_NEWCGROUP) < 0)
    die_errno(EXIT_INTERNAL, "can't create the cgroup namespace");
  cleanup_fd int home = open_home(u);
  die_with_parent();
  rootfs_build(u, home, idmaps);
  if (idmaps.layers >= 0)
    close(idmaps.layers);
  if (idmaps.home >= 0)
    close(idmaps.home);
  if (sethostname(u->hostname, strlen(u->hostname)) < 0)
    die_errno(EXIT_INTERNAL, "can't set the container's hostname");
  /* Where root lacks CAP_NET_ADMIN (systemd-nspawn without a private network
   * grants none), the network namespace is made again below, once the user
   * namespace exists: owned by it, the init holds CAP_NET_ADMIN there. */
  bool net_later = u->network == NETWORK_NONE && !loopback_up();
  /* The OOM killer should pick the program that ate the memory, not the init
   * whose death would end every session. Best effort on purpose: lowering it
   * needs CAP_SYS_RESOURCE, which nested hosts may not grant, and without it
   * the init is only as killable as any other process. */
  (void)write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", "-1000");
  gid_t g = u->gid;
  if (setgroups(1, &g) < 0)
    die_errno(EXIT_INTERNAL, "can't set the init's groups");
  /* Created while still root, so root owns it and the user's host processes get
   * no capability over it (SA-24; bubblewrap b48c129). */
  if (unshare(CLONE_NEWUSER) < 0)
    die_errno(EXIT_INTERNAL, "can't create the user namespace");
  if (!write_all(up, "u", 1) || !expect(down, 'g'))
    _exit(EXIT_INTERNAL);
  if (net_later && (unshare(CLONE_NEWNET) < 0 || !loopback_up()))
    die_errno(EXIT_INTERNAL, "can't give the container a network namespace with loopback");
  /* Nothing of root's crosses the drop (as for a session, session.c): the
   * user's host processes may prlimit(2) the init once it is theirs. Its
   * failures reach the helper as its exit status. */
  die_hook = NULL;
  log_close();
  int keep[] = {up, down, say_handle(), nat_exit};
  close_all_but(keep, sizeof keep / sizeof *keep);
  drop_privileges(u->uid, u->gid, 1);
  say_reset();
  fresh_session_keyring();
  die_with_parent();
  int null = RETRY(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
    _exit(EXIT_INTERNAL);
  /* Ready; then live on by itself only once the record naming it is written,
   * so a helper killed in between leaves no container that nothing tracks. */
  if (!write_all(up, "r", 1) || !expect(down, 'p') || prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
    _exit(EXIT_INTERNAL);
  if (nat_exit < 0) {
    close_range(3, ~0U, 0);
  } else if (dup2(nat_exit, 3) < 0 || close_range(4, ~0U, 0) < 0) {
    _exit(EXIT_INTERNAL);
  }
  seccomp_confine(u->seccomp, u->nested_userns);
  init_loop();
}

int container_create(const struct user_policy *u, const struct cg_backend *cg, struct container_record *rec, int *commit) {
  cg->create(u->uid, &u->limits);
  struct cg_entry entry;
  if (cg->open_entry(u->uid, &u->limits, &entry) < 0)
    die(EXIT_INTERNAL, "the container's cgroup vanished while it was being created");
  char id[sizeof rec->id];
  random_hex(id, 6);
  /* The network the init joins: for private, one the NAT may join, made first
   * (nat.h); for host, the host's, even where the helper runs in a container's
   * (an ssh connection pam_cellsh put there, kept across a restart). */
  struct nat nat = {.exit_r = -1, .exit_w = -1};
  int netns = u->network == NETWORK_PRIVATE ? nat_prepare(u, id, &nat)
              : u->network == NETWORK_HOST  ? host_netns()
                                            : -1;
  /* With root inside: the namespaces the image's layers and the home are
   * seen through, made here, where /proc shows this pid namespace's pids. */
  struct root_ids root;
  bool valid;
  struct idmaps idmaps = {-1, -1};
  if (root_parse(u->root, u->uid, u->gid, &root, &valid)) {
    char uids[96], gids[96];
    /* The store's range onto the user's, so the image is root's inside; and
     * root to itself: the store's own folders the overlay looks its layers up
     * in are root's, 0700, and stay root's to the mounter. */
    xsnprintf(uids, sizeof uids, "0 0 1\n%u %u %u\n", root.store_uid, root.sub_uid, (unsigned)ID_RANGE);
    xsnprintf(gids, sizeof gids, "0 0 1\n%u %u %u\n", root.store_gid, root.sub_gid, (unsigned)ID_RANGE);
    idmaps.layers = idmap_userns(uids, gids);
    /* The home maps the user's own uid and gid alone: root inside may read and
     * change what is there, but no file in it can become a subordinate id's
     * (a setuid binary of root-inside's, left on the host), nor can it chown. */
    xsnprintf(uids, sizeof uids, "%u %u 1\n", (unsigned)u->uid, (unsigned)u->uid);
    xsnprintf(gids, sizeof gids, "%u %u 1\n", (unsigned)u->gid, (unsigned)u->gid);
    idmaps.home = idmap_userns(uids, gids);
  }
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD | SIGCHLD;
  if (u->network == NETWORK_NONE)
    flags |= CLONE_NEWNET;
  int pidfd = -1;
  /* clone(2) with no new stack behaves like fork(2) here: one thread, no CLONE_VM. */
  pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, &pidfd, NULL, 0);
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't create the container's namespaces");
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    init_child(u, &entry, netns, nat.exit_w, up[1], down[0], idmaps);
  }
  if (idmaps.layers >= 0)
    close(idmaps.layers);
  if (idmaps.home >= 0)
    close(idmaps.home);
  close(up[1]);
  close(down[0]);
  if (netns >= 0)
    close(netns);
  for (int i = 0; i < entry.n; i++)
    close(entry.fds[i]);
  if (!expect(up[0], 'u'))
    child_failed(pid);
  write_id_maps(pid, u->uid, u->gid, false, &root); /* root: policy.c checked it */
  if (!write_all(down[1], "g", 1) || !expect(up[0], 'r'))
    child_failed(pid);
  if (u->network == NETWORK_PRIVATE)
    nat_start(u, cg, id, &nat);
  close(up[0]);
  *commit = down[1];
  memset(rec, 0, sizeof *rec);
  rec->uid = u->uid;
  rec->init_pid = pid;
  rec->created_ms = now_ms();
  memcpy(rec->id, id, sizeof rec->id);
  if (!proc_identity(pid, rec))
    child_failed(pid);
  return pidfd;
}

void container_commit(int commit) {
  if (!write_all(commit, "p", 1))
    die_errno(EXIT_INTERNAL, "can't hand the container over to its init");
  close(commit);
}
