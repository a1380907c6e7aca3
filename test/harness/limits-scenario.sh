#!/usr/bin/env bash
# The resource-limit scenario, run as root against an installed cellsh, the same
# on this host's cgroup v1 and in the cgroup v2 VM (cgroup2-vm.sh): it applies a
# policy with limits for user A (and a roomy one for B), runs the helper as the
# users the way a login does, tries what a user would try against their limits,
# and prints what happened as "result KEY VALUE" lines for the test to judge.
#
#   limits-scenario.sh USER_A USER_B
#
# Environment: CELLSH_HELPER, CELLSH_ADMIN, CELLSH_POLICY (the policy.yaml
# apply reads), CELLSH_LOG, CELLSH_STATE_DIR, CELLSH_CGROUP_NAME, CELLSH_NODE
# (the node that runs this checkout's built dist/test/harness/scenario-policy.js,
# which writes the policies).
set -uo pipefail

A=$1 B=$2
REPO=$(cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")/../.." && pwd)
WORK=$(mktemp -d /tmp/cellsh-scenario.XXXXXX)
chmod 0755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

result() { printf 'result %s %s\n' "$1" "$(printf '%s' "${*:2}" | tr '\n' '|')"; }

# Run CMD in USER's container through the helper, as a login does (no terminal).
# Sets OUT, ERR and STATUS.
run_as() {
  local user=$1 cmd=$2
  setpriv --reuid "$user" --regid "$(id -g "$user")" --init-groups --reset-env -- \
    "$CELLSH_HELPER" run "$cmd" < /dev/null > "$WORK/out" 2> "$WORK/err"
  STATUS=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}

# The same user on the host, outside any container.
host_as() {
  local user=$1; shift
  setpriv --reuid "$user" --regid "$(id -g "$user")" --init-groups --reset-env -- "$@"
}

# ---- where the cgroups are --------------------------------------------------
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
  V=v2
  if [ -d /run/systemd/system ]; then BASE=/sys/fs/cgroup/$CELLSH_CGROUP_NAME.slice/$CELLSH_CGROUP_NAME.service
  else BASE=/sys/fs/cgroup/$CELLSH_CGROUP_NAME; fi
else
  V=v1
fi
leaf() { # leaf CONTROLLER USER
  if [ "$V" = v2 ]; then echo "$BASE/u$(id -u "$2")"; else echo "/sys/fs/cgroup/$1/$CELLSH_CGROUP_NAME/u$(id -u "$2")"; fi
}
result hierarchy "$V" "${BASE:-}"

