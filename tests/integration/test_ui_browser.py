"""The dashboard in a real browser: Debian's headless chromium, driven by puppeteer-core
(tests/ui/browser.js), against a live ringqd holding queues in every state and a Work stream
holding tasks. Each view's figures are checked against Admin over gRPC (grpcio); pause, purge
and redrive are clicked and the server's state checked afterwards; a hostile payload is shown
as text, and the CSP blocks it when it is forced into the page as HTML. Screenshots of each view
go to docs/ (RINGQ_UI_SHOTS=docs to refresh them; otherwise a temporary directory).

Skipped with a message where chromium, node or tests/ui/node_modules (make deps) is missing."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import ringq_client as C
import http_api_util as U
from ringq.v1 import queue_pb2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UI = os.path.join(ROOT, "tests", "ui")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
XSS = "<img src=x onerror=\"window.__pwned='img'\"><script>window.__pwned='script'</script>"


def missing():
    if not os.path.exists(CHROMIUM):
        return f"chromium not found at {CHROMIUM} (make deps installs Debian's chromium)"
    if not shutil.which("node"):
        return "node not found (make deps installs nodejs)"
    if not os.path.isdir(os.path.join(UI, "node_modules", "puppeteer-core")):
        return "tests/ui/node_modules missing (make deps runs npm ci in tests/ui)"
    return None


def run_browser(plan, timeout=80):
    p = subprocess.run(["node", os.path.join(UI, "browser.js"), json.dumps(plan)],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, CHROMIUM=CHROMIUM))
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise AssertionError(f"browser.js printed no report (rc {p.returncode}):\n{p.stderr[-3000:]}")
    report = json.loads(lines[-1])
    if p.returncode != 0 or "error" in report:
        raise AssertionError(f"browser.js failed: {report.get('error')}\n{p.stderr[-2000:]}")
    return report


def num(s):
    return int(s.replace(",", ""))


@unittest.skipIf(missing(), missing() or "")
class DashboardBrowserTest(unittest.TestCase):
    def setUp(self):
        self.srv = C.start_ringqd()
        self.ch = self.srv.channel()
        self.c = C.Client(self.ch)
        self.work = None

    def tearDown(self):
        if self.work:
            self.work.cancel()
        code, log = C.stop(self.srv, self.ch)
        self.assertEqual(code, 0, log)

    def shots(self):
        d = os.environ.get("RINGQ_UI_SHOTS")
        if d:
            return os.path.abspath(os.path.join(ROOT, d))
        self._tmp = tempfile.TemporaryDirectory(prefix="ringq-ui-")
        return self._tmp.name

    def test_views_actions_and_csp(self):
        c = self.c
        dead_q, pause_q, purge_q, xss_q, busy_q = "emails", "reports", "thumbnails", "webhooks", "video"
        ids = U.make_states(c, dead_q)
        c.put(pause_q, "r1", "r2")
        c.put(purge_q, *[f"t{i}" for i in range(7)])
        c.put(xss_q, XSS)
        c.put(busy_q, *[f"v{i}" for i in range(4)])
        # A worker holding two tasks of busy_q through a Work stream.
        self.work = C.WorkStream(self.ch, metadata=[("ringq-worker-id", "encoder-7")])
        self.work.subscribe([busy_q], credits=2, lease_ms=600000)
        self.work.wait_tasks(2)
        # A stream with two consumers, one of them behind.
        from stream_client import Streams
        s = Streams(self.ch)
        s.stream("orders", ["orders.>"])
        s.pub("orders.created", *[f"o{i}" for i in range(6)])
        s.consumer("orders", "billing")
        s.consumer("orders", "shipping")
        s.ack("orders", "billing", *s.fetch("orders", "billing", 4))
        before = {q.name: q for q in c.ListQueues().queues}
        shots = self.shots()
        rep = run_browser({"url": f"http://127.0.0.1:{self.srv.port}/", "shots": shots,
                           "mode": "full", "dead_queue": dead_q, "pause_queue": pause_q,
                           "purge_queue": purge_q, "xss_queue": xss_q})
        # Served with the CSP and from this origin alone.
        self.assertEqual(rep["status"], 200)
        self.assertIn("script-src 'self'", rep["headers"]["content-security-policy"])
        self.assertEqual(rep["requests_elsewhere"], [])
        self.assertEqual(rep["console_errors_before_inject"], [], "the page logged errors")
        # Overview: totals as Admin has them.
        ov = rep["views"]["overview"][""]
        for f in ("ready", "delayed", "leased", "dead", "enqueued_total", "acked_total"):
            self.assertEqual(num(ov[f]), sum(getattr(q, f) for q in before.values()), f)
        self.assertEqual(num(ov["queues"]), len(before))
        self.assertEqual(ov["fsync"], "always")
        # Queues table: every queue's figures as Admin has them (before any click).
        rows = rep["views"]["queues"]
        self.assertEqual(set(rows), set(before))
        for name, q in before.items():
            for f in ("ready", "delayed", "leased", "dead"):
                self.assertEqual(num(rows[name][f]), getattr(q, f), (name, f))
            self.assertEqual(rows[name]["paused"], "active")
        self.assertEqual(rep["sorted_by_dead_desc"][0], dead_q)
        # The queue page.
        qv = rep["views"]["queue"][""]
        for f in ("ready", "delayed", "leased", "dead"):
            self.assertEqual(num(qv[f]), getattr(before[dead_q], f), f)
        self.assertEqual(num(rep["views"]["queue_config"]["max_attempts"]),
                         before[dead_q].config.max_attempts)
        reasons = [v["reason"] for k, v in rep["views"]["queue"].items() if "reason" in v]
        self.assertEqual(reasons, ["smtp 550 <b>no such user</b>"] * 2)  # as text
        # Workers: the Work stream with its queue, credits left and tasks in flight, as
        # Admin.ListWorkers has them (credits 2 granted, both spent on the two tasks held).
        wv = rep["views"]["workers"]["encoder-7"]
        self.assertEqual(wv["inflight"], "2")
        self.assertEqual((wv["queues"], wv["credits"]), (busy_q, "0"))
        listed = [w for w in c.ListWorkers().workers if w.worker_id == "encoder-7"]
        self.assertEqual([(w.in_flight, w.credits, list(w.queues)) for w in listed],
                         [(2, 0, [busy_q])])
        # Streams: figures and each consumer's lag as ringq.v1.Streams has them.
        sv = rep["views"]["streams"]
        self.assertEqual(num(sv["stream:orders"]["messages"]), s.GetStream(name="orders").state.messages)
        for cinfo in s.ListConsumers(stream="orders").consumers:
            self.assertEqual(num(sv["consumer:" + cinfo.config.name]["num_pending"]),
                             cinfo.state.num_pending)
        self.assertEqual(num(sv["consumer:billing"]["num_pending"]), 2)
        # The clicks, as the server sees them.
        self.assertFalse(rep["pause_flash"]["err"], rep["pause_flash"])
        self.assertTrue(c.GetQueue(name=pause_q).paused)
        self.assertIn(purge_q, rep["purge_dialog"])
        self.assertEqual(c.GetQueue(name=purge_q).ready, 0)
        self.assertIn(rep["redriven"], ids["dead"])
        self.assertEqual(c.state(rep["redriven"]), C.types_pb2.TASK_STATE_READY)
        other = [i for i in ids["dead"] if i != rep["redriven"]][0]
        self.assertEqual(c.state(other), C.types_pb2.TASK_STATE_DEAD)
        # The hostile payload: text in the preview, never run; forced in as HTML, the CSP
        # blocked its inline script and handler.
        self.assertEqual(rep["xss_preview"], XSS)
        self.assertIsNone(rep["xss_ran_after_render"])
        self.assertIsNone(rep["xss_ran_after_inject"])
        self.assertTrue(any(v.startswith("script-src") for v in rep["csp"]), rep["csp"])
        # A phone in dark mode: dark background, nothing wider than the screen but the tables'
        # own scrolling boxes.
        self.assertNotEqual(rep["phone"]["background"], "rgb(255, 255, 255)")
        self.assertLessEqual(rep["phone"]["scroll_width"], rep["phone"]["viewport"])
        for n in ("ui-overview", "ui-queues", "ui-queue", "ui-workers", "ui-streams",
                  "ui-phone-dark"):
            self.assertGreater(os.path.getsize(os.path.join(shots, n + ".png")), 5000, n)


@unittest.skipIf(missing(), missing() or "")
class ReadOnlyBrowserTest(unittest.TestCase):
    def test_read_only_hides_every_action(self):
        srv = C.start_ringqd("--ui", "read-only")
        ch = srv.channel()
        try:
            c = C.Client(ch)
            U.make_states(c, "emails")
            rep = run_browser({"url": f"http://127.0.0.1:{srv.port}/", "shots": "",
                               "mode": "read-only", "dead_queue": "emails"})
            self.assertGreater(rep["action_elements"], 0)  # built, and hidden
            self.assertEqual(rep["visible_actions"], 0)
            self.assertIn("read-only", rep["mode_text"])
        finally:
            self.assertEqual(C.stop(srv, ch)[0], 0)


@unittest.skipIf(missing(), missing() or "")
class AuthFileBrowserTest(unittest.TestCase):
    """ringqd with --auth-file (docs/security.md, "The JSON API and the dashboard"): the page
    asks for a token, sends it as Authorization: Bearer, and its pause goes through."""

    def test_token_pasted_then_views_and_actions(self):
        token = "dashboard-admin-token-0123456789"
        with tempfile.TemporaryDirectory(prefix="ringq-ui-auth-") as d:
            path = os.path.join(d, "auth.conf")
            with open(path, "w") as f:
                f.write(f"token ops {token}\nallow ops admin,metrics,produce *\n")
            srv = C.start_ringqd("--auth-file", path)
            ch = srv.channel()
            try:
                md = [("authorization", "Bearer " + token)]
                req = queue_pb2.EnqueueRequest(queue="reports")
                req.tasks.add(payload=b"r")
                ch.unary_unary("/ringq.v1.Queue/Enqueue", lambda x: x.SerializeToString(),
                               lambda b: b)(req, metadata=md, timeout=10)
                rep = run_browser({"url": f"http://127.0.0.1:{srv.port}/", "shots": "",
                                   "mode": "auth", "token": token, "pause_queue": "reports"})
                self.assertIsNone(rep["ready_before_token"])  # nothing shown without it
                self.assertIn("credentials required", rep["refused_flash"]["text"])
                self.assertEqual(rep["views"]["queues"]["reports"]["ready"], "1")
                self.assertFalse(rep["pause_flash"]["err"], rep["pause_flash"])
                st, body, _ = U.request(srv.port, "GET", "/api/v1/queues/reports",
                                        headers={"Authorization": "Bearer " + token})
                self.assertEqual((st, body["paused"]), (200, True), body)
                self.assertEqual(rep["csp"], [])
            finally:
                self.assertEqual(C.stop(srv, ch)[0], 0)


if __name__ == "__main__":
    unittest.main()
