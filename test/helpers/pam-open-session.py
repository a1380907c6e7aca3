# Open a PAM session for a user through a service, the way sshd does, and say
# what came of it, as one JSON line: pam_open_session's return, this process's
# network namespace, and what of the process a module must leave as it was
# (whether it is dumpable, its blocked signals, a handler of its own), before
# and after.
#
#   python3 pam-open-session.py SERVICE USER [--wait]
#
# With --wait it reads a line from stdin before it opens the session.
import ctypes
import json
import os
import signal
import sys

pam = ctypes.CDLL("libpam.so.0")


class Message(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class Response(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_char_p), ("resp_retcode", ctypes.c_int)]


CONV = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(Message)),
    ctypes.POINTER(ctypes.POINTER(Response)),
    ctypes.c_void_p,
)


class Conv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]


def no_conversation(n, messages, responses, data):
    return 19  # PAM_CONV_ERR: a session module has nobody to ask


def on_usr1(signum, frame):
    pass


PR_GET_DUMPABLE = 3
libc = ctypes.CDLL(None, use_errno=True)


def process_state():
    return {
        "dumpable": libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "usr1": signal.getsignal(signal.SIGUSR1) is on_usr1,
    }


signal.signal(signal.SIGUSR1, on_usr1)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
before = process_state()
conv = Conv(CONV(no_conversation), None)
handle = ctypes.c_void_p()
service, user = sys.argv[1], sys.argv[2]
r = pam.pam_start(service.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(handle))
if "--wait" in sys.argv[3:]:
    sys.stdin.readline()
if r == 0:
    r = pam.pam_open_session(handle, 0)
print(json.dumps({"code": r, "netns": os.readlink("/proc/self/ns/net"), "before": before, "after": process_state()}))
