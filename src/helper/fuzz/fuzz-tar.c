/* The layer unpacker's tar reader (tar.c): every byte of an image layer is the
 * image author's. The input is one archive stream.
 *
 * Invariants: every entry's name is clean (relative, no "", "." or ".." part,
 * no doubled or trailing "/", shorter than TAR_NAME_MAX) and so is a hard
 * link's target; a symbolic link has a target; modes are permission bits only;
 * only regular files carry data, and exactly their size can be read (never
 * more); xattrs are bounded and named; the reader never consumes more than the
 * input and always ends (an entry, the end, or a refusal). */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../tar.h"
#include "fuzz.h"

static void check_clean(const char *name, bool may_be_empty) {
  size_t n = strlen(name);
  CHECK(n < TAR_NAME_MAX, "name too long");
  CHECK(may_be_empty || n > 0, "empty name");
  if (n == 0)
    return;
  CHECK(name[0] != '/' && name[n - 1] != '/', "name %s has a leading or trailing /", shown(name));
  CHECK(!strstr(name, "//"), "name %s has //", shown(name));
  for (const char *p = name; p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL) {
    size_t len = strcspn(p, "/");
    CHECK(!(len == 1 && p[0] == '.'), "name %s has a . part", shown(name));
    CHECK(!(len == 2 && p[0] == '.' && p[1] == '.'), "name %s has a .. part", shown(name));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("tar", MFD_CLOEXEC);
  CHECK(fd >= 0, "memfd_create");
  if (size > 0)
    CHECK(write(fd, data, size) == (ssize_t)size, "write");
  lseek(fd, 0, SEEK_SET);
  static struct tar_reader r;
  static struct tar_entry e;
  tar_init(&r, fd);
  const char *why = NULL;
  int got;
  for (int n = 0; n < 100000 && (got = tar_next(&r, &e, &why)) == 1; n++) {
    check_clean(e.name, true);
    CHECK(e.mode <= 07777, "mode %o", e.mode);
    CHECK(e.type == TAR_FILE || e.size == 0, "a non-file carries %llu bytes", (unsigned long long)e.size);
    if (e.type == TAR_HARDLINK)
      check_clean(e.link, false);
    else if (e.type == TAR_SYMLINK)
      CHECK(e.link[0] && strlen(e.link) < TAR_NAME_MAX, "symlink target");
    else
      CHECK(!e.link[0], "a link target on a non-link");
    CHECK(e.nxattrs <= TAR_XATTRS_MAX, "xattrs");
    for (size_t i = 0; i < e.nxattrs; i++)
      CHECK(e.xattrs[i].name && e.xattrs[i].name[0] && strlen(e.xattrs[i].name) <= 255, "xattr name");
    uint64_t read_total = 0;
    char buf[777];
    ssize_t k;
    while ((k = tar_read(&r, buf, (size_t)(n % 3 == 0 ? 1 : sizeof buf))) > 0)
      read_total += (uint64_t)k;
    CHECK(read_total <= e.size, "read %llu of %llu", (unsigned long long)read_total, (unsigned long long)e.size);
    CHECK(k < 0 || read_total == e.size, "data ended at %llu of %llu without an error", (unsigned long long)read_total,
          (unsigned long long)e.size);
    CHECK(r.offset <= size, "consumed more than the input");
    if (k < 0)
      break;
  }
  CHECK(r.offset <= size, "consumed more than the input");
  CHECK(got != -1 || (why && why[0]), "a refusal says why");
  tar_entry_free(&e);
  close(fd);
  return 0;
}
