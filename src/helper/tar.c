/* A reader of hostile tar streams: see tar.h. */
#define _GNU_SOURCE
#include "tar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 512

/* Offsets of the ustar header's fields (POSIX.1-1988, with GNU's and pax's). */
enum {
  F_NAME = 0,
  F_MODE = 100,
  F_UID = 108,
  F_GID = 116,
  F_SIZE = 124,
  F_MTIME = 136,
  F_CHKSUM = 148,
  F_TYPE = 156,
  F_LINK = 157,
  F_MAGIC = 257,
  F_DEVMAJOR = 329,
  F_DEVMINOR = 337,
  F_PREFIX = 345,
};

void tar_init(struct tar_reader *r, int fd) {
  memset(r, 0, offsetof(struct tar_reader, buf));
  r->fd = fd;
}

void tar_entry_free(struct tar_entry *e) {
  for (size_t i = 0; i < e->nxattrs; i++) {
    free(e->xattrs[i].name);
    free(e->xattrs[i].value);
  }
  e->nxattrs = 0;
}

/* Copy up to n bytes from the stream (buffered); the count, 0 at its end. */
static ssize_t raw_read(struct tar_reader *r, void *out, size_t n) {
  if (r->pos == r->len) {
    if (r->eof)
      return 0;
    ssize_t got;
    do
      got = read(r->fd, r->buf, sizeof r->buf);
    while (got < 0 && errno == EINTR);
    if (got < 0)
      return -1;
    if (got == 0) {
      r->eof = true;
      return 0;
    }
    r->pos = 0;
    r->len = (size_t)got;
  }
  size_t k = r->len - r->pos < n ? r->len - r->pos : n;
  memcpy(out, r->buf + r->pos, k);
  r->pos += k;
  r->offset += k;
  return (ssize_t)k;
}

/* Exactly n bytes, or false (errno EIO for a stream that ends early). */
static bool read_exact(struct tar_reader *r, void *out, size_t n) {
  unsigned char *p = out;
  while (n > 0) {
    ssize_t got = raw_read(r, p, n);
    if (got <= 0) {
      if (got == 0)
        errno = EIO;
      return false;
    }
    p += got;
    n -= (size_t)got;
  }
  return true;
}

static bool skip(struct tar_reader *r, uint64_t n) {
  unsigned char sink[4096];
  while (n > 0) {
    size_t k = n < sizeof sink ? (size_t)n : sizeof sink;
    if (!read_exact(r, sink, k))
      return false;
    n -= k;
  }
  return true;
}

ssize_t tar_read(struct tar_reader *r, void *buf, size_t n) {
  if (r->remaining == 0)
    return 0;
  if (n > r->remaining)
    n = (size_t)r->remaining;
  ssize_t got = raw_read(r, buf, n);
  if (got == 0) {
    errno = EIO;
    return -1;
  }
  if (got > 0)
    r->remaining -= (uint64_t)got;
  return got;
}

/* Skip what is left of the current entry's data and its padding. */
static bool finish_entry(struct tar_reader *r) {
  bool ok = skip(r, r->remaining) && skip(r, r->pad);
  r->remaining = 0;
  r->pad = 0;
  return ok;
}

static size_t padding(uint64_t size) { return (size_t)((BLOCK - size % BLOCK) % BLOCK); }

/* A numeric header field: octal, space or NUL padded, or GNU's base-256 for
 * large values (positive only). An empty field is 0. */
