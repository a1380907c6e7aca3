/* The audit log's budget per user, so no user can fill the disk through it:
 * a token bucket of bytes in "<uid>.budget" in the state folder, read and
 * written only under the per-uid lock. A login is admitted while the bucket
 * holds anything; what its events took, and a reserve for the events still to
 * come (the exit), is then taken out, so the bucket can go into debt and the
 * next logins wait for it to refill. Nothing a login wrote is ever dropped:
 * over budget, logins are refused, and the refusal is logged once a minute. */
#ifndef CELLSH_BUDGET_H
#define CELLSH_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BUDGET_BURST (1 << 20) /* bytes a user may log at once (about 2,000 logins) */
#define BUDGET_RATE 4096       /* bytes a second it refills by (about 8 logins a second) */
#define BUDGET_RESERVE 512     /* what a session logs after it starts: the exit, a limit notice */
#define BUDGET_TELL_EVERY_MS 60000

enum budget_answer {
  BUDGET_OK,
  BUDGET_OVER_LOG,   /* over budget: refuse, and log the refusal */
  BUDGET_OVER_QUIET, /* over budget: refuse without logging (told less than a minute ago) */
};

/* May uid's login go on? From here until budget_settle, what this process
 * logs is uid's to pay for. */
enum budget_answer budget_admit(int dir, uid_t uid);

/* Take what this process logged since budget_admit (or the last settle) out
 * of the bucket, plus the reserve the first time; with final, that was the
 * last (the state folder is about to be closed). Does nothing before admit
 * or after the final settle. */
void budget_settle(bool final);

#endif
