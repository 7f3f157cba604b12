#!/usr/bin/python3
"""bench/stream_pending_mem.py: what a consumer's pending (delivered, unacked) messages cost in
ringqd's memory (issue #15 item 6: "a consumer with a million pending messages costs at most 32
bytes per message").

Usage: bench/stream_pending_mem.py [N] [SIZE]   (defaults 1000000 16)
Needs `make build/ringqd build/gen/py/.stamp`; RINGQ_BUILD picks another build directory.
Starts ringqd (--threads 1, --fsync never) on port 0 in a temporary data directory, creates a
stream and publishes N messages of SIZE bytes (batches of 1000), creates a durable consumer
with max_ack_pending N and an ack wait of an hour, then Fetches (1000 at a time, never acking)
until the server reports N messages ack-pending. It reads the server's anonymous memory
(RssAnon of /proc/PID/status: the heap; the log's mmap'd segments are file-backed and excluded)
after publishing and again with the N deliveries pending, and prints the difference per pending
message beside the limit, and the server's own accounting of the consumer's pending table
(/metrics ringq_consumer_pending_table_bytes). The unit tests (tests/unit/test_q_consumer_pend.c)
check the table; the RSS figure is the whole heap's growth, the table and everything else a
delivery leaves behind (and whatever the allocator keeps that the table gave back).

What is counted, exactly: the "before" reading is taken once the N messages are published and
the consumer exists with nothing delivered, so the stream's own memory (its index, 24 bytes
per message, the dedup window, the log's buffers) is in it and not in the difference; the
difference is what the consumer's N pending deliveries cost the server's heap (RssAnon), and
the line after it splits that into the pending table (the server's count) and the rest.
"""
import os
import re
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(os.environ.get("RINGQ_BUILD", os.path.join(HERE, "..", "build")))
os.environ["RINGQ_BUILD"] = BUILD
sys.path[:0] = [os.path.join(BUILD, "gen", "py"), os.path.join(HERE, "..", "tests", "integration")]

import ringq_client as C  # noqa: E402
from ringq.v1 import streams_pb2 as S  # noqa: E402
from stream_client import Streams  # noqa: E402

LIMIT_BYTES = 32
BATCH = 1000          # streams.proto: messages per Publish, deliveries per Fetch, at most
WINDOW = 16           # Publish calls in flight
ACK_WAIT_MS = 3600000  # no redelivery while we measure
SETTLE_S = 0.5


def rss_anon(pid):
    """RssAnon of the process, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/PID/status")


def steady_rss(pid):
    """RssAnon once two readings SETTLE_S apart agree within 64 KiB (the server is idle)."""
    last = rss_anon(pid)
    for _ in range(20):
        time.sleep(SETTLE_S)  # sampling an idle process, not synchronising with it
        now = rss_anon(pid)
        if abs(now - last) <= 65536:
            return now
        last = now
    return last


def table_bytes(addr, stream, consumer):
    """The consumer's pending table as the server accounts it (/metrics)."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=30) as r:
        text = r.read().decode()
    m = re.search(r'^ringq_consumer_pending_table_bytes\{stream="%s",consumer="%s"\} (\d+)$'
                  % (re.escape(stream), re.escape(consumer)), text, re.M)
    if not m:
        sys.exit("no ringq_consumer_pending_table_bytes in /metrics")
    return int(m.group(1))


def publish_all(s, subject, n, size):
    payload = b"x" * size
    msg = S.PublishMessage(subject=subject, payload=payload)
    C.in_window((lambda k=min(BATCH, n - sent): s.future("Publish", messages=[msg] * k,
                                                          timeout=120)
                 for sent in range(0, n, BATCH)), WINDOW)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    srv = C.start_ringqd("--fsync", "never", threads=1)
    ch = srv.channel()
    try:
        pid = srv.proc.pid
        s = Streams(ch)
        s.stream("mem", subjects=["mem"])
        t0 = time.monotonic()
        publish_all(s, "mem", n, size)
        info = s.GetStream(name="mem")
        if info.state.messages != n:
            sys.exit(f"the stream holds {info.state.messages} messages, expected {n}")
        print(f"published {n} messages of {size} bytes in {time.monotonic() - t0:.1f} s")
        s.CreateConsumer(stream="mem", config=S.ConsumerConfig(
            name="holder", ack_wait_ms=ACK_WAIT_MS, max_ack_pending=n))
        before = steady_rss(pid)
        t0 = time.monotonic()
        got = 0
        while got < n:
            r = s.Fetch(stream="mem", consumer="holder", max_messages=min(BATCH, n - got),
                        wait_ms=1000, timeout=60)
            if not r.deliveries:
                sys.exit(f"Fetch returned nothing after {got} deliveries")
            got += len(r.deliveries)
        ci = s.GetConsumer(stream="mem", name="holder")
        if ci.state.num_ack_pending != n:
            sys.exit(f"the consumer has {ci.state.num_ack_pending} ack-pending, expected {n}")
        print(f"delivered {got} messages, none acked, in {time.monotonic() - t0:.1f} s; "
              f"num_ack_pending {ci.state.num_ack_pending}")
        after = steady_rss(pid)
        per = (after - before) / n
        verdict = "MET" if per <= LIMIT_BYTES else "NOT MET"
        print(f"RssAnon before {before / 1048576:.1f} MiB, with {n} pending "
              f"{after / 1048576:.1f} MiB: {per:.1f} bytes per pending message "
              f"(limit {LIMIT_BYTES}): {verdict}")
        table = table_bytes(srv.addr, "mem", "holder")
        tper = table / n
        print(f"the server's accounting (/metrics ringq_consumer_pending_table_bytes): "
              f"{table} bytes, {tper:.1f} bytes per pending message (limit {LIMIT_BYTES}): "
              f"{'MET' if tper <= LIMIT_BYTES else 'NOT MET'}; the rest of the heap's growth "
              f"{(after - before - table) / n:.1f} bytes per pending message")
        print(f"(counted: RssAnon from 'stream published, consumer created, nothing delivered' "
              f"to '{n} delivered, none acked'; the stream's index is in both readings)")
        print(f"command: bench/stream_pending_mem.py {n} {size}")
    finally:
        C.stop(srv, ch)


if __name__ == "__main__":
    main()
