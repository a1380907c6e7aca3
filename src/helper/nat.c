#define _GNU_SOURCE
#include "nat.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ns.h"
#include "port-guard.h"
#include "privs.h"
#include "seccomp.h"
#include "tool.h"
#include "util.h"

#define SLIRP4NETNS "/usr/bin/slirp4netns"
#define NFT "/usr/sbin/nft"
/* The NAT configures a namespace in well under a second; past this, the login fails. */
#define NAT_WAIT_MS 15000
/* What the NAT may write to its log (NAT_DIR/UID-ID.log) before writes fail. */
#define NAT_LOG_MAX (1 << 20)
#define TOOL_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin" /* slirp4netns's */

/* NAT_DIR, made if missing (on /run, a tmpfs) unless only looked at: root's,
 * writable by root alone. -1 if it isn't there and create is false. */
static int nat_dir(bool create) {
  bool made = create && mkdir(NAT_DIR, 0700) == 0;
  if (create && !made && errno != EEXIST)
    die_errno(EXIT_INTERNAL, "can't create %s", NAT_DIR);
  int fd = RETRY(open(NAT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0 && errno == ENOENT && !create)
    return -1;
  struct stat st;
  /* 0711: the NAT opens its files by name; no one lists the others'. */
  if (fd < 0 || (made && fchmod(fd, 0711) < 0) || fstat(fd, &st) < 0)
    die_errno(EXIT_INTERNAL, "can't open %s", NAT_DIR);
  if (st.st_uid != 0 || (st.st_mode & 022))
    die(EXIT_CONFIG, "%s must be root's and writable by root alone; remove it and log in again", NAT_DIR);
  return fd;
}

static void nat_path(char *buf, size_t size, uid_t uid, const char *id, const char *kind) {
  xsnprintf(buf, size, NAT_DIR "/%u-%s.%s", (unsigned)uid, id, kind);
}

void nat_remove(uid_t uid) {
  int fd = nat_dir(false);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  if (!d)
    die_errno(EXIT_INTERNAL, "can't read %s", NAT_DIR);
  char prefix[16];
  xsnprintf(prefix, sizeof prefix, "%u-", (unsigned)uid);
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, prefix, strlen(prefix)))
      continue;
    char path[sizeof NAT_DIR + 256];
    xsnprintf(path, sizeof path, NAT_DIR "/%s", e->d_name);
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
      die_errno(EXIT_INTERNAL, "can't unmount %s", path);
    /* The API folder: root's, empty once its tmpfs (NAT_USER's) is unmounted above. */
    if (e->d_type == DT_DIR) {
      if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        die_errno(EXIT_INTERNAL, "can't remove %s", path);
    } else if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
      die_errno(EXIT_INTERNAL, "can't remove %s", path);
    }
  }
  closedir(d);
}

/* NAT_USER's uid and gid, from /etc/passwd (root's file; the account is a
 * local system one, so NSS is not asked). */
static void nat_account(struct nat *nat) {
  cleanup_fd int fd = RETRY(open("/etc/passwd", O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 022))
    die(EXIT_CONFIG, "can't trust /etc/passwd (it must be root's and writable by root alone)");
  FILE *f = fdopen(fd, "r");
  if (!f)
    die_errno(EXIT_INTERNAL, "can't read /etc/passwd");
  fd = -1; /* f owns it */
  cleanup_free char *line = NULL;
  size_t cap = 0;
  bool found = false;
  unsigned long uid = 0, gid = 0;
  while (!found && getline(&line, &cap, f) > 0) {
    char *end;
    if (strncmp(line, NAT_USER ":", sizeof NAT_USER))
      continue;
    const char *p = strchr(line + sizeof NAT_USER, ':'); /* past the password field */
    found = p && (uid = strtoul(p + 1, &end, 10), *end == ':') && (gid = strtoul(end + 1, &end, 10), *end == ':');
  }
  fclose(f);
  if (!found)
    die(EXIT_CONFIG, "network: private needs the system account %s, which is missing; ask your administrator to "
                     "run install.sh",
        NAT_USER);
  if (uid == 0 || gid == 0 || uid >= UINT32_MAX || gid >= UINT32_MAX)
    die(EXIT_CONFIG, "the account %s must not be root's; ask your administrator to fix it", NAT_USER);
  nat->uid = (uid_t)uid;
  nat->gid = (gid_t)gid;
}

