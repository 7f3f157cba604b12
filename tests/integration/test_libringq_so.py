"""libringq.so (`make lib`, a prerequisite of `make test`): it exports exactly the functions
client/ringq.h declares — no symbol of the modules it is built from leaks — and it works when
loaded on its own (ctypes) against a real ringqd."""
import ctypes
import os
import re
import subprocess
import unittest

import ringq_harness as H

SO = os.path.join(H.BUILD, "libringq.so")
HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "client", "ringq.h")


class Opts(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_char_p), ("timeout_ms", ctypes.c_uint32),
                ("connect_timeout_ms", ctypes.c_uint32), ("loop", ctypes.c_void_p),
                ("gzip_min_bytes", ctypes.c_uint32), ("fail_fast", ctypes.c_bool),
                # TLS (all off: NULL/false, and no RINGQ_TLS* in the test's environment)
                ("tls", ctypes.c_bool), ("tls_ca", ctypes.c_char_p),
                ("tls_cert", ctypes.c_char_p), ("tls_key", ctypes.c_char_p),
                ("tls_server_name", ctypes.c_char_p),
                # bearer token (NULL, and no RINGQ_TOKEN in the test's environment)
                ("token", ctypes.c_char_p)]


class Status(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 256)]


class LibringqSoTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(SO), f"{SO} missing: run `make BUILD=... lib`")

    def test_exports_only_the_public_api(self):
        out = subprocess.run(["nm", "-D", "--defined-only", SO], capture_output=True, text=True,
                             check=True).stdout
        exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
        with open(HEADER) as f:
            declared = set(re.findall(r"\b(rq_[a-z0-9_]+)\s*\(", f.read()))
        self.assertEqual(sorted(s for s in exported if not s.startswith("rq_")), [])
        self.assertEqual(exported, declared)
        for internal in ("rq_unary", "rq_conn_get", "pw_grpc_client_create", "ev_loop_create",
                         "buf_append"):
            self.assertNotIn(internal, exported)

    def test_loaded_alone_against_ringqd(self):
        undefined = subprocess.run(["nm", "-D", "--undefined-only", SO], capture_output=True,
                                   text=True, check=True).stdout
        if "__asan_" in undefined or "__tsan_" in undefined:
            self.skipTest("sanitizer build: its runtime cannot be loaded into this Python")
        lib = ctypes.CDLL(SO)
        lib.rq_status_name.restype = ctypes.c_char_p
        self.assertEqual(lib.rq_status_name(5), b"NOT_FOUND")
        srv = H.Server("ringqd", threads=1)
        try:
            lib.rq_client_create.restype = ctypes.c_void_p
            lib.rq_client_create.argtypes = [ctypes.POINTER(Opts), ctypes.POINTER(Status)]
            lib.rq_client_destroy.argtypes = [ctypes.c_void_p]
            lib.rq_purge_queue.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                           ctypes.POINTER(Status)]
            st = Status()
            opts = Opts(addr=srv.addr.encode(), timeout_ms=10000)
            c = lib.rq_client_create(ctypes.byref(opts), ctypes.byref(st))
            self.assertTrue(c, st.message)
            rc = lib.rq_purge_queue(c, b"so-queue", None, ctypes.byref(st))
            self.assertIn(rc, (0, 5), st.message)  # the server's answer, not a connect error
            lib.rq_client_destroy(c)
        finally:
            srv.terminate()
            srv.close()


if __name__ == "__main__":
    unittest.main()
