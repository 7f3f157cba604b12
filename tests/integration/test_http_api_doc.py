"""docs/http-api.md's curl examples, extracted from the doc and run in order against a live
ringqd (so the doc cannot rot): every ```sh block must exit 0, print JSON, and the changes it
makes must be what Admin (grpcio) sees afterwards."""
import json
import os
import re
import subprocess
import unittest

import ringq_client as C

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "http-api.md")


def sh_blocks():
    with open(DOC) as f:
        return re.findall(r"```sh\n(.*?)```", f.read(), re.S)


class HttpApiDocTest(C.RingqdTest):
    def test_doc_examples_run(self):
        blocks = sh_blocks()
        self.assertGreaterEqual(len(blocks), 5, "the examples were not found in the doc")
        c = self.c
        C.poll(lambda: not [q for q in c.ListQueues().queues if q.name == "emails"], 1, "fresh")
        c.put("emails", "hello", "world", "again")
        dead = c.put("emails", "bounce", priority=5)
        t = c.take("emails", 1)
        self.assertEqual(t[0].id, dead[0])
        c.Nack(id=t[0].id, dead_letter=True, reason="smtp 550")
        # The rates example prints the queue's enqueued count: wait until a sample has it.
        from http_api_util import request
        C.poll(lambda: sum(request(self.srv.port, "GET", "/api/v1/rates/emails")[1]
                           .get("enqueued", [0])) == 4, 10, "emails' rates")
        env = dict(os.environ, RINGQ=f"127.0.0.1:{self.srv.port}")
        outputs = []
        for b in blocks:
            self.assertIn("curl", b)
            p = subprocess.run(["bash", "-euo", "pipefail", "-c", b], env=env,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, f"block:\n{b}\nstderr:\n{p.stderr}")
            for line in p.stdout.splitlines():
                if line.strip():
                    outputs.append(json.loads(line))  # every answer is JSON
        # What the blocks did, as Admin sees it: redriven, resumed, reconfigured.
        self.assertEqual(c.GetTask(id=dead[0]).state, C.types_pb2.TASK_STATE_READY)
        info = c.GetQueue(name="emails")
        self.assertFalse(info.paused)
        self.assertEqual(info.config.max_attempts, 7)
        self.assertEqual(outputs[-1]["code"], "NOT_FOUND")  # the error example
        self.assertIn(4, outputs)  # `jq .enqueued|add`: the 4 tasks enqueued above


if __name__ == "__main__":
    unittest.main()
