"""ringq-bench's beanstalkd and Redis drivers (bench/rb_drv_beanstalkd.c, bench/rb_drv_redis.c)
against the real servers, started here on ephemeral ports with the suite's durable settings
(beanstalkd binlog with -f 0, Redis AOF with appendfsync always) and once with the fast ones:
e2e runs about a second and must pass with every task received once and acked and the queue
left empty; enqueue leaves its tasks behind and the drain run's setup must start from an empty
queue again; an oversized job and a server that is not there fail with a clear message; Redis'
rpc scenario is PING, open loop.

Skips when beanstalkd / redis-server (Debian packages of those names) or ringq-bench is missing."""
import os
import socket
import tempfile
import time
import unittest

from bench_harness import (BENCH, START_TIMEOUT_S, BenchChecks, LogServer, error_text,
                           find_program, run_bench)

BEANSTALKD = find_program("beanstalkd")
REDIS = find_program("redis-server")
JOB_MAX = 1 << 20  # beanstalkd -z


class PeerServer(LogServer):
    """A server whose output lines show when it listens (`ready(line)` returns the address),
    and which then answers `probe` (request, expected reply prefix)."""

    def __init__(self, name, argv, ready, probe):
        super().__init__(name, argv, ready)
        self._answers(probe)

    def _answers(self, probe):
        """Listening is not serving yet (beanstalkd binds before it replays its binlog): wait
        until the server answers `probe`."""
        host, port = self.addr.rsplit(":", 1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n" + "".join(self.lines))
            try:
                with socket.create_connection((host, int(port)), timeout=2) as s:
                    s.sendall(probe[0])
                    if s.recv(64).startswith(probe[1]):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"{self.name} does not answer:\n" + "".join(self.lines))
            time.sleep(0.05)  # polling a readiness condition, bounded by the deadline


def start_beanstalkd(data, durable=True):
    """beanstalkd -p 0 binds an ephemeral port and, with -V, logs 'bind FD HOST:PORT'."""
    os.makedirs(data, exist_ok=True)
    argv = [BEANSTALKD, "-l", "127.0.0.1", "-p", "0", "-V", "-z", str(JOB_MAX), "-b", data]
    argv += ["-f", "0"] if durable else ["-F"]

    def ready(line):
        parts = line.split()
        return parts[2] if len(parts) == 3 and parts[0] == "bind" else None
    return PeerServer("beanstalkd", argv, ready, (b"stats\r\n", b"OK "))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(data, durable=True):
    """redis-server cannot pick its own port (--port 0 disables TCP): try free ports until one
    is still free when Redis binds it."""
    os.makedirs(data, exist_ok=True)
    last = None
    for _ in range(5):
        port = free_port()
        argv = [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--dir", data,
                "--appendonly", "yes", "--appendfsync", "always" if durable else "no",
                "--save", "", "--daemonize", "no", "--logfile", ""]
        try:
            return PeerServer("redis-server", argv,
                              lambda line: f"127.0.0.1:{port}"
                              if "Ready to accept connections" in line else None,
                              (b"*1\r\n$4\r\nPING\r\n", b"+PONG"))
        except RuntimeError as e:  # lost the port to someone else: another one
            last = e
    raise last


