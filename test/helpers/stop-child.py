# Run as a user: stop (SIGSTOP) the first child of process PARENT that this
# user may signal, as soon as it may, and say which program it was running:
#   python3 stop-child.py PARENT [SECONDS]
# prints "ready" once watching, then "stopped PID COMM" once it is stopped, or
# "none" after SECONDS (default 10). A child whose uid has just become the
# user's is still the parent's program (COMM) until it execs.
import os
import signal
import sys
import time

parent, seconds = int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 10.0


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    for pid in range(last, max(last - 3, 0), -1):
        if parent_of(pid) != parent:
            continue
        while True:
            try:
                os.kill(pid, signal.SIGSTOP)
            except PermissionError:
                continue  # still root's
            except ProcessLookupError:
                break
            # Say what it runs once it is stopped: a stop sent as it enters execve
            # lands after the exec, in the new program.
            while state(pid) not in ("T", "t", None):
                time.sleep(0.001)
            print("stopped", pid, comm(pid), flush=True)
            sys.exit(0)
print("none", flush=True)
