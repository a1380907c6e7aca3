#!/usr/bin/env bash
# cellsh installer: builds cellsh and installs it, as root, on Debian 12.
#
#   sudo ./install.sh              install under /usr/local (idempotent)
#   sudo ./install.sh --demo       install, enroll a demo user and open their container shell
#   sudo ./install.sh --uninstall  remove exactly what an earlier install put in place
#
# Options:
#   --prefix DIR       where programs go (default /usr/local): DIR/bin/cellsh,
#                      DIR/sbin/cellsh-admin, DIR/lib/cellsh/
#   --root DIR         keep cellsh's config, state and log under DIR instead of
#                      /etc, /var/lib, /run and /var/log (a private install, used by the tests)
#   --group NAME       the group of enrolled users, allowed to run the helper (default cellsh)
#   --cgroup-name NAME the cgroup subtree name, and on systemd hosts the name of
#                      the slice and service that delegate it (default cellsh;
#                      lower-case letters, digits and _)
#   --skip-packages    do not run apt-get (everything needed is already installed)
#   --packages-only    only install the Debian packages cellsh needs, then stop
#   --demo-user NAME   the demo user --demo creates (default cellsh-demo)
#
# What it installs: the setuid helper (root:GROUP 4750), the launcher, the
# compiled TypeScript with its production node_modules, cellsh-admin, the
# default policy (never over an existing one), the state, log and policy
# folders, /etc/shells and tmpfiles.d entries, a logrotate rule for the audit
# log (/etc/logrotate.d/cellsh), and an sshd drop-in
# (/etc/ssh/sshd_config.d/cellsh.conf) that sends every ssh session of GROUP's
# members through cellsh and closes what would go around it; the PAM session
# module pam_cellsh.so, with a line in /etc/pam.d/sshd that puts sshd's
# session of GROUP's members into their container's network, and a second
# drop-in (cellsh-forwarding.conf) that then opens the forwarding the policy
# gives (cellsh-admin apply writes it and reloads sshd); and on systemd
# hosts cellsh.slice and cellsh.service, which delegates to cellsh the cgroup
# the containers live in. The list is kept in DIR/lib/cellsh/install-manifest
# for --uninstall.
set -euo pipefail

# ---- messages ----------------------------------------------------------------
info() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
fatal() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# ---- settings ----------------------------------------------------------------
PREFIX=/usr/local
ROOT=""
GROUP=cellsh
CGROUP_NAME=cellsh
SKIP_PACKAGES=0
MODE=install
DEMO_USER=cellsh-demo
NAT_USER=cellsh-nat
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE_MIN_MAJOR=18
PACKAGES=(nodejs npm gcc make libc6-dev libseccomp-dev libpam0g-dev ca-certificates procps logrotate slirp4netns nftables)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) PREFIX=${2:?--prefix needs a folder}; shift ;;
      --root) ROOT=${2:?--root needs a folder}; shift ;;
      --group) GROUP=${2:?--group needs a name}; shift ;;
      --cgroup-name) CGROUP_NAME=${2:?--cgroup-name needs a name}; shift ;;
      --skip-packages) SKIP_PACKAGES=1 ;;
      --packages-only) MODE=packages ;;
      --demo) MODE=demo ;;
      --demo-user) DEMO_USER=${2:?--demo-user needs a name}; shift ;;
      --uninstall) MODE=uninstall ;;
      -h|--help) usage; exit 0 ;;
      *) fatal "unknown option \"$1\" (see --help)" ;;
    esac
    shift
  done
  case "$PREFIX$ROOT" in *[!A-Za-z0-9_./+@-]*) fatal "paths may only use the characters A-Z a-z 0-9 _ . / + @ -" ;; esac
  # systemd reads "-" in a slice's name as nesting: keep the name plain.
  [[ "$CGROUP_NAME" =~ ^[a-z][a-z0-9_]{0,31}$ ]] || fatal "--cgroup-name takes lower-case letters, digits and _ (up to 32, a letter first)"
  LIBDIR=$PREFIX/lib/cellsh
  CONFDIR=$ROOT/etc/cellsh
  VARDIR=$ROOT/var/lib/cellsh
  STATEDIR=$ROOT/run/cellsh
  LOGDIR=$ROOT/var/log/cellsh
  LAUNCHER=$PREFIX/bin/cellsh
  ADMIN=$PREFIX/sbin/cellsh-admin
  MANIFEST=$LIBDIR/install-manifest
  UNITDIR=$ROOT/etc/systemd/system
}

