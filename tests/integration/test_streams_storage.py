"""Storage edges for streams (issue 15, item 2 of the finishing pass; docs/storage.md "Recovery",
docs/semantics.md "Streams"), against the real ringqd with grpcio clients.

- A full disk while publishing (a small loop-mounted ext4, as test_space.py for tasks): publish
  until RESOURCE_EXHAUSTED; every acknowledged publish is still there, byte for byte (Read);
  a durable consumer still fetches and acks; PurgeStream frees the space and publishing resumes.
- A flipped bit in a stream message record a commit covered: ringqd refuses to start, naming the
  file, the byte position and the offset (as for tasks, test_storage_edges.py), and writes
  nothing; `ringq-log salvage` is the way out.
"""
import os
import shutil
import tempfile
import unittest

import grpc

import ringq_client as C
from stream_client import S, SC, Streams, msg, sname
from test_space import LoopFs
from test_storage_edges import REC_HDR, records, ringq_log, run_ringqd_expecting_exit, sha

MiB = 1024 * 1024
IMAGE_BYTES = 48 * MiB   # ~40 MiB usable after ext4's own
SEGMENT_BYTES = 8 * MiB  # several segments, so a purge has whole segments to delete
PAYLOAD_BYTES = 4000     # ~4 KiB records: the disk fills after ~9000 messages
BATCH = 50               # messages per Publish
PUBLISH_MSGS_MAX = 100000  # a bound on the fill loop (~400 MiB: far past the disk)
WAIT_S = 30.0
REC_TYPE_AT = 16         # the record header's type field (docs/storage.md)
SMSG = 14                # Q_RT_SMSG (queue/q_part_rec.h)


def payload(seq_hint, i):
    """A payload naming its batch and place, padded to PAYLOAD_BYTES."""
    head = f"{seq_hint}:{i}:".encode()
    return head + b"x" * (PAYLOAD_BYTES - len(head))


