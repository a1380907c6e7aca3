#define _GNU_SOURCE
#include "privs.h"

#include <grp.h>
#include <stdint.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

static int capget_raw(struct __user_cap_data_struct data[2]) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  return (int)syscall(SYS_capget, &hdr, data);
}

static int capset_raw(struct __user_cap_data_struct data[2]) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  return (int)syscall(SYS_capset, &hdr, data);
}

/* The bounding set can only shrink, and only with CAP_SETPCAP, so this comes
 * before the uid change. prctl answers EINVAL past the kernel's last cap. */
static void keep_bounding_set(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
      break;
    if (!(keep & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      die_errno(EXIT_INTERNAL, "can't drop capability %d from the bounding set", cap);
  }
}
static void drop_bounding_set(void) {
  keep_bounding_set(0);
}

static void verify_dropped(uid_t uid, gid_t gid, unsigned n_groups) {
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid ||
      getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (uid/gid)");
  struct __user_cap_data_struct caps[2];
  if (capget_raw(caps) < 0 || caps[0].effective || caps[0].permitted || caps[0].inheritable ||
      caps[1].effective || caps[1].permitted || caps[1].inheritable)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (capabilities)");
  gid_t groups[MAX_GROUPS + 1];
  if (getgroups(MAX_GROUPS + 1, groups) != (int)n_groups)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (supplementary groups)");
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (dumpable)");
  if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 ||
      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_SYS_ADMIN, 0, 0) != 0 ||
      prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (bounding set or no_new_privs)");
  /* The Murky Issue of Changing Process Identity (Tsafrir et al., 2008): try to go back. */
  if (setuid(0) == 0 || setgid(0) == 0)
    die(EXIT_INTERNAL, "dropping privileges did not take effect (could regain root)");
}

void confine_monitor(void) {
  if (setgroups(0, NULL) < 0)
    die_errno(EXIT_INTERNAL, "can't clear the monitor's groups");
  drop_bounding_set();
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't clear the ambient capabilities");
  struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
  if (capset_raw(none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't confine the session's monitor");
  uid_t r, e, s;
  struct __user_cap_data_struct caps[2];
  if (getresuid(&r, &e, &s) < 0 || r || e || s || capget_raw(caps) < 0 || caps[0].effective || caps[0].permitted ||
      caps[0].inheritable || caps[1].effective || caps[1].permitted || caps[1].inheritable ||
      getgroups(0, NULL) != 0 || prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
    die(EXIT_INTERNAL, "confining the session's monitor did not take effect");
}

/* su without "-" hands down the caller's session keyring (root's, from a root
 * shell), and so would anything else that starts no keyring of its own: the
 * user's program would possess root's keys (session-keyring(7)). Every process
 * in the container starts with a new, empty one of its own (ns.c does the same
 * for the init). A kernel without keys has none to hand down. */
void fresh_session_keyring(void) {
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) >= 0 || errno == ENOSYS)
    return;
  /* A host that filters the keyring calls out (systemd-nspawn and Docker do)
   * refuses them to this process and to everything it starts: then nothing in
   * the container can reach a keyring, the inherited one included. */
  int refused = errno;
  if (refused == EPERM && syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) < 0 && errno == EPERM)
    return;
  errno = refused;
  die_errno(EXIT_INTERNAL, "can't give your session a keyring of its own");
}

void set_groups(const struct user_policy *u) {
  if (setgroups(u->n_groups, u->groups) < 0)
    die_errno(EXIT_INTERNAL, "can't set the supplementary groups of %s", u->name);
}

void drop_privileges(uid_t uid, gid_t gid, unsigned n_groups) {
  drop_bounding_set();
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't clear the ambient capabilities");
  if (setresgid(gid, gid, gid) < 0)
    die_errno(EXIT_INTERNAL, "can't change to gid %u", (unsigned)gid);
  if (setresuid(uid, uid, uid) < 0)
    die_errno(EXIT_INTERNAL, "can't change to uid %u", (unsigned)uid);
  /* A uid change resets "dumpable" to fs.suid_dumpable, which may be 1; until
   * exec, this process still holds root-opened fds (the audit log), so nobody
   * may ptrace it or read its /proc files. execve(2) resets it for the program. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't stay non-dumpable");
  struct __user_cap_data_struct none[2] = {{0, 0, 0}, {0, 0, 0}};
  if (capset_raw(none) < 0)
    die_errno(EXIT_INTERNAL, "can't clear the capability sets");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't set no_new_privs");
  verify_dropped(uid, gid, n_groups);
}

/* What root inside keeps: Docker's default set without CAP_MKNOD, CAP_NET_RAW
 * and CAP_AUDIT_WRITE. Each counts only in the container's user namespace,
 * over what it owns: its files (the image's, the layer's, the home) and its
 * processes. The mount, network, uts, ipc, pid and cgroup namespaces are host
 * root's, so none of these reaches them. */
#define ROOT_CAPS                                                                                   \
  ((1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) | (1ull << CAP_FSETID) | \
   (1ull << CAP_KILL) | (1ull << CAP_SETGID) | (1ull << CAP_SETUID) | (1ull << CAP_SETPCAP) |       \
   (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_SYS_CHROOT) | (1ull << CAP_SETFCAP))

void become_root_inside(void) {
  gid_t root_group = 0;
  if (setgroups(1, &root_group) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't become root in your container");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) /* as drop_privileges: until exec */
    die_errno(EXIT_INTERNAL, "can't stay non-dumpable");
  keep_bounding_set(ROOT_CAPS);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't clear the ambient capabilities");
  struct __user_cap_data_struct caps[2] = {
      {(uint32_t)ROOT_CAPS, (uint32_t)ROOT_CAPS, 0},
      {(uint32_t)(ROOT_CAPS >> 32), (uint32_t)(ROOT_CAPS >> 32), 0},
  };
  if (capset_raw(caps) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die_errno(EXIT_INTERNAL, "can't confine root in your container");
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) < 0 || r || e || s || getresgid(&rg, &eg, &sg) < 0 || rg || eg || sg ||
      capget_raw(caps) < 0 || caps[0].permitted != (uint32_t)ROOT_CAPS ||
      caps[1].permitted != (uint32_t)(ROOT_CAPS >> 32) || caps[0].inheritable || caps[1].inheritable ||
      prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ||
      getgroups(0, NULL) != 1)
    die(EXIT_INTERNAL, "becoming root in your container did not take the shape it should");
}

void fs_as_user(uid_t uid, gid_t gid) {
  setfsgid(gid);
  setfsuid(uid);
  if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid)
    die(EXIT_INTERNAL, "can't switch file-system identity to uid %u", (unsigned)uid);
}

void fs_as_root(void) {
  setfsuid(0);
  setfsgid(0);
  if (setfsuid((uid_t)-1) != 0 || setfsgid((gid_t)-1) != 0)
    die(EXIT_INTERNAL, "can't switch file-system identity back to root");
}
