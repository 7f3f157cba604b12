"""The golden bytes of tests/unit/test_pw_msg.c are python3-protobuf's: the committed
test_pw_msg_golden.h is exactly what tests/unit/pw_msg_golden.py writes with this machine's
protobuf runtime (so the C test compares against a codec we did not write, not against itself)."""
import os
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("RINGQ_BUILD", os.path.join(ROOT, "build")))


class PwMsgGoldenTest(unittest.TestCase):
    def test_committed_golden_is_python_protobufs_output(self):
        env = dict(os.environ, RINGQ_BUILD=BUILD)
        out = subprocess.run([sys.executable, os.path.join(ROOT, "tests/unit/pw_msg_golden.py")],
                             env=env, check=True, capture_output=True, text=True, timeout=60).stdout
        with open(os.path.join(ROOT, "tests/unit/test_pw_msg_golden.h"), encoding="utf-8") as f:
            committed = f.read()
        self.assertIn("GOLDEN_ALL_KINDS", out)
        self.assertEqual(out, committed,
                         "regenerate: /usr/bin/python3 tests/unit/pw_msg_golden.py > "
                         "tests/unit/test_pw_msg_golden.h")


if __name__ == "__main__":
    unittest.main()
