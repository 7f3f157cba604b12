"""ringq.v1.Queue/Work when a reply cannot be sent: a task that fits the message limit as an
Enqueue but not as a WorkResponse (the Task adds its id, queue, lease deadline and times) must
end the stream with RESOURCE_EXHAUSTED at once, not be leased and dropped while the worker waits
for it (the stream used to stay open, silent, until the client's deadline)."""
import unittest

import grpc

import ringq_client as C
from ringq.v1 import types_pb2

LIMIT = 1024  # --max-message-bytes: the server's smallest allowed
STREAM_TIMEOUT_S = 20.0  # the client's deadline: the old code ran into it


class WorkReplyTooLargeTest(C.RingqdTest):
    SERVER_ARGS = ("--max-message-bytes", str(LIMIT))

    def test_undeliverable_task_ends_the_stream_with_resource_exhausted(self):
        q = C.qname("toolarge")
        # Largest payload whose EnqueueRequest still fits the limit.
        payload = b"x" * 1000
        while C.queue_pb2.EnqueueRequest(queue=q, tasks=[C.spec(payload)]).ByteSize() > LIMIT:
            payload = payload[:-8]
        task = types_pb2.Task(id="15-4294967295", queue=q, payload=payload, attempt=1,
                              lease_deadline_unix_ms=2**41, enqueued_unix_ms=2**41,
                              max_attempts=5)
        self.assertGreater(C.queue_pb2.WorkResponse(task=task).ByteSize(), LIMIT,
                           "the delivery must not fit for this test to mean anything")
        self.c.put(q, payload)

        ch = self.srv.channel()
        self.addCleanup(ch.close)
        w = C.WorkStream(ch, timeout=STREAM_TIMEOUT_S)
        self.addCleanup(w.cancel)
        w.subscribe([q], credits=1)
        self.assertTrue(w.done.wait(STREAM_TIMEOUT_S + 5), "the stream never ended")
        self.assertIsNotNone(w.error)
        self.assertEqual(w.error.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, w.error.details())
        self.assertEqual(w.tasks, [])
        # The stream ended: the task it held is released, ready again (docs/semantics.md
        # "Leases bound to the stream"), and the server still serves.
        info = C.poll(lambda: (lambda i: i if i.ready == 1 else None)(self.c.GetQueue(name=q)),
                      10, "the undelivered task's release")
        self.assertEqual(info.leased, 0)


if __name__ == "__main__":
    unittest.main()
