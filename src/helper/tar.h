/* A reader of tar streams (POSIX ustar and pax, GNU long names, V7), for the
 * layer unpacker. It trusts nothing in the stream: every header's checksum is
 * checked, every number is bounded, and every name comes out as a clean
 * relative path ("a/b/c": no "", ".", ".." or leading "/") or the entry is
 * refused. It makes nothing on disk; unpack.c does, under its own rules. */
#ifndef CELLSH_TAR_H
#define CELLSH_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest name or link target an entry may have, NUL included. */
#define TAR_NAME_MAX 4096
/* The largest pax extended header read (all records of one entry). */
#define TAR_PAX_MAX (1u << 20)
/* The most xattrs one entry may carry. */
#define TAR_XATTRS_MAX 64

enum tar_type {
  TAR_FILE,
  TAR_HARDLINK,
  TAR_SYMLINK,
  TAR_CHAR,
  TAR_BLOCK,
  TAR_DIR,
  TAR_FIFO,
};

struct tar_xattr {
  char *name;
  unsigned char *value;
  size_t len;
};

struct tar_entry {
  enum tar_type type;
  char name[TAR_NAME_MAX]; /* clean relative path; "" is the root itself */
  char link[TAR_NAME_MAX]; /* a symlink's target as written; a hardlink's, cleaned */
  uint32_t mode;           /* permission bits only (07777) */
  uint64_t uid, gid;
  int64_t mtime;
  uint64_t size; /* bytes of data that follow (regular files only) */
  uint32_t devmajor, devminor;
  struct tar_xattr xattrs[TAR_XATTRS_MAX];
  size_t nxattrs;
};

struct tar_reader {
  int fd;
  uint64_t offset;    /* bytes consumed from fd */
  uint64_t remaining; /* data bytes of the current entry not read yet */
  size_t pad;         /* then padding to the next block */
  size_t pos, len;    /* of buf */
  bool eof;
  unsigned char buf[1 << 16];
};

void tar_init(struct tar_reader *r, int fd);

/* Read the next entry into e: 1 an entry, 0 the end of the archive, -1 a
 * malformed or refused entry, with *why saying what (a static string). Data
 * of the previous entry not read is skipped. e's xattrs are freed by the next
 * call or by tar_entry_free. */
int tar_next(struct tar_reader *r, struct tar_entry *e, const char **why);

/* Read up to n bytes of the current entry's data: the count, 0 at its end,
 * -1 on a read error or a stream that ends early (errno EIO then). */
ssize_t tar_read(struct tar_reader *r, void *buf, size_t n);

void tar_entry_free(struct tar_entry *e);

/* Clean a name from an archive into out (TAR_NAME_MAX): leading "/" and "./"
 * and empty or "." parts dropped. False if a part is ".." or it is too long. */
bool tar_clean_name(const char *in, char *out);

#endif