/* The loopback addresses the host's resolv.conf names (slirp4netns forwards
 * the container's DNS to them), as nft rules letting NAT_USER reach their port
 * 53; "" if there are none. Each address is one inet_pton accepted. */
static void loopback_resolvers(unsigned uid, char *out, size_t size) {
  out[0] = '\0';
  cleanup_free char *conf = read_small_at(AT_FDCWD, "/etc/resolv.conf", 1 << 16, NULL);
  for (char *save = NULL, *line = conf ? strtok_r(conf, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    if (sscanf(line, " nameserver %45s", addr) != 1)
      continue;
    bool v4 = inet_pton(AF_INET, addr, bin) == 1, v6 = !v4 && inet_pton(AF_INET6, addr, bin) == 1;
    if ((v4 && bin[0] == 127) || (v6 && !strcmp(addr, "::1"))) {
      size_t n = strlen(out);
      snprintf(out + n, size - n, "    meta skuid %u %s daddr %s meta l4proto { tcp, udp } th dport 53 accept\n", uid,
               v4 ? "ip" : "ip6", addr);
    }
  }
}

/* The host firewall's rule for NAT_USER, replaced as a whole in one
 * transaction in the host's network namespace (so an administrator's flush is
 * undone at the next start). Before nat_prepare returns, so no NAT runs
 * without it. */
static void nat_firewall(const struct nat *nat) {
  char rules[4096], resolvers[1024], out[512];
  unsigned u = (unsigned)nat->uid;
  loopback_resolvers(u, resolvers, sizeof resolvers);
  xsnprintf(rules, sizeof rules,
            "table inet " NAT_TABLE "\n"
            "delete table inet " NAT_TABLE "\n"
            "table inet " NAT_TABLE " {\n"
            "  chain nat-output {\n"
            "    type filter hook output priority filter; policy accept;\n"
            "%s"
            "    meta skuid %u fib daddr type local meta l4proto tcp reject with tcp reset\n"
            "    meta skuid %u fib daddr type local reject\n"
            "    meta skuid %u fib daddr type { broadcast, multicast } drop\n"
            "    meta skuid %u ip daddr 169.254.0.0/16 reject\n"
            "    meta skuid %u ip6 daddr fe80::/10 reject\n"
            "  }\n"
            "}\n",
            resolvers, u, u, u, u, u);
  char *argv[] = {NFT, "-f", "-", NULL};
  cleanup_fd int host = host_netns();
  if (!tool_run(argv, host, -1, rules, NAT_WAIT_MS, out, sizeof out))
    die(EXIT_CONFIG, "can't set the host firewall rule network: private needs (%s); ask your administrator "
                     "(Debian's nftables package)",
        out[0] ? out : "nft failed");
}

/* The container's own rule, in its network namespace before anything joins
 * it: out through the NAT only to what lies beyond (never 127.0.0.0/8, which
 * a socket bound to tap0 could send there, nor the NAT's own addresses but its
 * DNS forwarder). Nothing in the container has the capability to change it. */
static void netns_firewall(int netns) {
  static const char rules[] = "table inet " NAT_TABLE " {\n"
                              "  chain output {\n"
                              "    type filter hook output priority filter; policy accept;\n"
                              "    oifname \"tap0\" ip daddr 127.0.0.0/8 drop\n"
                              "    oifname \"tap0\" ip daddr " NAT_DNS " meta l4proto { tcp, udp } th dport 53 accept\n"
                              "    oifname \"tap0\" ip daddr 10.0.2.0/24 drop\n"
                              "  }\n"
                              "}\n";
  char out[512];
  char *argv[] = {NFT, "-f", "-", NULL};
  if (!tool_run(argv, netns, -1, rules, NAT_WAIT_MS, out, sizeof out))
    die(EXIT_CONFIG, "can't set the firewall rule of your container's network (%s); ask your administrator",
        out[0] ? out : "nft failed");
}

/* The child that makes the namespaces: NAT_USER, for good, in a new user and
 * network namespace of its own; it brings up loopback there once its maps are
 * written, and lives until the parent has bound both. */
static NORETURN void netns_child(const struct nat *nat, int up, int down) {
  die_hook = NULL; /* the helper says why it failed */
  int keep[] = {up, down, 2};
  close_all_but(keep, sizeof keep / sizeof *keep);
  gid_t g = nat->gid;
  if (setgroups(1, &g) < 0)
    _exit(EXIT_INTERNAL);
  drop_privileges(nat->uid, nat->gid, 1);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
    _exit(EXIT_CONFIG);
  char c;
  if (!write_all(up, "u", 1) || RETRY(read(down, &c, 1)) != 1 || !loopback_up() || !write_all(up, "r", 1))
    _exit(EXIT_INTERNAL);
  (void)RETRY(read(down, &c, 1)); /* EOF: bound */
  _exit(0);
}

/* Bind pid's namespace of this kind (user, net) to NAT_DIR/UID-ID.<kind>ns. */
static void bind_ns(pid_t pid, uid_t uid, const char *id, const char *kind) {
  char path[sizeof NAT_DIR + 64], from[48], ext[16];
  xsnprintf(ext, sizeof ext, "%sns", kind);
  nat_path(path, sizeof path, uid, id, ext);
  int fd = RETRY(open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (fd < 0)
    die_errno(EXIT_INTERNAL, "can't create %s", path);
  close(fd);
  xsnprintf(from, sizeof from, "/proc/%d/ns/%s", (int)pid, kind);
  if (mount(from, path, NULL, MS_BIND, NULL) < 0)
    die_errno(EXIT_INTERNAL, "can't bind the container's %s namespace to %s", kind, path);
}

void nat_keep_ports(const struct port_set *want, bool exact) {
  struct nat nat = {0};
  if (!port_set_empty(want))
    nat_account(&nat);
  char err[512];
  cleanup_fd int host = host_netns();
  if (!port_guard_keep(nat.uid, want, exact, host, err, sizeof err))
    die(EXIT_CONFIG, "can't keep the published UDP ports for the NAT of network: private (%s); ask your administrator",
        err);
}

void nat_keep_published(uint32_t ports) {
  static struct port_set mine;
  memset(&mine, 0, sizeof mine);
  port_set_add(&mine, ports >> 16, ports & 0xffff);
  nat_keep_ports(&mine, false);
}

int nat_prepare(const struct user_policy *u, const char *id, struct nat *nat) {
  nat_account(nat);
  nat_firewall(nat);
  if (u->udp_ports) /* kept before the NAT binds them, so no one else can take them over */
    nat_keep_published(u->udp_ports);
  close(nat_dir(true));
  nat_remove(u->uid);
  int up[2], down[2], ends[2];
  if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0 || pipe2(ends, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  nat->exit_r = ends[0];
  nat->exit_w = ends[1];
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    netns_child(nat, up[1], down[0]);
  }
  close(up[1]);
  close(down[0]);
  char c;
  bool ok = RETRY(read(up[0], &c, 1)) == 1 && c == 'u';
  if (ok) {
    write_id_maps(pid, nat->uid, nat->gid, true, NULL);
    ok = write_all(down[1], "g", 1) && RETRY(read(up[0], &c, 1)) == 1 && c == 'r';
  }
  int fd = -1;
  if (ok) {
    bind_ns(pid, u->uid, id, "user");
    bind_ns(pid, u->uid, id, "net");
    char path[sizeof NAT_DIR + 64];
    nat_path(path, sizeof path, u->uid, id, "netns");
    fd = RETRY(open(path, O_RDONLY | O_CLOEXEC));
    if (fd >= 0)
      netns_firewall(fd);
  }
  close(down[1]);
  close(up[0]);
  int status;
  bool waited = RETRY(waitpid(pid, &status, 0)) == pid;
  if (!ok || !waited || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || fd < 0)
    die(EXIT_INTERNAL, "can't make your container's network namespace (network: private needs unprivileged user "
                       "namespaces); ask your administrator");
  return fd;
}

/* Bind from onto to (made here: a folder, or an empty file), read-only. */
static void sandbox_bind(const char *from, const char *to, bool dir) {
  int made = dir ? mkdir(to, 0755) : RETRY(open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0444));
  if (made < 0 && !(dir && errno == EEXIST))
    _exit(EXIT_INTERNAL);
  if (!dir)
    close(made);
  if (mount(from, to, NULL, MS_BIND | MS_REC, NULL) < 0 ||
      mount(NULL, to, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, NULL) < 0)
    _exit(EXIT_INTERNAL);
}

/* The NAT's whole file system: a tmpfs with the programs (/usr and the links
 * or folders of a non-merged /usr), /etc, the two namespace files (as
 * /ns/user and /ns/net), resolv.conf's target, and /dev/null, /dev/urandom and
 * /dev/net/tun; all read-only. No /proc, /run, /home or /tmp: a NAT taken over
 * from its container finds no other process or user's file to reach. */
static void sandbox_enter(const char *userns, const char *netns, const char *api) {
  char resolv[PATH_MAX];
  bool linked = realpath("/etc/resolv.conf", resolv) && strncmp(resolv, "/etc/", 5);
  umask(022); /* the helper's is 077: NAT_USER must be able to walk the tree */
  /* Its own IPC (no host shared memory), UTS and cgroup view too. */
  if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0 ||
      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
      mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0 || chdir("/tmp") < 0)
    _exit(EXIT_INTERNAL);
  sandbox_bind("/usr", "usr", true);
  sandbox_bind("/etc", "etc", true);
  static const char *const top[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
  for (size_t i = 0; i < sizeof top / sizeof *top; i++) {
    char from[16], to[PATH_MAX];
    xsnprintf(from, sizeof from, "/%s", top[i]);
    ssize_t n = readlink(from, to, sizeof to - 1);
    struct stat st;
    if (n > 0) {
      to[n] = '\0';
      if (symlink(to, top[i]) < 0)
        _exit(EXIT_INTERNAL);
    } else if (lstat(from, &st) == 0 && S_ISDIR(st.st_mode)) {
      sandbox_bind(from, top[i], true);
    }
  }
  if (mkdir("ns", 0755) < 0 || mkdir("dev", 0755) < 0 || mkdir("dev/net", 0755) < 0)
    _exit(EXIT_INTERNAL);
  sandbox_bind(userns, "ns/user", false);
  sandbox_bind(netns, "ns/net", false);
  sandbox_bind("/dev/null", "dev/null", false);
  sandbox_bind("/dev/urandom", "dev/urandom", false);
  sandbox_bind("/dev/net/tun", "dev/net/tun", false);
  /* The NAT's API socket (publishing ports), the one place it may write: a
   * tiny tmpfs of its own (nat_start). */
  if (api && (mkdir("api", 0755) < 0 || mount(api, "api", NULL, MS_BIND, NULL) < 0 ||
              mount(NULL, "api", NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0))
    _exit(EXIT_INTERNAL);
  if (linked) { /* e.g. systemd-resolved's, under /run */
    char dir[PATH_MAX];
    xsnprintf(dir, sizeof dir, "%s", resolv + 1);
    for (char *slash = strchr(dir, '/'); slash; slash = strchr(slash + 1, '/')) {
      *slash = '\0';
      if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        _exit(EXIT_INTERNAL);
      *slash = '/';
    }
    sandbox_bind(resolv, resolv + 1, false);
  }
  /* pivot_root(".", "."): the old root lands on top of the new one, and goes. */
  if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0 ||
      mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    _exit(EXIT_INTERNAL);
}

/* The NAT, as NAT_USER for good, in the host's network and uid's cgroup, alone
 * in a pid namespace and in sandbox_enter's file system: fd 2 its log, 3 the
 * ready pipe, 4 the pipe whose end it watches. */
static NORETURN void slirp_child(const struct nat *nat, struct cg_entry *entry, const char *userns,
                                 const char *netns, const char *api, bool api_needed, int log, int ready) {
  die_hook = NULL; /* the helper says why it failed, from the log */
  /* Out of the helper's way (no child of the session's monitor), and pid 1 of
   * a namespace of its own, so it can signal no other process. */
  if (setsid() < 0 || unshare(CLONE_NEWPID) < 0 || fork() != 0)
    _exit(0);
  /* Its sockets are the host's: the helper may run in an older container's
   * network, from an ssh connection pam_cellsh put there. */
  int host = host_netns();
  if (setns(host, CLONE_NEWNET) < 0)
    _exit(EXIT_INTERNAL);
  cg_enter(entry);
  int null = RETRY(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(log, 2) < 0 || dup2(ready, 3) < 0 ||
      dup2(nat->exit_r, 4) < 0)
    _exit(EXIT_INTERNAL);
  close_range(5, ~0U, 0);
  sandbox_enter(userns, netns, api_needed ? api : NULL);
  /* The caller's process limit counts NAT_USER's processes, every user's NAT;
   * its log stops at NAT_LOG_MAX. */
  struct rlimit nproc, fsize = {NAT_LOG_MAX, NAT_LOG_MAX};
  if (getrlimit(RLIMIT_NPROC, &nproc) < 0 || (nproc.rlim_cur = nproc.rlim_max, setrlimit(RLIMIT_NPROC, &nproc)) < 0 ||
      setrlimit(RLIMIT_FSIZE, &fsize) < 0)
    _exit(EXIT_INTERNAL);
  gid_t g = nat->gid;
  if (setgroups(1, &g) < 0)
    _exit(EXIT_INTERNAL);
  drop_privileges(nat->uid, nat->gid, 1);
  /* The helper's dispositions and mask would survive the exec. */
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, sig == SIGXFSZ ? SIG_IGN : SIG_DFL);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
    _exit(EXIT_INTERNAL);
  (void)seccomp_confine_nat(api_needed);
  /* --disable-host-loopback: the gateway address (10.0.2.2) is not the host's
   * loopback. The API socket, only where ports are published (nat_publish). */
  char *argv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp",
                  "--ready-fd=3", "--exit-fd=4", "--netns-type=path", "--userns-path=/ns/user",
                  api_needed ? "--api-socket=/api/sock" : "/ns/net", api_needed ? "/ns/net" : "tap0",
                  api_needed ? "tap0" : NULL, NULL};
  char *envp[] = {TOOL_PATH, NULL};
  execve(SLIRP4NETNS, argv, envp);
  dprintf(2, "%s: %s (Debian's slirp4netns package)\n", SLIRP4NETNS, strerror(errno));
  _exit(EXIT_CONFIG);
}

