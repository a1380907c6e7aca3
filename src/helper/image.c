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

void image_mount(const struct user_policy *u, const char *target, const char *upper, const char *work, int idmap) {
  /* u->image is "NAME ID" (policy.c checked it). */
  char name[IMAGE_NAME_MAX + 1];
  const char *space = strchr(u->image, ' ');
  xsnprintf(name, sizeof name, "%.*s", (int)(space - u->image), u->image);
  const char *id = space + 1;
  cleanup_fd int store = trusted_dir(CELLSH_IMAGE_STORE);
  cleanup_fd int refs = RETRY(openat(store, "refs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  cleanup_fd int layers = RETRY(openat(store, "layers", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (refs < 0 || layers < 0)
    die_errno(EXIT_CONFIG, "the image store %s has no layers: ask your administrator", CELLSH_IMAGE_STORE);
  trusted_check_fd(refs, CELLSH_IMAGE_STORE "/refs");
  trusted_check_fd(layers, CELLSH_IMAGE_STORE "/layers");
  cleanup_fd int ref = RETRY(openat(refs, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (ref < 0)
    die_errno(EXIT_CONFIG, "your image \"%s\" is not in the image store: ask your administrator", name);
  trusted_check_fd(ref, "the image's layer list");
  cleanup_free char *text = read_fd(ref, REF_MAX, NULL);
  if (!text)
    die_errno(EXIT_CONFIG, "can't read the layer list of the image \"%s\"", name);

  /* "cellsh-image 1", "name NAME", "layer HEX" bottom first, "end". The
   * overlay takes the top first, by names relative to the layers folder (its
   * cwd here), so the option holds IMAGE_LAYERS_MAX of them on Linux 6.1. */
  char name_line[IMAGE_NAME_MAX + 8];
  xsnprintf(name_line, sizeof name_line, "name %s", name);
  const char *hex[IMAGE_LAYERS_MAX];
  size_t n = 0, line = 0;
  bool ended = false;
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
    if (ended || (line == 0 && strcmp(l, "cellsh-image 1")) || (line == 1 && strcmp(l, name_line)))
      die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);
    if (line < 2)
      continue;
    if (!strcmp(l, "end")) {
      ended = true;
      continue;
    }
    if (strncmp(l, "layer ", 6) || !is_hex64(l + 6, strlen(l + 6)) || n == IMAGE_LAYERS_MAX)
      die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);
    struct stat st;
    if (fstatat(layers, l + 6, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      die(EXIT_CONFIG, "a layer of the image \"%s\" is missing from the store: ask your administrator", name);
    hex[n++] = l + 6;
  }
  if (!ended || n == 0)
    die(EXIT_CONFIG, "the layer list of the image \"%s\" is damaged: ask your administrator", name);

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
