#define _GNU_SOURCE
#include "policy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "trust.h"
#include "util.h"

/* The keys of a record, in the order cellsh-admin writes them; each is
 * required, and a record's seen keys are a bit set over this table. */
static const char *const key_names[] = {"name", "gid", "group", "groups", "home", "shell", "hostname",
                                        "network", "memory", "memory_high", "swap", "pids", "cpu",
                                        "io_weight", "io", "nofile", "nproc", "core", "env", "restart",
                                        "user_may", "seccomp", "nested_userns"};
#define N_KEYS ((int)(sizeof key_names / sizeof *key_names))
#define K_ALL ((1 << N_KEYS) - 1)

const int rlimit_resource[RL_COUNT] = {RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE};
const char *const rlimit_key[RL_COUNT] = {"nofile", "nproc", "core"};
const char *const user_may_key[MAY_COUNT] = {"shell", "hostname", "env", "network", "memory", "memory_high",
                                             "swap", "pids", "cpu", "io_weight", "nofile", "nproc", "core"};
static const char *const restart_names[] = {"idle", "login", "manual"};
static const char *const seccomp_names[] = {"default", "strict", "unconfined"}; /* enum seccomp_profile */

/* Set by cellsh itself in every session (session.c), or passed from the login. */
static const char *const reserved_env[] = {"HOME", "USER", "LOGNAME", "SHELL", "TERM", "SSH_AUTH_SOCK", "SSH_TTY",
                                           "SSH_CONNECTION", "SSH_CLIENT", "SSH_ORIGINAL_COMMAND"};

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

bool valid_env_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return false;
  for (size_t i = 0; i < sizeof reserved_env / sizeof *reserved_env; i++)
    if (!strcmp(s, reserved_env[i]))
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

static bool parse_size(const char *v, uint64_t *out) {
  return parse_u64(v, out) && *out < SIZE_LIMIT;
}

/* "SOFT HARD", each a number or "max". */
static bool parse_rlimit(const char *v, struct rlimit *out) {
  char soft[24], hard[24];
  if (sscanf(v, "%23[0-9max] %23[0-9max]", soft, hard) != 2 || strlen(soft) + strlen(hard) + 1 != strlen(v))
    return false;
  uint64_t n[2];
  const char *t[2] = {soft, hard};
  for (int i = 0; i < 2; i++) {
    if (!strcmp(t[i], "max"))
      n[i] = RLIM_INFINITY;
    else if (!parse_u64(t[i], &n[i]) || n[i] >= RLIM_INFINITY)
      return false;
  }
  out->rlim_cur = n[0];
  out->rlim_max = n[1];
  return n[0] <= n[1];
}

/* Groups of five: "MAJ:MIN RBPS WBPS RIOPS WIOPS", space separated; may be empty. */
static bool parse_io(const char *v, struct cg_limits *l) {
  char buf[MAX_IO_DEVICES * 5 * 21 + 1];
  if (strlen(v) >= sizeof buf)
    return false;
  strcpy(buf, v);
  l->n_io = 0;
  unsigned field = 0;
  struct io_limit *d = NULL;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field = (field + 1) % 5) {
    if (field == 0) {
      char *colon = strchr(tok, ':');
      if (l->n_io == MAX_IO_DEVICES || !colon)
        return false;
      *colon = '\0';
      d = &l->io[l->n_io++];
      if (!parse_u32(tok, &d->major) || !parse_u32(colon + 1, &d->minor) || d->major > MAJOR_MAX || d->minor > MINOR_MAX)
        return false;
      /* One line per disk: a second one would silently override the first. */
      for (struct io_limit *o = l->io; o < d; o++)
        if (o->major == d->major && o->minor == d->minor)
          return false;
      continue;
    }
    uint64_t *slot[] = {&d->rbps, &d->wbps, &d->riops, &d->wiops};
    if (!parse_size(tok, slot[field - 1]))
      return false;
  }
  return field == 0;
}

/* Bytes an env value may hold unencoded; every other byte is %XX (uppercase). */
#define ENV_PLAIN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/:,@+="

static int hex_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "NAME=VALUE ..." with percent-encoded values into u->env (replacing it); a
 * name twice, a reserved name or a control character in a value is invalid. */
