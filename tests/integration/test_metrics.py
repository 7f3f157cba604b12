"""/metrics of a real ringqd (2 shards, 16 partitions), read over HTTP/1.1 (urllib) and h2c
(curl), parsed with the Prometheus client library's own text parser
(prometheus_client.parser.text_string_to_metric_families, Debian python3-prometheus-client):
per-queue gauges and counters that follow the queue's real figures (also lease expiry and dead
letters), RPCs by method and status code, the fsync latency histogram, process_* and
ringq_build_info, the bound on per-queue series (the rest summed under queue="(other)"), and the
per-shard counters of the commit hold (ringq_commits_held_total) and of the busy spin
(--busy-spin-us: ringq_busy_spin*_total), each seen to move when its feature runs."""
import os
import re
import subprocess
import time
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import ringq_client as C

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
QUEUE_SERIES_MAX = 1000  # SRV_METRICS_QUEUES_MAX in server/srv_queue_metrics.c
SHARD_FAMILIES = ("ringq_commits_held", "ringq_busy_spins", "ringq_busy_spin_found",
                  "ringq_busy_spin_gated", "ringq_busy_spin_seconds")


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4"
        return r.read().decode()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, family, sample, **labels):
    """The value of one sample (labels matched exactly), or None."""
    for s in fams[family].samples:
        if s.name == sample and s.labels == labels:
            return s.value
    return None


def queue_values(fams, q):
    """(ready, delayed, leased, dead, enqueued, acked, nacked, expired, dead_total) of q."""
    st = [value(fams, "ringq_queue_tasks", "ringq_queue_tasks", queue=q, state=s)
          for s in ("ready", "delayed", "leased", "dead")]
    ct = [value(fams, f, f + "_total", queue=q) for f in (
        "ringq_queue_tasks_enqueued", "ringq_queue_tasks_acked", "ringq_queue_tasks_nacked",
        "ringq_queue_leases_expired", "ringq_queue_tasks_dead")]
    return tuple(st + ct)


def per_shard(fams, family):
    """{shard: value} of a per-shard counter family (its _total samples)."""
    return {s.labels["shard"]: s.value for s in fams[family].samples
            if s.name == family + "_total"}


def enqueue_load(c, q, rounds, inflight):
    """`rounds` waves of `inflight` concurrent one-task Enqueues on q, each wave awaited (a
    closed loop of `inflight` producers, as a real client drives it)."""
    for _ in range(rounds):
        futs = [c.future("Enqueue", queue=q, tasks=[C.spec("x")]) for _ in range(inflight)]
        for fu in futs:
            fu.result()


def check_shard_families(test, text, nshards):
    """Every per-shard family has a HELP and TYPE counter line and one sample per shard."""
    f = families(text)
    for name in SHARD_FAMILIES:
        test.assertIn(f"# HELP {name}_total ", text)
        test.assertIn(f"# TYPE {name}_total counter", text)
        test.assertEqual(f[name].type, "counter", name)
        test.assertEqual(set(per_shard(f, name)), {str(i) for i in range(nshards)}, name)
    return f


