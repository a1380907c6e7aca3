/* What every harness shares: the failure report, input splitting, and a guard
 * against ever running a sanitizer build with privilege. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A sanitizer runtime reads ASAN_OPTIONS and friends (log_path=...) from the
 * environment: setuid, it would let any user write root-owned files. These
 * binaries are never installed; if one ever runs with AT_SECURE set (setuid,
 * setgid or file capabilities), it stops before reading anything. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (getauxval(AT_SECURE)) {
    static const char msg[] = "cellsh fuzz harness: refusing to run setuid or with capabilities\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(1);
  }
  return 0;
}

void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("invariant failed: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

size_t fuzz_strings(const uint8_t *data, size_t size, char **out, size_t max) {
  char *copy = malloc(size + 1);
  if (!copy)
    abort();
  memcpy(copy, data, size);
  copy[size] = '\0';
  size_t n = 0;
  for (char *p = copy; n < max && p <= copy + size; p += strlen(p) + 1) {
    if (p == copy + size && n > 0 && size > 0 && copy[size - 1] == '\0')
      break; /* a trailing NUL ends the last string; it starts no empty one */
    out[n++] = p;
  }
  out[n] = NULL;
  if (n == 0)
    free(copy);
  return n;
}

void fuzz_strings_free(char **out) {
  if (out[0])
    free(out[0]); /* every string points into the first one's buffer */
}

const char *shown(const char *s) {
  static char bufs[4][80 * 4 + 4];
  static unsigned next;
  char *out = bufs[next++ % 4], *o = out;
  for (size_t i = 0; s[i] && i < 80; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      *o++ = (char)c;
    else
      o += sprintf(o, "\\x%02x", c);
  }
  *o = '\0';
  return out;
}
