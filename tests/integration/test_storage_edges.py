"""Storage edges against the real ringqd and ringq-log (docs/storage.md, "Recovery").

- A flipped bit in a record a commit covered (before the segment's synced watermark) is damage:
  ringqd refuses to start, naming the file, the byte position and the offset, and writes
  nothing; `ringq-log salvage` is the way out and says what it set aside. (Before the
  watermark, ringqd cut the log there as if it were a torn write: acknowledged enqueues lost,
  acked tasks delivered again, no copy.)
- A torn record after the watermark (a write no commit covered: never acknowledged) is cut at
  start, a copy of the cut bytes kept in salvaged/, every acknowledged task intact.
"""
import hashlib
import os
import signal
import struct
import subprocess
import tempfile
import threading
import unittest

import ringq_client as C
import ringq_harness as H

SEG_HDR = 64
REC_HDR = 48
START_TIMEOUT_S = 20.0


def records(path):
    """(position, offset, span) of each record of a segment file, by its headers (the checksums
    are ringqd's business; the test only needs to know where records are)."""
    with open(path, "rb") as f:
        b = f.read()
    out, pos = [], SEG_HDR
    while pos + REC_HDR <= len(b) and any(b[pos:pos + REC_HDR]):
        (length,) = struct.unpack_from("<I", b, pos + 12)
        (offset,) = struct.unpack_from("<Q", b, pos + 24)
        span = REC_HDR + (length + 7) // 8 * 8
        out.append((pos, offset, span))
        pos += span
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_ringqd_expecting_exit(data):
    """Starts ringqd on `data` and waits for it to exit on its own (or to listen, which is the
    failure this test looks for: then it is stopped). Returns (exit code or None, stderr)."""
    argv = [os.path.join(H.BUILD, "ringqd"), "--port", "0", "--threads", "1", "--data", data]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(START_TIMEOUT_S, p.kill)
    watchdog.start()
    lines, listening = [], False
    try:
        for line in p.stderr:
            lines.append(line)
            if 'msg="listening"' in line:
                listening = True
                p.send_signal(signal.SIGTERM)
        code = p.wait()
    finally:
        watchdog.cancel()
    return (None if listening else code), "".join(lines)