static bool parse_number(const unsigned char *f, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (f[0] & 0x80) {
    if (f[0] & 0x40)
      return false;
    v = f[0] & 0x3f;
    for (size_t i = 1; i < n; i++) {
      if (v >> 56)
        return false;
      v = v << 8 | f[i];
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ')
    i++;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v >> 61)
      return false;
    v = v * 8 + (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != '\0')
      return false;
  *out = v;
  return true;
}

static bool checksum_ok(const unsigned char *h) {
  uint64_t want;
  if (!parse_number(h + F_CHKSUM, 8, &want))
    return false;
  uint64_t usum = 0;
  int64_t ssum = 0;
  for (size_t i = 0; i < BLOCK; i++) {
    unsigned char c = i >= F_CHKSUM && i < F_CHKSUM + 8 ? ' ' : h[i];
    usum += c;
    ssum += (signed char)c;
  }
  return want == usum || (int64_t)want == ssum;
}

static bool all_zero(const unsigned char *h) {
  for (size_t i = 0; i < BLOCK; i++)
    if (h[i])
      return false;
  return true;
}

bool tar_clean_name(const char *in, char *out) {
  size_t n = 0;
  const char *p = in;
  while (*p) {
    while (*p == '/')
      p++;
    const char *end = strchrnul(p, '/');
    size_t len = (size_t)(end - p);
    if (len == 0 || (len == 1 && p[0] == '.')) {
      p = end;
      continue;
    }
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return false;
    if (n + (n > 0) + len >= TAR_NAME_MAX)
      return false;
    if (n > 0)
      out[n++] = '/';
    memcpy(out + n, p, len);
    n += len;
    p = end;
  }
  out[n] = '\0';
  return true;
}

/* What pax and GNU headers say about the entry that follows them. */
struct pending {
  bool has_path, has_link, has_size, has_uid, has_gid, has_mtime, sparse;
  char path[TAR_NAME_MAX], link[TAR_NAME_MAX];
  uint64_t size, uid, gid;
  int64_t mtime;
};

static bool parse_decimal(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* A string value into a name buffer: no NUL inside, and it must fit. */
static bool take_string(char *dst, const char *v, size_t n) {
  if (n >= TAR_NAME_MAX || memchr(v, '\0', n))
    return false;
  memcpy(dst, v, n);
  dst[n] = '\0';
  return true;
}

static bool add_xattr(struct tar_entry *e, const char *name, size_t nlen, const char *v, size_t vlen) {
  if (e->nxattrs == TAR_XATTRS_MAX || nlen == 0 || nlen > 255 || memchr(name, '\0', nlen))
    return false;
  struct tar_xattr *x = &e->xattrs[e->nxattrs];
  x->name = strndup(name, nlen);
  x->value = malloc(vlen ? vlen : 1);
  if (!x->name || !x->value) {
    free(x->name);
    free(x->value);
    return false;
  }
  memcpy(x->value, v, vlen);
  x->len = vlen;
  e->nxattrs++;
  return true;
}

/* One pax extended header's records ("LEN KEY=VALUE\n"), into p and e. */
static bool parse_pax(const char *buf, size_t size, struct pending *p, struct tar_entry *e, const char **why) {
  const char *at = buf, *end = buf + size;
  *why = "a pax header is malformed";
  while (at < end) {
    if (*at == '\0') { /* some writers pad with NULs */
      while (at < end && *at == '\0')
        at++;
      if (at < end)
        return false;
      break;
    }
    size_t digits = 0;
    while (at + digits < end && digits < 8 && at[digits] >= '0' && at[digits] <= '9')
      digits++;
    uint64_t len;
    if (digits == 0 || at + digits >= end || at[digits] != ' ' || !parse_decimal(at, digits, &len))
      return false;
    if (len < digits + 4 || len > (uint64_t)(end - at) || at[len - 1] != '\n')
      return false;
    const char *key = at + digits + 1, *rec_end = at + len - 1;
    const char *eq = memchr(key, '=', (size_t)(rec_end - key));
    if (!eq || eq == key)
      return false;
    size_t klen = (size_t)(eq - key), vlen = (size_t)(rec_end - eq - 1);
    const char *v = eq + 1;
#define KEY(s) (klen == sizeof(s) - 1 && !memcmp(key, s, klen))
#define PREFIX(s) (klen > sizeof(s) - 1 && !memcmp(key, s, sizeof(s) - 1))
    bool ok = true;
    if (KEY("path"))
      ok = p->has_path = take_string(p->path, v, vlen);
    else if (KEY("linkpath"))
      ok = p->has_link = take_string(p->link, v, vlen);
    else if (KEY("size"))
      ok = p->has_size = parse_decimal(v, vlen, &p->size);
    else if (KEY("uid"))
      ok = p->has_uid = parse_decimal(v, vlen, &p->uid);
    else if (KEY("gid"))
      ok = p->has_gid = parse_decimal(v, vlen, &p->gid);
    else if (KEY("mtime")) {
      const char *dot = memchr(v, '.', vlen);
      size_t ilen = dot ? (size_t)(dot - v) : vlen;
      uint64_t t;
      if (ilen > 0 && v[0] == '-')
        p->mtime = 0; /* before 1970: not worth a refusal */
      else if (parse_decimal(v, ilen, &t) && t <= INT64_MAX)
        p->mtime = (int64_t)t;
      p->has_mtime = true;
    } else if (PREFIX("SCHILY.xattr.")) {
      ok = add_xattr(e, key + 13, klen - 13, v, vlen);
      if (!ok)
        *why = "an entry has too many or malformed xattrs";
    } else if (PREFIX("GNU.sparse."))
      p->sparse = true;
#undef KEY
#undef PREFIX
    if (!ok)
      return false;
    at += len;
  }
  return true;
}

/* The whole data of a pax or GNU long-name entry, NUL-terminated. */
static char *read_meta(struct tar_reader *r, uint64_t size, uint64_t max, const char **why) {
  if (size > max) {
    *why = "a pax or long-name header is too large";
    return NULL;
  }
  char *buf = malloc((size_t)size + 1);
  if (!buf) {
    *why = "out of memory";
    return NULL;
  }
  if (!read_exact(r, buf, (size_t)size) || !skip(r, padding(size))) {
    free(buf);
    *why = "the archive ends inside an entry";
    return NULL;
  }
  buf[size] = '\0';
  return buf;
}

/* A fixed-size header string (NUL-terminated only when shorter). */
static void field_string(char *dst, const unsigned char *f, size_t n) {
  size_t len = strnlen((const char *)f, n);
  memcpy(dst, f, len);
  dst[len] = '\0';
}

static int fail(const char **why, const char *what) {
  *why = what;
  return -1;
}

int tar_next(struct tar_reader *r, struct tar_entry *e, const char **why) {
  struct pending p;
  unsigned char h[BLOCK];
  memset(&p, 0, sizeof p);
  tar_entry_free(e);
  if (!finish_entry(r))
    return fail(why, "the archive ends inside an entry");
  for (;;) {
    ssize_t got = raw_read(r, h, 1);
    if (got == 0 && !p.has_path && !p.has_link) /* no end blocks at all: tolerated, as GNU tar does */
      return 0;
    if (got != 1 || !read_exact(r, h + 1, BLOCK - 1))
      return fail(why, "the archive ends inside a header");
    if (all_zero(h))
      return 0;
    if (!checksum_ok(h))
      return fail(why, "a header's checksum is wrong (not a tar archive, or a damaged one)");
    uint64_t size;
    if (!parse_number(h + F_SIZE, 12, &size))
      return fail(why, "a header's size is malformed");
    char type = (char)h[F_TYPE];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      char *meta = read_meta(r, size, type == 'x' || type == 'g' ? TAR_PAX_MAX : TAR_NAME_MAX, why);
      if (!meta)
        return -1;
      bool ok = true;
      if (type == 'x')
        ok = parse_pax(meta, (size_t)size, &p, e, why);
      else if (type == 'L')
        p.has_path = true, ok = take_string(p.path, meta, strlen(meta));
      else if (type == 'K')
        p.has_link = true, ok = take_string(p.link, meta, strlen(meta));
      /* 'g', a global header, sets defaults this reader does not take:
       * every entry's own header says all that is used. */
      free(meta);
      if (!ok)
        return type == 'x' ? -1 : fail(why, "a long name is malformed");
      continue;
    }
    if (type == 'V') { /* a volume label: no file */
      if (!skip(r, size) || !skip(r, padding(size)))
        return fail(why, "the archive ends inside an entry");
      continue;
    }

    /* A real entry: its header, then what pax and GNU said over it. */
    char raw[TAR_NAME_MAX];
    bool posix = !memcmp(h + F_MAGIC, "ustar\0", 6);
    if (p.has_path)
      strcpy(raw, p.path);
    else if (posix && h[F_PREFIX]) {
      char prefix[156], name[101];
      field_string(prefix, h + F_PREFIX, 155);
      field_string(name, h + F_NAME, 100);
      if (snprintf(raw, sizeof raw, "%s/%s", prefix, name) >= (int)sizeof raw)
        return fail(why, "a name is too long");
    } else
      field_string(raw, h + F_NAME, 100);
    size_t rawlen = strlen(raw);
    if (!tar_clean_name(raw, e->name))
      return fail(why, "a name has a \"..\" part or is too long");

    uint64_t mode, uid, gid, mtime, major, minor;
    if (!parse_number(h + F_MODE, 8, &mode) || !parse_number(h + F_UID, 8, &uid) ||
        !parse_number(h + F_GID, 8, &gid) || !parse_number(h + F_DEVMAJOR, 8, &major) ||
        !parse_number(h + F_DEVMINOR, 8, &minor))
      return fail(why, "a header's numbers are malformed");
    if (!parse_number(h + F_MTIME, 12, &mtime) || mtime > INT64_MAX)
      mtime = 0;
    e->mode = (uint32_t)(mode & 07777);
    e->uid = p.has_uid ? p.uid : uid;
    e->gid = p.has_gid ? p.gid : gid;
    e->mtime = p.has_mtime ? p.mtime : (int64_t)mtime;
    e->devmajor = major > UINT32_MAX ? UINT32_MAX : (uint32_t)major;
    e->devminor = minor > UINT32_MAX ? UINT32_MAX : (uint32_t)minor;
    if (p.has_size)
      size = p.size;
    if (p.sparse || type == 'S')
      return fail(why, "a sparse entry (sparse files in layers are not supported)");

    char link[TAR_NAME_MAX];
    if (p.has_link)
      strcpy(link, p.link);
    else
      field_string(link, h + F_LINK, 100);

    uint64_t data = 0; /* bytes of this entry's data the caller reads */
    switch (type) {
    case '0':
    case '\0':
    case '7':
      /* Old archives mark folders by a trailing slash alone. */
      e->type = rawlen > 0 && raw[rawlen - 1] == '/' && type != '7' ? TAR_DIR : TAR_FILE;
      data = e->type == TAR_FILE ? size : 0;
      break;
    case '1':
      e->type = TAR_HARDLINK;
      if (!tar_clean_name(link, e->link) || !e->link[0])
        return fail(why, "a hard link's target has a \"..\" part, is empty or too long");
      break;
    case '2':
      e->type = TAR_SYMLINK;
      if (!link[0])
        return fail(why, "a symbolic link has no target");
      strcpy(e->link, link);
      break;
    case '3':
      e->type = TAR_CHAR;
      break;
    case '4':
      e->type = TAR_BLOCK;
      break;
    case '5':
    case 'D': /* GNU's dump folder: a folder, with a listing as data */
      e->type = TAR_DIR;
      break;
    case '6':
      e->type = TAR_FIFO;
      break;
    default:
      return fail(why, "an entry of a type this reader does not know (multi-volume, old GNU names, ...)");
    }
    if (e->type != TAR_HARDLINK && e->type != TAR_SYMLINK)
      e->link[0] = '\0';
    if (size > UINT64_MAX - BLOCK)
      return fail(why, "a header's size is malformed");
    /* Readers differ on the data of a link or a device (GNU tar reads it as
     * the next header): an archive that has any is refused. */
    if (size > 0 && data == 0 && type != 'D')
      return fail(why, "a link, folder or device entry carries data");
    e->size = data;
    /* A dump folder's listing is skipped with the padding. */
    r->remaining = data;
    r->pad = padding(size);
    if (size > data && !skip(r, size - data))
      return fail(why, "the archive ends inside an entry");
    return 1;
  }
}