/* Publish the host's UDP ports in ports (policy.h) to the same ports in the
 * container, through the NAT's API socket. Asked as NAT_USER: the folder is
 * the NAT's, and whatever it put there in place of its socket reaches nothing
 * that NAT_USER could not. */
static void nat_publish(const struct nat *nat, const char *api, uint32_t ports) {
  unsigned lo = ports >> 16, hi = ports & 0xffff;
  struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "/sock"};
  int err[2];
  if (pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0) {
    die_hook = NULL;
    int keep[] = {err[1]};
    close_all_but(keep, 1);
    gid_t g = nat->gid;
    /* Confined to the folder: a link the NAT put there resolves inside it. */
    if (chroot(api) < 0 || chdir("/") < 0 || setgroups(1, &g) < 0)
      _exit(EXIT_INTERNAL);
    drop_privileges(nat->uid, nat->gid, 1);
    for (unsigned port = lo; port <= hi; port++) {
      char req[256], reply[512];
      int n = snprintf(req, sizeof req,
                       "{\"execute\": \"add_hostfwd\", \"arguments\": {\"proto\": \"udp\", \"host_addr\": "
                       "\"0.0.0.0\", \"host_port\": %u, \"guest_port\": %u}}",
                       port, port);
      int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s < 0 || RETRY(connect(s, (struct sockaddr *)&addr, sizeof addr)) < 0 || !write_all(s, req, (size_t)n)) {
        dprintf(err[1], "port %u: %s", port, strerror(errno));
        _exit(1);
      }
      size_t got = 0;
      for (ssize_t r; got < sizeof reply - 1 && (r = RETRY(read(s, reply + got, sizeof reply - 1 - got))) > 0;)
        got += (size_t)r;
      reply[got] = '\0';
      close(s);
      if (!strstr(reply, "\"return\"")) {
        dprintf(err[1], "port %u: %s", port, got ? reply : "no answer");
        _exit(1);
      }
    }
    _exit(0);
  }
  close(err[1]);
  char said[600];
  if (!tool_wait(pid, err[0], NAT_WAIT_MS, said, sizeof said))
    die(EXIT_INTERNAL, "can't publish the UDP ports %u-%u into your container (%s); ask your administrator whether "
                       "another program holds them",
        lo, hi, said[0] ? said : "no answer in time");
}

