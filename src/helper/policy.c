#define _GNU_SOURCE
#include "policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "trust.h"
#include "util.h"

/* The names of the contract's enums (contract.h), indexed by them. */
static const char *const key_names[KEY_COUNT] = KEY_NAMES;
#define K_ALL ((1u << KEY_COUNT) - 1)

const int rlimit_resource[RL_COUNT] = {RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE};
const char *const rlimit_key[RL_COUNT] = RL_NAMES;
const char *const user_may_key[MAY_COUNT] = MAY_NAMES;
static const char *const network_names[NETWORK_COUNT] = NETWORK_NAMES;
static const int network_openness[NETWORK_COUNT] = NETWORK_OPENNESS;
static const char *const restart_names[RESTART_COUNT] = RESTART_NAMES;
static const char *const seccomp_names[SECCOMP_PROFILE_COUNT] = SECCOMP_PROFILE_NAMES;

/* Set by cellsh itself in every session (session.c), or passed from the login. */
static const char *const reserved_env[RESERVED_ENV_COUNT] = RESERVED_ENV_NAMES;

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
  for (size_t i = 0; i < RESERVED_ENV_COUNT; i++)
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
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                               : -1;
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
    if (!eq || u->n_env == ENV_MAX)
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

/* The index of v in names[n], or -1. */
static int word_index(const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i]))
      return i;
  return -1;
}

/* "LO HI" (UDP_PORT_MIN <= LO <= HI, at most UDP_PORTS_MAX of them) or "0 0",
 * into LO << 16 | HI. */
static bool parse_udp_ports(const char *v, uint32_t *out) {
  const char *space = strchr(v, ' ');
  char lo_text[8];
  uint32_t lo, hi;
  if (!space || (size_t)(space - v) >= sizeof lo_text)
    return false;
  memcpy(lo_text, v, (size_t)(space - v));
  lo_text[space - v] = '\0';
  if (!parse_u32(lo_text, &lo) || !parse_u32(space + 1, &hi))
    return false;
  bool none = lo == 0 && hi == 0;
  if (!none && (lo < UDP_PORT_MIN || hi < lo || hi > 65535 || hi - lo >= UDP_PORTS_MAX))
    return false;
  *out = lo << 16 | hi;
  return true;
}

bool valid_image_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > IMAGE_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
    return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

bool valid_image_value(const char *s) {
  if (!strcmp(s, "host"))
    return true;
  const char *space = strchr(s, ' ');
  char name[IMAGE_NAME_MAX + 1];
  if (!space || (size_t)(space - s) > IMAGE_NAME_MAX)
    return false;
  memcpy(name, s, (size_t)(space - s));
  name[space - s] = '\0';
  const char *id = space + 1;
  return valid_image_name(name) && strcmp(name, "host") && strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64;
}

bool layer_parse(const char *s, enum layer_mode *mode, uint64_t *bytes) {
  static const char *const names[LAYER_COUNT] = LAYER_NAMES;
  const char *space = strchr(s, ' ');
  char word[16];
  if (!space || (size_t)(space - s) >= sizeof word)
    return false;
  memcpy(word, s, (size_t)(space - s));
  word[space - s] = '\0';
  int w = word_index(word, names, LAYER_COUNT);
  uint64_t n;
  if (w < 0 || !parse_u64(space + 1, &n) || n >= SIZE_LIMIT || (n != 0 && n < DISK_MIN) ||
      (w == LAYER_PERSISTENT && n == 0))
    return false;
  *mode = (enum layer_mode)w;
  *bytes = n;
  return true;
}

bool valid_layer_value(const char *s) {
  enum layer_mode mode;
  uint64_t bytes;
  return layer_parse(s, &mode, &bytes);
}

