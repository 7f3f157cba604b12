#!/usr/bin/python3
"""bench/streams_report.py: the tables, ratios and issue targets of bench/streams.sh.

Usage (run with /usr/bin/python3 from the repository root):
  streams_report.py peak DIR GROUP SYSTEM COLUMN   the median msgs/s of that point (0 if none)
  streams_report.py report DIR OUT_MD              write the Markdown report

DIR holds what streams.sh wrote, in bench/suite_bench.sh's layout (runs.tsv, meta.tsv, raw/);
runs are read, counted and reduced to their median with bench/report.py's functions.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report as rp  # noqa: E402  (bench/report.py)

PUBLISH_LAT = "publish latency (request → the system confirmed every message of it)"
DELIVER_LAT = "publish-to-deliver latency (publisher sends → a consumer of the group receives)"
# group id -> (title, throughput field, unit, latency meaning): report.py's GROUPS shape
GROUPS = [
    ("publish-b1", "publish, batch 1", "tasks_per_s", "msgs/s", PUBLISH_LAT),
    ("publish-b64", "publish, batch 64", "tasks_per_s", "msgs/s", PUBLISH_LAT),
    ("fanout-g1", "fan-out, 1 group", "tasks_per_s", "msgs/s", DELIVER_LAT),
    ("fanout-g4", "fan-out, 4 groups", "tasks_per_s", "msgs/s", DELIVER_LAT),
]
OPEN = ("open", "publish→deliver p99 at half of peak", "tasks_per_s", "msgs/s",
        "publish-to-deliver latency from the scheduled send time (open loop)")
rp.GROUP_INFO.update({g[0]: g for g in GROUPS + [OPEN]})
# ringq-unary: ringq with one unary Publish per send (the other ringq row publishes on
# PublishStream); shown beside it, not a peer (the ratios and targets are ringq's).
SYSTEMS = [("ringq", "ringq Streams"), ("ringq-unary", "ringq Streams, unary Publish"),
           ("redis", "Redis Streams"), ("jetstream", "NATS JetStream")]
PEERS = [s for s in SYSTEMS if not s[0].startswith("ringq")]
# The targets: ringq ÷ peer in every publish / fan-out column.
TARGETS = {"durable": {"redis": 3.0, "jetstream": 10.0}, "fast": {"redis": 2.0}}
OPEN_P99_US = 1000.0  # p99 publish-to-deliver at half of peak with --fsync never


def point(ser, group, system, column):
    """The one series of (group, system, column), whatever its x."""
    for k, s in ser.items():
        if k[:3] == (group, system, column):
            return k, s
    return None, None


def na_cell(na, notes):
    """A system/column that did not run: "not yet run" (the ringq side) or "n/a", with why."""
    if na.startswith("not yet run"):
        return "not yet run " + notes.ref(na[len("not yet run: "):])
    return "n/a " + notes.ref(na)


def cell(ser, meta, notes, group, system, column):
    key, s = point(ser, group, system, column)
    na = meta.get("na.%s.%s" % (system, column))
    if na:
        return na_cell(na, notes)
    if s is None:
        return "-"
    if not s.get("med"):
        why = "; ".join(sorted({r["why"] for r in s["runs"]}))
        return "FAIL " + notes.ref("%s %s %s: %s" % (group, system, column, why))
    t = "%s msgs/s<br>p50 %s · p99 %s" % (rp.fmt_n(rp.med_tput(s)), rp.fmt_us(rp.lat(s, "p50")),
                                         rp.fmt_us(rp.lat(s, "p99")))
    send = s["med"]["result"].get("send_latency_us")
    if send:  # fan-out: the publish latency too
        t += "<br>publish p50 %s · p99 %s" % (rp.fmt_us(send.get("p50")), rp.fmt_us(send.get("p99")))
    if s["npass"] < len(s["runs"]):
        t += " " + notes.ref("%s %s %s: %d of %d runs failed; median of the rest" % (
            group, system, column, len(s["runs"]) - s["npass"], len(s["runs"])))
    return t


def open_cell(ser, meta, notes, system, column):
    key, s = point(ser, "open", system, column)
    na = meta.get("na.%s.%s" % (system, column))
    if na:
        return na_cell(na, notes)
    if s is None or not s.get("med"):
        return "-" if s is None else "FAIL " + notes.ref("open %s %s: %s" % (
            system, column, "; ".join(sorted({r["why"] for r in s["runs"]}))))
    res = s["med"]["result"]
    return "p99 %s<br>at %s msgs/s (p50 %s)" % (rp.fmt_us(rp.lat(s, "p99")),
                                                rp.fmt_n(res["config"]["rate"]),
                                                rp.fmt_us(rp.lat(s, "p50")))


def tput(ser, group, system, column):
    return rp.med_tput(point(ser, group, system, column)[1])


def table(ser, meta, notes, column):
    head = ["system"] + [g[1] for g in GROUPS] + [OPEN[1]]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sid, name in SYSTEMS:
        cells = [cell(ser, meta, notes, g[0], sid, column) for g in GROUPS]
        cells.append(open_cell(ser, meta, notes, sid, column))
        out.append("| %s | %s |" % (name, " | ".join(cells)))
    for pid, pname in PEERS:
        ratios = []
        for g in GROUPS:
            a, b = tput(ser, g[0], "ringq", column), tput(ser, g[0], pid, column)
            ratios.append(rp.fmt_ratio(a, b) if a is not None else "not yet run")
        out.append("| ringq ÷ %s | %s | |" % (pname, " | ".join(ratios)))
    return "\n".join(out)


def targets(ser):
    rows = ["| target | column | ringq | peer | ratio | verdict |", "|---|---|---|---|---|---|"]
    for column, peers in TARGETS.items():
        for pid, want in peers.items():
            for g in GROUPS:
                a, b = tput(ser, g[0], "ringq", column), tput(ser, g[0], pid, column)
                verdict = "not yet run" if a is None else "-" if b is None else \
                    rp.verdict(a >= want * b)
                rows.append("| ≥ %g× %s (%s) | %s | %s | %s | %s | %s |" % (
                    want, dict(SYSTEMS)[pid], column, g[1], rp.fmt_n(a), rp.fmt_n(b),
                    rp.fmt_ratio(a, b), verdict))
    p99 = rp.lat(point(ser, "open", "ringq", "fast")[1], "p99")
    rows.append("| p99 publish→deliver at half of peak < 1 ms (`--fsync never`) | fast | %s | | | %s |"
                % (rp.fmt_us(p99), "not yet run" if p99 is None else rp.verdict(p99 < OPEN_P99_US)))
    return "\n".join(rows)


def loaded_warning(meta):
    """A warning when the 1-minute load average exceeded the CPUs before or after the runs."""
    try:
        load = meta["load"].split()
        worst = max(float(load[1]), float(load[5].rstrip(",")))
        cpus = int(meta["nproc"])
    except (KeyError, IndexError, ValueError):
        return ""
    if worst <= cpus:
        return ""
    return (" — **the machine was busy (load %.1f on %d CPUs): other processes shared the "
            "server's and the generator's CPUs, so the figures are noisy; compare runs of one "
            "report, not reports**" % (worst, cpus))


def extra_sections(d):
    """Sections written beside the runs, when present: memory.txt (bench/stream_pending_mem.py's
    output, the 32-byte target) and analysis.md (profile and changes, by hand)."""
    md = []
    mem = os.path.join(d, "memory.txt")
    if os.path.exists(mem):
        with open(mem) as f:
            text = f.read().rstrip("\n")
        md += ["## Memory: a consumer with pending messages", "",
               "`bench/stream_pending_mem.py` on a fresh ringqd (`--threads 1 --fsync never`): the "
               "growth of the server's anonymous memory (RssAnon; the log's mmap'd segments are "
               "file-backed and not in it) between \"N messages published\" and \"all N delivered "
               "to one consumer, none acked\". Target: at most 32 bytes per pending message.", "",
               "```", text, "```", ""]
    ana = os.path.join(d, "analysis.md")
    if os.path.exists(ana):
        with open(ana) as f:
            md += [f.read().rstrip("\n"), ""]
    return md


def report(d, out_md):
    meta = rp.read_meta(d)
    ser = rp.series(rp.read_runs(d))
    notes = rp.Notes()
    md = ["# Streams: ringq against Redis Streams and NATS JetStream (%s)" % meta.get("date", "?"),
          "",
          "Issue #15 item 6, written by `bench/streams.sh` (`bench/README.md`). Every run starts the "
          "system fresh with an empty data directory, pinned to one CPU; `ringq-bench` (one C load "
          "generator for every system) runs on another.",
          "",
          "- command: `%s`" % meta.get("command", "?"),
          "- machine: %s; %s; kernel %s; %s" % (meta.get("cpu", "?"), meta.get("mem", "?"),
                                               meta.get("kernel", "?"), meta.get("disk", "?")),
          "- load average (1/5/15 min): %s%s" % (meta.get("load", "?"), loaded_warning(meta)),
          "- ringq commit %s; Redis %s; nats-server %s" % (
              meta.get("commit", "?"), meta.get("version.redis", "-"),
              meta.get("version.jetstream", "-")),
          "- %s" % meta.get("pinning", ""),
          "- %s" % meta.get("params", ""),
          "- elapsed: %s" % meta.get("elapsed", "?"),
          ""]
    if meta.get("note"):
        md[-1:-1] = ["- note: %s" % meta["note"]]
    for column, desc in [("durable", "every write fsynced before it is confirmed"),
                         ("fast", "no fsync per write")]:
        md += ["## %s (%s)" % (column.capitalize(), desc), "", table(ser, meta, notes, column), ""]
    md += ["Throughput counts messages the system confirmed to the publishers (publish) or that "
           "every group's consumers received and acked (fan-out) in the measured window. Latency: "
           "publish columns, the %s; fan-out columns, the %s, then the publish latency; last column, the %s, at half of that "
           "system's fan-out-1-group throughput in the same column." % (
               PUBLISH_LAT, DELIVER_LAT, OPEN[4]),
           "", "## Issue targets", "", targets(ser), "",
           "## Systems", "",
           "| system | column | server command |", "|---|---|---|"]
    for sid, name in SYSTEMS:
        for column in ("durable", "fast"):
            cmd = meta.get("server.%s.%s" % (sid, column))
            if cmd:
                md.append("| %s | %s | `%s` |" % (name, column, cmd))
    md += ["",
           "- Redis Streams: one stream key, `XADD key * d PAYLOAD` per message (a batch is "
           "pipelined XADDs: with `appendfsync always` Redis fsyncs the AOF once per event-loop "
           "iteration, before those replies go out); each group made by `XGROUP CREATE key gN $ "
           "MKSTREAM`; consumers `XREADGROUP GROUP gN c COUNT k [BLOCK 1000] STREAMS key >` and "
           "`XACK key gN id` per message (bench/rb_drv_redis_streams.c).",
           "- NATS JetStream: a stream with file storage and `limits` retention; publish = PUB with "
           "a reply inbox, confirmed by the PubAck; one durable pull consumer per group "
           "(explicit acks, double-acked so the server's answer counts) "
           "(bench/rb_drv_jetstream.c, bench/rb_js_admin.c).",
           "- JetStream's sync setting: nats-server %s has no per-write fsync (`sync_interval` "
           "arrived in 2.10; 2.9 rejects it). Its default writes every message to the OS before "
           "the PubAck and fsyncs every 2 minutes: the fast column, comparable to Redis "
           "`appendfsync no` and ringq `--fsync never`. The durable column puts the store in a "
           "`chattr +S` directory, so each write is synchronous (one disk sync per message; "
           "publishing in batches does not group them, unlike Redis' and ringq's group commit): "
           "as strict as `appendfsync always` and `--fsync always`, which is what the durable "
           "comparison needs, at a cost JetStream 2.10's `sync_interval: always` may lower. n/a "
           "where the filesystem refuses +S." % meta.get("version.jetstream", "2.9"),
           "- ringq: `ringqd --threads 1`, `--fsync always` (durable) or `never` (fast); the "
           "ringq load is `ringq-bench publish|fanout --system ringq` (bench/rb_drv_ringq_streams.c "
           "on libringq's asynchronous calls): a batch is one request on the connection's "
           "`PublishStream` (rq_pub_stream: many in flight, answered in order; the row \"unary "
           "Publish\", `--system ringq-unary`, sends each as one unary `Publish` call instead), "
           "answered at the server's default durability (SYNCED under `--fsync "
           "always`, after the group commit's fdatasync; WRITTEN under `never`); one durable "
           "consumer per group, each consumer connection one `Consume` stream with credits, every "
           "delivery acked explicitly (a loop iteration's acks in one request).",
           ""]
    md += extra_sections(d)
    if notes.items:
        md += ["## Notes", ""] + ["%d. %s" % (i + 1, n) for i, n in enumerate(notes.items)] + [""]
    md += ["Raw results: `%s/` (runs.tsv, meta.tsv, raw/*.json, one per run)." %
           os.path.relpath(d, os.path.dirname(out_md) or "."), ""]
    with open(out_md, "w") as f:
        f.write("\n".join(md))
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "peak":
        ser = rp.series(rp.read_runs(argv[2]))
        v = tput(ser, argv[3], argv[4], argv[5])
        print(int(v) if v is not None and v == v else 0)
        return 0
    if len(argv) == 4 and argv[1] == "report":
        return report(argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
