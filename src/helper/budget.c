#define _GNU_SOURCE
#include "budget.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "util.h"

/* The bucket as stored: "cellsh-budget 1 <bytes> <refilled_ms> <told_ms>\n".
 * bytes may be negative (debt). Unreadable or damaged counts as full. */
struct bucket {
  int64_t bytes;
  uint64_t refilled_ms, told_ms;
};

static int held_dir = -1;
static uid_t held_uid;
static uint64_t settled_at; /* log_written() at the last settle */
static bool reserved;

static void bucket_name(char *buf, size_t len, uid_t uid) {
  xsnprintf(buf, len, "%u.budget", (unsigned)uid);
}

static struct bucket bucket_read(int dir, uid_t uid, uint64_t now) {
  char name[32];
  bucket_name(name, sizeof name, uid);
  struct bucket b = {BUDGET_BURST, now, 0};
  cleanup_free char *text = read_small_at(dir, name, 128, NULL);
  long long bytes;
  unsigned long long refilled, told;
  char end;
  if (text && sscanf(text, "cellsh-budget 1 %lld %llu %llu%c", &bytes, &refilled, &told, &end) == 4 && end == '\n' &&
      bytes <= BUDGET_BURST && refilled <= now) {
    b.bytes = bytes;
    b.refilled_ms = refilled;
    b.told_ms = told;
  }
  /* Refill for the time since (capped, so a clock jump can't overflow). */
  uint64_t elapsed = now - b.refilled_ms;
  uint64_t gain = elapsed > 3600000 ? (uint64_t)BUDGET_BURST : elapsed * BUDGET_RATE / 1000;
  b.bytes = b.bytes + (int64_t)gain > BUDGET_BURST ? BUDGET_BURST : b.bytes + (int64_t)gain;
  b.refilled_ms = now;
  return b;
}

/* Written in place at a fixed width: truncating a file to nothing and writing
 * it again makes ext4 start writing it back at close (its auto_da_alloc),
 * a disk write on every login, and a reader between the two saw it empty. */
static void bucket_write(int dir, uid_t uid, const struct bucket *b) {
  char name[32], text[96];
  bucket_name(name, sizeof name, uid);
  xsnprintf(text, sizeof text, "cellsh-budget 1 %020" PRId64 " %020" PRIu64 " %020" PRIu64 "\n", b->bytes,
            b->refilled_ms, b->told_ms);
  off_t len = (off_t)strlen(text);
  cleanup_fd int fd = RETRY(openat(dir, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  struct stat st;
  if (fd < 0 || !write_all(fd, text, (size_t)len) || fstat(fd, &st) < 0 ||
      (st.st_size > len && ftruncate(fd, len) < 0))
    die_errno(EXIT_INTERNAL, "can't write \"%s/%s\"", CELLSH_STATE_DIR, name);
}

enum budget_answer budget_admit(int dir, uid_t uid) {
  uint64_t now = now_ms();
  struct bucket b = bucket_read(dir, uid, now);
  if (b.bytes <= 0) {
    bool tell = now - b.told_ms >= BUDGET_TELL_EVERY_MS || b.told_ms > now;
    if (tell)
      b.told_ms = now;
    bucket_write(dir, uid, &b);
    return tell ? BUDGET_OVER_LOG : BUDGET_OVER_QUIET;
  }
  bucket_write(dir, uid, &b);
  held_dir = dir;
  held_uid = uid;
  settled_at = log_written();
  return BUDGET_OK;
}

void budget_settle(bool final) {
  if (held_dir < 0)
    return;
  uint64_t written = log_written();
  int64_t cost = (int64_t)(written - settled_at) + (reserved ? 0 : BUDGET_RESERVE);
  settled_at = written;
  reserved = true;
  struct bucket b = bucket_read(held_dir, held_uid, now_ms());
  b.bytes -= cost;
  if (b.bytes < -BUDGET_BURST) /* the debt is bounded too: one burst's refill at most */
    b.bytes = -BUDGET_BURST;
  bucket_write(held_dir, held_uid, &b);
  if (final)
    held_dir = -1;
}
