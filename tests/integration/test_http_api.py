"""The JSON API under /api/v1/ (docs/http-api.md) against a real ringqd over real sockets: every
read route answers what Admin answers over gRPC (grpcio), every change is seen by Admin
afterwards, errors carry the gRPC code name and message, and hostile or odd HTTP gets a clear
answer (bad JSON, unknown fields, bodies too large, chunked, keep-alive and pipelining)."""
import json
import unittest

from google.protobuf import json_format

import http_api_util as U
import ringq_client as C
from http_api_util import CHANGE, request


def norm(x, key=None):
    """Our JSON and json_format's alike: digit strings (its 64-bit ints) as ints, maps (our
    arrays of {key, value}) as dicts."""
    if key == "headers" and isinstance(x, list):
        return {e["key"]: e["value"] for e in x}
    if isinstance(x, dict):
        return {k: norm(v, k) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, str) and x.isdigit() and key not in ("id", "name", "queue", "reason"):
        return int(x)
    return x


def as_json(msg):
    kw = dict(preserving_proto_field_name=True, use_integers_for_enums=True)
    try:
        d = json_format.MessageToDict(msg, always_print_fields_with_no_presence=True, **kw)
    except TypeError:  # older protobuf
        d = json_format.MessageToDict(msg, including_default_value_fields=True, **kw)
    return norm(d)


