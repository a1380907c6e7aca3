#define _GNU_SOURCE
#include "policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "trust.h"
#include "util.h"

/* Bits of the keys a record has seen; every one is required. */
enum {
  K_NAME = 1 << 0, K_GID = 1 << 1, K_GROUP = 1 << 2, K_GROUPS = 1 << 3, K_HOME = 1 << 4,
  K_SHELL = 1 << 5, K_HOSTNAME = 1 << 6, K_NETWORK = 1 << 7, K_MEMORY = 1 << 8,
  K_PIDS = 1 << 9, K_CPU = 1 << 10, K_ALL = (1 << 11) - 1,
};

bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_LEN || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-' || *s == '.'))
      return false;
  return true;
}

/* Absolute, canonical (no "//", "." or ".." components, no trailing slash) and
 * made of portable characters only. */
bool valid_abs_path(const char *s) {
  size_t n = strlen(s);
  if (n < 2 || n > PATH_MAX_LEN || s[0] != '/' || s[n - 1] == '/')
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-' || c == '.' || c == '/' || c == '+' || c == '@'))
      return false;
    if (c == '/' && (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0')) ||
                     (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
      return false;
  }
  return true;
}

bool valid_hostname(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > HOSTNAME_MAX_LEN || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '-' || *s == '.'))
      return false;
  return true;
}

uint64_t fnv1a64(const char *p, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static bool copy_checked(char *dst, size_t size, const char *v, bool (*ok)(const char *)) {
  if (strlen(v) >= size || !ok(v))
    return false;
  strcpy(dst, v);
  return true;
}

static bool parse_groups(const char *v, struct user_policy *u) {
  char buf[MAX_GROUPS * 11 + 1];
  if (strlen(v) >= sizeof buf)
    return false;
  strcpy(buf, v);
  u->n_groups = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    uint32_t g;
    if (u->n_groups == MAX_GROUPS || !parse_u32(tok, &g) || g == UINT32_MAX)
      return false;
    u->groups[u->n_groups++] = g;
  }
  return true;
}

/* Apply one "key value" line to a record; returns the key's bit or 0 if the key
 * is unknown or the value invalid. */
static int parse_field(const char *key, const char *v, struct user_policy *u) {
  uint32_t n32;
  if (!strcmp(key, "name"))
    return copy_checked(u->name, sizeof u->name, v, valid_name) ? K_NAME : 0;
  if (!strcmp(key, "group"))
    return copy_checked(u->group, sizeof u->group, v, valid_name) ? K_GROUP : 0;
  if (!strcmp(key, "gid"))
    return parse_u32(v, &n32) && n32 != UINT32_MAX && (u->gid = n32, true) ? K_GID : 0;
  if (!strcmp(key, "groups"))
    return parse_groups(v, u) ? K_GROUPS : 0;
  if (!strcmp(key, "home"))
    return copy_checked(u->home, sizeof u->home, v, valid_abs_path) ? K_HOME : 0;
  if (!strcmp(key, "shell"))
    return copy_checked(u->shell, sizeof u->shell, v, valid_abs_path) ? K_SHELL : 0;
  if (!strcmp(key, "hostname"))
    return copy_checked(u->hostname, sizeof u->hostname, v, valid_hostname) ? K_HOSTNAME : 0;
  if (!strcmp(key, "network")) {
    if (!strcmp(v, "none")) u->network = NETWORK_NONE;
    else if (!strcmp(v, "host")) u->network = NETWORK_HOST;
    else return 0;
    return K_NETWORK;
  }
  if (!strcmp(key, "memory"))
    return parse_u64(v, &u->memory) && u->memory < (1ull << 62) ? K_MEMORY : 0;
  if (!strcmp(key, "pids"))
    return parse_u32(v, &u->pids) ? K_PIDS : 0;
  if (!strcmp(key, "cpu"))
    return parse_u32(v, &u->cpu) && u->cpu <= 1024000 && (u->cpu == 0 || u->cpu >= 10) ? K_CPU : 0;
  return 0;
}

static const char *const key_names[] = {"name", "gid", "group", "groups", "home", "shell",
                                        "hostname", "network", "memory", "pids", "cpu"};