def ringq_log(*args):
    r = subprocess.run([os.path.join(H.BUILD, "ringq-log"), *args], capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


class StorageEdgesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-edges-")
        self.data = os.path.join(self.tmp.name, "data")
        self.part = os.path.join(self.data, "p000")
        self.seg = os.path.join(self.part, "00000000000000000000.qseg")
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.close()
        self.tmp.cleanup()

    def start(self):
        # One partition: with the default segment size its whole log is one segment.
        self.srv = C.start_ringqd("--partitions", "1", "--fsync", "always", threads=1,
                                  data_dir=self.data)
        return self.srv

    def enqueue_ack_enqueue(self, q):
        """Enqueue 10, ack 5, enqueue 10 (each acknowledged). Returns (ids acked, ids live)."""
        ch = self.srv.channel()
        c = C.Client(ch)
        first = [c.put(q, f"a{i}")[0] for i in range(10)]
        leased = c.take(q, n=5, lease_ms=60000)
        self.assertEqual(len(leased), 5)
        self.assertEqual([r.code for r in c.ack(*[t.id for t in leased])], [0] * 5)
        second = [c.put(q, f"b{i}")[0] for i in range(10)]
        ch.close()
        acked = {t.id for t in leased}
        return acked, [i for i in first + second if i not in acked]

    def test_flipped_bit_in_synced_record_refuses_start(self):
        self.start()
        q = C.qname("flip")
        self.enqueue_ack_enqueue(q)
        self.assertEqual(self.srv.terminate(), 0)
        self.srv.close()
        self.srv = None
        recs = records(self.seg)
        self.assertGreaterEqual(len(recs), 21)  # 20 enqueues and the ack(s)
        pos1, off1, span1 = recs[1]
        with open(self.seg, "r+b") as f:  # one bit of the second record's payload
            f.seek(pos1 + REC_HDR + 1)
            b = f.read(1)[0] ^ 0x08
            f.seek(pos1 + REC_HDR + 1)
            f.write(bytes([b]))
        before = sha(self.seg)

        code, log = run_ringqd_expecting_exit(self.data)
        self.assertIsNotNone(code, "ringqd started on a log whose synced record is damaged:\n"
                             + log)
        self.assertNotEqual(code, 0, log)
        line = next((l for l in log.splitlines() if "cannot open partition" in l), "")
        self.assertIn("file=00000000000000000000.qseg", line, log)
        self.assertIn(f"pos={pos1} ", line)
        self.assertIn(f"offset={off1}", line)
        self.assertIn("before the synced end", line)
        self.assertIn("ringq-log salvage", line)
        # Nothing was zeroed or cut, nothing set aside.
        self.assertEqual(sha(self.seg), before)
        self.assertFalse(os.path.exists(os.path.join(self.part, "salvaged")))

        code, out = ringq_log("verify", self.part)
        self.assertEqual(code, 1, out)
        self.assertIn(f"damage: file=00000000000000000000.qseg pos={pos1} offset={off1}", out)
        self.assertEqual(sha(self.seg), before)

        code, out = ringq_log("salvage", self.part)
        self.assertEqual(code, 0, out)
        copy = os.path.join(self.part, "salvaged", "00000000000000000000.qseg")
        self.assertIn(f"set aside: {copy}", out)
        self.assertEqual(sha(copy), before)  # the damaged segment, whole, as it was

        srv = self.start()  # starts now, on what was before the damage
        self.assertEqual([l for l in srv.lines if "level=error" in l], [])
        self.assertEqual(srv.terminate(), 0)

    def test_damaged_epoch_file_refuses_start_naming_it(self):
        """A damaged lease token epoch file refuses the start (a token could repeat otherwise),
        names the file, and does not send the operator to ringq-log salvage (the log is fine)."""
        self.start()
        self.enqueue_ack_enqueue(C.qname("epoch"))
        self.assertEqual(self.srv.terminate(), 0)
        self.srv.close()
        self.srv = None
        epoch = os.path.join(self.part, "epoch")
        with open(epoch, "w") as f:
            f.write("12x\n")
        before = sha(self.seg)
        code, log = run_ringqd_expecting_exit(self.data)
        self.assertIsNotNone(code, "ringqd started with a damaged epoch file:\n" + log)
        self.assertNotEqual(code, 0, log)
        line = next((l for l in log.splitlines() if "cannot open partition" in l), "")
        self.assertIn("file=epoch", line, log)
        self.assertIn("epoch file damaged", line, log)
        self.assertNotIn("salvage", line, log)
        self.assertEqual(sha(self.seg), before)
        # The documented way out: without the file the next open starts from the clock.
        os.unlink(epoch)
        self.start()
        self.assertEqual(self.srv.terminate(), 0)

    def test_torn_record_past_synced_end_is_cut_with_copy(self):
        srv = self.start()
        q = C.qname("torn")
        acked, live = self.enqueue_ack_enqueue(q)
        srv.kill()  # no drain, no final sync: the watermark is what the last commit left
        srv.close()
        self.srv = None
        recs = records(self.seg)
        end = recs[-1][0] + recs[-1][2]
        last_pos, _, last_span = recs[-1]
        with open(self.seg, "r+b") as f:
            f.seek(last_pos)
            last = f.read(last_span)
            # A record never acknowledged, torn: the head of a copy of the last one, so its
            # offset is out of sequence and its checksum cannot match.
            torn = last[:REC_HDR + 8]
            f.seek(end)
            f.write(torn)

        srv = self.start()
        cut = srv.wait_log("partition tail cut at recovery", timeout=1)
        self.assertIsNotNone(cut, "".join(srv.lines))
        self.assertIn(f"pos={end} ", cut)
        kept = next(kv[5:] for kv in cut.split() if kv.startswith("kept="))
        self.assertTrue(kept.startswith("salvaged/00000000000000000000.qseg.cut-"), cut)
        with open(os.path.join(self.part, kept), "rb") as f:
            # The bytes from the cut to the last non-zero byte of the file.
            self.assertEqual(f.read(), torn.rstrip(b"\0"))
        # Every acknowledged task is there; none acked comes back.
        ch = srv.channel()
        c = C.Client(ch)
        got = c.take(q, n=100, lease_ms=60000)
        self.assertEqual(sorted(t.id for t in got), sorted(live))
        self.assertFalse({t.id for t in got} & acked)
        ch.close()
        self.assertEqual(srv.terminate(), 0)

    def test_power_loss_past_synced_end_is_cut_with_copy(self):
        """--fsync never: acknowledged enqueues were never synced, so they are all past the
        watermark. A power loss that lost the block of record 3 but not the later ones (out of
        order writeback, here: record 3 zeroed) is a torn write: ringqd starts, cuts at record 3,
        and keeps a copy of the later records' bytes. (The same damage under --fsync always is
        refused: test_flipped_bit_in_synced_record_refuses_start.)"""
        self.srv = C.start_ringqd("--partitions", "1", "--fsync", "never", threads=1,
                                  data_dir=self.data)
        ch = self.srv.channel()
        c = C.Client(ch)
        q = C.qname("never")
        ids = [c.put(q, f"n{i}")[0] for i in range(10)]
        ch.close()
        self.srv.kill()
        self.srv.close()
        self.srv = None
        recs = records(self.seg)
        self.assertEqual(len(recs), 10)
        pos3, off3, span3 = recs[3]
        with open(self.seg, "r+b") as f:
            f.seek(recs[4][0])
            later = f.read(recs[-1][0] + recs[-1][2] - recs[4][0])
            f.seek(pos3)
            f.write(bytes(span3))

        srv = self.start()
        cut = srv.wait_log("partition tail cut at recovery", timeout=1)
        self.assertIsNotNone(cut, "".join(srv.lines))
        self.assertIn(f"pos={pos3} ", cut)
        self.assertIn(f"offset={off3} ", cut)
        kept = next(kv[5:] for kv in cut.split() if kv.startswith("kept="))
        with open(os.path.join(self.part, kept), "rb") as f:
            # From the cut (record 3, zeros now) to the end of the data: records 4..9 whole.
            self.assertEqual(f.read(), bytes(span3) + later.rstrip(b"\0"))
        ch = srv.channel()
        c = C.Client(ch)
        got = c.take(q, n=100, lease_ms=60000)
        self.assertEqual(sorted(t.id for t in got), sorted(ids[:3]))
        self.assertEqual(sorted(t.payload for t in got), [b"n0", b"n1", b"n2"])
        ch.close()
        self.assertEqual(srv.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
