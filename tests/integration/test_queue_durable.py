"""Durable before visible (docs/semantics.md): under `--fsync always` a task is handed to a
worker -- a parked Lease, a Work stream -- only once its Enqueue is durable; under `--fsync
never` it may be handed out as soon as it is in the log's page cache.

The server counts, at the moment a lease hands a task out, whether the task's ENQUEUE record is
below the log's durable end (`ringq_leased_before_durable_total` on /metrics). Each round below
enqueues one task while a Work stream (subscribed, with credit) and a Lease long-poll wait for it,
so both deliveries come from the wake-up path that used to run before the commit's fsync. The
`never` run checks the counter does see early deliveries, so the `always` run's 0 means
something."""
import unittest
import urllib.request

import ringq_client as C

ROUNDS = 20


def leased_before_durable(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("ringq_leased_before_durable_total "):
                return int(float(line.split()[1]))
    raise AssertionError("no ringq_leased_before_durable_total on /metrics")


class DurableBeforeVisibleTest(unittest.TestCase):
    def rounds(self, *args):
        """Runs ROUNDS enqueues, each picked up by a waiting Work stream and a waiting Lease;
        returns the server's ringq_leased_before_durable_total afterwards."""
        srv = C.start_ringqd(*args, threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            # One queue on each shard: deliveries cross shards whichever shard the stream's
            # connection landed on.
            names = [n for shard in C.names_by_shard(c, C.qname("dur")) for n in shard]
            wch = srv.channel()
            w = C.WorkStream(wch)
            w.subscribe([names[0]], credits=ROUNDS)
            for i in range(ROUNDS):
                c.put(names[0], f"w{i}")
                got = w.wait_tasks(i + 1)
                self.assertEqual(got[i].payload, f"w{i}".encode())
                w.ack([got[i].id], request_id=i + 1)
                self.assertEqual(w.wait_result(i + 1).code, 0)
            w.cancel()
            wch.close()
            for i in range(ROUNDS):
                fut = c.future("Lease", queue=names[1], max_tasks=1, wait_ms=10000)
                c.put(names[1], f"l{i}")
                tasks = list(fut.result().tasks)
                self.assertEqual([t.payload for t in tasks], [f"l{i}".encode()])
                c.ack(tasks[0].id)
            return leased_before_durable(srv.addr)
        finally:
            code, log = C.stop(srv, ch)
            self.assertEqual(code, 0, log)

    def test_always_delivers_only_durable_tasks(self):
        self.assertEqual(self.rounds("--fsync", "always"), 0)

    def test_never_may_deliver_before_durable(self):
        # The same rounds without fsync: the wake-up runs before the commit reports the
        # records durable, and the counter sees it.
        self.assertGreater(self.rounds("--fsync", "never"), 0)


if __name__ == "__main__":
    unittest.main()