# ---- checks ------------------------------------------------------------------
preflight() {
  [ "$(id -u)" -eq 0 ] || fatal "run me as root (sudo ./install.sh)"
  if [ ! -f "$SRC/package.json" ] || [ ! -d "$SRC/src/helper" ]; then fatal "run me from a cellsh checkout"; fi
  [ -r /proc/self/ns/user ] || fatal "this kernel has no user namespaces"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || fatal "this kernel has no overlayfs"
}

# ---- packages ----------------------------------------------------------------
install_packages() {
  if [ "$SKIP_PACKAGES" = 1 ]; then return; fi
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # A Node.js installed outside Debian's packages (nodesource, nvm) serves as well.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
  fi
  local want=()
  for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
  [ ${#want[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || fatal "missing packages: ${want[*]} (and no apt-get to install them)"
  info "installing packages: ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

check_node() {
  NODE=$(command -v node) || fatal "node is not installed (apt-get install nodejs)"
  NODE=$(readlink -f "$NODE")
  local major
  major=$("$NODE" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge "$NODE_MIN_MAJOR" ] || fatal "Node.js $NODE_MIN_MAJOR or newer is needed; $NODE is $("$NODE" --version)"
}

# ---- build -------------------------------------------------------------------
# Dependencies' install scripts are never run implicitly: koffi's (which only
# checks its bundled binary) is run by name, so no npm version can silently
# skip or add one (npm 11's allowScripts).
build() {
  cd "$SRC"
  local lockhash
  lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ "$(cat node_modules/.cellsh-lock 2>/dev/null)" != "$lockhash" ]; then
    info "installing build dependencies (npm ci)"
    npm ci --ignore-scripts --no-audit --no-fund --no-progress --loglevel=error
    npm rebuild koffi --no-progress --loglevel=error
    echo "$lockhash" > node_modules/.cellsh-lock
  fi
  info "compiling TypeScript"
  "$NODE" node_modules/typescript/bin/tsc -p tsconfig.json
  info "compiling the helper and the launcher"
  HELPER_BUILD=$SRC/build/helper-$(printf '%s' "$PREFIX|$ROOT|$CGROUP_NAME|$NODE" | sha256sum | cut -c1-12)
  make -s -C src/helper OUT="$HELPER_BUILD" GEN_NODE="$NODE" POLICY_PATH="$VARDIR/policy.compiled" STATE_DIR="$STATEDIR" \
    LOG_PATH="$LOGDIR/cellsh.log" CGROUP_NAME="$CGROUP_NAME" LIBDIR="$LIBDIR" LAUNCHER="$LAUNCHER" NODE="$NODE" \
    IMAGE_STORE="$VARDIR/images" LAYER_DIR="$VARDIR/upper"
}

# Production node_modules, assembled apart from the checkout's.
stage_modules() {
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  cp "$SRC/package.json" "$SRC/package-lock.json" "$STAGE/"
  (cd "$STAGE" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --no-progress --loglevel=error && npm rebuild koffi --no-progress --loglevel=error)
}

# ---- install -----------------------------------------------------------------
record() { printf '%s\n' "$@" >> "$NEW_MANIFEST"; }

# Create a folder and any missing parents (recording each one created), then
# set the folder's owner and mode.
ensure_dir() {
  local dir=$1 mode=$2 owner=$3 d=$1
  while [ ! -d "$d" ]; do record "dir $d"; d=$(dirname "$d"); done
  mkdir -p "$dir"
  chown "$owner" "$dir"; chmod "$mode" "$dir"
}

install_files() {
  NEW_MANIFEST=$STAGE/manifest
  : > "$NEW_MANIFEST"
  # What an earlier install created stays ours to remove.
  if [ -f "$MANIFEST" ]; then grep -E '^(dir|group|shells|policy|tmpfiles|user|natuser|pam) ' "$MANIFEST" >> "$NEW_MANIFEST" || true; fi
  if ! getent group "$GROUP" >/dev/null; then groupadd --system "$GROUP"; record "group $GROUP"; fi
  # The account network: private's NAT runs as (src/helper/nat.h). Shared by
  # every install on the host, so only a system-wide one removes it.
  if ! getent passwd "$NAT_USER" >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "cellsh NAT for private networks" "$NAT_USER"
    if [ -z "$ROOT" ]; then record "natuser $NAT_USER"; fi
  fi
  ensure_dir "$PREFIX/bin" 0755 root:root
  ensure_dir "$PREFIX/sbin" 0755 root:root
  ensure_dir "$LIBDIR" 0755 root:root
  rm -rf "$LIBDIR/dist.new" "$LIBDIR/node_modules.new"
  cp -a "$SRC/dist" "$LIBDIR/dist.new"
  cp -a "$STAGE/node_modules" "$LIBDIR/node_modules.new"
  cp "$SRC/package.json" "$LIBDIR/package.json"
  chown -R root:root "$LIBDIR/dist.new" "$LIBDIR/node_modules.new"
  chmod -R go-w "$LIBDIR/dist.new" "$LIBDIR/node_modules.new"
  rm -rf "$LIBDIR/dist" "$LIBDIR/node_modules"
  mv "$LIBDIR/dist.new" "$LIBDIR/dist"; mv "$LIBDIR/node_modules.new" "$LIBDIR/node_modules"
  cat > "$LIBDIR/layout.json" <<EOF
{
  "policyFile": "$CONFDIR/policy.yaml",
  "policyDir": "$CONFDIR/policy.d",
  "compiledPolicy": "$VARDIR/policy.compiled",
  "imageStore": "$VARDIR/images",
  "layerDir": "$VARDIR/upper",
  "stateDir": "$STATEDIR",
  "logFile": "$LOGDIR/cellsh.log",
  "cgroupName": "$CGROUP_NAME",
  "group": "$GROUP",
  "launcher": "$LAUNCHER",
  "sshdConfigDir": "$ROOT/etc/ssh/sshd_config.d",
  "sshdPidFile": "$ROOT/run/sshd.pid",
  "sshdConfig": "$ROOT/etc/ssh/sshd_config",
  "sshdPam": "$ROOT/etc/pam.d/sshd"
}
EOF
  # What the helper runs inside a container as the user: not setuid, and not
  # readable, so the kernel keeps it from being traced (src/helper/inside.c).
  # Before the helper, so a new helper never meets an old one.
  install -o root -g root -m 0711 "$HELPER_BUILD/cellsh-inside" "$LIBDIR/cellsh-inside.new"
  mv -f "$LIBDIR/cellsh-inside.new" "$LIBDIR/cellsh-inside"
  # What cellsh-admin image runs, as root, to unpack a layer (src/helper/unpack.c).
  install -o root -g root -m 0700 "$HELPER_BUILD/cellsh-unpack" "$LIBDIR/cellsh-unpack.new"
  mv -f "$LIBDIR/cellsh-unpack.new" "$LIBDIR/cellsh-unpack"
  # The helper: setuid root, runnable only by root and the enrolled group.
  install -o root -g "$GROUP" -m 4750 "$HELPER_BUILD/cellsh-helper" "$LIBDIR/cellsh-helper.new"
  mv -f "$LIBDIR/cellsh-helper.new" "$LIBDIR/cellsh-helper"
  install -o root -g root -m 0755 "$HELPER_BUILD/cellsh" "$LAUNCHER.new" && mv -f "$LAUNCHER.new" "$LAUNCHER"
  cat > "$ADMIN.new" <<EOF
#!/bin/sh
# cellsh-admin: the admin's command line (installed by install.sh).
exec "$NODE" --disallow-code-generation-from-strings "$LIBDIR/dist/src/cli/admin.js" "\$@"
EOF
  chmod 0755 "$ADMIN.new" && mv -f "$ADMIN.new" "$ADMIN"
  # sshd's PAM session module: loaded by sshd as root, written by root only.
  install -o root -g root -m 0644 "$HELPER_BUILD/pam_cellsh.so" "$LIBDIR/pam_cellsh.so.new"
  mv -f "$LIBDIR/pam_cellsh.so.new" "$LIBDIR/pam_cellsh.so"
  record "file $LIBDIR/cellsh-helper" "file $LIBDIR/cellsh-inside" "file $LIBDIR/cellsh-unpack" "file $LIBDIR/pam_cellsh.so" "file $LAUNCHER" "file $ADMIN" "file $LIBDIR/layout.json" \
    "file $LIBDIR/package.json" "tree $LIBDIR/dist" "tree $LIBDIR/node_modules"

  ensure_dir "$CONFDIR" 0755 root:root
  ensure_dir "$CONFDIR/policy.d" 0755 root:root
  ensure_dir "$VARDIR" 0755 root:root
  ensure_dir "$LOGDIR" 0750 root:root
  ensure_dir "$STATEDIR" 0700 root:root
  if [ ! -e "$CONFDIR/policy.yaml" ]; then
    install -o root -g root -m 0644 "$SRC/config/policy.yaml" "$CONFDIR/policy.yaml"
    record "policy $CONFDIR/policy.yaml $(sha256sum < "$CONFDIR/policy.yaml" | cut -d' ' -f1)"
  else
    info "keeping the existing $CONFDIR/policy.yaml"
  fi
  if ! grep -qxF "$LAUNCHER" /etc/shells; then echo "$LAUNCHER" >> /etc/shells; record "shells $LAUNCHER"; fi
  # /run is emptied at boot: have systemd-tmpfiles recreate the state folder.
  if [ -z "$ROOT" ] && [ -d /usr/lib/tmpfiles.d ] && [ ! -e /usr/lib/tmpfiles.d/cellsh.conf ]; then
    printf 'd %s 0700 root root -\n' "$STATEDIR" > /usr/lib/tmpfiles.d/cellsh.conf
    record "tmpfiles /usr/lib/tmpfiles.d/cellsh.conf"
  fi
}

# The manifest, last: everything above recorded what it created.
write_manifest() {
  record "file $MANIFEST"
  sort -u "$NEW_MANIFEST" > "$MANIFEST"
}

# ---- the audit log's rotation ---------------------------------------------------
# The helper bounds what each user can make it log (about 4 KiB a second, in
# bursts of 1 MiB); logrotate bounds what stays on disk. No copytruncate: the
# helper reopens the log once it was rotated, so a long session's exit event
# lands in the current file, and no line is lost between copy and truncation.
logrotate_rule() {
  local dir=$ROOT/etc/logrotate.d
  if [ -z "$ROOT" ] && [ ! -d "$dir" ]; then
    warn "no logrotate here ($dir is missing): $LOGDIR/cellsh.log will not be rotated"
    return
  fi
  ensure_dir "$dir" 0755 root:root
  cat > "$dir/cellsh.new" <<EOF
# cellsh's audit log (written by cellsh's install.sh, removed by its --uninstall)
$LOGDIR/cellsh.log {
	weekly
	maxsize 100M
	rotate 8
	compress
	delaycompress
	missingok
	notifempty
	create 0600 root root
}
EOF
  chmod 0644 "$dir/cellsh.new" && mv -f "$dir/cellsh.new" "$dir/cellsh"
  record "file $dir/cellsh"
}

# ---- sshd ----------------------------------------------------------------------
# Every ssh session of an enrolled user goes through cellsh (ForceCommand: also
# sftp, whatever the Subsystem line says, and authorized_keys command= options),
# and nothing sshd can do on the host's side is left open: port and socket
# forwarding, X11, tunnels, ~/.ssh/rc, ~/.ssh/environment. Agent forwarding
# stays: cellsh relays the agent into the container itself.
sshd_dropin() {
  local dir=$ROOT/etc/ssh/sshd_config.d
  if [ -z "$ROOT" ] && [ ! -d "$dir" ]; then
    info "no OpenSSH server here ($dir is missing): no sshd drop-in written"
    return
  fi
  ensure_dir "$dir" 0755 root:root
  local conf=$dir/cellsh.conf
  cat > "$conf.new" <<EOF
# cellsh: sshd settings for the users cellsh serves (members of group $GROUP).
# Written by install.sh and removed by install.sh --uninstall; check them with
# "cellsh-admin doctor". See README.md, "OpenSSH", for what each line closes.
PermitUserEnvironment no
Match Group $GROUP
    ForceCommand $LAUNCHER
    AllowTcpForwarding no
    AllowStreamLocalForwarding no
    X11Forwarding no
    PermitTunnel no
    PermitUserRC no
    PermitListen none
    PermitOpen none
    AllowAgentForwarding yes
EOF
  chmod 0644 "$conf.new"
  if [ -n "$ROOT" ] || ! command -v sshd >/dev/null; then
    mv -f "$conf.new" "$conf"
    record "file $conf"
    return
  fi
  # sshd reads only *.conf: try the new file in place, and put the old one
  # back if sshd refuses the result (a broken config stops the next restart).
  [ -d /run/sshd ] || install -d -m 0755 /run/sshd # what Debian's tmpfiles.d/sshd.conf makes
  if [ -f "$conf" ]; then cp -p "$conf" "$conf.old"; fi
  mv -f "$conf.new" "$conf"
  if ! sshd -t; then
    if [ -f "$conf.old" ]; then mv -f "$conf.old" "$conf"; else rm -f "$conf"; fi
    fatal "sshd does not accept its configuration with cellsh's drop-in; fix the sshd configuration (sshd -t says why), then run install.sh again"
  fi
  rm -f "$conf.old"
  record "file $conf"
  reload_sshd
}

# ---- sshd's PAM stack ------------------------------------------------------------
# One line before "@include common-session" in sshd's PAM stack: pam_cellsh
# joins sshd's session of a member of GROUP to their container's network
# namespace (pam/pam_cellsh.c), and refuses the session if it can't; for anyone
# else it does nothing. No pam_succeed_if guard: it gives up on long /etc/group
# lines and would skip the module where sshd's Match Group still counts the user
# in. With the module in place, the forwarding the policy gives is opened for
# GROUP (cellsh-forwarding.conf, read before cellsh.conf): it then happens inside
# the container's network. Socket forwarding and tunnels stay closed: socket
# paths and tun devices are the host's. The module must stay where
# the line says (--uninstall removes the line first), or every ssh session is
# refused; doctor checks. A private install (--root) writes its own copy of
# Debian's stack under ROOT instead, for the tests' sshd.
PAM_MARK="# cellsh: sshd's session of a cellsh user joins their container's network (install.sh --uninstall removes this)"
pam_lines() {
  printf '%s\n' "$PAM_MARK" "session required $LIBDIR/pam_cellsh.so group=$GROUP"
}

# The stack without our lines (the mark and the line after it).
remove_pam_lines() {
  awk -v mark="$PAM_MARK" '$0 == mark { skip = 1; next } skip > 0 { skip--; next } { print }'
}

sshd_pam() {
  local stack=$ROOT/etc/pam.d/sshd src=$ROOT/etc/pam.d/sshd
  if [ -n "$ROOT" ]; then
    src=/etc/pam.d/sshd
    [ -f "$src" ] || return 0
    ensure_dir "$ROOT/etc/pam.d" 0755 root:root
  elif [ ! -f "$src" ]; then
    info "no OpenSSH PAM stack here ($src is missing): ssh forwarding stays closed for cellsh users"
    return 0
  fi
  if ! grep -q '^@include common-session' "$src"; then
    warn "$src has no \"@include common-session\" line: pam_cellsh not added, ssh forwarding stays closed for cellsh users"
    return 0
  fi
  remove_pam_lines < "$src" |
    awk -v lines="$(pam_lines)" '/^@include common-session/ && !done { print lines; done = 1 } { print }' > "$stack.new"
  chmod 0644 "$stack.new"
  mv -f "$stack.new" "$stack"
  if [ -n "$ROOT" ]; then record "file $stack"; else record "pam $stack"; fi
  forwarding_dropin
}

# Opened only with the PAM lines in place, removed with them. "cellsh-admin
# apply" (run at the end of the install) fills it from the policy's forwarding
# settings and reloads sshd; until then it forwards nothing, as cellsh.conf says.
forwarding_dropin() {
  local dir=$ROOT/etc/ssh/sshd_config.d
  if [ -z "$ROOT" ] && [ ! -d "$dir" ]; then return 0; fi
  ensure_dir "$dir" 0755 root:root
  if [ ! -f "$dir/cellsh-forwarding.conf" ]; then
    echo '# cellsh: filled by "cellsh-admin apply" from the forwarding settings of the policy' > "$dir/cellsh-forwarding.conf.new"
    chmod 0644 "$dir/cellsh-forwarding.conf.new"
    mv -f "$dir/cellsh-forwarding.conf.new" "$dir/cellsh-forwarding.conf"
  fi
  record "file $dir/cellsh-forwarding.conf"
}

# ---- systemd -----------------------------------------------------------------
# On cgroup v2 systemd owns the hierarchy and lets others manage only what it
# delegates. cellsh.service is a unit whose only process sleeps, to hold a
# delegated cgroup (Delegate=yes) in which the helper makes one per container;
# cellsh.slice holds it, so an admin can cap all containers together
# (systemctl set-property cellsh.slice MemoryMax=80%). Stopping the service
# stops every container in it.
systemd_units() {
  if [ -z "$ROOT" ] && [ ! -d /etc/systemd/system ]; then return; fi
  ensure_dir "$UNITDIR" 0755 root:root
  cat > "$UNITDIR/$CGROUP_NAME.slice" <<UNIT
# Written by cellsh's install.sh; removed by install.sh --uninstall.
[Unit]
Description=cellsh: every user's container
UNIT
  cat > "$UNITDIR/$CGROUP_NAME.service" <<UNIT
# Written by cellsh's install.sh; removed by install.sh --uninstall.
# Holds the cgroup systemd delegates to cellsh: each user's container gets a
# cgroup below it, with the limits of cellsh's policy. The process only keeps
# the unit (and so its cgroup) alive; cellsh moves it into a leaf of its own.
# Stopping this unit stops every container. Before it starts (at boot, before
# sshd), the UDP ports the policy publishes are kept for the NAT again.
[Unit]
Description=cellsh: the delegated cgroup of users' containers
Documentation=man:systemd.resource-control(5)
Before=systemd-user-sessions.service ssh.service

[Service]
ExecStartPre=-$LIBDIR/cellsh-helper ports
ExecStart=/bin/sleep infinity
Delegate=yes
Slice=$CGROUP_NAME.slice

[Install]
WantedBy=multi-user.target
UNIT
  chmod 0644 "$UNITDIR/$CGROUP_NAME.slice" "$UNITDIR/$CGROUP_NAME.service"
  record "unit $UNITDIR/$CGROUP_NAME.service" "file $UNITDIR/$CGROUP_NAME.slice"
  if [ -n "$ROOT" ]; then return; fi
  systemctl enable --quiet "$CGROUP_NAME.service" 2>/dev/null || warn "could not enable $CGROUP_NAME.service"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl start "$CGROUP_NAME.service" || fatal "systemd did not start $CGROUP_NAME.service (systemctl status $CGROUP_NAME.service says why)"
  fi
}

# Make a running sshd read its configuration again.
reload_sshd() {
  if [ -d /run/systemd/system ] && systemctl is-active --quiet ssh 2>/dev/null; then
    systemctl reload ssh
  elif [ -s /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
    kill -HUP "$(cat /run/sshd.pid)"
  fi
}

apply_policy() {
  info "compiling the policy"
  "$ADMIN" apply
}

# ---- demo --------------------------------------------------------------------
demo() {
  if ! id "$DEMO_USER" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash --comment "cellsh demo" "$DEMO_USER"
    echo "user $DEMO_USER" >> "$MANIFEST"
  fi
  "$ADMIN" enroll "$DEMO_USER"
  info "done. You are now entering $DEMO_USER's container (type exit to leave)."
  if [ -t 0 ] && [ -t 1 ]; then
    exec su - "$DEMO_USER"
  fi
  info "no terminal here: run \"su - $DEMO_USER\" to enter the container"
}

# ---- uninstall ---------------------------------------------------------------
uninstall() {
  [ -f "$MANIFEST" ] || fatal "no install manifest at $MANIFEST: nothing installed there"
  if [ -x "$LIBDIR/cellsh-helper" ] && [ -d "$STATEDIR" ]; then
    for rec in "$STATEDIR"/*.state; do
      [ -e "$rec" ] || continue
      "$LIBDIR/cellsh-helper" stop "$(basename "$rec" .state)" || warn "could not stop the container of uid $(basename "$rec" .state)"
    done
  fi
  # With no policy, the helper frees the UDP ports this install kept (while
  # the NAT's account, which a container still running would need, exists).
  rm -f "$VARDIR/policy.compiled"
  if [ -x "$LIBDIR/cellsh-helper" ]; then "$LIBDIR/cellsh-helper" ports || warn "could not free the published UDP ports"; fi
  local kind path rest manifest
  manifest=$(cat "$MANIFEST")
  # Users first (their shell is about to vanish), then files, then folders deepest first.
  while read -r kind path rest; do
    case "$kind" in
      user) userdel --remove "$path" 2>/dev/null || warn "could not remove user $path" ;;
      natuser) nft delete table inet cellsh 2>/dev/null || true
               userdel "$path" 2>/dev/null || warn "could not remove user $path" ;;
    esac
  done <<< "$manifest"
  while read -r kind path rest; do
    case "$kind" in
      unit) if [ -z "$ROOT" ]; then
              systemctl disable --quiet "$(basename "$path")" 2>/dev/null || true
              if [ -d /run/systemd/system ]; then systemctl stop "$(basename "$path")" || true; fi
            fi
            rm -f "$path" ;;
    esac
  done <<< "$manifest"
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ] && grep -q '^unit ' <<< "$manifest"; then systemctl daemon-reload; fi
  # sshd's PAM lines before the module they name.
  while read -r kind path rest; do
    case "$kind" in
      pam) if [ -f "$path" ]; then
             remove_pam_lines < "$path" > "$path.new" && chmod --reference="$path" "$path.new" && mv -f "$path.new" "$path"
           fi ;;
    esac
  done <<< "$manifest"
  while read -r kind path rest; do
    case "$kind" in
      file|tmpfiles) rm -f "$path" ;;
      tree) rm -rf "$path" ;;
      shells) sed -i "\\|^$path\$|d" /etc/shells ;;
      policy) if [ "$(sha256sum < "$path" 2>/dev/null | cut -d' ' -f1)" = "$rest" ]; then rm -f "$path"; else
                info "keeping $path: it was changed after install"; fi ;;
    esac
  done <<< "$manifest"
  rm -f "$VARDIR/policy.compiled" "$LOGDIR/cellsh.log" "$STATEDIR"/*.lock "$STATEDIR"/*.slots "$STATEDIR"/*.budget \
    "$STATEDIR"/*.limits "$STATEDIR"/*.notice
  for cg in /sys/fs/cgroup/*/"$CGROUP_NAME" /sys/fs/cgroup/"$CGROUP_NAME" /sys/fs/cgroup/"$CGROUP_NAME".slice/"$CGROUP_NAME".service; do
    if [ -d "$cg/helpers" ]; then rmdir "$cg/helpers" 2>/dev/null || true; fi
    if [ -d "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
  done
  # Imported images are the admin's data: kept, unless there are none.
  if [ -d "$VARDIR/images" ]; then
    if [ -n "$(ls -A "$VARDIR/images/images" 2>/dev/null)" ]; then
      info "keeping the image store $VARDIR/images (remove it with rm -rf to free its space)"
    else
      rm -rf "$VARDIR/images"
    fi
  fi
  # So are users' persistent writable layers.
  if [ -d "$VARDIR/upper" ]; then
    if [ -n "$(ls -A "$VARDIR/upper" 2>/dev/null)" ]; then
      info "keeping the users' writable layers in $VARDIR/upper (remove it with rm -rf to free their space)"
    else
      rmdir "$VARDIR/upper"
    fi
  fi
  grep '^dir ' <<< "$manifest" | cut -d' ' -f2- | sort -r | while read -r dir; do rmdir "$dir" 2>/dev/null || true; done
  while read -r kind path rest; do
    case "$kind" in
      group) groupdel "$path" 2>/dev/null || warn "could not remove group $path" ;;
    esac
  done <<< "$manifest"
  if [ -z "$ROOT" ] && grep -q "/sshd_config.d/cellsh.conf$" <<< "$manifest"; then reload_sshd; fi
  info "uninstalled"
}

main() {
  umask 022
  parse_args "$@"
  preflight
  if [ "$MODE" = uninstall ]; then uninstall; return; fi
  install_packages
  check_node
  if [ "$MODE" = packages ]; then return; fi
  build
  stage_modules
  install_files
  systemd_units
  sshd_pam
  sshd_dropin
  logrotate_rule
  write_manifest
  apply_policy
  info "installed: $LAUNCHER, $ADMIN, $LIBDIR"
  if [ "$MODE" = demo ]; then demo; fi
}

main "$@"
