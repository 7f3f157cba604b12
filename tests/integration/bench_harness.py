"""What the ringq-bench peer tests share (test_bench_peers.py, test_bench_jetstream.py): finding
a peer server's binary, starting it and waiting for the log line that says it is listening,
running build/ringq-bench and checking its result JSON."""
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

from ringq_harness import BUILD

BENCH = os.path.join(BUILD, "ringq-bench")
START_TIMEOUT_S = 20.0
RUN_TIMEOUT_S = 60.0


def find_program(name):
    """The path of a Debian-packaged server (PATH, else /usr/bin or /usr/sbin), or None."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.path.exists(p)), None)


class LogServer:
    """A server process whose log lines (its stderr, or stdout and stderr together with
    log="stdout") are collected; `ready(line)` returns the address once the lines show the
    server listening, else None. Raises RuntimeError (with the log) when the server exits first
    or START_TIMEOUT_S passes."""

    def __init__(self, name, argv, ready, log="stdout"):
        self.name = name
        self.lines = []
        self._q = queue.Queue()
        if log == "stdout":
            out, err = subprocess.PIPE, subprocess.STDOUT
        else:
            out, err = subprocess.DEVNULL, subprocess.PIPE
        self.proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        self._log = self.proc.stdout if log == "stdout" else self.proc.stderr
        threading.Thread(target=self._read, daemon=True).start()
        self.addr = self._wait(ready)

    def _read(self):
        for line in self._log:
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def _wait(self, ready):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.lines))
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                raise RuntimeError(f"{self.name} exited:\n" + "".join(self.lines))
            addr = ready(line)
            if addr:
                return addr

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_bench(*args):
    """Runs ringq-bench; returns (exit code, result dict or None, stderr)."""
    with tempfile.TemporaryDirectory(prefix="ringq-it-rb-") as d:
        out = os.path.join(d, "result.json")
        p = subprocess.run([BENCH, *args, "--quiet", "--json", out], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S)
        res = None
        if os.path.exists(out) and os.path.getsize(out) > 0:
            with open(out) as f:
                res = json.load(f)
        return p.returncode, res, p.stderr


def error_text(res, err):
    """Everything a failed run said: the JSON's error and stderr."""
    return (res or {}).get("error", "") + err


class BenchChecks:
    """Assertions on ringq-bench results, mixed into a unittest.TestCase."""

    def check_run(self, rc, res, err, backlog_end=0, what="queue"):
        """A run that passed without errors and left `backlog_end` tasks (None: every enqueued
        one) in the `what`; returns the result."""
        self.assertIsNotNone(res, f"no result JSON; exit {rc}; stderr:\n{err}")
        self.assertEqual(rc, 0, f"{res.get('error')}\n{err}")
        self.assertTrue(res["passed"], res.get("error"))
        self.assertEqual(res["errors"], 0)
        expect = res["enqueued"] if backlog_end is None else backlog_end
        self.assertEqual(res["backlog_end"], expect, f"{what} backlog after the run")
        return res

    def check_e2e(self, res):
        """Every task received once, none foreign, all acked."""
        self.assertGreater(res["tasks"], 0)
        self.assertEqual(res["duplicates"], 0)
        self.assertEqual(res["foreign"], 0)
        self.assertEqual(res["received"], res["stamped"])
        self.assertEqual(res["acked"], res["received"])
