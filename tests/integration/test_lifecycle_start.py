"""Issue 12 items 4, 5 and 12 (ringqd's part): start-up.

Item 4: a start that fails (data directory held by a running ringqd or flock(1), a partition
locked, a bad flag) exits non-zero at once with the real cause, with --threads 2 (the old code
hung there, deaf to SIGTERM, 15 times in 20); /healthz never answers 200 meanwhile.
Item 5: a second ringqd on a port (or any socket holding it, with or without SO_REUSEPORT)
fails with "address in use" instead of joining the first one's SO_REUSEPORT group.
Item 12: --version, and the sd_notify datagrams READY=1 / STOPPING=1 on $NOTIFY_SOCKET."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import ringq_client as C
import ringq_harness as H

RINGQD = os.path.join(H.BUILD, "ringqd")
# A failed start must end well inside this (the old code never ended).
FAIL_WITHIN_S = 5.0
TRIES = 5


def run_fail(test, *args, within=FAIL_WITHIN_S):
    """Runs ringqd expecting a prompt non-zero exit; returns (code, stderr, seconds)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([RINGQD, *args], capture_output=True, text=True, timeout=within)
    except subprocess.TimeoutExpired:
        test.fail(f"ringqd {' '.join(args)} still running after {within}s")
    took = time.monotonic() - t0
    test.assertNotEqual(p.returncode, 0, p.stderr)
    return p.returncode, p.stderr, took


