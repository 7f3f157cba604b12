"""The README's first run, as a newcomer types it: `make run PORT=N DATA=DIR` starts ringqd with
every program the quickstart uses already built, the quickstart's shell lines work as written,
and the Python example runs as written with /usr/bin/python3 from the repository root.

The code is taken from README.md itself (its fenced blocks), so the README cannot drift from what
works. The only edits: the address 127.0.0.1:7070 becomes the test's port, `build/` becomes the
build directory under test, and the worker (which runs until Ctrl-C) is stopped with SIGINT once
the queue shows its three tasks acked."""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from ringq_client import poll
from ringq_harness import BUILD, START_TIMEOUT_S

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
SYSTEM_PY = "/usr/bin/python3"


def readme_blocks(lang):
    """The fenced code blocks of README.md in `lang`, in order."""
    with open(README) as f:
        text = f.read()
    return re.findall(r"^```" + lang + r"\n(.*?)^```", text, flags=re.S | re.M)


def stats_of(text):
    """`ringq --json stats Q` prints the queue's object (in a list of one)."""
    v = json.loads(text)
    return v[0] if isinstance(v, list) else v


def shell_lines(block):
    """A shell block's commands, without comments and blank lines."""
    out = []
    for line in block.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


class ReadmeQuickstartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ringq-readme-")
        self.data = os.path.join(self.tmp, "data")
        self.build_rel = os.path.relpath(BUILD, ROOT)
        # make run, exactly as the README says, with the documented PORT and DATA overrides.
        self.lines = []
        self.q = queue.Queue()
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", "PORT=0", f"DATA={self.data}",
             f"BUILD={self.build_rel}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_listening()
        self.addr = f"127.0.0.1:{self.port}"

    def tearDown(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            self.q.put(line)
        self.q.put(None)

    def _wait_listening(self):
        # make may have to build first: allow for it on top of the server's own start.
        deadline = time.monotonic() + START_TIMEOUT_S + 120
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                self.fail("make run exited:\n" + "".join(self.lines))
            m = re.search(r'msg="listening".* port=(\d+)', line)
            if m:
                return int(m.group(1))
        self.fail("make run did not start listening:\n" + "".join(self.lines))

    def _localize(self, text):
        text = text.replace("127.0.0.1:7070", self.addr)
        return re.sub(r"\bbuild/", self.build_rel + "/", text)

    def _sh(self, cmd, **kw):
        env = dict(os.environ, RINGQ_ADDR=self.addr, NO_COLOR="1")
        return subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=30, **kw)

    def test_make_run_uses_port_and_data_and_builds_the_quickstart(self):
        self.assertTrue(os.path.isdir(self.data), "DATA= was not used")
        self.assertTrue(any(n.startswith("p0") for n in os.listdir(self.data)),
                        os.listdir(self.data))
        for prog in ("ringqd", "ringq", "ringq-worker"):
            self.assertTrue(os.access(os.path.join(BUILD, prog), os.X_OK), prog)
        self.assertTrue(os.path.isdir(os.path.join(BUILD, "gen", "py", "ringq", "v1")))

    def test_quickstart_shell_lines_as_written(self):
        blocks = [b for b in readme_blocks("sh") if "ringq-worker" in b]
        self.assertEqual(len(blocks), 1, "README has one quickstart block with the worker")
        lines = shell_lines(self._localize(blocks[0]))
        self.assertTrue(lines[0].startswith("export RINGQ_ADDR="), lines[0])
        worker_out = None
        for line in lines[1:]:
            if "ringq-worker" in line:
                worker_out = self._run_worker_until_acked(line, "greet", 3)
                continue
            r = self._sh(line)
            self.assertEqual(r.returncode, 0, f"{line}\n{r.stdout}{r.stderr}")
            if "--json stats greet" in line:
                self.assertEqual(stats_of(r.stdout)["acked_total"], 3, r.stdout)
            elif line.endswith("stats") or " stats " in line and "--json" not in line:
                self.assertRegex(r.stdout, r"\bgreet\b")
        self.assertIsNotNone(worker_out)
        for who in ("alice", "bob", "carol"):
            self.assertIn(f"hello {who}", worker_out)

    def _run_worker_until_acked(self, line, queue_name, n):
        env = dict(os.environ, RINGQ_ADDR=self.addr, NO_COLOR="1")
        w = subprocess.Popen(["bash", "-c", "exec " + line], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            def acked():
                r = self._sh(f"{self.build_rel}/ringq --json stats {queue_name}")
                return r.returncode == 0 and stats_of(r.stdout)["acked_total"] == n
            poll(acked, 30, f"{n} tasks acked by the worker", every_s=0.05)
            w.send_signal(signal.SIGINT)  # the README's Ctrl-C: drains and exits
            out, _ = w.communicate(timeout=30)
            self.assertEqual(w.returncode, 0, out)
            return out
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()

    def test_curl_lines_as_written(self):
        if shutil.which("curl") is None:
            self.skipTest("curl not installed")
        blocks = [b for b in readme_blocks("sh") if "curl" in b]
        self.assertTrue(blocks)
        for line in shell_lines(self._localize(blocks[0])):
            r = self._sh(line)
            self.assertEqual(r.returncode, 0, line + r.stderr)
            if "/healthz" in line:
                self.assertEqual(r.stdout.strip(), "ok")
            if "/metrics" in line:
                self.assertIn("# TYPE", r.stdout)

    def test_python_example_as_written(self):
        blocks = readme_blocks("python")
        self.assertEqual(len(blocks), 1)
        code = self._localize(blocks[0])
        r = subprocess.run([SYSTEM_PY, "-"], input=code, cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                       if k != "PYTHONPATH"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout.split("\n")
        task_id = out[0].strip()
        self.assertRegex(task_id, r"^\d+-\d+$")
        self.assertTrue(out[1].startswith(task_id + " b'to=ada@example.com' "), r.stdout)


if __name__ == "__main__":
    unittest.main()
