/* Compiled-in locations. The helper takes no path from its caller: install.sh
 * (and the test harness, for a private install) sets these at build time. */
#ifndef CELLSH_CONFIG_H
#define CELLSH_CONFIG_H

#ifndef CELLSH_POLICY_PATH
#define CELLSH_POLICY_PATH "/var/lib/cellsh/policy.compiled"
#endif
#ifndef CELLSH_STATE_DIR /* runtime records and locks, one of each per uid */
#define CELLSH_STATE_DIR "/run/cellsh"
#endif
#ifndef CELLSH_LOG_PATH /* the audit log (pino's JSON line format) */
#define CELLSH_LOG_PATH "/var/log/cellsh/cellsh.log"
#endif
#ifndef CELLSH_CGROUP_NAME /* the subtree under each cgroup hierarchy */
#define CELLSH_CGROUP_NAME "cellsh"
#endif
#ifndef CELLSH_LIBDIR /* the launcher's Node script lives under here */
#define CELLSH_LIBDIR "/usr/local/lib/cellsh"
#endif
/* What runs a session's last steps inside its container, as the user. */
#define CELLSH_INSIDE CELLSH_LIBDIR "/cellsh-inside"
#ifndef CELLSH_LAUNCHER /* the launcher's own path, as sshd's ForceCommand names it */
#define CELLSH_LAUNCHER "/usr/local/bin/cellsh"
#endif
#ifndef CELLSH_LAYER_DIR /* root's: the persistent writable layers of image containers, UID.ext4 */
#define CELLSH_LAYER_DIR "/var/lib/cellsh/upper"
#endif
#ifndef CELLSH_IMAGE_STORE /* root's image store: layers, and the layer lists policies name */
#define CELLSH_IMAGE_STORE "/var/lib/cellsh/images"
#endif
#ifndef CELLSH_NODE /* the Node.js binary the launcher runs */
#define CELLSH_NODE "/usr/bin/node"
#endif

#endif