/* The first required key a record has not seen. */
static const char *missing_key(int seen) {
  for (int i = 0; i < 11; i++)
    if (!(seen & (1 << i)))
      return key_names[i];
  return "?";
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Check the magic line and the checksum trailer; returns the length of the body
 * that the checksum covers, or -1. */
static long check_envelope(const char *buf, char *err, size_t errlen) {
  size_t len = strlen(buf);
  if (strncmp(buf, POLICY_MAGIC "\n", sizeof POLICY_MAGIC) != 0)
    FAIL("line 1: expected \"%s\"", POLICY_MAGIC);
  if (len < 2 || buf[len - 1] != '\n')
    FAIL("the file does not end with a newline");
  const char *last = buf + len - 1;
  while (last > buf && last[-1] != '\n')
    last--;
  uint64_t want = 0;
  if (strncmp(last, "checksum ", 9) != 0 || strlen(last) != 9 + 16 + 1 ||
      strspn(last + 9, "0123456789abcdef") != 16 || sscanf(last + 9, "%16" SCNx64, &want) != 1)
    FAIL("the last line is not \"checksum <16 lowercase hex digits>\"");
  if (fnv1a64(buf, (size_t)(last - buf)) != want)
    FAIL("checksum mismatch: the file was changed after cellsh-admin wrote it");
  return last - buf;
}

int policy_parse(const char *buf, uid_t uid, struct user_policy *out, char *err, size_t errlen) {
  long body = check_envelope(buf, err, errlen);
  if (body < 0)
    return -1;
  struct user_policy cur;
  int seen = -1, found = 0; /* seen < 0: outside a record */
  uint32_t prev_uid = 0;
  unsigned lineno = 1;
  const char *p = strchr(buf, '\n') + 1;
  while (p < buf + body) {
    lineno++;
    const char *nl = strchr(p, '\n');
    char line[1024];
    if ((size_t)(nl - p) >= sizeof line)
      FAIL("line %u: too long", lineno);
    memcpy(line, p, (size_t)(nl - p));
    line[nl - p] = '\0';
    p = nl + 1;
    if (line[0] == '#')
      continue;
    char *sp = strchr(line, ' ');
    const char *v = sp ? sp + 1 : "";
    if (sp)
      *sp = '\0';
    if (seen < 0) {
      uint32_t u;
      if (strcmp(line, "user") || !parse_u32(v, &u) || u == 0 || u == UINT32_MAX)
        FAIL("line %u: expected \"user <uid>\" (uid 0 is never served)", lineno);
      /* cellsh-admin writes records by increasing uid, so a repeated uid
       * (or any reordering) is caught here in passing. */
      if (u <= prev_uid)
        FAIL("line %u: uid %u is not above the previous record's %u", lineno, u, prev_uid);
      prev_uid = u;
      memset(&cur, 0, sizeof cur);
      cur.uid = u;
      seen = 0;
    } else if (!strcmp(line, "end") && !sp) {
      if (seen != K_ALL)
        FAIL("line %u: the record for uid %u has no \"%s\"", lineno, cur.uid, missing_key(seen));
      if (cur.uid == uid) {
        *out = cur;
        found = 1;
      }
      seen = -1;
    } else {
      int bit = parse_field(line, v, &cur);
      if (!bit)
        FAIL("line %u: unknown key or invalid value for \"%s\"", lineno, line);
      if (seen & bit)
        FAIL("line %u: \"%s\" appears twice", lineno, line);
      seen |= bit;
    }
  }
  if (seen >= 0)
    FAIL("the record for uid %u has no \"end\"", cur.uid);
  return found;
}

void policy_load(uid_t uid, struct user_policy *out) {
  size_t len;
  cleanup_free char *buf = trusted_read(CELLSH_POLICY_PATH, POLICY_MAX_BYTES, &len);
  if (strlen(buf) != len)
    die(EXIT_CONFIG, "the applied policy %s contains a NUL byte; run \"cellsh-admin apply\"",
        CELLSH_POLICY_PATH);
  char err[256];
  int r = policy_parse(buf, uid, out, err, sizeof err);
  if (r < 0)
    die(EXIT_CONFIG, "the applied policy %s is invalid (%s); ask your administrator to run "
        "\"cellsh-admin apply\"", CELLSH_POLICY_PATH, err);
  if (r == 0)
    die(EXIT_REFUSED, "uid %u is not enrolled in cellsh; ask your administrator to run "
        "\"cellsh-admin enroll\"", (unsigned)uid);
}
