#define _GNU_SOURCE
#include "port-guard.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#define MAP_NAME "cellsh_ports"
#define PORTS 65536
#define RESERVED "/proc/sys/net/ipv4/ip_local_reserved_ports"
/* Every install on the host shares the guard, so this lock is not under one's state folder. */
#define GUARD_LOCK "/run/cellsh-port-guard.lock"

static const char *const prog_names[2] = {"cellsh_ports4", "cellsh_ports6"};
static const enum bpf_attach_type hooks[2] = {BPF_CGROUP_INET4_BIND, BPF_CGROUP_INET6_BIND};

static long sys_bpf(int cmd, union bpf_attr *a) {
  return syscall(SYS_bpf, cmd, a, sizeof *a);
}

static uint64_t ptr(const void *p) {
  return (uint64_t)(uintptr_t)p;
}

/* What this install writes above the uid in the entries of the ports it keeps: never 0. */
static uint32_t install_tag(void) {
  uint32_t h = 2166136261u;
  for (const char *p = CELLSH_STATE_DIR; *p; p++)
    h = (h ^ (unsigned char)*p) * 16777619u;
  return h ? h : 1;
}

/* The root of the host's cgroup v2 hierarchy (all of it on a v2 host, the
 * "unified" mount on a hybrid one), or -1. */
static int cgroup2_root(void) {
  static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
  for (size_t i = 0; i < 2; i++) {
    int fd = RETRY(open(roots[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct statfs fs;
    if (fd >= 0 && fstatfs(fd, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
      return fd;
    if (fd >= 0)
      close(fd);
  }
  return -1;
}

/* An fd of the program named name attached to hook on cg, and the id of its
 * one map; -1 if there is none. */
static int attached_prog(int cg, enum bpf_attach_type hook, const char *name, uint32_t *map_id) {
  static uint32_t ids[4096];
  union bpf_attr q = {.query = {.target_fd = (uint32_t)cg, .attach_type = hook, .prog_ids = ptr(ids), .prog_cnt = 4096}};
  if (sys_bpf(BPF_PROG_QUERY, &q) < 0)
    return -1;
  for (uint32_t i = 0; i < q.query.prog_cnt && i < 4096; i++) {
    union bpf_attr g = {.prog_id = ids[i]};
    int prog = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
    uint32_t map_ids[2] = {0};
    struct bpf_prog_info info = {.nr_map_ids = 2, .map_ids = ptr(map_ids)};
    union bpf_attr gi = {.info = {.bpf_fd = (uint32_t)prog, .info_len = sizeof info, .info = ptr(&info)}};
    if (prog >= 0 && sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &gi) == 0 && !strcmp(info.name, name) && info.nr_map_ids == 1) {
      *map_id = map_ids[0];
      return prog;
    }
    if (prog >= 0)
      close(prog);
  }
  return -1;
}

/* The map of the program named name attached to hook on cg, checked to be
 * the one this file makes; -1 if there is none. A program of that name with
 * another map (an older cellsh's) is taken off. */
static int attached_map(int cg, enum bpf_attach_type hook, const char *name) {
  uint32_t map_id;
  cleanup_fd int prog = attached_prog(cg, hook, name, &map_id);
  if (prog >= 0) {
    union bpf_attr gm = {.map_id = map_id};
    int map = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &gm);
    struct bpf_map_info mi = {0};
    union bpf_attr mq = {.info = {.bpf_fd = (uint32_t)map, .info_len = sizeof mi, .info = ptr(&mi)}};
    if (map >= 0 && sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mq) == 0 && mi.type == BPF_MAP_TYPE_ARRAY && mi.key_size == 4 &&
        mi.value_size == 8 && mi.max_entries == PORTS && (mi.map_flags & BPF_F_MMAPABLE) && !strcmp(mi.name, MAP_NAME))
      return map;
    if (map >= 0)
      close(map);
    union bpf_attr d = {.target_fd = (uint32_t)cg, .attach_bpf_fd = (uint32_t)prog, .attach_type = hook};
    (void)sys_bpf(BPF_PROG_DETACH, &d);
  }
  return -1;
}

/* Take every program of this file's off cg (when no install keeps a port any longer). */
static void detach_guard(int cg) {
  for (int i = 0; i < 2; i++) {
    uint32_t map_id;
    for (int prog; (prog = attached_prog(cg, hooks[i], prog_names[i], &map_id)) >= 0;) {
      union bpf_attr d = {.target_fd = (uint32_t)cg, .attach_bpf_fd = (uint32_t)prog, .attach_type = hooks[i]};
      long r = sys_bpf(BPF_PROG_DETACH, &d);
      close(prog);
      if (r < 0)
        break;
    }
  }
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* The program: a UDP bind(2) in the host's network namespace (cookie) to a
 * port whose map entry is set is refused (EPERM) unless the caller's real uid
 * is the one the entry names. Binds in containers' own namespaces are theirs. */
static int load_prog(int map, uint64_t cookie, enum bpf_attach_type hook, const char *name, char *err, size_t errlen) {
  const struct bpf_insn insns[] = {
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0), /* r6 = ctx */
      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_netns_cookie),
      INSN(BPF_LD | BPF_DW | BPF_IMM, 1, 0, 0, (int32_t)(uint32_t)cookie),
      INSN(0, 0, 0, 0, (int32_t)(uint32_t)(cookie >> 32)),
      INSN(BPF_JMP | BPF_JNE | BPF_X, 0, 1, 18, 0), /* another network namespace: allow */
      INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 6, offsetof(struct bpf_sock_addr, protocol), 0),
      INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 16, IPPROTO_UDP), /* not UDP: allow */
      INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 6, offsetof(struct bpf_sock_addr, user_port), 0),
      INSN(BPF_ALU | BPF_END | BPF_TO_BE, 2, 0, 0, 16), /* the port, in host order */
      INSN(BPF_STX | BPF_MEM | BPF_W, 10, 2, -4, 0),
      INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map),
      INSN(0, 0, 0, 0, 0),
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
      INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 7, 0), /* no entry: allow */
      INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 0, 0, 0),
      INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 5, 0),   /* not kept: allow */
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, 7, 1, 0, 0), /* r7 survives the call */
      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_current_uid_gid),
      INSN(BPF_JMP32 | BPF_JEQ | BPF_X, 0, 7, 2, 0), /* the uid the entry names: allow */
      INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
      INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1),
      INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  char log[4096] = "";
  union bpf_attr a = {.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                      .expected_attach_type = hook,
                      .insns = ptr(insns),
                      .insn_cnt = sizeof insns / sizeof insns[0],
                      .license = ptr("MIT"),
                      .log_buf = ptr(log),
                      .log_size = sizeof log,
                      .log_level = 1};
  strncpy(a.prog_name, name, sizeof a.prog_name - 1);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    int e = errno;
    size_t n = strlen(log);
    while (n && log[n - 1] == '\n')
      log[--n] = '\0';
    const char *last = strrchr(log, '\n');
    last = last ? last + 1 : log; /* the verifier's last word */
    snprintf(err, errlen, "the kernel refused the port guard (%s)%s%s", strerror(e), *last ? ": " : "", last);
  }
  return fd;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* Run fn in a child in the host's network namespace (host: an fd of it);
 * true if it returned true. What it wrote to its fd (at most size - 1 bytes)
 * lands in out. */
