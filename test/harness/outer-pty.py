#!/usr/bin/env python3
"""An outer terminal that never drops bytes: run ARGV on a new pty and copy
everything the master yields to stdout until EIO (every writer gone), then
exit with the program's status. Used where node-pty (the tests' usual outer
terminal) would itself lose the tail at exit (microsoft/node-pty#72)."""
import os
import pty
import sys

pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = sys.stdout.buffer
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the slave side is closed
        break
    if not chunk:
        break
    out.write(chunk)
out.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
