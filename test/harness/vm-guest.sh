# The guest's first process after switch_root (appended to boot.sh by
# cgroup2-vm.sh, which sets "$@" to the script and its arguments).
# shellcheck shell=bash
hostname cellsh-vm
modprobe virtio_blk 2>/dev/null || true
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts 2>/dev/null || true
finish() {
  echo "cellsh-vm: end $1"
  sync
  echo o > /proc/sysrq-trigger
  sleep 10
}
if [ "$CELLSH_VM_SYSTEMD" = yes ]; then
  # systemd as PID 1, into a target that starts only what the script needs.
  { printf 'bash'; printf ' %q' "$@"; } > /etc/cellsh-vm-command
  cat > /etc/systemd/system/cellsh-vm.target <<'UNIT'
[Unit]
Description=cellsh VM test
Requires=cellsh-vm.service
AllowIsolate=yes
UNIT
  cat > /etc/systemd/system/cellsh-vm.service <<'UNIT'
[Unit]
Description=cellsh VM test script
DefaultDependencies=no
[Service]
Type=oneshot
Environment=CELLSH_VM=1 CELLSH_VM_SYSTEMD=yes
ExecStart=/bin/bash -c 'printf "\\ncellsh-vm: begin\\n"; eval "$(cat /etc/cellsh-vm-command)"; s=$?; echo "cellsh-vm: end $s"; sync; echo o > /proc/sysrq-trigger'
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
UNIT
  exec /lib/systemd/systemd --unit=cellsh-vm.target --log-level=warning --show-status=false
fi
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
printf "\ncellsh-vm: begin\n"
bash "$@"
finish $?