class MetricsTest(C.RingqdTest):
    def fams(self):
        return families(scrape(self.srv.addr))

    def test_families_and_types(self):
        self.c.put(self.q(), "x")
        f = self.fams()
        want = {
            "ringq_queue_tasks": "gauge", "ringq_queue_tasks_enqueued": "counter",
            "ringq_queue_tasks_acked": "counter", "ringq_queue_tasks_nacked": "counter",
            "ringq_queue_leases_expired": "counter", "ringq_queue_tasks_dead": "counter",
            "ringq_rpc_requests": "counter", "ringq_fsync_seconds": "histogram",
            "process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge",
            "process_open_fds": "gauge", "process_start_time_seconds": "gauge",
            "ringq_build_info": "gauge", "ringq_queues": "gauge", "ringq_partitions": "gauge",
            "ringq_connections_open": "gauge",
        }
        for name, typ in want.items():
            self.assertIn(name, f)
            self.assertEqual(f[name].type, typ, name)
        with open(os.path.join(ROOT, "core", "rt_version.h")) as h:
            version = re.search(r'#define RT_VERSION "([^"]+)"', h.read()).group(1)
        (s,) = f["ringq_build_info"].samples
        self.assertEqual((s.value, s.labels["version"]), (1, version))
        self.assertIn("git", s.labels)

    def test_queue_figures_follow_the_queue(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=1)
        c.put(q, *[f"t{i}" for i in range(6)])
        c.put(q, "later", delay_ms=600000)
        got = c.take(q, n=4, lease_ms=60000)
        c.ack(got[0].id)
        c.Nack(id=got[1].id, delay_ms=600000)  # max_attempts 1: the nack kills it
        c.Nack(id=got[2].id, dead_letter=True, reason="bad")
        # One lease that expires: the tick counts it and (max_attempts 1) kills the task.
        c.take(q, n=1, lease_ms=1)
        C.poll(lambda: queue_values(self.fams(), q)[7] == 1, 10, "the lease expiry counted")
        info = c.GetQueue(name=q)
        vals = queue_values(self.fams(), q)
        self.assertEqual(vals[:4], (info.ready, info.delayed, info.leased, info.dead))
        self.assertEqual(vals, (1, 1, 1, 3, 7, 1, 2, 1, 3))
        self.assertEqual(vals[4:], (info.enqueued_total, info.acked_total, info.nacked_total,
                                    info.expired_total, info.dead_total))

    def test_rpcs_by_method_and_code(self):
        c = self.c

        def count(method, code):
            return value(self.fams(), "ringq_rpc_requests", "ringq_rpc_requests_total",
                         method=method, code=code) or 0
        nf0 = count("ringq.v1.Admin/GetQueue", "NOT_FOUND")
        ok0 = count("ringq.v1.Queue/Enqueue", "OK")
        for _ in range(3):
            C.assert_code(self, C.grpc.StatusCode.NOT_FOUND, c.GetQueue, name=self.q())
        c.put(self.q(), "x")
        C.assert_code(self, C.grpc.StatusCode.INVALID_ARGUMENT, c.Enqueue, queue="bad/name",
                      tasks=[C.spec("x")])
        self.assertEqual(count("ringq.v1.Admin/GetQueue", "NOT_FOUND"), nf0 + 3)
        self.assertEqual(count("ringq.v1.Queue/Enqueue", "OK"), ok0 + 1)
        self.assertGreaterEqual(count("ringq.v1.Queue/Enqueue", "INVALID_ARGUMENT"), 1)
        un0 = count("unknown", "UNIMPLEMENTED")
        fn = self.ch.unary_unary("/no.Such/Method", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
        C.assert_code(self, C.grpc.StatusCode.UNIMPLEMENTED, fn, b"")
        self.assertEqual(count("unknown", "UNIMPLEMENTED"), un0 + 1)

    def test_fsync_histogram(self):
        self.c.put(self.q(), "durable")  # --fsync always: acknowledged after an fdatasync
        f = self.fams()["ringq_fsync_seconds"]
        buckets = [(float(s.labels["le"]), s.value) for s in f.samples
                   if s.name == "ringq_fsync_seconds_bucket"]
        count = next(s.value for s in f.samples if s.name == "ringq_fsync_seconds_count")
        total = next(s.value for s in f.samples if s.name == "ringq_fsync_seconds_sum")
        self.assertEqual(len(buckets), 15)
        self.assertEqual(buckets[-1], (float("inf"), count))
        self.assertEqual([b[0] for b in buckets], sorted(b[0] for b in buckets))
        self.assertEqual([b[1] for b in buckets], sorted(b[1] for b in buckets))  # cumulative
        self.assertGreater(count, 0)
        self.assertGreater(total, 0)

    def test_process_series(self):
        f = self.fams()
        pid = self.srv.proc.pid
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        self.assertAlmostEqual(f["process_open_fds"].samples[0].value, fds, delta=8)
        rss = f["process_resident_memory_bytes"].samples[0].value
        self.assertAlmostEqual(rss / 1024, self.srv.rss_kib(), delta=self.srv.rss_kib() / 2)
        # proc(5): boot time (/proc/stat btime) + field 22 of /proc/PID/stat in clock ticks.
        with open("/proc/stat") as st:
            btime = next(int(x.split()[1]) for x in st if x.startswith("btime "))
        with open(f"/proc/{pid}/stat") as st:
            ticks = int(st.read().rsplit(")", 1)[1].split()[19])
        want = btime + ticks / os.sysconf("SC_CLK_TCK")
        start = f["process_start_time_seconds"].samples[0].value
        self.assertAlmostEqual(start, want, delta=0.02)
        self.assertAlmostEqual(start, time.time(), delta=3600)
        self.assertGreater(f["process_cpu_seconds"].samples[0].value, 0)


    def test_commit_hold_counter_moves(self):
        """--fsync always (the default): right after a completion, the next smaller group of
        commits waits for the rest of its parties (Q_COMMIT_HOLD_US); concurrent producers make
        such groups. The busy spin is off by default: its counters stay 0."""
        f = check_shard_families(self, scrape(self.srv.addr), 2)
        held0 = sum(per_shard(f, "ringq_commits_held").values())
        q = self.q()

        def held():
            enqueue_load(self.c, q, 20, 8)
            return sum(per_shard(self.fams(), "ringq_commits_held").values()) > held0
        C.poll(held, 60, "ringq_commits_held_total rose under concurrent producers")
        f = check_shard_families(self, scrape(self.srv.addr), 2)
        for name in SHARD_FAMILIES[1:]:
            self.assertEqual(set(per_shard(f, name).values()), {0}, name)


class BusySpinMetricsTest(unittest.TestCase):
    """ringqd --busy-spin-us on one shard under a closed loop of producers (--fsync never, so no
    commit gates the spin): the shard's busy-spin counters rise."""

    def test_busy_spin_counters_move(self):
        srv = C.start_ringqd("--busy-spin-us", "200", "--fsync", "never", threads=1)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            f = check_shard_families(self, scrape(srv.addr), 1)
            spins0 = per_shard(f, "ringq_busy_spins")["0"]  # start-up's own turns may spin
            q = C.qname("busy_spin")

            def spun():
                enqueue_load(c, q, 50, 32)
                return per_shard(families(scrape(srv.addr)), "ringq_busy_spins")["0"] > spins0
            C.poll(spun, 60, "ringq_busy_spins_total rose under load")
            f = check_shard_families(self, scrape(srv.addr), 1)
            spins = per_shard(f, "ringq_busy_spins")["0"]
            ended = (per_shard(f, "ringq_busy_spin_found")["0"] +
                     per_shard(f, "ringq_busy_spin_gated")["0"])
            self.assertLessEqual(ended, spins)
            self.assertGreater(per_shard(f, "ringq_busy_spin_seconds")["0"], 0)
            self.assertEqual(per_shard(f, "ringq_commits_held"), {"0": 0})  # never: no hold
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


class QueueSeriesBoundTest(unittest.TestCase):
    """Per-queue series for the first 1,000 queues by name; the other queues summed under
    queue="(other)"; the same exposition over h2c (a body far above one HTTP/2 window)."""

    def test_bound_and_other(self):
        srv = C.start_ringqd(threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            n = QUEUE_SERIES_MAX + 50
            names = [f"m{i:05d}" for i in range(n)]
            futs = [c.future("Enqueue", queue=q, tasks=[C.spec("x")] * (1 + i % 3))
                    for i, q in enumerate(names)]
            for fu in futs:
                fu.result()
            text = scrape(srv.addr)
            f = families(text)
            self.assertEqual(f["ringq_queues"].samples[0].value, n)
            enq = {s.labels["queue"]: s.value for s in f["ringq_queue_tasks_enqueued"].samples}
            self.assertEqual(len(enq), QUEUE_SERIES_MAX + 1)
            self.assertEqual(sorted(k for k in enq if k != "(other)"), names[:QUEUE_SERIES_MAX])
            self.assertEqual(enq["(other)"], sum(1 + i % 3 for i in range(QUEUE_SERIES_MAX, n)))
            self.assertEqual(sum(enq.values()), sum(1 + i % 3 for i in range(n)))
            ready = {s.labels["queue"]: s.value for s in f["ringq_queue_tasks"].samples
                     if s.labels["state"] == "ready"}
            self.assertEqual(ready["m00007"], 1 + 7 % 3)
            p = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "10",
                                f"http://{srv.addr}/metrics"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertGreater(len(p.stdout), 4 * 65535)
            f2 = families(p.stdout)
            self.assertEqual(set(f2), set(f))
            enq2 = {s.labels["queue"]: s.value for s in f2["ringq_queue_tasks_enqueued"].samples}
            self.assertEqual(enq2, enq)
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
