/* Shared by the fuzz harnesses (libFuzzer, built by this folder's Makefile with
 * ASan and UBSan, never installed): invariant checks that abort with a reason,
 * and turning one fuzz input into NUL-separated strings (argv, envp). */
#ifndef CELLSH_FUZZ_H
#define CELLSH_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policy.h"

/* The libFuzzer entry point each harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print "invariant failed: <what>" and abort, so libFuzzer saves the input. */
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);
#define CHECK(cond, ...)                 \
  do {                                   \
    if (!(cond)) fuzz_fail(__VA_ARGS__); \
  } while (0)

/* The input as up to max NUL-terminated strings, split on NUL bytes (the last
 * one need not end with a NUL). out[n] is NULL; returns n. Free with
 * fuzz_strings_free. */
size_t fuzz_strings(const uint8_t *data, size_t size, char **out, size_t max);
void fuzz_strings_free(char **out);

/* s (at most 80 bytes of it) with bytes outside printable ASCII as \xNN, for a
 * failure message; one static buffer of several, reused in turn. */
const char *shown(const char *s);

/* Abort unless u satisfies every bound policy.h documents for a record the
 * parser returns (checked here independently of policy.c's validators). */
void check_record(const struct user_policy *u);

/* Independent re-statements of policy.h's validators, for the checks. */
bool fuzz_is_name(const char *s);
bool fuzz_is_abs_path(const char *s);
bool fuzz_is_hostname(const char *s);
bool fuzz_is_env_name(const char *s);

#endif