void nat_start(const struct user_policy *u, const struct cg_backend *cg, const char *id, struct nat *nat) {
  char userns[sizeof NAT_DIR + 64], netns[sizeof NAT_DIR + 64], logpath[sizeof NAT_DIR + 64], api[sizeof NAT_DIR + 64];
  nat_path(userns, sizeof userns, u->uid, id, "userns");
  nat_path(netns, sizeof netns, u->uid, id, "netns");
  nat_path(logpath, sizeof logpath, u->uid, id, "log");
  nat_path(api, sizeof api, u->uid, id, "api");
  if (u->udp_ports) {
    /* Where the NAT makes its API socket: a tmpfs NAT_USER may fill only a
     * little of, gone with its unmount at nat_remove. */
    char opts[96];
    xsnprintf(opts, sizeof opts, "size=16k,nr_inodes=8,mode=0700,uid=%u,gid=%u", (unsigned)nat->uid,
              (unsigned)nat->gid);
    if (mkdir(api, 0700) < 0 || mount("tmpfs", api, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
      die_errno(EXIT_INTERNAL, "can't create %s", api);
  }
  cleanup_fd int log = RETRY(open(logpath, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600));
  int ready[2];
  if (log < 0 || pipe2(ready, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't set up the NAT of your container");
  struct cg_entry entry;
  if (cg->open_entry(u->uid, &u->limits, &entry) < 0)
    die(EXIT_INTERNAL, "the container's cgroup vanished while it was being created");
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0)
    slirp_child(nat, &entry, userns, netns, api, u->udp_ports != 0, log, ready[1]);
  for (int i = 0; i < entry.n; i++)
    close(entry.fds[i]);
  close(ready[1]);
  close(nat->exit_r);
  close(nat->exit_w);
  (void)RETRY(waitpid(pid, NULL, 0)); /* the first child; the NAT is its child */
  /* "1" once the namespace is configured; EOF if the NAT died first. */
  struct pollfd p = {.fd = ready[0], .events = POLLIN};
  char c = 0;
  bool ok = RETRY(poll(&p, 1, NAT_WAIT_MS)) == 1 && RETRY(read(ready[0], &c, 1)) == 1 && c == '1';
  close(ready[0]);
  if (ok) {
    if (u->udp_ports)
      nat_publish(nat, api, u->udp_ports);
    return;
  }
  char said[512];
  ssize_t n = RETRY(pread(log, said, sizeof said - 1, 0));
  said[n > 0 ? n : 0] = '\0';
  char *nl = strchr(said, '\n');
  if (nl)
    *nl = '\0';
  /* A NAT still starting ends with the init, which the caller ends now. */
  die(EXIT_INTERNAL, "the NAT of your container's network did not start%s%s", said[0] ? ": " : "", said);
}