static bool in_host(int host, bool (*fn)(int out, const void *arg), const void *arg, char *out, size_t size) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    die_errno(EXIT_INTERNAL, "can't create a pipe");
  pid_t pid = fork();
  if (pid < 0)
    die_errno(EXIT_INTERNAL, "can't fork");
  if (pid == 0) {
    if (setns(host, CLONE_NEWNET) < 0) {
      dprintf(pipefd[1], "can't enter the host's network namespace: %s", strerror(errno));
      _exit(1);
    }
    _exit(fn(pipefd[1], arg) ? 0 : 1);
  }
  close(pipefd[1]);
  int status;
  bool ok = RETRY(waitpid(pid, &status, 0)) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  ssize_t n = RETRY(read(pipefd[0], out, size - 1));
  out[n > 0 ? n : 0] = '\0';
  close(pipefd[0]);
  return ok;
}

static bool write_cookie(int out, const void *arg) {
  (void)arg;
  uint64_t c = 0;
  socklen_t len = sizeof c;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  return s >= 0 && getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &c, &len) == 0 && write_all(out, &c, sizeof c);
}

/* The host network namespace's cookie, from a socket made there. */
static bool host_cookie(int host, uint64_t *cookie, char *err, size_t errlen) {
  char got[sizeof *cookie + 1];
  if (!in_host(host, write_cookie, NULL, got, sizeof got)) {
    snprintf(err, errlen, "can't read the host network namespace's cookie (Linux 5.14 or later has it)");
    return false;
  }
  memcpy(cookie, got, sizeof *cookie);
  return true;
}

