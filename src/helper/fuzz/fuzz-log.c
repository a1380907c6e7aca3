/* The audit log's JSON string encoder (log_str): commands and other strings
 * from users end up in root's log. The input is one value (up to its first NUL,
 * as a C string from argv would be).
 *
 * Invariants: the fields make a valid JSON object (RFC 8259, strict UTF-8),
 * with no raw control byte anywhere in the line; the value decodes back to the
 * input with each byte that is not part of valid UTF-8 (RFC 3629) replaced by
 * U+FFFD, whole, or cut at a character boundary and then followed by
 * "<key>_truncated":true. Escapes are accepted for any character (\uXXXX, with
 * surrogate pairs), so the encoder may escape more than it does today. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "fuzz.h"

/* Decode one UTF-8 sequence at p (n bytes left) by the definition: returns its
 * length and sets *cp, or 0 if it is not valid (overlong, surrogate, above
 * U+10FFFF, or cut short). */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  size_t len = p[0] < 0x80 ? 1 : p[0] >> 5 == 6 ? 2
                             : p[0] >> 4 == 14  ? 3
                             : p[0] >> 3 == 30  ? 4
                                                : 0;
  if (len == 0 || len > n)
    return 0;
  uint32_t c = len == 1 ? p[0] : p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = c << 6 | (p[i] & 0x3f);
  }
  if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return len;
}

static size_t utf8_encode(uint32_t c, unsigned char *out) {
  if (c < 0x80)
    return out[0] = (unsigned char)c, 1;
  if (c < 0x800)
    return out[0] = (unsigned char)(0xc0 | c >> 6), out[1] = (unsigned char)(0x80 | (c & 0x3f)), 2;
  if (c < 0x10000)
    return out[0] = (unsigned char)(0xe0 | c >> 12), out[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f)),
           out[2] = (unsigned char)(0x80 | (c & 0x3f)), 3;
  return out[0] = (unsigned char)(0xf0 | c >> 18), out[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f)),
         out[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f)), out[3] = (unsigned char)(0x80 | (c & 0x3f)), 4;
}

/* A strict JSON reader over one line. */
struct reader {
  const unsigned char *p, *end;
};

static int hex4(struct reader *r) {
  int v = 0;
  for (int i = 0; i < 4; i++, r->p++) {
    CHECK(r->p < r->end, "a \\u escape is cut short");
    int c = *r->p, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                    : c >= 'A' && c <= 'F'   ? c - 'A' + 10
                                                                             : -1;
    CHECK(d >= 0, "a \\u escape with \"%c\"", c);
    v = v * 16 + d;
  }
  return v;
}

/* Read a JSON string into out (decoded UTF-8, *n bytes); returns its raw length. */
static size_t read_string(struct reader *r, unsigned char *out, size_t *n) {
  const unsigned char *start = r->p;
  CHECK(r->p < r->end && *r->p == '"', "expected a string");
  r->p++;
  *n = 0;
  for (;;) {
    CHECK(r->p < r->end, "a string is not closed");
    uint32_t c = *r->p;
    if (c == '"')
      break;
    CHECK(c >= 0x20, "raw control byte 0x%02x in a string", c);
    if (c == '\\') {
      CHECK(r->p + 1 < r->end, "a lone backslash");
      const char *simple = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *s = strchr(simple, r->p[1]);
      r->p += 2;
      if (s && *s) {
        c = (unsigned char)to[s - simple];
      } else {
        CHECK(r->p[-1] == 'u', "unknown escape \\%c", r->p[-1]);
        c = (uint32_t)hex4(r);
        if (c >= 0xd800 && c <= 0xdbff) {
          CHECK(r->p + 1 < r->end && r->p[0] == '\\' && r->p[1] == 'u', "a high surrogate escape alone");
          r->p += 2;
          uint32_t lo = (uint32_t)hex4(r);
          CHECK(lo >= 0xdc00 && lo <= 0xdfff, "a high surrogate escape without its low half");
          c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        } else {
          CHECK(c < 0xdc00 || c > 0xdfff, "a lone low surrogate escape");
        }
      }
    } else {
      size_t len = utf8_decode(r->p, (size_t)(r->end - r->p), &c);
      CHECK(len > 0, "invalid UTF-8 in the log line");
      r->p += len;
    }
    *n += utf8_encode(c, out + *n);
  }
  r->p++;
  return (size_t)(r->p - start);
}

static void expect(struct reader *r, const char *s) {
  size_t n = strlen(s);
  CHECK((size_t)(r->end - r->p) >= n && !memcmp(r->p, s, n), "expected \"%s\"", s);
  r->p += n;
}

/* The input with invalid bytes replaced, as log.c promises. */
static size_t expected(const unsigned char *in, size_t n, unsigned char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t c;
    size_t len = utf8_decode(in + i, n - i, &c);
    o += utf8_encode(len ? c : 0xfffd, out + o);
    i += len ? len : 1;
  }
  return o;
}

/* Valid text that drives or fools a terminal: C1 controls, bidi overrides
 * and isolates, line and paragraph separators (log.c escapes them all). */
static bool terminal_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

static void check_no_raw_controls(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    CHECK(p[i] >= 0x20 && p[i] != 0x7f, "raw control byte 0x%02x in the log line", p[i]);
    uint32_t cp;
    size_t len = utf8_decode(p + i, n - i, &cp);
    CHECK(len > 0, "invalid UTF-8 in the log line at byte %zu", i);
    CHECK(!terminal_control(cp), "raw terminal control U+%04X in the log line", (unsigned)cp);
    i += len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t in_len = strnlen((const char *)data, size);
  char *value = strndup((const char *)data, in_len);
  static struct log_fields f;
  memset(&f, 0, sizeof f);
  log_str(&f, "command", value);
  CHECK(!f.overflow, "one value overflowed an empty line");
  check_no_raw_controls((const unsigned char *)f.buf, f.n);
  /* The fields start with ','; as an object: "{" fields-without-comma "}". */
  struct reader r = {(const unsigned char *)f.buf, (const unsigned char *)f.buf + f.n};
  static unsigned char key[64], got[LOG_LINE_MAX * 2];
  unsigned char *want = malloc(in_len * 3 + 1); /* U+FFFD is 3 bytes for 1 */
  CHECK(want, "out of memory");
  size_t n_key, n_got;
  expect(&r, ",");
  read_string(&r, key, &n_key);
  CHECK(n_key == 7 && !memcmp(key, "command", 7), "the key is not \"command\"");
  expect(&r, ":");
  size_t raw = read_string(&r, got, &n_got);
  size_t n_want = expected((const unsigned char *)value, in_len, want);
  if (r.p == r.end) {
    CHECK(n_got == n_want && !memcmp(got, want, n_want), "the value does not decode back to the input");
  } else {
    expect(&r, ",\"command_truncated\":true");
    CHECK(r.p == r.end, "more after the truncation mark");
    CHECK(n_got < n_want && !memcmp(got, want, n_got), "a cut value is not a prefix of the input");
    CHECK(raw >= LOG_VALUE_MAX, "cut at %zu bytes, under LOG_VALUE_MAX", raw);
  }
  CHECK(raw <= LOG_VALUE_MAX + 2 + 12, "the value takes %zu bytes, over LOG_VALUE_MAX", raw);
  free(want);
  free(value);
  return 0;
}
