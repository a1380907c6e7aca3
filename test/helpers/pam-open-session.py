# Open a PAM session for a user through a service, the way sshd does, and say
# what came of it: "<pam_open_session's return> <this process's network namespace>".
#
#   python3 pam-open-session.py SERVICE USER
import ctypes
import os
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


conv = Conv(CONV(no_conversation), None)
handle = ctypes.c_void_p()
service, user = sys.argv[1], sys.argv[2]
r = pam.pam_start(service.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(handle))
if r == 0:
    r = pam.pam_open_session(handle, 0)
print(r, os.readlink("/proc/self/ns/net"))