/* The map, made and attached with its two programs if none is. */
static int guard_map(int cg, int host, char *err, size_t errlen) {
  int map = -1;
  bool have[2];
  for (int i = 0; i < 2; i++) {
    int m = attached_map(cg, hooks[i], prog_names[i]);
    have[i] = m >= 0;
    if (m >= 0 && map < 0)
      map = m;
    else if (m >= 0)
      close(m);
  }
  uint64_t cookie;
  if (have[0] && have[1])
    return map;
  if (!host_cookie(host, &cookie, err, errlen)) {
    if (map >= 0)
      close(map);
    return -1;
  }
  if (map < 0) {
    union bpf_attr a = {.map_type = BPF_MAP_TYPE_ARRAY,
                        .key_size = 4,
                        .value_size = 8, /* an array's entries are 8 bytes apart in any case */
                        .max_entries = PORTS,
                        .map_flags = BPF_F_MMAPABLE};
    strncpy(a.map_name, MAP_NAME, sizeof a.map_name - 1);
    map = (int)sys_bpf(BPF_MAP_CREATE, &a);
    if (map < 0) {
      snprintf(err, errlen, "can't create the port guard's map: %s", strerror(errno));
      return -1;
    }
  }
  for (int i = 0; i < 2; i++) {
    if (have[i])
      continue;
    cleanup_fd int prog = load_prog(map, cookie, hooks[i], prog_names[i], err, errlen);
    union bpf_attr at = {
        .target_fd = (uint32_t)cg, .attach_bpf_fd = (uint32_t)prog, .attach_type = hooks[i], .attach_flags = BPF_F_ALLOW_MULTI};
    if (prog < 0 || sys_bpf(BPF_PROG_ATTACH, &at) < 0) {
      if (prog >= 0)
        snprintf(err, errlen, "can't attach the port guard to the cgroup v2 root: %s", strerror(errno));
      close(map);
      return -1;
    }
  }
  return map;
}

/* Parse the sysctl's list ("8080,9000-9100", or empty) into s. */
static bool parse_list(const char *text, struct port_set *s) {
  const char *p = text;
  while (*p && *p != '\n') {
    char *end;
    unsigned long lo = strtoul(p, &end, 10), hi = lo;
    if (end == p)
      return false;
    if (*end == '-') {
      p = end + 1;
      hi = strtoul(p, &end, 10);
      if (end == p)
        return false;
    }
    if (lo > hi || hi >= PORTS)
      return false;
    port_set_add(s, (unsigned)lo, (unsigned)hi);
    p = end;
    if (*p == ',')
      p++;
    else if (*p && *p != '\n')
      return false;
  }
  return true;
}

static void format_list(const struct port_set *s, char *out, size_t size) {
  size_t n = 0;
  out[0] = '\0';
  for (unsigned p = 0; p < PORTS; p++) {
    if (!port_set_has(s, p))
      continue;
    unsigned hi = p;
    while (hi + 1 < PORTS && port_set_has(s, hi + 1))
      hi++;
    int w = hi > p ? snprintf(out + n, size - n, "%s%u-%u", n ? "," : "", p, hi)
                   : snprintf(out + n, size - n, "%s%u", n ? "," : "", p);
    if (w < 0 || (size_t)w >= size - n)
      return;
    n += (size_t)w;
    p = hi;
  }
}

/* The sysctl's list, read whole from fd (at offset 0) into s. */
static bool read_list(int fd, struct port_set *s) {
  static char text[PORTS * 7];
  size_t got = 0;
  for (ssize_t r; got < sizeof text - 1 && (r = RETRY(pread(fd, text + got, sizeof text - 1 - got, (off_t)got))) > 0;)
    got += (size_t)r;
  text[got] = '\0';
  memset(s, 0, sizeof *s);
  return parse_list(text, s);
}

/* Write the list for s: the kernel takes at most a page per write, and a
 * write at an offset past 0 adds to what the first one set, so it goes in
 * pieces cut at commas, one after the other on fd. */
static bool write_list(int fd, const struct port_set *s) {
  static char text[PORTS * 7];
  format_list(s, text, sizeof text - 1);
  strcat(text, "\n");
  size_t len = strlen(text), done = 0;
  if (lseek(fd, 0, SEEK_SET) < 0)
    return false;
  while (done < len) {
    size_t n = len - done;
    if (n > 3000) {
      n = 3000;
      while (n > 0 && text[done + n - 1] != ',')
        n--;
    }
    ssize_t w = RETRY(write(fd, text + done, n));
    if (w <= 0)
      return false;
    done += (size_t)w;
  }
  return true;
}

