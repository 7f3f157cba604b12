"""100,000 queues in one ringqd (2 shards, 16 partitions: ~6,250 queues per partition, past the
old 4,096-per-partition limit) with Python grpcio: every ConfigureQueue succeeds, ListQueues
pages through all of them (the exact names, in name order, each once, the last page without a
token), with the default and the largest page size, and again after a SIGKILL and a restart on
the same data directory (replay rebuilds the queues). The speed of a full listing is measured by
bench/bench_list_queues.py, not here."""
import tempfile
import unittest

import grpc

import ringq_client as C

NQUEUES = 100000
WINDOW = 512  # ConfigureQueue calls in flight at once


def name_of(i):
    return f"many-{i:06d}"


def create_all(client, names):
    """ConfigureQueue for each name, WINDOW at a time; fails on the first error."""
    C.in_window((lambda n=name: client.future("ConfigureQueue", name=n, max_attempts=3,
                                               timeout=60) for name in names), WINDOW)


def list_all(test, client, page_size):
    """Every queue name, page by page; checks each page's size and token. A page may hold
    fewer names than asked when one partition holds many of them (server/srv_admin.c)."""
    names, tok, pages = [], "", 0
    while True:
        r = client.ListQueues(page_size=page_size, page_token=tok, timeout=60)
        pages += 1
        names.extend(x.name for x in r.queues)
        want = page_size or 100
        if r.next_page_token:
            test.assertGreaterEqual(len(r.queues), 1)
            test.assertLessEqual(len(r.queues), want)
            test.assertEqual(r.next_page_token, r.queues[-1].name)
            tok = r.next_page_token
        else:
            test.assertLessEqual(len(r.queues), want)
            return names, pages


class ManyQueuesTest(unittest.TestCase):
    def test_hundred_thousand_queues_created_listed_and_replayed(self):
        with tempfile.TemporaryDirectory() as d:
            srv = C.start_ringqd(threads=2, data_dir=d)
            ch = srv.channel()  # grpcio's default: messages up to 4 MiB
            try:
                c = C.Client(ch)
                want = [name_of(i) for i in range(NQUEUES)]
                create_all(c, want)
                names, pages = list_all(self, c, 1000)
                self.assertEqual(pages, NQUEUES // 1000)  # names spread evenly: full pages
                self.assertEqual(names, want)
                names, _ = list_all(self, c, 0)  # the default page, 100
                self.assertEqual(names, want)
                one = c.GetQueue(name=name_of(NQUEUES - 1))
                self.assertEqual(one.config.max_attempts, 3)
                ch.close()
                srv.kill()
                srv.close()
                srv = C.start_ringqd(threads=2, data_dir=d)
                ch = srv.channel()
                c = C.Client(ch)
                names, _ = list_all(self, c, 1000)
                self.assertEqual(names, want)
                self.assertEqual(c.GetQueue(name=name_of(12345)).config.max_attempts, 3)
            finally:
                code, log = C.stop(srv, ch)
            self.assertEqual(code, 0, log)

    def test_queues_crowded_in_one_partition_list_completely(self):
        """Each partition is asked for a share of the page; one holding far more than its
        share ends the page early, and the next page carries on after it."""
        crowd = [n for n in (f"crowd-{i:05d}" for i in range(8000))
                 if C.partition_of(n) == 5][:400]
        spread = [f"spread-{i:03d}" for i in range(60)]
        srv = C.start_ringqd(threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            create_all(c, crowd + spread)
            want = sorted(crowd + spread)
            names, pages = list_all(self, c, 1000)
            self.assertEqual(names, want)
            self.assertGreater(pages, 1)  # 400 names of one partition: more than its share
            names, _ = list_all(self, c, 7)
            self.assertEqual(names, want)
            names, _ = list_all(self, c, 0)
            self.assertEqual(names, want)
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


if __name__ == "__main__":
    unittest.main()