# Report A's limit files as PREFIX<file> results; on v2, also the extra files named.
limit_files() {
  local prefix=$1; shift
  if [ "$V" = v2 ]; then
    for f in memory.max memory.high "$@" pids.max cpu.max io.max; do result "$prefix$f" "$(cat "$(leaf x "$A")/$f")"; done
  else
    for cf in memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us \
              blkio/blkio.throttle.write_bps_device; do
      result "$prefix${cf#*/}" "$(cat "$(leaf "${cf%%/*}" "$A")/${cf#*/}")"
    done
  fi
}

# ---- the policy ---------------------------------------------------------------
# The block device under A's home, for a bandwidth limit. findmnt names a bind
# mount's or a btrfs subvolume's source "/dev/vda[/the/folder]": the device is
# the part before "[". None when that is no block device here (tmpfs, overlay,
# or a container's /dev, which lacks the host's disks).
HOME_A=$(getent passwd "$A" | cut -d: -f6)
DEV=$(findmnt -no SOURCE -T "$HOME_A")
DEV=${DEV%%"["*}
[ -b "$DEV" ] || DEV=""
result io_device "${DEV:-none}"
"${CELLSH_NODE:-node}" "$REPO/dist/test/harness/scenario-policy.js" "$WORK" "$A" "$B" ${DEV:+"$DEV"} > "$WORK/policy" 2>&1
result policy $? "$(cat "$WORK/policy")"
cp "$WORK/limits.yaml" "$CELLSH_POLICY"
"$CELLSH_ADMIN" apply > "$WORK/apply" 2>&1
result apply $? "$(cat "$WORK/apply")"

# ---- the first process already runs limited ------------------------------------
# shellcheck disable=SC2016 # expanded by the shell inside the container, not here
run_as "$A" 'cat /proc/self/cgroup; echo "nofile $(ulimit -Sn) $(ulimit -Hn) nproc $(ulimit -Su) $(ulimit -Hu) core $(ulimit -Sc) $(ulimit -Hc)"'
result first "$STATUS" "$OUT" "$ERR"
INIT=$(awk '$1 == "init_pid" {print $2}' "$CELLSH_STATE_DIR/$(id -u "$A").state")
result init_cgroup "$(cat "/proc/$INIT/cgroup")"
limit_files file_ memory.swap.max
[ "$V" = v2 ] && result subtree_control "$(cat "$BASE/cgroup.subtree_control")"
result nodes_owner "$(stat -c '%U %a' "$(leaf pids "$A")" "$(leaf pids "$A")/pids.max" "$(leaf pids "$A")/cgroup.procs")"

# ---- a fork bomb stops at the pids limit ------------------------------------------
FORKER='import os, sys, time
kids, err = [], 0
try:
    for i in range(500):
        pid = os.fork()
        if pid == 0:
            time.sleep(20)
            os._exit(0)
        kids.append(pid)
except OSError as e:
    err = e.errno
print(len(kids), err)
for k in kids: os.kill(k, 9)'
run_as "$A" "python3 -c '$FORKER'"
result forkbomb "$STATUS" "$OUT"
result forkbomb_err "$ERR"
# Told while the session goes on, not only when it ends: the line comes first.
setpriv --reuid "$A" --regid "$(id -g "$A")" --init-groups --reset-env -- \
  "$CELLSH_HELPER" run "python3 -c '$FORKER' >/dev/null; sleep 3; echo after" < /dev/null > "$WORK/live" 2>&1
result live_notice "$(cat "$WORK/live")"

# ---- a memory hog is killed inside only ---------------------------------------------
HOG="python3 -c 'b = [bytearray(8 << 20) for _ in range(64)]; print(\"survived\")'"
run_as "$A" "$HOG"
result hog "$STATUS" "$OUT"
result hog_err "$ERR"
run_as "$A" 'cat /proc/1/comm'
result after_hog "$STATUS" "$OUT"
run_as "$B" "$HOG"
result hog_other "$STATUS" "$OUT"

# ---- a cpu-bound loop gets its share and no more ----------------------------------------
BURN='import os, time
def spin(t):
    end = time.time() + t
    while time.time() < end: pass
kids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        spin(3); os._exit(0)
    kids.append(pid)
for k in kids: os.waitpid(k, 0)
t = os.times()
print(round(t.children_user + t.children_system, 2))'
run_as "$A" "python3 -c '$BURN'"
result cpu "$STATUS" "$OUT"
run_as "$B" "python3 -c '$BURN'"
result cpu_other "$STATUS" "$OUT"

# ---- disk writes are held to the bandwidth limit -------------------------------------------
if [ -n "$DEV" ]; then
  # shellcheck disable=SC2016 # expanded by the shell inside the container, not here
  run_as "$A" 's=$(date +%s.%N); dd if=/dev/zero of=$HOME/io-test bs=1M count=8 oflag=direct 2>/dev/null; echo "$? $(awk "BEGIN {print $(date +%s.%N) - $s}")"'
  result io "$STATUS" "$OUT"
  s=$(date +%s.%N)
  dd if=/dev/zero of="$HOME_A/io-control" bs=1M count=8 oflag=direct 2>/dev/null
  result io_control "$? $(awk "BEGIN {print $(date +%s.%N) - $s}")"
  rm -f "$HOME_A/io-test" "$HOME_A/io-control"
fi

# ---- the user can't raise, leave or remount their limits -----------------------------------
# shellcheck disable=SC2016 # expanded by the shell inside the container, not here
run_as "$A" 'for f in /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/cgroup.procs; do
  (echo max > $f) 2>/dev/null && echo "wrote $f"; done
mkdir -p /tmp/cg; mount -t cgroup2 none /tmp/cg 2>/dev/null && echo "mounted cgroup2"
mount -t cgroup -o memory none /tmp/cg 2>/dev/null && echo "mounted cgroup v1"
echo "cgroup mounts $(grep -c " - cgroup" /proc/self/mountinfo)"
echo done'
result inside_escape "$STATUS" "$OUT"
PIDS_LEAF=$(leaf pids "$A")
host_as "$A" bash -c "
  (echo max > $PIDS_LEAF/pids.max) 2>/dev/null && echo 'raised pids.max'
  (echo 0 > $PIDS_LEAF/cgroup.procs) 2>/dev/null && echo 'moved into its own leaf'
  (echo 0 > $(dirname "$PIDS_LEAF")/cgroup.procs) 2>/dev/null && echo 'moved to the parent'
  (echo 0 > $(dirname "$(dirname "$PIDS_LEAF")")/cgroup.procs) 2>/dev/null && echo 'moved to the root'
  mkdir $PIDS_LEAF/sub 2>/dev/null && echo 'made a sub-cgroup'
  echo done" > "$WORK/host" 2>&1
result host_escape "$(cat "$WORK/host")"

# ---- told in plain words, and logged ----------------------------------------------------------
result log_oom "$(grep -c "\"event\":\"oom\".*\"user\":\"$A\"\|\"user\":\"$A\".*\"event\":\"oom\"" "$CELLSH_LOG")"
result log_pids "$(grep -c "\"event\":\"pids-limit\".*\"user\":\"$A\"\|\"user\":\"$A\".*\"event\":\"pids-limit\"" "$CELLSH_LOG")"