struct reserve_change {
  const struct port_set *want, *freed;
};

/* In the host's network namespace: the sysctl becomes what it was, less
 * freed, plus want, and is read back to check. Says why not on out. */
static bool change_reserved(int out, const void *arg) {
  const struct reserve_change *c = arg;
  static struct port_set was, set, back;
  const char *why = "can't read " RESERVED;
  errno = 0;
  int fd = open(RESERVED, O_RDWR | O_CLOEXEC);
  if (fd < 0 || !read_list(fd, &was))
    goto fail;
  for (size_t i = 0; i < PORTS / 64; i++)
    set.bits[i] = (was.bits[i] & ~c->freed->bits[i]) | c->want->bits[i];
  why = "can't write " RESERVED;
  if (!write_list(fd, &set)) {
    int e = errno;
    (void)write_list(fd, &was); /* a piece that failed must not cut the admin's own entries */
    errno = e;
    goto fail;
  }
  why = RESERVED " did not take the list";
  errno = 0;
  if (read_list(fd, &back) && !memcmp(&set, &back, sizeof set))
    return true;
fail:
  dprintf(out, "%s%s%s", why, errno ? ": " : "", errno ? strerror(errno) : "");
  return false;
}

/* The lock every install on the host takes around the guard, which they share. */
static int guard_lock(void) {
  int fd = RETRY(open(GUARD_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    die_errno(EXIT_INTERNAL, "can't open %s", GUARD_LOCK);
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077))
    die(EXIT_CONFIG, "%s must be a file of root's that no one else can open; remove it and try again", GUARD_LOCK);
  if (RETRY(flock(fd, LOCK_EX)) < 0)
    die_errno(EXIT_INTERNAL, "can't lock %s", GUARD_LOCK);
  return fd;
}

bool port_guard_keep(uid_t nat_uid, const struct port_set *want, bool exact, int host, char *err, size_t errlen) {
  bool none = port_set_empty(want);
  cleanup_fd int cg = cgroup2_root();
  if (cg < 0) {
    snprintf(err, errlen, "this host has no cgroup v2 hierarchy to put the port guard on");
    return none; /* nothing to keep, so none was kept */
  }
  cleanup_fd int lock = guard_lock();
  cleanup_fd int map = -1;
  if (none && exact) { /* only free this install's ports, if a guard is there */
    map = attached_map(cg, hooks[0], prog_names[0]);
    if (map < 0 && (map = attached_map(cg, hooks[1], prog_names[1])) < 0)
      return true;
  } else {
    map = guard_map(cg, host, err, errlen);
  }
  uint64_t *entry = map < 0 ? MAP_FAILED : mmap(NULL, PORTS * 8, PROT_READ | PROT_WRITE, MAP_SHARED, map, 0);
  if (map >= 0 && entry == MAP_FAILED)
    snprintf(err, errlen, "can't map the port guard: %s", strerror(errno));
  if (entry == MAP_FAILED)
    return false;
  /* An entry: the install's tag above, the uid that may bind the port below. */
  uint64_t tag = install_tag();
  for (unsigned p = 0; p < PORTS; p++)
    if (port_set_has(want, p) && entry[p] && entry[p] >> 32 != tag) {
      snprintf(err, errlen, "UDP port %u is kept by another cellsh installation on this host", p);
      munmap(entry, PORTS * 8);
      return false;
    }
  /* Kept at once; freed only once the reserved list no longer has them, so
   * a failure on the way leaves them kept, to be freed by the next run. */
  static struct port_set freed, reserve;
  memset(&freed, 0, sizeof freed);
  reserve = *want;
  bool any = false;
  for (unsigned p = 0; p < PORTS; p++) {
    if (port_set_has(want, p))
      entry[p] = tag << 32 | (uint32_t)nat_uid;
    else if (exact && entry[p] >> 32 == tag)
      port_set_add(&freed, p, p);
    else if (entry[p]) /* another install's ports stay reserved too */
      port_set_add(&reserve, p, p);
    any |= entry[p] && !port_set_has(&freed, p);
  }
  struct reserve_change change = {&reserve, &freed};
  bool ok = in_host(host, change_reserved, &change, err, errlen);
  for (unsigned p = 0; ok && p < PORTS; p++)
    if (port_set_has(&freed, p))
      entry[p] = 0;
  munmap(entry, PORTS * 8);
  if (ok && !any)
    detach_guard(cg);
  return ok;
}
