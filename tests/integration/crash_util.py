"""Shared by the SIGKILL crash tests (test_queue_crash.py, test_crash_leases.py): a fixed port
for the whole run (clients reconnect to the same address after each restart) and the fixture
that starts ringqd (--threads 2, --fsync always) on one data directory again and again."""
import os
import random
import socket
import tempfile
import unittest

import ringq_client as C

LISTEN_TRIES = 3  # the port may linger for an instant after a kill


def free_port():
    """A port free right now (bound and released); the crash tests need one port across
    restarts, so they cannot use --port 0."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CrashServerTest(unittest.TestCase):
    """self.data: the data directory every life of the server uses; self.port: its port;
    self.rng: seeded from os.urandom; self.seq: a counter for the subclass. start() brings up
    one life (no error logged at start), tearDown kills what is left."""

    TMP_PREFIX = "ringq-crash-"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=self.TMP_PREFIX)
        self.data = os.path.join(self.tmp.name, "data")
        self.port = free_port()
        self.srv = None
        self.rng = random.Random(int.from_bytes(os.urandom(4), "little"))
        self.seq = 0

    def tearDown(self):
        if self.srv:
            self.srv.close()
        self.tmp.cleanup()

    def start(self):
        last = None
        for _ in range(LISTEN_TRIES):
            try:
                self.srv = C.start_ringqd("--port", str(self.port), "--fsync", "always",
                                          threads=getattr(self, "THREADS", 2),
                                          data_dir=self.data)
                break
            except RuntimeError as e:
                last = e
                if "cannot listen" not in str(e):
                    raise
        else:
            raise last
        self.assertEqual(self.srv.port, self.port)
        bad = [l for l in self.srv.lines if "level=error" in l]
        self.assertEqual(bad, [], "".join(self.srv.lines))

    def first_life(self, prefix, per_shard):
        """Starts the first life and makes per_shard queues on each shard, named from `prefix`,
        with max_attempts 1000 (lease expiries around the kills must not kill tasks); returns
        their names."""
        self.start()
        ch = self.srv.channel()
        c = C.Client(ch)
        qs = [n for shard in C.names_by_shard(c, prefix, per_shard=per_shard) for n in shard]
        for q in qs:
            c.ConfigureQueue(name=q, max_attempts=1000)
        ch.close()
        return qs