class PeerBench(BenchChecks):
    """The tests both peers share; subclasses set SYSTEM and start()."""
    SYSTEM = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix=f"ringq-it-{cls.SYSTEM}-")
        cls.server = cls.start(os.path.join(cls.tmp.name, "durable"), True)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.tmp.cleanup()

    def bench(self, scenario, *args, addr=None, backlog_end=0):
        res = self.check_run(*run_bench(scenario, "--system", self.SYSTEM,
                                        "--addr", addr or self.server.addr, *args),
                             backlog_end=backlog_end)
        self.assertRegex(res["system_version"], r"^\d+\.\d+")
        return res

    def test_e2e_durable(self):
        res = self.bench("e2e", "--queue", "it-e2e", "--warmup", "0.2", "--duration", "1",
                         "--batch", "8", "--inflight", "2", "--workers", "2", "--credits", "32")
        self.check_e2e(res)

    def test_e2e_fast_and_binary_payloads(self):
        fast = self.start(os.path.join(self.tmp.name, "fast"), False)
        try:
            res = self.bench("e2e", "--queue", "it-fast", "--warmup", "0.2", "--duration", "1",
                             "--size", "3000", "--conns", "2", "--threads", "2",
                             "--workers", "2", addr=fast.addr)
        finally:
            fast.close()
        self.check_e2e(res)

    def test_enqueue_then_drain(self):
        res = self.bench("enqueue", "--queue", "it-enq", "--batch", "16", "--inflight", "4",
                         "--size", "1000", "--warmup", "0", "--duration", "0.5",
                         backlog_end=None)
        self.assertGreater(res["ops"], 0)
        self.assertEqual(res["tasks"], res["ops"] * 16)
        # the tasks enqueue left behind must be gone before drain preloads
        res = self.bench("drain", "--queue", "it-enq", "--preload", "3000", "--batch", "64",
                         "--workers", "2")
        self.assertEqual(res["preloaded"], 3000)
        self.assertEqual(res["acked"], 3000)

    def test_server_not_there(self):
        port = free_port()
        rc, res, err = run_bench("e2e", "--system", self.SYSTEM, "--addr", f"127.0.0.1:{port}",
                                 "--warmup", "0", "--duration", "0.2")
        self.assertNotEqual(rc, 0)
        text = error_text(res, err)
        self.assertIn(f"127.0.0.1:{port}", text)
        self.assertIn("refused", text.lower())


@unittest.skipUnless(BEANSTALKD, "beanstalkd not installed (apt-get install beanstalkd)")
@unittest.skipUnless(os.path.exists(BENCH), f"{BENCH} not built")
class BeanstalkdBenchTest(PeerBench, unittest.TestCase):
    SYSTEM = "beanstalkd"
    start = staticmethod(start_beanstalkd)

    def test_job_too_big(self):
        rc, res, err = run_bench("enqueue", "--system", "beanstalkd", "--addr", self.server.addr,
                                 "--queue", "it-big", "--size", str(JOB_MAX + 1),
                                 "--warmup", "0", "--duration", "0.2")
        self.assertEqual(rc, 1, err)
        text = error_text(res, err)
        self.assertIn("JOB_TOO_BIG (start beanstalkd with a larger -z)", text)
        self.assertNotIn("unexpected reply", text)


@unittest.skipUnless(REDIS, "redis-server not installed (apt-get install redis-server)")
@unittest.skipUnless(os.path.exists(BENCH), f"{BENCH} not built")
class RedisBenchTest(PeerBench, unittest.TestCase):
    SYSTEM = "redis"
    start = staticmethod(start_redis)

    def test_processing_list_is_empty_after_e2e(self):
        self.bench("e2e", "--queue", "it-rel", "--warmup", "0", "--duration", "0.5")
        host, port = self.server.addr.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            key = b"it-rel:processing"
            s.sendall(b"*2\r\n$4\r\nLLEN\r\n$%d\r\n%s\r\n" % (len(key), key))
            self.assertEqual(s.recv(64), b":0\r\n")

    def test_rpc_is_ping_open_loop(self):
        # The suite's open-floor group: Redis' do-nothing request (PING -> +PONG) at a rate.
        rc, res, err = run_bench("rpc", "--system", "redis", "--addr", self.server.addr,
                                 "--rate", "2000", "--conns", "2", "--inflight", "8",
                                 "--warmup", "0", "--duration", "0.5")
        self.assertIsNotNone(res, f"no result JSON; exit {rc}; stderr:\n{err}")
        self.assertEqual(rc, 0, f"{res.get('error')}\n{err}")
        self.assertTrue(res["passed"], res.get("error"))
        self.assertEqual((res["scenario"], res["errors"], res["config"]["loop"]),
                         ("rpc", 0, "open"))
        self.assertGreater(res["ops"], 500)
        self.assertEqual(res["latency_us"]["count"], res["ops"])
        self.assertGreater(res["latency_us"]["p99"], 0)


if __name__ == "__main__":
    unittest.main()