bool root_parse(const char *s, uid_t uid, gid_t gid, struct root_ids *out, bool *valid) {
  memset(out, 0, sizeof *out);
  *valid = !strcmp(s, "none");
  if (*valid)
    return false;
  char w[4][12];
  char tail;
  uint32_t v[4];
  if (sscanf(s, "%11[0-9] %11[0-9] %11[0-9] %11[0-9]%c", w[0], w[1], w[2], w[3], &tail) != 4)
    return false;
  size_t len = strlen(w[0]) + strlen(w[1]) + strlen(w[2]) + strlen(w[3]) + 3;
  for (int i = 0; i < 4; i++)
    if (!parse_u32(w[i], &v[i]) || v[i] == 0 || (uint64_t)v[i] + ID_RANGE > UINT32_MAX)
      return false;
  if (len != strlen(s) || ((uint64_t)uid >= v[0] && (uint64_t)uid < (uint64_t)v[0] + ID_RANGE) ||
      ((uint64_t)gid >= v[1] && (uint64_t)gid < (uint64_t)v[1] + ID_RANGE))
    return false;
  *out = (struct root_ids){v[0], v[1], v[2], v[3]};
  *valid = true;
  return true;
}

bool valid_root_value(const char *s) {
  struct root_ids ids;
  bool valid;
  root_parse(s, 0, 0, &ids, &valid); /* the user's own ids are checked with the record's */
  return valid;
}

static bool parse_bool(const char *v, bool *out) {
  *out = !strcmp(v, "true");
  return *out || !strcmp(v, "false");
}

/* Apply one "key value" line to a record; false if the value is invalid. */
static bool parse_field(enum record_key k, const char *v, struct user_policy *u) {
  uint32_t n32;
  int w;
  struct cg_limits *l = &u->limits;
  switch (k) {
  case KEY_NAME: return copy_checked(u->name, sizeof u->name, v, valid_name);
  case KEY_GID: return parse_u32(v, &n32) && n32 != UINT32_MAX && (u->gid = n32, true);
  case KEY_GROUP: return copy_checked(u->group, sizeof u->group, v, valid_name);
  case KEY_GROUPS: return parse_groups(v, u);
  case KEY_HOME: return copy_checked(u->home, sizeof u->home, v, valid_abs_path);
  case KEY_SHELL: return copy_checked(u->shell, sizeof u->shell, v, valid_abs_path);
  case KEY_HOSTNAME: return copy_checked(u->hostname, sizeof u->hostname, v, valid_hostname);
  case KEY_NETWORK:
    w = word_index(v, network_names, NETWORK_COUNT);
    return w >= 0 && (u->network = (enum network_mode)w, true);
  case KEY_MEMORY: return parse_size(v, &l->memory);
  case KEY_MEMORY_HIGH: return parse_size(v, &l->memory_high);
  case KEY_SWAP: return !strcmp(v, "max") ? (l->swap = SWAP_ANY, true) : parse_size(v, &l->swap);
  case KEY_PIDS: return parse_u32(v, &l->pids) && l->pids <= PIDS_MAX;
  case KEY_CPU: return parse_u32(v, &l->cpu) && l->cpu <= CPU_MAX && (l->cpu == 0 || l->cpu >= CPU_MIN);
  case KEY_IO_WEIGHT: return parse_u32(v, &l->io_weight) && l->io_weight <= IO_WEIGHT_MAX;
  case KEY_IO: return parse_io(v, l);
  case KEY_NOFILE: return parse_rlimit(v, &u->rlimits[RL_NOFILE]) && u->rlimits[RL_NOFILE].rlim_cur >= NOFILE_MIN;
  case KEY_NPROC: return parse_rlimit(v, &u->rlimits[RL_NPROC]);
  case KEY_CORE: return parse_rlimit(v, &u->rlimits[RL_CORE]);
  case KEY_ENV: return parse_env(v, u);
  case KEY_RESTART:
    w = word_index(v, restart_names, RESTART_COUNT);
    return w >= 0 && (u->restart = (enum restart_mode)w, true);
  case KEY_USER_MAY: return parse_words(v, user_may_key, MAY_COUNT, &u->user_may);
  case KEY_SECCOMP:
    w = word_index(v, seccomp_names, SECCOMP_PROFILE_COUNT);
    return w >= 0 && (u->seccomp = (enum seccomp_profile)w, true);
  case KEY_NESTED_USERNS: return parse_bool(v, &u->nested_userns);
  case KEY_UDP_PORTS: return parse_udp_ports(v, &u->udp_ports);
  case KEY_IMAGE: return copy_checked(u->image, sizeof u->image, v, valid_image_value);
  case KEY_LAYER: return copy_checked(u->layer, sizeof u->layer, v, valid_layer_value);
  case KEY_ROOT: return copy_checked(u->root, sizeof u->root, v, valid_root_value);
  case KEY_COUNT:
  default: return false;
  }
}

