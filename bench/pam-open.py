# Times pam_open_session as sshd calls it: python3 pam-open.py SERVICE USER N
# prints a JSON list of N times in ms, each in a fresh child of this process
# (sshd opens each connection's session in a process of its own), after the
# user was looked up here first, as sshd's authentication and Match Group have.
import ctypes
import json
import os
import pwd
import sys
import time

pam = ctypes.CDLL("libpam.so.0")


class Conv(ctypes.Structure):
    _fields_ = [("conv", ctypes.c_void_p), ("appdata_ptr", ctypes.c_void_p)]


service, user, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
account = pwd.getpwnam(user)
os.getgrouplist(user, account.pw_gid)
conv = Conv(None, None)  # a session module has nobody to ask
times = []
for _ in range(n):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        handle = ctypes.c_void_p()
        code = pam.pam_start(service.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(handle))
        start = time.perf_counter()
        code = code or pam.pam_open_session(handle, 0)
        took = (time.perf_counter() - start) * 1000
        os.write(w, json.dumps([code, took]).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        code, took = json.loads(f.read())
    os.waitpid(pid, 0)
    if code != 0:
        sys.exit(f"pam_open_session through {service} returned {code}")
    times.append(took)
print(json.dumps(times))
