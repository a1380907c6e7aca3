/* Mounting an image's layers (image.h). */
#define _GNU_SOURCE
#include "image.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "trust.h"
#include "util.h"

#define REF_MAX (64 * 1024)
#define HEX_LEN 64

static bool is_hex64(const char *s, size_t n) { return n == HEX_LEN && strspn(s, "0123456789abcdef") >= HEX_LEN; }

/* u's layer list from the store (trusted: root's alone, through the trust
 * walk); its image's name goes to name. The caller frees it. */
static char *read_list(const struct user_policy *u, char *name, size_t name_size) {
  /* u->image is "NAME ID" (policy.c checked it). */
  const char *space = strchr(u->image, ' ');
  xsnprintf(name, name_size, "%.*s", (int)(space - u->image), u->image);
  cleanup_fd int store = trusted_dir(CELLSH_IMAGE_STORE);
  cleanup_fd int refs = RETRY(openat(store, "refs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (refs < 0)
    die_errno(EXIT_CONFIG, "the image store %s has no layers: ask your administrator", CELLSH_IMAGE_STORE);
  trusted_check_fd(refs, CELLSH_IMAGE_STORE "/refs");
  cleanup_fd int ref = RETRY(openat(refs, space + 1, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (ref < 0)
    die_errno(EXIT_CONFIG, "your image \"%s\" is not in the image store: ask your administrator", name);
  trusted_check_fd(ref, "the image's layer list");
  char *text = read_fd(ref, REF_MAX, NULL);
  if (!text)
    die_errno(EXIT_CONFIG, "can't read the layer list of the image \"%s\"", name);
  return text;
}

/* "cellsh-image 1", "name NAME", "workdir PATH" (optional: the image's
 * WorkingDir), "layer HEX" bottom first, "end". Each layer's hex goes to hex
 * (n of them), the workdir to workdir ("" if none); dies if it is damaged. */
static size_t parse_list(char *text, const char *name, const char **hex, char *workdir, size_t workdir_size) {
  char name_line[IMAGE_NAME_MAX + 8];
  xsnprintf(name_line, sizeof name_line, "name %s", name);
  size_t n = 0, line = 0;
  bool ended = false;
  workdir[0] = '\0';
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
    if (ended || (line == 0 && strcmp(l, "cellsh-image 1")) || (line == 1 && strcmp(l, name_line)))
      die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);
    if (line < 2)
      continue;
    if (line == 2 && !strncmp(l, "workdir ", 8) && valid_abs_path(l + 8)) {
      xsnprintf(workdir, workdir_size, "%s", l + 8);
      continue;
    }
    if (!strcmp(l, "end")) {
      ended = true;
      continue;
    }
    if (strncmp(l, "layer ", 6) || !is_hex64(l + 6, strlen(l + 6)) || n == IMAGE_LAYERS_MAX)
      die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);
    hex[n++] = l + 6;
  }
  if (!ended || n == 0)
    die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);
  return n;
}

void image_workdir(const struct user_policy *u, char *out, size_t size) {
  char name[IMAGE_NAME_MAX + 1];
  const char *hex[IMAGE_LAYERS_MAX];
  cleanup_free char *text = read_list(u, name, sizeof name);
  parse_list(text, name, hex, out, size); /* the one the container was made from: read then, whole */
}

void image_mount(const struct user_policy *u, const char *target, const char *upper, const char *work, int idmap) {
  char name[IMAGE_NAME_MAX + 1], workdir[PATH_MAX_LEN + 1];
  const char *hex[IMAGE_LAYERS_MAX];
  cleanup_free char *text = read_list(u, name, sizeof name);
  size_t n = parse_list(text, name, hex, workdir, sizeof workdir);
  cleanup_fd int store = trusted_dir(CELLSH_IMAGE_STORE);
  cleanup_fd int layers = RETRY(openat(store, "layers", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (layers < 0)
    die_errno(EXIT_CONFIG, "the image store %s has no layers: ask your administrator", CELLSH_IMAGE_STORE);
  trusted_check_fd(layers, CELLSH_IMAGE_STORE "/layers");
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (fstatat(layers, hex[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      die(EXIT_CONFIG, "a layer of the image \"%s\" is missing from the store: ask your administrator", name);
  }

  char opts[4096];
  size_t at = (size_t)snprintf(opts, sizeof opts, "lowerdir=");
  for (size_t i = n; i-- > 0 && at < sizeof opts;)
    at += (size_t)snprintf(opts + at, sizeof opts - at, "%s%s", hex[i], i ? ":" : "");
  if (at + strlen(upper) + strlen(work) + 32 >= sizeof opts) /* never, at IMAGE_LAYERS_MAX: checked all the same */
    die(EXIT_CONFIG, "the image \"%s\" has too many layers to mount", name);
  xsnprintf(opts + at, sizeof opts - at, ",upperdir=%s,workdir=%s", upper, work);
  /* With root inside, the layers are seen through an idmapped mount: the
   * store's ids as the user's subordinate ones, so the image's root-owned
   * files are root's inside (overlay takes idmapped layers since Linux 5.19).
   * The mount is never attached: the overlay keeps what it needs of it. */
  cleanup_fd int tree = -1;
  if (idmap >= 0) {
    tree = (int)syscall(SYS_open_tree, layers, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)idmap};
    if (tree < 0 || mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
      die_errno(EXIT_INTERNAL, "can't map the ids of the image \"%s\" for root inside", name);
  }
  if (fchdir(tree >= 0 ? tree : layers) < 0 ||
      mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, opts) < 0 || chdir("/") < 0)
    die_errno(EXIT_INTERNAL, "can't mount the image \"%s\"", name);
}

char *image_read_etc(int etc, const char *name, size_t max) {
  cleanup_fd int fd = etc < 0 ? -1 : RETRY(openat(etc, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  char *text = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read_fd(fd, max, NULL) : NULL;
  if (!text)
    text = strdup("");
  if (!text)
    die(EXIT_INTERNAL, "out of memory");
  return text;
}