class StreamsDiskFull(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
            self.skipTest("needs root and mkfs.ext4 to mount a small filesystem")
        self.fs = LoopFs(IMAGE_BYTES)
        self.addCleanup(self.fs.close)

    def test_publish_until_full_nothing_lost_consumers_work_purge_resumes(self):
        data = os.path.join(self.fs.mnt, "data")
        srv = C.start_ringqd("--partitions", "1", "--segment-bytes", str(SEGMENT_BYTES),
                             threads=1, data_dir=data)
        ch = srv.channel()
        try:
            self.fill_consume_purge(srv, Streams(ch))
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)

    def fill_consume_purge(self, srv, s):
        name = sname("full")
        s.stream(name, [name + ".>"])
        s.consumer(name, "d", ack_wait_ms=60000)
        acked = {}  # seq -> payload of every publish the server answered OK
        err = None
        for b in range(PUBLISH_MSGS_MAX // BATCH):
            batch = [payload(b, i) for i in range(BATCH)]
            try:
                r = s.Publish(messages=[msg(f"{name}.a", p) for p in batch])
            except grpc.RpcError as e:
                err = e
                break
            self.assertEqual(len(r.acks), BATCH)
            for a, p in zip(r.acks, batch):
                acked[a.seq] = p
        self.assertIsNotNone(err, "the disk never filled")
        self.assertEqual(err.code(), SC.RESOURCE_EXHAUSTED, err.details())
        self.assertIn("disk full", err.details())
        self.assertGreater(len(acked), 1000)
        C.poll(lambda: C.metric(srv.addr, "ringq_disk_full") == 1, WAIT_S, "ringq_disk_full 1")
        # Still full: refused again, nothing half-published is acknowledged.
        with self.assertRaises(grpc.RpcError) as again:
            s.pub(f"{name}.a", payload("again", 0))
        self.assertEqual(again.exception.code(), SC.RESOURCE_EXHAUSTED)

        # Nothing acknowledged lost: every answered sequence is there with its bytes.
        last = max(acked)
        got = {}
        start = 1
        while start <= last:
            part = s.read(name, start_seq=start, end_seq=last, max_messages=1000)
            self.assertTrue(part, f"Read from {start} gave nothing")
            for m in part:
                got[m.seq] = m.payload
            start = part[-1].seq + 1
        missing = [q for q in acked if got.get(q) != acked[q]]
        self.assertEqual(missing[:5], [], f"{len(missing)} acknowledged messages lost or changed")

        # The durable consumer still works on a full disk: deliveries, and acks answered.
        fetched = s.fetch(name, "d", n=20, wait_ms=2000)
        self.assertEqual([d.message.seq for d in fetched], sorted(acked)[:20])
        res = s.ack(name, "d", *fetched)
        self.assertEqual([(r.code, r.message) for r in res if r.code], [])
        self.assertEqual(s.GetConsumer(stream=name, name="d").state.num_ack_pending, 0)

        # A purge frees the segments; publishing resumes and the consumer gets the new message.
        s.PurgeStream(name=name)
        C.poll(lambda: shutil.disk_usage(self.fs.mnt).free > IMAGE_BYTES // 2, WAIT_S,
               "the purge to free the segments")

        def publish_one():
            try:
                return s.pub(f"{name}.a", b"after").acks[0].seq
            except grpc.RpcError as e:
                self.assertEqual(e.code(), SC.RESOURCE_EXHAUSTED, e.details())
                return None
        seq = C.poll(publish_one, WAIT_S, "a publish accepted again")
        self.assertGreater(seq, last)
        C.poll(lambda: C.metric(srv.addr, "ringq_disk_full") == 0, WAIT_S, "ringq_disk_full 0")
        after = s.fetch(name, "d", n=10, wait_ms=5000)
        self.assertEqual([(d.message.seq, d.message.payload) for d in after], [(seq, b"after")])
        self.assertEqual(s.ack(name, "d", *after)[0].code, 0)


class StreamsFlippedBit(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-sedges-")
        self.addCleanup(self.tmp.cleanup)
        self.data = os.path.join(self.tmp.name, "data")
        self.part = os.path.join(self.data, "p000")
        self.seg = os.path.join(self.part, "00000000000000000000.qseg")

    def start(self):
        return C.start_ringqd("--partitions", "1", "--fsync", "always", threads=1,
                              data_dir=self.data)

    def test_flipped_bit_in_a_message_record_refuses_start(self):
        srv = self.start()
        ch = srv.channel()
        s = Streams(ch)
        name = sname("flip")
        s.stream(name, [name])
        self.assertEqual(s.seqs(name, *[f"m{i}" for i in range(10)]), list(range(1, 11)))
        code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)

        with open(self.seg, "rb") as f:
            b = f.read()
        smsg = [r for r in records(self.seg)
                if int.from_bytes(b[r[0] + REC_TYPE_AT:r[0] + REC_TYPE_AT + 2], "little") == SMSG]
        self.assertEqual(len(smsg), 10)
        pos, off, _ = smsg[4]  # the fifth message's record
        with open(self.seg, "r+b") as f:  # one bit of its payload (its sequence number)
            f.seek(pos + REC_HDR + 8)
            v = f.read(1)[0] ^ 0x01
            f.seek(pos + REC_HDR + 8)
            f.write(bytes([v]))
        before = sha(self.seg)

        code, log = run_ringqd_expecting_exit(self.data)
        self.assertIsNotNone(code, "ringqd started on a damaged stream message record:\n" + log)
        self.assertNotEqual(code, 0, log)
        line = next((ln for ln in log.splitlines() if "cannot open partition" in ln), "")
        self.assertIn("file=00000000000000000000.qseg", line, log)
        self.assertIn(f"pos={pos} ", line)
        self.assertIn(f"offset={off}", line)
        self.assertIn("ringq-log salvage", line)
        self.assertEqual(sha(self.seg), before)  # nothing written

        code, out = ringq_log("salvage", self.part)
        self.assertEqual(code, 0, out)
        srv = self.start()  # starts on what was before the damage: messages 1..4
        ch = srv.channel()
        s = Streams(ch)
        st = s.state(name)
        self.assertEqual((st.messages, st.last_seq), (4, 4))
        self.assertEqual([m.payload for m in s.read(name, start_seq=1, end_seq=4)],
                         [f"m{i}".encode() for i in range(4)])
        code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
