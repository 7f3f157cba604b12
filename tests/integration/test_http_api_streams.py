"""The JSON API's streams routes (docs/http-api.md): /api/v1/streams, a stream, its consumers
with their lag, and a purge, each answered by the ringq.v1.Streams handlers a gRPC client
reaches (compared with grpcio), over real sockets against a live ringqd."""
import unittest

import ringq_client as C
from http_api_util import CHANGE, request
from stream_client import Streams
from test_http_api import as_json, norm


class HttpApiStreamsTest(C.RingqdTest):
    def get(self, path):
        st, body, _ = request(self.srv.port, "GET", path)
        self.assertEqual(st, 200, body)
        return norm(body)

    def test_streams_and_consumer_lag(self):
        s = Streams(self.ch)
        name = C.qname("orders").replace("-", "_")
        subj = f"{name}.created"
        s.stream(name, [f"{name}.>"])
        s.pub(subj, *[f"m{i}" for i in range(5)])
        s.consumer(name, "billing")
        s.consumer(name, "audit")
        got = s.fetch(name, "billing", 2)
        s.ack(name, "billing", got[0])
        self.assertEqual(self.get(f"/api/v1/streams/{name}"), as_json(s.GetStream(name=name)))
        listed = self.get("/api/v1/streams?page_size=1000")
        self.assertIn(name, [x["config"]["name"] for x in listed["streams"]])
        cons = self.get(f"/api/v1/streams/{name}/consumers")
        self.assertEqual(cons, as_json(s.ListConsumers(stream=name)))
        lag = {c["config"]["name"]: c["state"]["num_pending"] for c in cons["consumers"]}
        self.assertEqual(lag, {"audit": 5, "billing": 3})
        st, body, _ = request(self.srv.port, "GET", "/api/v1/streams/no_such_stream")
        self.assertEqual((st, body["code"]), (404, "NOT_FOUND"))
        st, body, _ = request(self.srv.port, "POST", f"/api/v1/streams/{name}/purge",
                              headers=CHANGE)
        self.assertEqual((st, body["purged"]), (200, 5), body)
        self.assertEqual(s.GetStream(name=name).state.messages, 0)


if __name__ == "__main__":
    unittest.main()