static int key_index(const char *key) {
  return word_index(key, key_names, KEY_COUNT);
}

/* The first required key a record has not seen. */
static const char *missing_key(unsigned seen) {
  for (int i = 0; i < KEY_COUNT; i++)
    if (!(seen & (1u << i)))
      return key_names[i];
  return "?";
}

#define FAIL(...)                       \
  do {                                  \
    snprintf(err, errlen, __VA_ARGS__); \
    return -1;                          \
  } while (0)

/* n decimal digits at p (leading zeros allowed: the index is fixed width). */
static bool fixed_decimal(const char *p, size_t n, uint64_t *out) {
  *out = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    *out = *out * 10 + (uint64_t)(p[i] - '0');
  }
  return true;
}

static bool fixed_hex(const char *p, size_t n, uint64_t *out) {
  *out = 0;
  for (size_t i = 0; i < n; i++) {
    int d = p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                                                                                 : -1;
    if (d < 0)
      return false;
    *out = *out << 4 | (uint64_t)d;
  }
  return true;
}

struct index_entry {
  uint64_t uid, offset, length, hash;
};

/* Where a look-up reads from: a buffer (tests, the fuzz harness) or the
 * file itself, with pread: a login reads a few hundred bytes of it, whatever
 * its size (mapping a large file costs more than the reads). */
struct policy_src {
  const char *buf; /* NULL: read fd */
  int fd;
  size_t len;
};

/* Read n bytes at off into out; false if they are not all in the file. */
static bool src_read(const struct policy_src *s, size_t off, size_t n, char *out) {
  if (off > s->len || n > s->len - off)
    return false;
  if (s->buf) {
    memcpy(out, s->buf + off, n);
    return true;
  }
  for (size_t got = 0; got < n;) {
    ssize_t r = pread(s->fd, out + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    got += (size_t)r;
  }
  return true;
}

/* Index line i ("UUUUUUUUUU OOOOOOOOOOOOOOOO LLLLLLLL HHHHHHHHHHHHHHHH\n"). */
static bool index_entry(const struct policy_src *s, size_t i, struct index_entry *e) {
  char p[INDEX_ENTRY_LEN];
  return src_read(s, POLICY_HEAD_LEN + i * INDEX_ENTRY_LEN, sizeof p, p) && fixed_decimal(p, 10, &e->uid) &&
         p[10] == ' ' && fixed_decimal(p + 11, 16, &e->offset) && p[27] == ' ' && fixed_decimal(p + 28, 8, &e->length) &&
         p[36] == ' ' && fixed_hex(p + 37, 16, &e->hash) && p[53] == '\n' && e->uid > 0 && e->uid < UINT32_MAX;
}

/* Parse the record at rec (len bytes, "user <uid>" through "end\n") into *out. */
static int parse_record(const char *rec, size_t len, uint32_t uid, struct user_policy *out, char *err, size_t errlen) {
  if (memchr(rec, '\0', len))
    FAIL("the record for uid %u contains a NUL byte", uid);
  char head[32];
  int n = snprintf(head, sizeof head, "user %u\n", uid);
  if (len < (size_t)n || memcmp(rec, head, (size_t)n) != 0)
    FAIL("the index points uid %u at a record that does not start with \"user %u\"", uid, uid);
  struct user_policy cur;
  memset(&cur, 0, sizeof cur);
  cur.uid = uid;
  unsigned seen = 0;
  const char *p = rec + n, *end = rec + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    char line[POLICY_LINE_MAX + 1];
    if (!nl)
      FAIL("the record for uid %u does not end with a newline", uid);
    if ((size_t)(nl - p) >= sizeof line)
      FAIL("the record for uid %u has a line that is too long", uid);
    memcpy(line, p, (size_t)(nl - p));
    line[nl - p] = '\0';
    p = nl + 1;
    if (!strcmp(line, "end")) {
      if (p != end)
        FAIL("the record for uid %u goes on after \"end\"", uid);
      if (seen != K_ALL)
        FAIL("the record for uid %u has no \"%s\"", uid, missing_key(seen));
      /* strict denies every namespace; cellsh-admin never writes both. */
      if (cur.seccomp == SECCOMP_PROFILE_STRICT && cur.nested_userns)
        FAIL("the record for uid %u sets nested_userns with seccomp strict", uid);
      if (cur.udp_ports && cur.network != NETWORK_PRIVATE)
        FAIL("the record for uid %u publishes UDP ports without network private", uid);
      struct root_ids ids;
      bool root_ok;
      if (root_parse(cur.root, cur.uid, cur.gid, &ids, &root_ok) && !strcmp(cur.image, "host"))
        FAIL("the record for uid %u gives root inside the host image", uid);
      if (!root_ok)
        FAIL("the record for uid %u maps its own ids into its subordinate ones", uid);
      cur.record_hash = fnv1a64(rec, len);
      *out = cur;
      return 1;
    }
    char *sp = strchr(line, ' ');
    const char *v = sp ? sp + 1 : "";
    if (sp)
      *sp = '\0';
    int k = key_index(line);
    if (k < 0)
      FAIL("the record for uid %u has an unknown key \"%s\"", uid, line);
    if (seen & (1u << k))
      FAIL("the record for uid %u has \"%s\" twice", uid, line);
    if (!parse_field((enum record_key)k, v, &cur))
      FAIL("the record for uid %u has an invalid value for \"%s\"", uid, line);
    seen |= 1u << k;
  }
  FAIL("the record for uid %u has no \"end\"", uid);
}

