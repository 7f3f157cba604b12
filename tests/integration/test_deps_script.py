"""tools/deps.sh, the first step of `make run` and `make test` on a fresh machine: with every
package there it does nothing; as root it runs `apt-get update` once and installs only what is
missing; as another user it stops at once (exit 1) printing the one command to run.

dpkg-query, id and apt-get are replaced on PATH by small scripts that report a chosen package as
missing and record what apt-get was asked, so the test changes nothing on the machine."""
import os
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPS = os.path.join(ROOT, "tools", "deps.sh")


def write_exe(path, text):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class DepsScriptTest(unittest.TestCase):
    def run_deps(self, missing, uid, *args):
        with tempfile.TemporaryDirectory(prefix="ringq-deps-") as d:
            log = os.path.join(d, "apt.log")
            missing_re = "|".join(missing) or "^$"
            write_exe(os.path.join(d, "dpkg-query"),
                      f'pkg=$(eval echo \\${{$#}})\n'
                      f'echo "$pkg" | grep -Eqx "{missing_re}" && exit 1\n'
                      'echo "install ok installed"\n')
            write_exe(os.path.join(d, "id"), f'echo {uid}\n')
            write_exe(os.path.join(d, "apt-get"), f'echo "$*" >> {log}\n')
            env = dict(os.environ, PATH=d + ":" + os.environ["PATH"])
            r = subprocess.run(["bash", DEPS, *args], env=env, capture_output=True, text=True,
                               timeout=60)
            calls = open(log).read().splitlines() if os.path.exists(log) else []
            return r, calls

    def test_nothing_missing_does_nothing(self):
        r, calls = self.run_deps([], 0)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("all installed", r.stdout)
        self.assertEqual(calls, [])

    def test_root_updates_once_and_installs_only_the_missing(self):
        r, calls = self.run_deps(["curl", "check"], 0)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(calls), 2, calls)
        self.assertIn("update", calls[0].split())
        words = calls[1].split()
        self.assertIn("install", words)
        self.assertEqual(sorted(w for w in words if not w.startswith("-") and w != "install"),
                         ["check", "curl"])

    def test_non_root_stops_at_once_with_the_one_line(self):
        r, calls = self.run_deps(["liburing-dev"], 1000)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(calls, [])
        lines = [l for l in r.stderr.splitlines() if "apt-get install" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("apt-get update", lines[0])
        self.assertTrue(lines[0].rstrip("'").endswith("liburing-dev"), lines[0])

    def test_list_gives_a_reason_for_every_package(self):
        r, _ = self.run_deps([], 0, "--list")
        self.assertEqual(r.returncode, 0)
        rows = [l.split(None, 1) for l in r.stdout.splitlines() if l.strip()]
        self.assertGreater(len(rows), 10)
        for row in rows:
            self.assertEqual(len(row), 2, row)
            self.assertGreater(len(row[1]), 5, row)


if __name__ == "__main__":
    unittest.main()
