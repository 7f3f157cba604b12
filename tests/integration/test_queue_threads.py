"""One data directory, any --threads: partitions are fixed at creation (ringq.meta) and are
re-spread over however many shards the next start has. --partitions cannot change them."""
import os
import subprocess
import tempfile
import unittest

import ringq_client as C
import ringq_harness as H


class ThreadsTest(unittest.TestCase):
    def test_same_data_dir_with_1_2_and_3_threads(self):
        with tempfile.TemporaryDirectory(prefix="ringq-threads-") as tmp:
            data = os.path.join(tmp, "data")
            queues = [C.qname(f"t{i}") for i in range(8)]  # spread over many partitions
            srv = C.start_ringqd(threads=2, data_dir=data)
            c = C.Client(srv.channel())
            ids = {q: c.put(q, f"{q}-a", f"{q}-b") for q in queues}
            code, log = C.stop(srv, c.ch)
            self.assertEqual(code, 0, log)

            srv = C.start_ringqd(threads=1, data_dir=data)
            c = C.Client(srv.channel())
            for q in queues:  # one of the two tasks of every queue, acked under 1 thread
                t = c.take(q, n=1)
                self.assertEqual([x.id for x in t], ids[q][:1])
                self.assertEqual([r.code for r in c.ack(t[0].id)], [0])
            code, log = C.stop(srv, c.ch)
            self.assertEqual(code, 0, log)

            srv = C.start_ringqd(threads=3, data_dir=data)
            c = C.Client(srv.channel())
            for q in queues:  # what is left is exactly the second task
                t = c.take(q, n=10)
                self.assertEqual([x.id for x in t], ids[q][1:])
                self.assertEqual(t[0].payload, f"{q}-b".encode())
            code, log = C.stop(srv, c.ch)
            self.assertEqual(code, 0, log)

    def test_partitions_are_fixed_at_creation(self):
        with tempfile.TemporaryDirectory(prefix="ringq-parts-") as tmp:
            data = os.path.join(tmp, "data")
            srv = C.start_ringqd("--partitions", "4", threads=1, data_dir=data)
            code, log = C.stop(srv)
            self.assertEqual(code, 0, log)
            with open(os.path.join(data, "ringq.meta")) as f:
                self.assertIn("partitions=4", f.read())
            p = subprocess.run([os.path.join(H.BUILD, "ringqd"), "--port", "0", "--data", data,
                                "--partitions", "8"], capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertIn("4 partitions", p.stderr)
            # A damaged meta file is refused with the file named, not guessed around.
            with open(os.path.join(data, "ringq.meta"), "w") as f:
                f.write("format=9\npartitions=x\n")
            p = subprocess.run([os.path.join(H.BUILD, "ringqd"), "--port", "0", "--data", data],
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 1)
            self.assertIn("ringq.meta", p.stderr)


if __name__ == "__main__":
    unittest.main()
