#define _GNU_SOURCE
#include "env.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Each value must be made of these characters only (NULL: any byte but NUL). */
#define TERM_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-"
#define LOCALE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-"
#define ADDR_CHARS "0123456789abcdefABCDEF.:% "
#define PATH_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-"
/* Every kept name is made of these (a prefix rule like LC_ says nothing of the rest). */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

struct rule {
  const char *name;  /* exact name, or a prefix ending in '_' */
  const char *chars; /* allowed characters, NULL for any */
  size_t max;        /* longest accepted value */
};

static const struct rule rules[] = {
    {"TERM", TERM_CHARS, 64},
    {"COLORTERM", TERM_CHARS, 32},
    {"LANG", LOCALE_CHARS, 64},
    {"LANGUAGE", LOCALE_CHARS ":", 128},
    {"LC_", LOCALE_CHARS, 64},
    {"SSH_CONNECTION", ADDR_CHARS, 160},
    {"SSH_CLIENT", ADDR_CHARS, 128},
    {"SSH_AUTH_SOCK", PATH_CHARS, 107},
    {"SSH_ORIGINAL_COMMAND", NULL, 128 * 1024},
    {"DISPLAY", TERM_CHARS ":", 64}, /* ssh -X: localhost:10.0 */
};

static const struct rule *rule_for(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
    size_t rl = strlen(rules[i].name);
    bool prefix = rules[i].name[rl - 1] == '_';
    if (prefix ? (len > rl && !strncmp(name, rules[i].name, rl)) : (len == rl && !strncmp(name, rules[i].name, rl)))
      return &rules[i];
  }
  return NULL;
}

static bool value_ok(const struct rule *r, const char *v) {
  size_t n = strlen(v);
  if (n > r->max || (r->chars && strspn(v, r->chars) != n))
    return false;
  /* No ".." anywhere: TERM and locale names are looked up as file names. */
  return r->chars == NULL || strstr(v, "..") == NULL;
}

const char *env_value(const struct kept_env *env, const char *name) {
  size_t len = strlen(name);
  for (size_t i = 0; i < env->n; i++)
    if (!strncmp(env->vars[i], name, len) && env->vars[i][len] == '=')
      return env->vars[i] + len + 1;
  return NULL;
}

int env_add(struct kept_env *env, const char *name, const char *value) {
  if (env->n >= ENV_MAX_VARS)
    return -1;
  size_t ln = strlen(name), lv = strlen(value);
  char *s = malloc(ln + lv + 2);
  if (!s)
    return -1;
  memcpy(s, name, ln);
  s[ln] = '=';
  memcpy(s + ln + 1, value, lv + 1);
  env->vars[env->n++] = s;
  env->vars[env->n] = NULL;
  return 0;
}

int env_set(struct kept_env *env, const char *name, const char *value) {
  size_t len = strlen(name);
  for (size_t i = 0; i < env->n; i++) {
    if (!strncmp(env->vars[i], name, len) && env->vars[i][len] == '=') {
      struct kept_env one = {.n = 0};
      if (env_add(&one, name, value) < 0)
        return -1;
      free(env->vars[i]);
      env->vars[i] = one.vars[0];
      return 0;
    }
  }
  return env_add(env, name, value);
}

void env_keep(char **envp, struct kept_env *out) {
  out->n = 0;
  out->vars[0] = NULL;
  for (; envp && *envp; envp++) {
    const char *eq = strchr(*envp, '=');
    if (!eq || eq == *envp)
      continue;
    size_t len = (size_t)(eq - *envp);
    char name[32];
    const struct rule *r = rule_for(*envp, len);
    if (!r || len >= sizeof name || strspn(*envp, NAME_CHARS) != len || !value_ok(r, eq + 1))
      continue;
    memcpy(name, *envp, len);
    name[len] = '\0';
    if (env_value(out, name)) /* the first of duplicate names wins, as getenv(3) */
      continue;
    env_add(out, name, eq + 1);
  }
}
