"""Disk space: what ringqd allocates, and what it does when the disk is full (issue #12, items 2
and 3). Real ringqd, real grpcio clients, a real filesystem.

- A fresh data directory (the default 16 partitions) takes less than 16 MiB of blocks: segments
  are allocated ahead of the writer in steps, not preallocated whole (64 MiB each).
- On a small ext4 filesystem (a loop-mounted image) filled by enqueues until RESOURCE_EXHAUSTED:
  every task can still be leased and acked (acks use the room reserved for them), retention then
  frees the segments, and enqueues work again; the log says when the disk filled and when it
  recovered, and /metrics counts it.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import grpc

import ringq_client as C

MiB = 1024 * 1024
FRESH_DATA_BYTES_MAX = 16 * MiB      # the bound for an empty server's data directory
IMAGE_BYTES = 48 * MiB               # the small filesystem: ~40 MiB usable after ext4's own
SEGMENT_BYTES = 8 * MiB              # several segments fit, so retention has some to delete
PAYLOAD = b"x" * 4000                # ~4 KiB records: the disk fills after ~9000 tasks
BATCH = 50                           # tasks per Enqueue, ids per Ack
ENQUEUE_TASKS_MAX = 100000           # a bound on the fill loop (~400 MiB: far past the disk)
WAIT_S = 30.0


def allocated_bytes(path):
    """Blocks allocated under path (what `du -s` counts), in bytes."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            total += st.st_blocks * 512
    return total


class FreshDataDir(unittest.TestCase):
    def test_fresh_data_dir_is_small(self):
        srv = C.start_ringqd(threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            # Every partition is open once the server listens; one enqueue and ack per shard's
            # partition proves they take writes, and the directory is still small after.
            q = C.qname("fresh")
            ids = c.put(q, b"hello")
            got = c.take(q, n=1)
            self.assertEqual([t.id for t in got], ids)
            self.assertEqual(c.ack(ids[0])[0].code, 0)
            nparts = len([d for d in os.listdir(srv.data_dir) if d.startswith("p")])
            self.assertEqual(nparts, 16)
            used = allocated_bytes(srv.data_dir)
            self.assertLess(used, FRESH_DATA_BYTES_MAX,
                            f"fresh data directory holds {used / MiB:.1f} MiB of blocks")
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


class LoopFs:
    """A small ext4 filesystem in a file, loop-mounted; unmounted and removed by close()."""

    def __init__(self, size):
        self.tmp = tempfile.mkdtemp(prefix="ringq-space-")
        self.image = os.path.join(self.tmp, "fs.img")
        self.mnt = os.path.join(self.tmp, "mnt")
        self.mounted = False
        os.mkdir(self.mnt)
        with open(self.image, "wb") as f:
            f.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        r = subprocess.run(["mount", "-o", "loop", self.image, self.mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            self.close()
            raise unittest.SkipTest(f"cannot loop-mount a filesystem here: {r.stderr.strip()}")
        self.mounted = True

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.mnt], check=False)
            self.mounted = False
        shutil.rmtree(self.tmp, ignore_errors=True)


def try_enqueue(c, q, n):
    """Enqueue n tasks: the ids, or the RpcError."""
    try:
        return c.put(q, *([PAYLOAD] * n)), None
    except grpc.RpcError as e:
        return None, e


class DiskFull(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
            self.skipTest("needs root and mkfs.ext4 to mount a small filesystem")
        self.fs = LoopFs(IMAGE_BYTES)
        self.addCleanup(self.fs.close)

    def test_acks_free_space_on_a_full_disk(self):
        data = os.path.join(self.fs.mnt, "data")
        srv = C.start_ringqd("--partitions", "1", "--segment-bytes", str(SEGMENT_BYTES),
                             threads=1, data_dir=data)
        ch = srv.channel()
        try:
            self.fill_ack_and_refill(srv, C.Client(ch))
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)

    def fill_ack_and_refill(self, srv, c):
        q = C.qname("full")
        self.assertEqual(C.metric(srv.addr, "ringq_disk_full_total"), 0)
        # Fill the disk: enqueue until the server says RESOURCE_EXHAUSTED.
        enqueued, err = 0, None
        while enqueued < ENQUEUE_TASKS_MAX:
            ids, err = try_enqueue(c, q, BATCH)
            if err:
                break
            enqueued += len(ids)
        self.assertIsNotNone(err, "the disk never filled")
        self.assertEqual(err.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, err.details())
        self.assertIn("disk full", err.details())
        self.assertGreater(enqueued, 1000)
        self.assertTrue(srv.wait_log('msg="disk full:', timeout=WAIT_S), "no disk-full log line")
        C.poll(lambda: C.metric(srv.addr, "ringq_disk_full") == 1, WAIT_S, "ringq_disk_full 1")
        self.assertEqual(C.metric(srv.addr, "ringq_disk_full_total"), 1)
        # Still full: a second enqueue is refused too, and counted once (one episode).
        _, err2 = try_enqueue(c, q, 1)
        self.assertIsNotNone(err2)
        self.assertEqual(err2.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        # Lease and ack everything: every ack succeeds. (A failed batch may have written some of
        # its tasks before it ran out of room: those are leased and acked too.)
        acked = 0
        while True:
            tasks = c.take(q, n=BATCH)
            if not tasks:
                break
            results = c.ack(*[t.id for t in tasks])
            bad = [(r.id, r.code, r.message) for r in results if r.code != 0]
            self.assertEqual(bad, [], f"acks refused after {acked} acked")
            acked += len(tasks)
        self.assertGreaterEqual(acked, enqueued)
        info = c.GetQueue(name=q)
        self.assertEqual((info.ready, info.leased), (0, 0))
        # Enqueues are accepted again (the acks gave back the room kept for them, and retention
        # frees the segments they released), and the log and /metrics say so.
        ids = C.poll(lambda: try_enqueue(c, q, BATCH)[0], WAIT_S, "an enqueue accepted again")
        self.assertEqual(len(ids), BATCH)
        self.assertTrue(srv.wait_log('msg="disk space recovered', timeout=WAIT_S),
                        "no recovery log line")
        C.poll(lambda: C.metric(srv.addr, "ringq_disk_full") == 0, WAIT_S, "ringq_disk_full 0")
        self.assertEqual(C.metric(srv.addr, "ringq_disk_full_total"), 1)
        # Retention deletes the segments the acked tasks pinned: the blocks are free again.
        C.poll(lambda: shutil.disk_usage(self.fs.mnt).free > IMAGE_BYTES // 2, WAIT_S,
               "retention to free the acked segments")
        for t in c.take(q, n=BATCH):
            self.assertEqual(c.ack(t.id)[0].code, 0)


if __name__ == "__main__":
    unittest.main()
