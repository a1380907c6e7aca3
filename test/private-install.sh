# Shared by test/run.sh and bench/run.sh (sourced, not run): Debian packages,
# the build, and a private installation of cellsh under a root-owned folder
# (never over a real one) with its removal and a check that nothing was left.
# The caller sets REPO and defines info() and fatal().
# shellcheck shell=bash

# Installs the Debian packages named that are missing (and cellsh's own).
ensure_packages() {
  "$REPO/install.sh" --packages-only
  local want=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || want+=("$p")
  done
  if [ ${#want[@]} -gt 0 ]; then
    info "installing packages: ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
}

# Install scripts run only by name: koffi checks its bundled binary, node-pty
# (used by the tests and the benchmark to drive terminals) compiles its addon.
build_tree() {
  cd "$REPO" || fatal "can't enter $REPO"
  local lockhash
  lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat node_modules/.cellsh-lock 2>/dev/null)" != "$lockhash" ] || [ ! -e node_modules/node-pty/build/Release/pty.node ]; then
    info "installing dependencies (npm ci) and building koffi and node-pty"
    npm ci --ignore-scripts --no-audit --no-fund --no-progress --loglevel=error
    npm rebuild koffi node-pty --no-progress --loglevel=error
    echo "$lockhash" > node_modules/.cellsh-lock
  fi
  node node_modules/typescript/bin/tsc -p tsconfig.json
}

# Sets ROOT PREFIX GROUP CGROUP for a private installation named by $1 and $2
# (e.g. test 1234) and installs it there.
private_install() {
  ROOT=/var/lib/cellsh-$1-$2
  PREFIX=$ROOT/prefix
  GROUP=cellsh-t-g$2
  CGROUP=cellsh_$1_$2
  RESERVED_PORTS=$(cat /proc/sys/net/ipv4/ip_local_reserved_ports)
  info "installing a private copy under $ROOT"
  "$REPO/install.sh" --skip-packages --prefix "$PREFIX" --root "$ROOT" --group "$GROUP" --cgroup-name "$CGROUP" >/dev/null
}

private_uninstall() {
  if [ -d "$PREFIX/lib/cellsh" ]; then
    "$REPO/install.sh" --uninstall --prefix "$PREFIX" --root "$ROOT" --group "$GROUP" --cgroup-name "$CGROUP" >/dev/null
  fi
}

# A safety net for runs that died before their own cleanup: only users whose
# login shell is this run's private launcher, then the private root.
private_cleanup() {
  private_uninstall
  getent passwd | awk -F: -v sh="$PREFIX/bin/cellsh" '$1 ~ /^cellsh-t-/ && $7 == sh {print $1}' | while read -r u; do
    pkill -KILL -U "$u"; sleep 0.2; userdel --remove "$u" 2>/dev/null
  done
  rm -rf "$ROOT"
}

# For `trap private_cleanup_on_exit EXIT`: the safety net, keeping the exit status.
private_cleanup_on_exit() {
  local status=$?
  set +e
  private_cleanup
  exit "$status"
}

check_leftovers() {
  local left=""
  getent passwd | grep -q '^cellsh-t-' && left+=" users:$(getent passwd | grep -c '^cellsh-t-')"
  grep -q "$CGROUP" /proc/self/mountinfo && left+=" mounts"
  find /sys/fs/cgroup -maxdepth 2 \( -name "$CGROUP" -o -name 'cellsh-fresh-*' \) 2>/dev/null | grep -q . && left+=" cgroups"
  if [ "$(cat /proc/sys/net/ipv4/ip_local_reserved_ports)" != "${RESERVED_PORTS-}" ]; then left+=" reserved-udp-ports"; fi
  [ -z "$left" ] || fatal "things were left behind:$left"
}