# ---- what ps shows while something runs -------------------------------------------------------
setpriv --reuid "$A" --regid "$(id -g "$A")" --init-groups --reset-env -- \
  "$CELLSH_HELPER" run 'python3 -c "b = bytearray(24 << 20); import time; time.sleep(60)"' < /dev/null > /dev/null 2>&1 &
SLEEPER=$!
for _ in $(seq 1 100); do
  [ "$(cat "$(leaf memory "$A")/memory.current" "$(leaf memory "$A")/memory.usage_in_bytes" 2>/dev/null | head -1)" -gt 20000000 ] && break
  sleep 0.2
done
"$CELLSH_ADMIN" ps --json > "$WORK/ps" 2>&1
result ps $? "$(tr -d ' \n' < "$WORK/ps")"
kill "$SLEEPER" 2>/dev/null; wait "$SLEEPER" 2>/dev/null

# ---- doctor on this hierarchy -----------------------------------------------------------------
"$CELLSH_ADMIN" doctor --json > "$WORK/doctor" 2>&1
result doctor $? "$(tr -d '\n' < "$WORK/doctor")"

# ---- a policy change reaches the running container live -----------------------------------------
# A keeps running (a sleeper): memory goes up, pids down, cpu, memory_high and
# the disk limit are dropped; the next login writes them into the same cgroup.
ID_BEFORE=$(awk '$1 == "id" {print $2}' "$CELLSH_STATE_DIR/$(id -u "$A").state")
setpriv --reuid "$A" --regid "$(id -g "$A")" --init-groups --reset-env -- \
  "$CELLSH_HELPER" run 'sleep 30' < /dev/null > /dev/null 2>&1 &
LIVE_SLEEPER=$!
cp "$WORK/live.yaml" "$CELLSH_POLICY"
"$CELLSH_ADMIN" apply > "$WORK/apply" 2>&1
result live_apply $? "$(cat "$WORK/apply")"
run_as "$A" 'echo live'
result live_update "$STATUS" "$OUT" "$ERR"
result live_same "$([ "$(awk '$1 == "id" {print $2}' "$CELLSH_STATE_DIR/$(id -u "$A").state")" = "$ID_BEFORE" ] && echo yes || echo no)"
limit_files live_
kill "$LIVE_SLEEPER" 2>/dev/null; wait "$LIVE_SLEEPER" 2>/dev/null

# ---- a disk weight --------------------------------------------------------------------------
"$CELLSH_HELPER" stop "$(id -u "$B")" > /dev/null 2>&1
cp "$WORK/weight.yaml" "$CELLSH_POLICY"
"$CELLSH_ADMIN" apply > /dev/null 2>&1
run_as "$B" 'echo in'
result io_weight "$STATUS" "$OUT" "$ERR"
# Whether this kernel has disk weights at all (BFQ, or io.cost on v2), seen
# in any cgroup below the root (weights are not on the root), independently of
# what the helper did.
first_file() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; }
if [ "$V" = v2 ]; then weights=$(first_file "$BASE"/*/io.weight "$BASE"/io.weight)
else weights=$(first_file /sys/fs/cgroup/blkio/*/blkio.bfq.weight /sys/fs/cgroup/blkio/*/blkio.weight); fi
result kernel_io_weight "$([ -n "$weights" ] && echo yes || echo no)"
if [ "$V" = v2 ]; then result file_io_weight "$(cat "$(leaf io "$B")/io.weight" 2>&1)"
else result file_io_weight "$(cat "$(leaf blkio "$B")/blkio.bfq.weight" "$(leaf blkio "$B")/blkio.weight" 2>/dev/null)"; fi
for u in "$A" "$B"; do "$CELLSH_HELPER" stop "$(id -u "$u")" > /dev/null 2>&1; done
result end ok