static bool parse_env(const char *v, struct user_policy *u) {
  char buf[1024];
  if (strlen(v) >= sizeof buf)
    return false;
  strcpy(buf, v);
  u->n_env = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || u->n_env == POLICY_ENV_MAX)
      return false;
    *eq = '\0';
    struct env_var *e = &u->env[u->n_env];
    if (!valid_env_name(tok))
      return false;
    for (unsigned i = 0; i < u->n_env; i++)
      if (!strcmp(u->env[i].name, tok))
        return false;
    strcpy(e->name, tok);
    size_t n = 0;
    for (const char *p = eq + 1; *p; p++) {
      int c = (unsigned char)*p;
      if (*p == '%') {
        int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);
        if (lo < 0)
          return false;
        c = hi * 16 + lo;
        p += 2;
        if (c < 0x20 || c == 0x7f)
          return false;
      } else if (!strchr(ENV_PLAIN, c)) {
        return false;
      }
      if (n == ENV_VALUE_MAX)
        return false;
      e->value[n++] = (char)c;
    }
    e->value[n] = '\0';
    u->n_env++;
  }
  return true;
}

/* Words from a fixed table, space separated, each at most once, into a bit set. */
static bool parse_words(const char *v, const char *const *words, int n_words, unsigned *bits) {
  char buf[256];
  if (strlen(v) >= sizeof buf)
    return false;
  strcpy(buf, v);
  *bits = 0;
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    int i = 0;
    while (i < n_words && strcmp(tok, words[i]))
      i++;
    if (i == n_words || (*bits & (1u << i)))
      return false;
    *bits |= 1u << i;
  }
  return true;
}

static bool parse_restart(const char *v, enum restart_mode *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(v, restart_names[i]))
      return *out = (enum restart_mode)i, true;
  return false;
}

static bool parse_seccomp(const char *v, enum seccomp_profile *out) {
  for (int i = 0; i < 3; i++)
    if (!strcmp(v, seccomp_names[i]))
      return *out = (enum seccomp_profile)i, true;
  return false;
}

static bool parse_bool(const char *v, bool *out) {
  *out = !strcmp(v, "true");
  return *out || !strcmp(v, "false");
}

/* Apply one "key value" line (key index k) to a record; false if the value is invalid. */
static bool parse_field(int k, const char *v, struct user_policy *u) {
  uint32_t n32;
  struct cg_limits *l = &u->limits;
  switch (k) {
  case 0: return copy_checked(u->name, sizeof u->name, v, valid_name);
  case 1: return parse_u32(v, &n32) && n32 != UINT32_MAX && (u->gid = n32, true);
  case 2: return copy_checked(u->group, sizeof u->group, v, valid_name);
  case 3: return parse_groups(v, u);
  case 4: return copy_checked(u->home, sizeof u->home, v, valid_abs_path);
  case 5: return copy_checked(u->shell, sizeof u->shell, v, valid_abs_path);
  case 6: return copy_checked(u->hostname, sizeof u->hostname, v, valid_hostname);
  case 7:
    u->network = !strcmp(v, "host") ? NETWORK_HOST : NETWORK_NONE;
    return !strcmp(v, "host") || !strcmp(v, "none");
  case 8: return parse_size(v, &l->memory);
  case 9: return parse_size(v, &l->memory_high);
  case 10: return !strcmp(v, "max") ? (l->swap = SWAP_ANY, true) : parse_size(v, &l->swap);
  case 11: return parse_u32(v, &l->pids) && l->pids <= PIDS_MAX;
  case 12: return parse_u32(v, &l->cpu) && l->cpu <= 1024000 && (l->cpu == 0 || l->cpu >= 10);
  case 13: return parse_u32(v, &l->io_weight) && l->io_weight <= IO_WEIGHT_MAX;
  case 14: return parse_io(v, l);
  case 15: return parse_rlimit(v, &u->rlimits[RL_NOFILE]) && u->rlimits[RL_NOFILE].rlim_cur >= NOFILE_MIN;
  case 16: case 17: return parse_rlimit(v, &u->rlimits[k - 15]);
  case 18: return parse_env(v, u);
  case 19: return parse_restart(v, &u->restart);
  case 20: return parse_words(v, user_may_key, MAY_COUNT, &u->user_may);
  case 21: return parse_seccomp(v, &u->seccomp);
  case 22: return parse_bool(v, &u->nested_userns);
  default: return false;
  }
}

static int key_index(const char *key) {
  for (int i = 0; i < N_KEYS; i++)
    if (!strcmp(key, key_names[i]))
      return i;
  return -1;
}

