"""Issue 17 item 2: Admin.ListWorkers (grpcio) and GET /api/v1/workers list the connected Work
streams of every shard with their worker id, address, queues, credits left and tasks in flight.
Two streams on their own connections (so, with two shards, possibly on different shards) with
different credits and queues: the figures match what each stream subscribed to and received;
paging with page_size 1 walks both; a stream that ends leaves the list."""
import unittest

import grpc

import http_api_util as U
import ringq_client as C
from test_http_api import as_json, norm

WAIT_S = 10.0


class ListWorkersTest(C.RingqdTest):

    def open(self, wid, queues, credits):
        ch = grpc.insecure_channel(self.srv.addr)
        self.addCleanup(ch.close)
        w = C.WorkStream(ch, metadata=[("ringq-worker-id", wid)])
        self.addCleanup(w.cancel)
        w.subscribe(queues, credits=credits, lease_ms=60000, request_id=1)
        self.assertEqual(w.wait_result(1).code, 0)
        return w

    def mine(self):
        ws = self.c.ListWorkers(page_size=1000).workers
        return {w.worker_id: w for w in ws if w.worker_id.startswith(self.prefix)}

    def test_figures_match_each_stream(self):
        q = self.prefix = self.q()
        qa, qb1, qb2 = q + "-a", q + "-b1", q + "-b2"
        a = self.open(q + "-wa", [qa], 5)
        b = self.open(q + "-wb", [qb1, qb2], 7)
        self.c.put(qa, b"x", b"y")
        a.wait_tasks(2, WAIT_S)
        ws = C.poll(lambda: (lambda m: m if len(m) == 2 and m[q + "-wa"].in_flight == 2 else None)(
            self.mine()), WAIT_S, "both streams listed, a holding 2 tasks")
        wa, wb = ws[q + "-wa"], ws[q + "-wb"]
        self.assertEqual((list(wa.queues), wa.credits, wa.in_flight), ([qa], 3, 2))
        self.assertEqual((list(wb.queues), wb.credits, wb.in_flight), ([qb1, qb2], 7, 0))
        for w in (wa, wb):
            self.assertRegex(w.address, r"^127\.0\.0\.1:\d+$")
            self.assertGreater(w.connected_unix_ms, C.now_ms() - 60000)
            self.assertLessEqual(w.connected_unix_ms, C.now_ms())
        # acked tasks leave in_flight; a credit raises credits
        a.ack([t.id for t in a.tasks], request_id=2)
        self.assertEqual(a.wait_result(2).code, 0)
        b.credit(3)
        C.poll(lambda: (lambda m: m[q + "-wa"].in_flight == 0 and m[q + "-wb"].credits == 10)(
            self.mine()), WAIT_S, "a holding nothing, b with 10 credits")

        # the JSON API answers what Admin answers
        st, body, _ = U.request(self.srv.port, "GET", "/api/v1/workers?page_size=1000")
        self.assertEqual(st, 200, body)
        self.assertEqual(norm(body), as_json(self.c.ListWorkers(page_size=1000)))
        self.assertEqual({w["worker_id"] for w in body["workers"]} & {q + "-wa", q + "-wb"},
                         {q + "-wa", q + "-wb"})

        # pages of one walk every stream once, in id order
        seen, tok = [], ""
        while True:
            r = self.c.ListWorkers(page_size=1, page_token=tok)
            self.assertLessEqual(len(r.workers), 1)
            seen += [w.id for w in r.workers]
            tok = r.next_page_token
            if not tok:
                break
        self.assertEqual(seen, [w.id for w in self.c.ListWorkers(page_size=1000).workers])
        self.assertEqual(seen, sorted(seen, key=int))

        # a stream that ends leaves the list
        b.cancel()
        C.poll(lambda: list(self.mine()) == [q + "-wa"], WAIT_S, "b gone from the list")

    def test_bad_requests(self):
        C.assert_code(self, grpc.StatusCode.INVALID_ARGUMENT, self.c.ListWorkers,
                      page_token="x1")
        C.assert_code(self, grpc.StatusCode.INVALID_ARGUMENT, self.c.ListWorkers,
                      page_size=1001)
        st, body, _ = U.request(self.srv.port, "GET", "/api/v1/workers?page_token=nope")
        self.assertEqual(st, 400, body)


if __name__ == "__main__":
    unittest.main()
