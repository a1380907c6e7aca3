/* The caller's environment filter (env_keep, env_value): sshd may have loaded
 * ~/.pam_environment, so every byte is the user's. The input is envp, split on
 * NUL bytes.
 *
 * Invariants: only allowlisted names are kept, each made of portable name
 * characters, with a value of allowed characters and length and no ".."; every
 * kept entry is a copy of an input entry, the first acceptable one of its name;
 * no acceptable name is dropped while there is room; env_value finds exactly
 * what was kept. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "../env.h"
#include "fuzz.h"

#define MAX_ENVP 256
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* The allowlist as the header and SA-03 describe it, written out again. */
static const struct {
  const char *name; /* exact, or a prefix if it ends in '_' */
  const char *chars;
  size_t max;
} allowed[] = {
    {"TERM", ALNUM "_+.-", 64},
    {"COLORTERM", ALNUM "_+.-", 32},
    {"LANG", ALNUM "_.@-", 64},
    {"LANGUAGE", ALNUM "_.@-:", 128},
    {"LC_", ALNUM "_.@-", 64},
    {"SSH_CONNECTION", "0123456789abcdefABCDEF.:% ", 160},
    {"SSH_CLIENT", "0123456789abcdefABCDEF.:% ", 128},
    {"SSH_AUTH_SOCK", ALNUM "_./-", 107},
    {"SSH_ORIGINAL_COMMAND", NULL, 128 * 1024},
    {"DISPLAY", ALNUM "_+.-:", 64},
};
#define N_ALLOWED (sizeof allowed / sizeof *allowed)

/* Is "NAME=value" one env_keep may keep? */
static bool acceptable(const char *entry) {
  const char *eq = strchr(entry, '=');
  if (!eq || eq == entry)
    return false;
  size_t len = (size_t)(eq - entry), vlen = strlen(eq + 1);
  if (len >= 32 || strspn(entry, ALNUM "_") != len)
    return false;
  for (size_t i = 0; i < N_ALLOWED; i++) {
    size_t rl = strlen(allowed[i].name);
    bool prefix = allowed[i].name[rl - 1] == '_';
    if (prefix ? len <= rl || strncmp(entry, allowed[i].name, rl) : len != rl || strncmp(entry, allowed[i].name, rl))
      continue;
    if (!allowed[i].chars)
      return vlen <= allowed[i].max;
    return vlen <= allowed[i].max && strspn(eq + 1, allowed[i].chars) == vlen && !strstr(eq + 1, "..");
  }
  return false;
}

static bool same_name(const char *a, const char *b) {
  size_t la = strcspn(a, "="), lb = strcspn(b, "=");
  return la == lb && !strncmp(a, b, la);
}

static void check_kept(char **envp, size_t n_in, const struct kept_env *out) {
  CHECK(out->n <= ENV_MAX_VARS && out->vars[out->n] == NULL, "kept %zu, not NULL-terminated", out->n);
  for (size_t k = 0; k < out->n; k++) {
    const char *v = out->vars[k];
    CHECK(acceptable(v), "kept \"%s\", which the allowlist refuses", shown(v));
    size_t first = 0;
    while (first < n_in && !(same_name(envp[first], v) && acceptable(envp[first])))
      first++;
    CHECK(first < n_in && !strcmp(envp[first], v), "kept \"%s\", not the first acceptable entry of its name", shown(v));
    for (size_t j = 0; j < k; j++)
      CHECK(!same_name(out->vars[j], v), "name of \"%s\" kept twice", shown(v));
    char name[32];
    size_t len = strcspn(v, "=");
    memcpy(name, v, len);
    name[len] = '\0';
    CHECK(env_value(out, name) == v + len + 1, "env_value(\"%s\") does not find what was kept", shown(name));
  }
  for (size_t i = 0; i < n_in; i++) {
    bool kept = false;
    for (size_t k = 0; k < out->n && !kept; k++)
      kept = same_name(out->vars[k], envp[i]);
    CHECK(kept || !acceptable(envp[i]) || out->n == ENV_MAX_VARS, "dropped \"%s\" with room left", shown(envp[i]));
    /* A name never kept is never found (the name is cut at '=' or 31 bytes). */
    char name[32];
    size_t len = strcspn(envp[i], "=");
    if (!kept && len > 0 && len < sizeof name) {
      memcpy(name, envp[i], len);
      name[len] = '\0';
      CHECK(env_value(out, name) == NULL, "env_value(\"%s\") finds a name that was not kept", shown(name));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *envp[MAX_ENVP + 1];
  size_t n = fuzz_strings(data, size, envp, MAX_ENVP);
  struct kept_env out;
  env_keep(envp, &out);
  check_kept(envp, n, &out);
  for (size_t k = 0; k < out.n; k++)
    free(out.vars[k]);
  fuzz_strings_free(envp);
  return 0;
}
