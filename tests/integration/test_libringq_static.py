"""libringq.a (`make lib`): like libringq.so it makes visible only the functions client/ringq.h
declares, so a program can link it next to a library with the same generic names. Issue #12
item 11: the archive exported ~370 internal globals (ev_, buf_, log_, rt_, wk_, pw_); linked with
libev, the program's ev_loop_destroy resolved to our reactor's and aborted."""
import os
import re
import subprocess
import tempfile
import unittest

import ringq_harness as H

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARCHIVE = os.path.join(H.BUILD, "libringq.a")
HEADER = os.path.join(ROOT, "client", "ringq.h")
LIBEV_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libringq_libev.c")
# libringq's own dependencies (packaging/ringq.pc.in, Libs.private), then libev.
LINK_LIBS = ["-luring", "-lxxhash", "-lz", "-lssl", "-lcrypto", "-lm", "-pthread", "-lev"]
BUILD_TIMEOUT_S = 120
RUN_TIMEOUT_S = 60


def declared():
    with open(HEADER) as f:
        return set(re.findall(r"\b(rq_[a-z0-9_]+)\s*\(", f.read()))


def sanitizer_flags():
    """The archive's objects were built with sanitizers (make san): the program needs them too."""
    undef = subprocess.run(["nm", "-u", ARCHIVE], capture_output=True, text=True,
                           check=True).stdout
    flags = []
    if "__asan_" in undef:
        flags.append("-fsanitize=address")
    if "__ubsan_" in undef:
        flags.append("-fsanitize=undefined")
    if "__tsan_" in undef:
        flags.append("-fsanitize=thread")
    return flags


class LibringqStaticTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(ARCHIVE), f"{ARCHIVE} missing: run `make lib`")

    def test_archive_exports_only_the_public_api(self):
        out = subprocess.run(["nm", "-g", "--defined-only", ARCHIVE], capture_output=True,
                             text=True, check=True).stdout
        exported = {f[2] for f in (line.split() for line in out.splitlines()) if len(f) == 3}
        self.assertEqual(sorted(s for s in exported if not s.startswith("rq_")), [])
        self.assertEqual(exported, declared())
        for internal in ("ev_loop_destroy", "ev_timer_start", "buf_append", "log_write",
                         "pw_grpc_client_create", "rq_unary"):
            self.assertNotIn(internal, exported)

    def test_links_and_runs_next_to_libev(self):
        self.assertTrue(os.path.exists("/usr/include/ev.h"),
                        "libev-dev missing: run `make deps` (tools/deps.sh)")
        srv = H.Server("ringqd", threads=1)
        try:
            with tempfile.TemporaryDirectory(prefix="ringq-libev-") as tmp:
                exe = os.path.join(tmp, "libev_link")
                cc = os.environ.get("CC", "cc")
                build = subprocess.run(
                    [cc, "-std=c17", "-Wall", "-Werror", "-g", "-I", ROOT] + sanitizer_flags()
                    + ["-o", exe, LIBEV_SRC, ARCHIVE] + LINK_LIBS,
                    capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
                self.assertEqual(build.returncode, 0, build.stderr)
                run = subprocess.run([exe, srv.addr, "libev-q"], capture_output=True, text=True,
                                     timeout=RUN_TIMEOUT_S)
                self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
                # Every step ran, through to destroying libev's default loop.
                self.assertIn("ok rq_ack", run.stdout)
                self.assertIn("ok ev_loop_destroy (default loop)", run.stdout)
                self.assertNotIn("FAIL", run.stdout)
        finally:
            srv.terminate()
            srv.close()


if __name__ == "__main__":
    unittest.main()