def healthz(port):
    """The /healthz status, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5) as r:
            return r.status
    except Exception:
        return None


class StartFailures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-start-")
        self.data = os.path.join(self.tmp.name, "data")

    def tearDown(self):
        self.tmp.cleanup()

    def test_data_dir_in_use_by_a_running_ringqd(self):
        srv = C.start_ringqd(threads=2, data_dir=self.data)
        try:
            for _ in range(TRIES):
                code, err, took = run_fail(self, "--threads", "2", "--port", "0", "--data", self.data)
                self.assertEqual(code, 1)
                self.assertIn(f"ringqd: data directory {self.data} is in use by another ringqd "
                              f"(pid {srv.proc.pid})", err)
                self.assertNotIn("Operation not permitted", err)
            # The running one is untouched.
            self.assertEqual(healthz(srv.port), 200)
        finally:
            code, log = C.stop(srv)
        self.assertEqual(code, 0, log)

    def test_data_dir_locked_by_flock(self):
        os.makedirs(self.data)
        holder = subprocess.Popen(["flock", "--exclusive", self.data, "sleep", "30"])
        try:
            # flock(1) holds the lock once its child runs; poll until a non-blocking try fails.
            C.poll(lambda: subprocess.run(["flock", "-n", self.data, "true"]).returncode != 0, 5,
                   "flock(1) holding the directory")
            for _ in range(TRIES):
                code, err, _ = run_fail(self, "--threads", "2", "--port", "0", "--data", self.data)
                self.assertIn(f"data directory {self.data} is in use", err)
        finally:
            holder.kill()
            holder.wait()

    def test_partition_locked_stops_every_shard(self):
        """A shard that cannot open its partition: the whole process exits 1 at once with the
        cause, the other shard does not serve, and /healthz never says 200."""
        srv = C.start_ringqd(threads=2, data_dir=self.data)
        C.stop(srv)
        part = os.path.join(self.data, "p003")  # owned by shard 1 of 2
        holder = subprocess.Popen(["flock", "--exclusive", part, "sleep", "30"])
        try:
            C.poll(lambda: subprocess.run(["flock", "-n", part, "true"]).returncode != 0, 5,
                   "flock(1) holding the partition")
            for _ in range(TRIES):
                port_file = os.path.join(self.tmp.name, "port")
                p = subprocess.Popen([RINGQD, "--threads", "2", "--port", "0", "--data", self.data,
                                      "--port-file", port_file], stderr=subprocess.PIPE, text=True)
                try:
                    code = p.wait(timeout=FAIL_WITHIN_S)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    self.fail("ringqd hung after a shard failed to start")
                err = p.stderr.read()
                p.stderr.close()
                self.assertEqual(code, 1, err)
                self.assertIn("cannot open partition", err)
                self.assertIn("p003", err)
                self.assertNotIn("Operation not permitted", err)
                self.assertNotIn('msg="listening"', err)
                self.assertFalse(os.path.exists(port_file))
        finally:
            holder.kill()
            holder.wait()

    def test_healthz_never_200_while_start_fails(self):
        """Probe the port of a start that fails (a partition is locked) the whole time."""
        srv = C.start_ringqd(threads=2, data_dir=self.data)
        C.stop(srv)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        part = os.path.join(self.data, "p002")  # owned by shard 0 of 2
        holder = subprocess.Popen(["flock", "--exclusive", part, "sleep", "30"])
        try:
            C.poll(lambda: subprocess.run(["flock", "-n", part, "true"]).returncode != 0, 5,
                   "flock(1) holding the partition")
            seen = []
            p = subprocess.Popen([RINGQD, "--threads", "2", "--port", str(port), "--data",
                                  self.data], stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + FAIL_WITHIN_S
                while p.poll() is None and time.monotonic() < deadline:
                    seen.append(healthz(port))
                self.assertIsNotNone(p.poll(), "ringqd still running")
                self.assertEqual(p.returncode, 1)
            finally:
                p.kill()
                p.wait()
            self.assertNotIn(200, seen)
        finally:
            holder.kill()
            holder.wait()

    def test_bad_flags_exit_2_with_the_range(self):
        cases = [
            (["--segment-bytes", "65536"], "--segment-bytes must be between 4198400 and 1073741824"),
            (["--segment-bytes", "4198401"], "and a multiple of 4096"),
            (["--segment-bytes", "2147483648"], "--segment-bytes must be between"),
            (["--port", "70000"], "--port must be between 0 and 65535"),
            (["--threads", "0"], "--threads must be between 1 and 64"),
            (["--partitions", "5000"], "--partitions must be between 1 and 1024"),
            (["--spin-us", "x"], "--spin-us must be between 0 and 1000"),
            (["--fsync", "sometimes"], "--fsync must be always, never or interval:MS"),
            (["--host", "not-an-address"], "--host must be an IPv4 or IPv6 address"),
            (["--bogus", "1"], "unknown flag --bogus"),
            (["--bogus"], "unknown flag --bogus"),
            (["--port"], "--port needs a value"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                code, err, _ = run_fail(self, "--threads", "2", "--port", "0", "--data", self.data, *args)
                self.assertEqual(code, 2, err)
                self.assertIn(msg, err)
                self.assertIn("ringqd: ", err)
        self.assertFalse(os.path.exists(self.data), "a bad flag must stop before anything starts")

    def test_smallest_segment_bytes_starts(self):
        """The lower bound --help and the error give is one the log accepts."""
        srv = H.Server("ringqd", "--segment-bytes", "4198400", threads=2, data_dir=self.data)
        try:
            self.assertEqual(healthz(srv.port), 200)
        finally:
            code, log = C.stop(srv)
        self.assertEqual(code, 0, log)

    def test_help_shows_ranges_and_version(self):
        p = subprocess.run([RINGQD, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertIn("from 4198400 to 1073741824", p.stdout)
        self.assertIn("1..64", p.stdout)
        self.assertIn("0..65535", p.stdout)
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "core", "rt_version.h")) as f:
            version = re.search(r'#define RT_VERSION "([^"]+)"', f.read()).group(1)
        for prog in ("ringqd", "ringq-interop-server"):
            p = subprocess.run([os.path.join(H.BUILD, prog), "--version"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, rf"^{re.escape(prog)} {re.escape(version)} \([^)]+\)\n$")


class SigtermAtStart(unittest.TestCase):
    def test_sigterm_right_after_listening(self):
        """SIGTERM as soon as the port is announced: a shard that was told to drain before
        its loop ran used to lose that stop and never exit."""
        for i in range(10):
            srv = H.Server("ringqd", threads=2)
            try:
                srv.proc.send_signal(signal.SIGTERM)
                try:
                    code = srv.proc.wait(timeout=FAIL_WITHIN_S)
                except subprocess.TimeoutExpired:
                    self.fail(f"try {i}: ringqd did not exit after SIGTERM")
                self.assertEqual(code, 0, "".join(srv.lines[-10:]))
            finally:
                srv.close()


class PortInUse(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-port-")

    def tearDown(self):
        self.tmp.cleanup()

    def test_second_ringqd_on_the_port(self):
        srv = C.start_ringqd(threads=2)
        try:
            for threads in ("1", "2"):
                code, err, took = run_fail(self, "--threads", threads, "--port", str(srv.port),
                                           "--data", os.path.join(self.tmp.name, "other"))
                self.assertEqual(code, 1)
                self.assertIn(f"cannot listen on 127.0.0.1:{srv.port}: address in use", err)
                self.assertLess(took, 1.0, "a live ringqd holds the lock: no need to wait")
            # Every connection still reaches the first server's data.
            c = C.Client(srv.channel())
            q = C.qname("mine")
            c.put(q, "a")
            for _ in range(10):
                self.assertEqual(C.Client(srv.channel()).GetQueue(name=q).ready, 1)
        finally:
            code, log = C.stop(srv)
        self.assertEqual(code, 0, log)

    def held_by_python(self, reuseport):
        with socket.socket() as s:
            if reuseport:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            code, err, _ = run_fail(self, "--threads", "2", "--port", str(port), "--data",
                                    os.path.join(self.tmp.name, "d"))
            self.assertEqual(code, 1)
            self.assertIn(f"cannot listen on 127.0.0.1:{port}: address in use", err)
            # Nothing of ours joined the port: a connection reaches the python socket.
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                conn, _ = s.accept()
                conn.close()

    def test_port_held_by_a_plain_socket(self):
        self.held_by_python(False)

    def test_port_held_by_a_reuseport_socket(self):
        self.held_by_python(True)

    def test_port_zero_still_works(self):
        srv = C.start_ringqd(threads=2)
        try:
            self.assertEqual(healthz(srv.port), 200)
        finally:
            code, log = C.stop(srv)
        self.assertEqual(code, 0, log)


class SdNotify(unittest.TestCase):
    def notify_run(self, abstract):
        tmp = tempfile.TemporaryDirectory(prefix="ringq-notify-")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"ringq-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            sock.bind("\0" + name)
            env_val = "@" + name
        else:
            env_val = os.path.join(tmp.name, "notify.sock")
            sock.bind(env_val)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=env_val)
        srv = H.Server("ringqd", threads=2, env=env)
        try:
            msg = sock.recv(4096).decode()
            self.assertIn("READY=1", msg.split("\n"))
            self.assertEqual(healthz(srv.port), 200)  # READY only once serving
            srv.proc.send_signal(signal.SIGTERM)
            msg = sock.recv(4096).decode()
            self.assertIn("STOPPING=1", msg.split("\n"))
            self.assertEqual(srv.proc.wait(timeout=10), 0)
        finally:
            srv.close()
            sock.close()
            tmp.cleanup()

    def test_ready_and_stopping_on_a_path_socket(self):
        self.notify_run(False)

    def test_ready_and_stopping_on_an_abstract_socket(self):
        self.notify_run(True)


if __name__ == "__main__":
    unittest.main()