/* The first required key a record has not seen. */
static const char *missing_key(int seen) {
  for (int i = 0; i < N_KEYS; i++)
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
  const char *p = strchr(buf, '\n') + 1, *record = NULL;
  while (p < buf + body) {
    lineno++;
    const char *start = p;
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
      record = start;
    } else if (!strcmp(line, "end") && !sp) {
      if (seen != K_ALL)
        FAIL("line %u: the record for uid %u has no \"%s\"", lineno, cur.uid, missing_key(seen));
      /* strict denies every namespace; cellsh-admin never writes both. */
      if (cur.seccomp == SECCOMP_PROFILE_STRICT && cur.nested_userns)
        FAIL("line %u: the record for uid %u sets nested_userns with seccomp strict", lineno, cur.uid);
      if (cur.uid == uid) {
        cur.record_hash = fnv1a64(record, (size_t)(p - record));
        *out = cur;
        found = 1;
      }
      seen = -1;
    } else {
      int k = key_index(line);
      if (k < 0)
        FAIL("line %u: unknown key \"%s\"", lineno, line);
      if (seen & (1 << k))
        FAIL("line %u: \"%s\" appears twice", lineno, line);
      if (!parse_field(k, v, &cur))
        FAIL("line %u: invalid value for \"%s\"", lineno, line);
      seen |= 1 << k;
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

/* Set one variable in u's environment, replacing one of the same name. */
static bool set_env(struct user_policy *u, const struct env_var *e) {
  for (unsigned i = 0; i < u->n_env; i++)
    if (!strcmp(u->env[i].name, e->name))
      return u->env[i] = *e, true;
  if (u->n_env == POLICY_ENV_MAX)
    return false;
  u->env[u->n_env++] = *e;
  return true;
}

/* Is want no more than have, for a limit where 0 means none? */
static bool within(uint64_t want, uint64_t have) {
  return have == 0 || (want != 0 && want <= have);
}

bool policy_override(struct user_policy *u, const char *setting, char *err, size_t errlen) {
  const char *eq = strchr(setting, '=');
  int m = 0;
  while (eq && m < MAY_COUNT && (strlen(user_may_key[m]) != (size_t)(eq - setting) ||
                                 strncmp(setting, user_may_key[m], (size_t)(eq - setting))))
    m++;
  if (!eq || m == MAY_COUNT) {
    snprintf(err, errlen, "--set wants KEY=VALUE with KEY one of the user-settable keys");
    return false;
  }
  if (!(u->user_may & (1u << m))) {
    snprintf(err, errlen, "the policy does not let you set \"%s\"", user_may_key[m]);
    return false;
  }
  struct user_policy t = *u;
  const char *v = eq + 1;
  int k = key_index(user_may_key[m]);
  bool ok = parse_field(k, v, &t);
  const struct cg_limits *a = &u->limits, *b = &t.limits;
  if (ok) {
    switch (m) {
    case MAY_NETWORK: ok = t.network == NETWORK_NONE || u->network == NETWORK_HOST; break;
    case MAY_MEMORY: ok = within(b->memory, a->memory) && b->memory >= MEMORY_MIN; break;
    case MAY_MEMORY_HIGH: ok = within(b->memory_high, a->memory_high) && b->memory_high >= MEMORY_MIN; break;
    case MAY_SWAP: ok = a->swap == SWAP_ANY || (b->swap != SWAP_ANY && b->swap <= a->swap); break;
    case MAY_PIDS: ok = within(b->pids, a->pids); break;
    case MAY_CPU: ok = within(b->cpu, a->cpu); break;
    case MAY_IO_WEIGHT: ok = (b->io_weight ? b->io_weight : 100) <= (a->io_weight ? a->io_weight : 100); break;
    case MAY_NOFILE: case MAY_NPROC: case MAY_CORE: {
      int r = m - MAY_NOFILE;
      ok = t.rlimits[r].rlim_max <= u->rlimits[r].rlim_max; /* RLIM_INFINITY is the largest */
      break;
    }
    case MAY_ENV: { /* the user's variables join the admin's, replacing the same names */
      struct env_var mine[POLICY_ENV_MAX];
      unsigned n_mine = t.n_env;
      memcpy(mine, t.env, sizeof mine);
      t.n_env = u->n_env;
      memcpy(t.env, u->env, sizeof t.env);
      for (unsigned i = 0; ok && i < n_mine; i++)
        ok = set_env(&t, &mine[i]);
      break;
    }
    default: break;
    }
  }
  if (!ok) {
    /* The value is not echoed: it is the caller's, and stderr may be a terminal. */
    snprintf(err, errlen, "the value given for %s is not one you may set (not valid, or beyond what the policy allows)",
             user_may_key[m]);
    return false;
  }
  *u = t;
  return true;
}
