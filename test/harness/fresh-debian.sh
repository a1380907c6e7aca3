#!/usr/bin/env bash
# Run commands as root on a fresh, minimal Debian 12 (debootstrap minbase: no
# Node, no compiler, no python) holding a copy of this checkout at /src: the
# machine a new admin starts from. It shares this host's kernel and network
# (systemd-nspawn, no user namespace). Each cgroup v1 hierarchy is given to it
# as a subtree of its own (cellsh-fresh-PID), so the guest's cellsh can apply
# limits without seeing, or colliding with, this host's cgroups; the subtree is
# removed afterwards. The debootstrapped base is cached; each run starts from a
# fresh copy of it and removes the copy afterwards.
#
#   test/harness/fresh-debian.sh 'commands'
#   test/harness/fresh-debian.sh --base    only make the cached base, and print its path
#                                          (the image tests make a Debian image of it)
#   test/harness/fresh-debian.sh --tools   the same with what ssh's file transfers run on the
#                                          far side (sftp-server, rsync, git), cached apart
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BASE=/var/tmp/cellsh-fresh-bookworm
WORK=$(mktemp -d /var/tmp/cellsh-fresh-run.XXXXXX)
CGSUB=cellsh-fresh-$$
CONTROLLERS=(memory pids cpu cpuacct blkio)

cleanup() {
  rm -rf "$WORK"
  for h in "${CONTROLLERS[@]}"; do
    [ -d "/sys/fs/cgroup/$h/$CGSUB" ] && find "/sys/fs/cgroup/$h/$CGSUB" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
trap cleanup EXIT

fatal() { printf 'fresh-debian.sh: %s\n' "$*" >&2; exit 1; }

make_base() {
  [ -x "$BASE/bin/bash" ] && return
  command -v debootstrap >/dev/null || fatal "debootstrap is not installed"
  local mirror
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  rm -rf "$BASE.tmp"
  debootstrap --variant=minbase bookworm "$BASE.tmp" "${mirror:-http://deb.debian.org/debian}" > "$BASE.log" 2>&1 ||
    fatal "debootstrap failed (see $BASE.log)"
  cp /etc/apt/sources.list.d/debian.sources "$BASE.tmp/etc/apt/sources.list.d/" 2>/dev/null && rm -f "$BASE.tmp/etc/apt/sources.list"
  mv "$BASE.tmp" "$BASE"
}

# The base and the packages ssh's transfers need, installed by the base's own
# apt (chroot; apt needs nothing of /proc) from the host's mirror.
make_tools() {
  make_base
  [ -x "$BASE-tools/usr/bin/rsync" ] && return
  rm -rf "$BASE-tools.tmp"
  cp -a "$BASE" "$BASE-tools.tmp"
  cp /etc/resolv.conf "$BASE-tools.tmp/etc/" 2>/dev/null || true
  cp /etc/apt/apt.conf.d/99artifact-registry "$BASE-tools.tmp/etc/apt/apt.conf.d/" 2>/dev/null || true
  { chroot "$BASE-tools.tmp" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive chroot "$BASE-tools.tmp" apt-get install -y -qq --no-install-recommends \
      openssh-sftp-server rsync git && chroot "$BASE-tools.tmp" apt-get clean; } > "$BASE-tools.log" 2>&1 ||
    fatal "apt-get install in the base failed (see $BASE-tools.log)"
  rm -rf "$BASE-tools.tmp/var/lib/apt/lists/"*
  mv "$BASE-tools.tmp" "$BASE-tools"
}

main() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root"
  if [ "${1:-}" = --base ]; then
    make_base
    printf '%s\n' "$BASE"
    return
  fi
  if [ "${1:-}" = --tools ]; then
    make_tools
    printf '%s\n' "$BASE-tools"
    return
  fi
  command -v systemd-nspawn >/dev/null || fatal "systemd-nspawn is not installed (systemd-container)"
  make_base
  cp -a "$BASE/." "$WORK/"
  cp /etc/resolv.conf "$WORK/etc/" 2>/dev/null || true
  mkdir -p "$WORK/src"
  (cd "$REPO" && git ls-files -z | cpio -0 -pdm --quiet "$WORK/src")
  local args=(--quiet --register=no --keep-unit --directory="$WORK" --chdir=/src)
  # This machine reaches the npm registry through a local CA; a real fresh host needs none.
  local ca
  ca=$(npm config get cafile 2>/dev/null || true)
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    cp "$ca" "$WORK/etc/local-registry-ca.pem"
    args+=(--setenv=NODE_EXTRA_CA_CERTS=/etc/local-registry-ca.pem --setenv=npm_config_cafile=/etc/local-registry-ca.pem)
  fi
  local pre=""
  for h in "${CONTROLLERS[@]}"; do
    [ -d "/sys/fs/cgroup/$h" ] || continue
    mkdir -p "/sys/fs/cgroup/$h/$CGSUB"
    args+=("--bind=/sys/fs/cgroup/$h/$CGSUB:/mnt/.cg-$h")
    pre+="mount --bind /mnt/.cg-$h /sys/fs/cgroup/$h 2>/dev/null; "
  done
  systemd-nspawn "${args[@]}" /bin/bash -c "$pre $*"
}

main "$@"
