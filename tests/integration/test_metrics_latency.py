"""The latency histograms of /metrics (docs/operations.md): ringq_task_wait_seconds (enqueue to
first lease), ringq_task_run_seconds (lease to ack) and ringq_fsync_seconds, in Prometheus'
conventions (cumulative _bucket{le} ending at +Inf = _count, _sum in seconds), parsed with the
Prometheus client's own parser; and k8s/grafana/ringq-dashboard.json: valid JSON whose every
expression names only metrics the server exports."""
import json
import os
import re
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

import ringq_client as C
from test_metrics import families, scrape

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
GRAFANA = os.path.join(ROOT, "k8s", "grafana", "ringq-dashboard.json")


def hist(fams, name):
    """{le: cumulative count}, sum, count of histogram `name`."""
    f = fams[name]
    self_type = f.type
    assert self_type == "histogram", (name, self_type)
    b = {s.labels["le"]: s.value for s in f.samples if s.name == name + "_bucket"}
    s = [x.value for x in f.samples if x.name == name + "_sum"][0]
    n = [x.value for x in f.samples if x.name == name + "_count"][0]
    return b, s, n


class LatencyHistogramTest(C.RingqdTest):
    def check_shape(self, b, n, lo=0.001, hi=3600.0):
        les = sorted((float(k) for k in b if k != "+Inf"))
        self.assertEqual((les[0], les[-1]), (lo, hi))
        counts = [b[k] for k in sorted((k for k in b if k != "+Inf"), key=float)] + [b["+Inf"]]
        self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        self.assertEqual(b["+Inf"], n)

    def test_wait_and_run_are_measured(self):
        base = families(scrape(self.srv.addr))
        _, w_sum0, w_n0 = hist(base, "ringq_task_wait_seconds")
        _, r_sum0, r_n0 = hist(base, "ringq_task_run_seconds")
        q = self.q()
        self.c.put(q, "a", "b")
        self.c.put(q, "late", delay_ms=400)
        got = self.c.take(q, 2, lease_ms=60000)
        # The measured interval itself (a run of >= 0.25 s), not a wait for a condition.
        time.sleep(0.25)
        self.c.ack(*got)
        late = C.poll(lambda: self.c.take(q, 1, lease_ms=60000), 10, "the delayed task")
        self.c.ack(*late)
        fams = families(scrape(self.srv.addr))
        wb, w_sum, w_n = hist(fams, "ringq_task_wait_seconds")
        rb, r_sum, r_n = hist(fams, "ringq_task_run_seconds")
        self.check_shape(wb, w_n)
        self.check_shape(rb, r_n)
        self.assertEqual(w_n - w_n0, 3)
        self.assertEqual(r_n - r_n0, 3)
        self.assertGreaterEqual(w_sum - w_sum0, 0.4)  # the delayed task waited its delay
        self.assertGreaterEqual(r_sum - r_sum0, 0.5)  # two runs of >= 0.25 s
        # The two long runs are above 0.1 s; the delayed task's wait is above 0.1 s too.
        self.assertLessEqual(rb["0.1"] - hist(base, "ringq_task_run_seconds")[0]["0.1"], 1)
        self.assertLessEqual(wb["0.1"] - hist(base, "ringq_task_wait_seconds")[0]["0.1"], 2)
        # A nack and a second delivery: the wait counts first deliveries only.
        self.c.put(q, "retry")
        t = self.c.take(q, 1, lease_ms=60000)
        self.c.Nack(id=t[0].id, delay_ms=0)
        t2 = C.poll(lambda: self.c.take(q, 1, lease_ms=60000), 10, "the retry")
        self.c.ack(*t2)
        fams = families(scrape(self.srv.addr))
        self.assertEqual(hist(fams, "ringq_task_wait_seconds")[2] - w_n, 1)
        self.assertEqual(hist(fams, "ringq_task_run_seconds")[2] - r_n, 1)
        fb, _, fn = hist(fams, "ringq_fsync_seconds")
        les = sorted(float(k) for k in fb if k != "+Inf")
        self.check_shape(fb, fn, les[0], les[-1])
        self.assertGreater(fn, 0)


class GrafanaDashboardTest(C.RingqdTest):
    def test_every_expression_names_an_exported_metric(self):
        with open(GRAFANA) as f:
            dash = json.load(f)
        self.assertTrue(dash["title"])
        exprs = []

        def walk(x):
            if isinstance(x, dict):
                if isinstance(x.get("expr"), str):
                    exprs.append(x["expr"])
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)
        walk(dash)
        self.assertGreaterEqual(len(exprs), 6)
        # Export everything once: a queue with traffic, so every family has samples.
        q = self.q()
        self.c.put(q, "x")
        self.c.ack(*self.c.take(q, 1))
        exported = set()  # every sample name (families() keys by family: a gauge x and a
        for f in text_string_to_metric_families(scrape(self.srv.addr)):  # counter x_total clash)
            exported |= {s.name for s in f.samples}
        funcs = {"rate", "irate", "increase", "sum", "by", "histogram_quantile", "le", "queue",
                 "state", "topk", "max", "min", "avg", "without", "on", "ignoring", "offset",
                 "clamp_min", "code", "method", "bool", "and", "or", "unless", "count", "delta",
                 "deriv", "time", "vector", "label_replace", "instance", "job"}
        names = set()
        for e in exprs:
            e = re.sub(r'"[^"]*"', '""', e)  # label values
            e = re.sub(r"\[[^\]]*\]", "", e)  # range selectors
            for tok in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
                if tok not in funcs and not tok.startswith("$"):
                    names.add(tok)
        self.assertTrue(names)
        missing = sorted(n for n in names if n not in exported)
        self.assertEqual(missing, [], "expressions name metrics the server does not export")
        for n in ("ringq_task_wait_seconds_bucket", "ringq_task_run_seconds_bucket",
                  "ringq_fsync_seconds_bucket"):
            self.assertIn(n, names)


if __name__ == "__main__":
    unittest.main()