class HttpApiTest(C.RingqdTest):
    def get(self, path):
        st, body, _ = request(self.srv.port, "GET", path)
        self.assertEqual(st, 200, body)
        return norm(body)

    def test_reads_match_admin(self):
        q = self.q()
        ids = U.make_states(self.c, q)
        self.assertEqual(self.get(f"/api/v1/queues/{q}"), as_json(self.c.GetQueue(name=q)))
        names = [x["name"] for x in self.get("/api/v1/queues?page_size=1000")["queues"]]
        self.assertEqual(names, [x.name for x in self.c.ListQueues(page_size=1000).queues])
        self.assertIn(q, names)
        peek = self.get(f"/api/v1/queues/{q}/tasks?limit=10")
        self.assertEqual(peek, as_json(self.c.PeekTasks(queue=q, limit=10)))
        self.assertEqual(sorted(t["id"] for t in peek["tasks"]), sorted(ids["ready"] + ids["delayed"]))
        dead = self.get(f"/api/v1/queues/{q}/dead")
        self.assertEqual(dead, as_json(self.c.ListDeadTasks(queue=q)))
        self.assertEqual(sorted(t["id"] for t in dead["tasks"]), sorted(ids["dead"]))
        self.assertEqual(dead["tasks"][0]["last_error"], "smtp 550 <b>no such user</b>")
        leases = self.get(f"/api/v1/queues/{q}/leases")
        self.assertEqual(leases, as_json(self.c.ListLeases(queue=q)))
        self.assertEqual([x["id"] for x in leases["leases"]], ids["leased"])
        for tid in ids["ready"] + ids["dead"]:
            self.assertEqual(self.get(f"/api/v1/tasks/{tid}"), as_json(self.c.GetTask(id=tid)))
        part = self.get(f"/api/v1/queues/{q}")["partition"]
        self.assertEqual(self.get(f"/api/v1/partitions/{part}"),
                         as_json(self.c.GetPartition(partition=part)))
        self.assertEqual(self.get(f"/api/v1/audit?queue={q}")["queues_unbalanced"], 0)

    def test_changes_are_seen_by_admin(self):
        q = self.q()
        ids = U.make_states(self.c, q)
        port = self.srv.port
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/pause", headers=CHANGE)
        self.assertEqual((st, body["paused"]), (200, True))
        self.assertTrue(self.c.GetQueue(name=q).paused)
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/resume", headers=CHANGE)
        self.assertEqual(st, 200)
        self.assertFalse(self.c.GetQueue(name=q).paused)
        # Redrive a selection: one of the two dead tasks.
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/redrive",
                              {"ids": [ids["dead"][0]]}, CHANGE)
        self.assertEqual((st, body["redriven"]), (200, 1), body)
        self.assertEqual(self.c.state(ids["dead"][0]), C.types_pb2.TASK_STATE_READY)
        self.assertEqual(self.c.state(ids["dead"][1]), C.types_pb2.TASK_STATE_DEAD)
        # Redrive all (an empty body), then delete one task, configure, purge, delete the queue.
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/redrive", None, CHANGE)
        self.assertEqual((st, body["redriven"]), (200, 1), body)
        st, _, _ = request(port, "DELETE", f"/api/v1/tasks/{ids['ready'][0]}", headers=CHANGE)
        self.assertEqual(st, 200)
        self.assertEqual(U.admin_error(self.c.GetTask, id=ids["ready"][0])[0], "NOT_FOUND")
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/config",
                              {"max_attempts": 7, "lease_ms": 1234}, CHANGE)
        self.assertEqual((st, body["config"]["max_attempts"]), (200, 7), body)
        cfg = self.c.GetQueue(name=q).config
        self.assertEqual((cfg.max_attempts, cfg.lease_ms), (7, 1234))
        before = self.c.GetQueue(name=q)
        st, body, _ = request(port, "POST", f"/api/v1/queues/{q}/purge", headers=CHANGE)
        after = self.c.GetQueue(name=q)
        gone = sum(getattr(before, f) - getattr(after, f) for f in ("ready", "delayed", "leased"))
        self.assertEqual((st, body["purged"], after.ready), (200, gone, 0), body)
        st, body, _ = request(port, "DELETE", f"/api/v1/queues/{q}?force=true", headers=CHANGE)
        self.assertEqual(st, 200, body)
        self.assertEqual(U.admin_error(self.c.GetQueue, name=q)[0], "NOT_FOUND")

    def test_errors_carry_grpc_code_and_message(self):
        port = self.srv.port
        code, msg = U.admin_error(self.c.GetQueue, name="nope-queue")
        st, body, hdr = request(port, "GET", "/api/v1/queues/nope-queue")
        self.assertEqual((st, body), (404, {"code": code, "message": msg}))
        self.assertEqual(hdr["content-type"], "application/json")
        code, msg = U.admin_error(self.c.GetTask, id="bad id")
        st, body, _ = request(port, "GET", "/api/v1/tasks/bad%20id")
        self.assertEqual((st, body), (404, {"code": code, "message": msg}))
        code, msg = U.admin_error(self.c.PeekTasks, queue="x", limit=5000)
        st, body, _ = request(port, "GET", "/api/v1/queues/x/tasks?limit=5000")
        self.assertEqual((st, body), (400, {"code": code, "message": msg}))
        # Requests that never reach Admin: the reader's own words, still as JSON.
        for path, what in (("/api/v1/queues/x/tasks?limit=abc", "limit"),
                           ("/api/v1/queues/x/tasks?colour=red", "colour")):
            st, body, _ = request(port, "GET", path)
            self.assertEqual((st, body["code"]), (400, "INVALID_ARGUMENT"), body)
            self.assertIn(what, body["message"])
        for bad, what in (("{", "expected a string"), ('{"idz": []}', 'unknown field "idz"'),
                          ('{"ids": "x"}', "expected an array"), ('{"ids": []} x', "trailing"),
                          ("[" * 100, "expected an object"), ('{"ids": [' * 40, "expected a string")):
            st, body, _ = request(port, "POST", "/api/v1/queues/x/redrive", bad, CHANGE)
            self.assertEqual((st, body["code"]), (400, "INVALID_ARGUMENT"), (bad, body))
            self.assertIn(what, body["message"], bad)
        st, body, _ = request(port, "GET", "/api/v1/nothing-here")
        self.assertEqual((st, body["code"]), (404, "NOT_FOUND"))
        st, body, _ = request(port, "PUT", "/api/v1/queues/x")
        self.assertEqual(st, 405, body)

    def test_keep_alive_pipelining_and_bodies(self):
        q = self.q()
        self.c.put(q, "a")
        body = json.dumps({}).encode()
        reqs = (f"GET /api/v1/queues/{q} HTTP/1.1\r\nHost: x\r\n\r\n"
                f"POST /api/v1/queues/{q}/pause HTTP/1.1\r\nHost: x\r\nX-Ringq-Token: 1\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body + (
                f"GET /api/v1/queues/{q} HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").encode()
        out, closed = U.raw_exchange(self.srv.port, reqs, 4)
        self.assertEqual([s for s, _ in out], [200, 200, 200, 200])
        self.assertFalse(json.loads(out[0][1])["paused"])
        self.assertTrue(json.loads(out[2][1])["paused"])  # in order: after the POST
        self.assertEqual(out[3][1], b"ok\n")

    def test_body_limits(self):
        port = self.srv.port
        big = b'{"ids": [' + b'"1-1",' * 20000 + b'"1-1"]}'
        out, closed = U.raw_exchange(port, (
            "POST /api/v1/queues/x/redrive HTTP/1.1\r\nHost: x\r\nX-Ringq-Token: 1\r\n"
            f"Content-Length: {len(big)}\r\n\r\n").encode(), 1)
        self.assertEqual(out[0][0], 413)
        self.assertTrue(closed or len(out) == 1)
        out, _ = U.raw_exchange(port, (
            "POST /api/v1/queues/x/redrive HTTP/1.1\r\nHost: x\r\nX-Ringq-Token: 1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode(), 1)
        self.assertEqual(out[0][0], 411)
        out, _ = U.raw_exchange(port, (
            "POST /api/v1/queues/x/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            "Content-Length: 0\r\n\r\n").encode(), 1)
        self.assertEqual(out[0][0], 400)  # two lengths: refused

    def test_rates_count_what_was_enqueued(self):
        q = self.q()
        C.poll(lambda: request(self.srv.port, "GET", f"/api/v1/rates/{q}")[0] == 404, 5,
               "no series before the queue exists")
        self.c.put(q, "first")
        C.poll(lambda: request(self.srv.port, "GET", f"/api/v1/rates/{q}")[0] == 200, 10,
               "the queue's series")
        self.c.put(q, *[f"t{i}" for i in range(25)])
        t = self.c.take(q, 5)
        self.c.ack(*t)

        def counted():
            r = request(self.srv.port, "GET", f"/api/v1/rates/{q}")[1]
            return (len(r["enqueued"]) == 900 and sum(r["enqueued"]) == 26
                    and sum(r["acked"]) == 5 and r)
        r = C.poll(counted, 10, "26 enqueued and 5 acked in the queue's rates")
        self.assertEqual(sum(r["failed"]), 0)
        total = request(self.srv.port, "GET", "/api/v1/rates")[1]
        self.assertGreaterEqual(sum(total["enqueued"]), 26)

    def test_server_info(self):
        st, s, _ = request(self.srv.port, "GET", "/api/v1/server")
        self.assertEqual(st, 200)
        self.assertEqual((s["fsync"], s["partitions"], s["shards"]), ("always", 16, 2))
        self.assertGreater(s["disk_bytes"], 0)
        self.assertEqual((s["ui"], s["token_required"]), ("on", False))


if __name__ == "__main__":
    unittest.main()
