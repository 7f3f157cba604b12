#!/usr/bin/python3
"""Copies the sample run (sample/) into tests/integration/bench_limits_run/, trimmed to what the
report's limits read: runs.tsv and meta.tsv as they are; of raw/, the e2e-b1, open-s* and stall
runs' JSON without its "cdf" (the plots' data), their .sched as they are, and of each .metrics
and .metrics0 only the lines of ringq_loop_stall*, ringq_fsync_seconds,
ringq_queue_tasks_enqueued_total and (open-s* and stall runs) the ringq_stage_seconds series on a
task's path. No figure is changed.
Usage (from the repository root): python3 bench/results/tail-limits-2026-12-07-s11/make_fixture.py"""
import json
import os
import shutil

SRC = "bench/results/tail-limits-2026-12-07-s11/sample"
DST = "tests/integration/bench_limits_run"
KEEP = ("ringq_loop_stall", "ringq_fsync_seconds", "ringq_queue_tasks_enqueued_total")
# The stages on a task's path (bench/report_tail.PATH); the e2e-b1 runs' limits need none.
STAGES = tuple('ringq_stage_seconds_%s{op="%s",stage="%s"' % (k, op, st) for k in ("bucket", "sum", "count")
               for op, st in (("enqueue", "receive"), ("enqueue", "decode"), ("enqueue", "append"),
                              ("enqueue", "commit"), ("work", "deliver"), ("work", "send")))

shutil.rmtree(DST, ignore_errors=True)
os.makedirs(os.path.join(DST, "raw"))
for f in ("runs.tsv", "meta.tsv"):
    shutil.copy(os.path.join(SRC, f), os.path.join(DST, f))
for f in sorted(os.listdir(os.path.join(SRC, "raw"))):
    if not f.startswith(("e2e-b1.", "open-s", "stall.")):
        continue
    src, dst = os.path.join(SRC, "raw", f), os.path.join(DST, "raw", f)
    if f.endswith(".json"):
        with open(src) as i:
            res = json.load(i)
        res.pop("cdf", None)
        with open(dst, "w") as o:
            json.dump(res, o, indent=0)
    elif f.endswith((".metrics", ".metrics0")):
        keep = KEEP if f.startswith("e2e-b1.") else KEEP + STAGES
        with open(src) as i, open(dst, "w") as o:
            o.writelines(ln for ln in i if ln.startswith(keep))
    elif f.endswith(".sched"):
        shutil.copy(src, dst)
# runs.tsv names the other groups' runs too (peak-s*): keep only the rows whose JSON is here.
with open(os.path.join(DST, "runs.tsv")) as f:
    rows = [ln for ln in f if os.path.exists(os.path.join(DST, ln.split("\t")[6]))]
with open(os.path.join(DST, "runs.tsv"), "w") as f:
    f.writelines(rows)