/* The record index line i (e) points at, read, checked against its hash and parsed. */
static int read_record(const struct policy_src *src, const struct index_entry *e, uint64_t i, size_t records_at,
                       struct user_policy *out, char *err, size_t errlen) {
  unsigned uid = (unsigned)e->uid;
  if (e->offset < records_at || e->length == 0 || e->length > RECORD_MAX_BYTES || e->offset > src->len ||
      e->length > src->len - e->offset)
    FAIL("line %" PRIu64 ": the record of uid %u lies outside the file", i + 3, uid);
  cleanup_free char *rec = malloc((size_t)e->length);
  if (!rec || !src_read(src, (size_t)e->offset, (size_t)e->length, rec))
    FAIL("can't read the record of uid %u", uid);
  if (fnv1a64(rec, (size_t)e->length) != e->hash)
    FAIL("the record of uid %u does not match its hash: the file was changed after cellsh-admin wrote it", uid);
  return parse_record(rec, (size_t)e->length, (uint32_t)uid, out, err, errlen);
}

/* The header: how many index lines follow, and where the records start. */
static int read_head(const struct policy_src *src, uint64_t *count, size_t *records_at, char *err, size_t errlen) {
  char head[POLICY_HEAD_LEN];
  if (!src_read(src, 0, sizeof head, head) || memcmp(head, POLICY_MAGIC "\n", sizeof POLICY_MAGIC) != 0)
    FAIL("line 1: expected \"%s\"", POLICY_MAGIC);
  if (memcmp(head + sizeof POLICY_MAGIC, "index ", 6) != 0 || !fixed_decimal(head + sizeof POLICY_MAGIC + 6, 10, count) ||
      head[POLICY_HEAD_LEN - 1] != '\n')
    FAIL("line 2: expected \"index <10 digits>\"");
  *records_at = POLICY_HEAD_LEN + (size_t)*count * INDEX_ENTRY_LEN;
  if (*records_at > src->len)
    FAIL("the index lists %" PRIu64 " records but the file ends inside it", *count);
  return 1;
}

static int lookup(const struct policy_src *src, uid_t uid, struct user_policy *out, char *err, size_t errlen) {
  uint64_t count;
  size_t records_at;
  if (read_head(src, &count, &records_at, err, errlen) < 0)
    return -1;
  if (uid == 0 || uid == UINT32_MAX)
    return 0; /* never served, never written */
  /* Binary search; every line it reads must lie strictly between the uids of
   * the lines it read before on either side, so a disordered index is caught
   * on the way rather than misread. */
  uint64_t lo = 0, hi = count, lo_uid = 0, hi_uid = UINT32_MAX;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    struct index_entry e;
    if (!index_entry(src, (size_t)mid, &e))
      FAIL("line %" PRIu64 ": not an index line", mid + 3);
    if (e.uid <= lo_uid || e.uid >= hi_uid)
      FAIL("line %" PRIu64 ": uid %" PRIu64 " is out of order in the index", mid + 3, e.uid);
    if (e.uid < uid) {
      lo = mid + 1;
      lo_uid = e.uid;
    } else if (e.uid > uid) {
      hi = mid;
      hi_uid = e.uid;
    } else {
      return read_record(src, &e, mid, records_at, out, err, errlen);
    }
  }
  return 0;
}

