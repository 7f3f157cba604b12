"""ringq.v1.Admin/PeekTasks against the real ringqd (2 shards, 16 partitions) with Python grpcio:
ready tasks in lease order (priority, then FIFO), delayed tasks by due time, the state filter,
the limit and its default, the response size bound, errors, reflection, and that a peek changes
nothing (a Lease afterwards gets the same tasks, in the same order)."""
import unittest

import grpc
from google.protobuf import descriptor_pb2

import ringq_client as C
import ringq_harness as H
from ringq.v1 import admin_pb2, types_pb2
from grpc.reflection.v1 import reflection_pb2 as refl_v1  # noqa: E402

S = grpc.StatusCode
ST = types_pb2
HOUR_MS = 3600000


class PeekTest(C.RingqdTest):
    def peek(self, q, **kw):
        return self.c.PeekTasks(queue=q, **kw)

    def test_ready_by_priority_then_fifo_and_lease_agrees(self):
        c = self.c
        # One queue on each shard: the call runs on the partition's owner either way.
        for q in [names[0] for names in C.names_by_shard(c, self.q())]:
            with self.subTest(queue=q):
                prios = [0, 5, 15, 5, 0, 15, 7, 5, 0, 3]
                ids = []
                for i, p in enumerate(prios):  # one by one: FIFO is enqueue order
                    ids += c.put(q, f"t{i}", priority=p)
                want = [ids[i] for i in sorted(range(len(prios)), key=lambda i: (-prios[i], i))]
                before = c.GetQueue(name=q)
                r = self.peek(q, limit=100, state=ST.TASK_STATE_READY)
                self.assertEqual([t.id for t in r.tasks], want)
                self.assertFalse(r.more)
                for t in r.tasks:
                    i = ids.index(t.id)
                    self.assertEqual((t.queue, t.state, t.priority, t.payload, t.attempts),
                                     (q, ST.TASK_STATE_READY, prios[i], f"t{i}".encode(), 0))
                    self.assertEqual(t.due_unix_ms, 0)
                    self.assertGreater(t.enqueued_unix_ms, 0)
                    self.assertEqual(t.max_attempts, 5)
                # Nothing changed: figures, task states, a second peek.
                after = c.GetQueue(name=q)
                self.assertEqual((after.ready, after.delayed, after.leased, after.dead),
                                 (before.ready, before.delayed, before.leased, before.dead))
                self.assertEqual(c.state(want[0]), ST.TASK_STATE_READY)
                self.assertEqual(self.peek(q, limit=100), r)
                # The lease that follows gets exactly those tasks, in that order.
                got = c.take(q, n=4, lease_ms=60000)
                self.assertEqual([t.id for t in got], want[:4])
                self.assertTrue(all(t.attempt == 1 for t in got))
                # Leased tasks are no longer listed; a nacked one goes to the back of its
                # priority.
                r = self.peek(q, limit=100)
                self.assertEqual([t.id for t in r.tasks], want[4:])
                c.Nack(id=got[3].id, delay_ms=0)  # t1 or t3: priority 5
                p5 = [t.id for t in self.peek(q, limit=100).tasks
                      if t.priority == 5]
                self.assertEqual(p5[-1], got[3].id)
                rest = [t.id for t in self.peek(q, limit=100).tasks]
                self.assertEqual([t.id for t in c.take(q, n=100)], rest)

    def test_delayed_by_due_time_and_the_state_filter(self):
        c, q = self.c, self.q()
        base = C.now_ms() + 10 * HOUR_MS
        r1, r2 = c.put(q, "r1", "r2")
        d3 = c.put(q, "d3", not_before_unix_ms=base + 3000)[0]
        d1a = c.put(q, "d1a", not_before_unix_ms=base + 1000)[0]
        d2 = c.put(q, "d2", not_before_unix_ms=base + 2000)[0]
        d1b = c.put(q, "d1b", not_before_unix_ms=base + 1000)[0]  # same due as d1a: id order
        d0 = c.put(q, "d0", delay_ms=HOUR_MS)[0]                  # earliest of all
        leased = c.put(q, "leased", priority=9)[0]
        self.assertEqual(c.take(q, n=1, lease_ms=60000)[0].id, leased)
        dead = c.put(q, "dead", priority=9)[0]
        c.take(q, n=1, lease_ms=60000)
        c.Nack(id=dead, dead_letter=True)
        delayed = [d0, d1a, d1b, d2, d3]

        r = self.peek(q, state=ST.TASK_STATE_DELAYED)
        self.assertEqual([t.id for t in r.tasks], delayed)
        self.assertFalse(r.more)
        self.assertTrue(all(t.state == ST.TASK_STATE_DELAYED for t in r.tasks))
        self.assertEqual([t.due_unix_ms for t in r.tasks][1:],
                         [base + 1000, base + 1000, base + 2000, base + 3000])
        r = self.peek(q, state=ST.TASK_STATE_READY)
        self.assertEqual([t.id for t in r.tasks], [r1, r2])
        r = self.peek(q)  # unspecified: both, ready first; never leased or dead
        self.assertEqual([t.id for t in r.tasks], [r1, r2] + delayed)
        self.assertFalse(r.more)
        r = self.peek(q, limit=3)  # the limit cuts across the two
        self.assertEqual([t.id for t in r.tasks], [r1, r2, d0])
        self.assertTrue(r.more)
        self.assertEqual(c.GetQueue(name=q).delayed, 5)

    def test_limit_default_max_and_more(self):
        c, q = self.c, self.q()
        ids = c.put(q, *[f"p{i}" for i in range(15)])
        r = self.peek(q)
        self.assertEqual([t.id for t in r.tasks], ids[:10])  # default 10
        self.assertTrue(r.more)
        r = self.peek(q, limit=15)
        self.assertEqual([t.id for t in r.tasks], ids)
        self.assertFalse(r.more)
        r = self.peek(q, limit=1000)
        self.assertEqual(len(r.tasks), 15)
        r = self.peek(q, limit=1)
        self.assertEqual([t.id for t in r.tasks], ids[:1])
        self.assertTrue(r.more)
        for bad in (1001, 2 ** 32 - 1):
            C.assert_code(self, S.INVALID_ARGUMENT, self.peek, q, limit=bad, contains="limit")
        self.assertEqual(len(self.peek(q, state=ST.TASK_STATE_DELAYED).tasks), 0)

    def test_response_bounded_by_message_size(self):
        c, q = self.c, self.q()
        big = 1536 * 1024
        for i in range(3):  # one per Enqueue: each request stays under the message limit
            c.put(q, bytes([65 + i]) * big)
        r = self.peek(q, limit=3)  # 3 x 1.5 MiB do not fit a 4 MiB response
        self.assertEqual(len(r.tasks), 2)
        self.assertTrue(r.more)
        self.assertEqual([len(t.payload) for t in r.tasks], [big, big])
        self.assertEqual(r.tasks[1].payload[:1], b"B")

    def test_errors(self):
        c, q = self.c, self.q()
        # Unknown queue: NOT_FOUND, as GetQueue and ListDeadTasks answer.
        C.assert_code(self, S.NOT_FOUND, self.peek, q, contains=q)
        C.assert_code(self, S.NOT_FOUND, c.GetQueue, name=q, contains=q)
        C.assert_code(self, S.INVALID_ARGUMENT, self.peek, "a/b", contains="queue name")
        C.assert_code(self, S.INVALID_ARGUMENT, self.peek, "", contains="queue name")
        c.put(q, "x")
        for bad in (ST.TASK_STATE_LEASED, ST.TASK_STATE_DEAD, 99):
            with self.subTest(state=bad):
                C.assert_code(self, S.INVALID_ARGUMENT, self.peek, q, state=bad,
                              contains="state")
        # Malformed requests: a truncated field, a truncated varint after a good queue name.
        raw = self.ch.unary_unary(C.A + "PeekTasks", request_serializer=lambda b: b,
                                  response_deserializer=admin_pb2.PeekTasksResponse.FromString)
        for bad in (b"\x0a\x05ab", b"\x0a" + bytes([len(q)]) + q.encode() + b"\x10\xff"):
            with self.subTest(raw=bad):
                C.assert_code(self, S.INVALID_ARGUMENT, raw, bad, timeout=C.CALL_TIMEOUT_S,
                              contains="malformed")
        # A known queue with nothing to show, and a paused one (shown as it is).
        e = self.q()
        c.ConfigureQueue(name=e, max_attempts=3)
        r = self.peek(e)
        self.assertEqual((len(r.tasks), r.more), (0, False))
        c.PauseQueue(name=q)
        self.assertEqual([t.payload for t in self.peek(q).tasks], [b"x"])
        self.assertEqual(c.take(q), [])
        c.ResumeQueue(name=q)
        self.assertEqual([t.payload for t in c.take(q)], [b"x"])

    def test_reflection_lists_the_method(self):
        path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        resps = list(H.stream_stream(self.ch, path, iter([
            refl_v1.ServerReflectionRequest(file_containing_symbol="ringq.v1.Admin.PeekTasks"),
        ]), refl_v1.ServerReflectionResponse, timeout=C.CALL_TIMEOUT_S))
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in resps[0].file_descriptor_response.file_descriptor_proto]
        admin = next(f for f in files if f.name == "ringq/v1/admin.proto")
        svc = next(s for s in admin.service if s.name == "Admin")
        m = next(m for m in svc.method if m.name == "PeekTasks")
        self.assertEqual((m.input_type, m.output_type),
                         (".ringq.v1.PeekTasksRequest", ".ringq.v1.PeekTasksResponse"))


if __name__ == "__main__":
    unittest.main()