int policy_lookup(const char *buf, size_t len, uid_t uid, struct user_policy *out, char *err, size_t errlen) {
  struct policy_src src = {.buf = buf, .fd = -1, .len = len};
  return lookup(&src, uid, out, err, errlen);
}

int policy_lookup_fd(int fd, uid_t uid, struct user_policy *out, char *err, size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    FAIL("not a regular file");
  struct policy_src src = {.buf = NULL, .fd = fd, .len = (size_t)st.st_size};
  return lookup(&src, uid, out, err, errlen);
}

int policy_each_fd(int fd, void (*fn)(const struct user_policy *u, void *arg), void *arg, char *err, size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    FAIL("not a regular file");
  struct policy_src src = {.buf = NULL, .fd = fd, .len = (size_t)st.st_size};
  uint64_t count;
  size_t records_at;
  if (read_head(&src, &count, &records_at, err, errlen) < 0)
    return -1;
  uint64_t last = 0;
  for (uint64_t i = 0; i < count; i++) {
    struct index_entry e;
    struct user_policy u;
    if (!index_entry(&src, (size_t)i, &e))
      FAIL("line %" PRIu64 ": not an index line", i + 3);
    if (e.uid <= last)
      FAIL("line %" PRIu64 ": uid %" PRIu64 " is out of order in the index", i + 3, e.uid);
    last = e.uid;
    if (read_record(&src, &e, i, records_at, &u, err, errlen) < 0)
      return -1;
    fn(&u, arg);
  }
  return 1;
}

void policy_load(uid_t uid, struct user_policy *out) {
  cleanup_fd int fd = trusted_open(CELLSH_POLICY_PATH);
  char err[256];
  int r = policy_lookup_fd(fd, uid, out, err, sizeof err);
  if (r < 0)
    die(EXIT_CONFIG, "the applied policy %s is invalid (%s); ask your administrator to run "
                     "\"cellsh-admin apply\"",
        CELLSH_POLICY_PATH, err);
  if (r == 0)
    die(EXIT_REFUSED, "uid %u is not enrolled in cellsh; ask your administrator to run "
                      "\"cellsh-admin enroll\"",
        (unsigned)uid);
}

/* Set one variable in u's environment, replacing one of the same name. */
static bool set_env(struct user_policy *u, const struct env_var *e) {
  for (unsigned i = 0; i < u->n_env; i++)
    if (!strcmp(u->env[i].name, e->name))
      return u->env[i] = *e, true;
  if (u->n_env == ENV_MAX)
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
  while (eq && m < MAY_COUNT && (strlen(user_may_key[m]) != (size_t)(eq - setting) || strncmp(setting, user_may_key[m], (size_t)(eq - setting))))
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
    case MAY_NETWORK: ok = network_openness[t.network] <= network_openness[u->network]; break;
    case MAY_MEMORY: ok = within(b->memory, a->memory) && b->memory >= MEMORY_MIN; break;
    case MAY_MEMORY_HIGH: ok = within(b->memory_high, a->memory_high) && b->memory_high >= MEMORY_MIN; break;
    case MAY_SWAP: ok = a->swap == SWAP_ANY || (b->swap != SWAP_ANY && b->swap <= a->swap); break;
    case MAY_PIDS: ok = within(b->pids, a->pids); break;
    case MAY_CPU: ok = within(b->cpu, a->cpu); break;
    case MAY_IO_WEIGHT: ok = (b->io_weight ? b->io_weight : 100) <= (a->io_weight ? a->io_weight : 100); break;
    case MAY_NOFILE:
    case MAY_NPROC:
    case MAY_CORE: {
      enum rlimit_key r = m == MAY_NOFILE ? RL_NOFILE : m == MAY_NPROC ? RL_NPROC
                                                                       : RL_CORE;
      ok = t.rlimits[r].rlim_max <= u->rlimits[r].rlim_max; /* RLIM_INFINITY is the largest */
      break;
    }
    case MAY_ENV: { /* the user's variables join the admin's, replacing the same names */
      struct env_var mine[ENV_MAX];
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
